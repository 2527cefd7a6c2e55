/**
 * Scale and a real architecture through the .h5 reader: nsfwjs' real Keras MobileNetV2 (162 layers:
 * ZeroPadding2D, DepthwiseConv2D, ReLU(max_value=6), frozen BatchNormalization, Add, …) written in
 * tf.keras 2.11's .h5 layout, read back, and compared with the original tfjs model.
 */
import * as tf from '../../src/runtime/tfjs.js'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readKerasFile} from '../../src/model/keras/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'
import {loadArtifacts, modelWeights, noiseImage, predict, sameBits} from '../fixtures/keras/check.js'
import {fixtureFromLayersModel, writeKeras2H5} from '../fixtures/keras/make-h5.js'
import {maxRelDiff} from '../fixtures/keras/reference.js'

let tmp: string
let original: tf.LayersModel
let modelConfig: Record<string, unknown>

beforeAll(async () => {
  // both models run on the same backend; wasm keeps a 224×224 MobileNetV2 quick
  await initTf('wasm').catch(() => initTf('cpu'))
  tmp = mkdtempSync(join(tmpdir(), 'amps-kmobilenet-'))
  const dir = nsfwjsModelDir('mobilenet_v2')
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: {model_config: Record<string, unknown>}
    weightsManifest: {paths: string[]; weights: tf.io.WeightsManifestEntry[]}[]
  }
  const bytes = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dir, p)))))
  original = await tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
    }),
  )
  modelConfig = json.modelTopology.model_config
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

describe('MobileNetV2 in the Keras 2 .h5 layout', () => {
  it('reads back with every weight, the same parameter count and the same predictions', async () => {
    const path = join(tmp, 'mobilenet_v2.h5')
    await writeKeras2H5(path, fixtureFromLayersModel(original, modelConfig))
    const file = await readKerasFile(path)
    const model = await loadArtifacts(file.artifacts)
    expect(model.layers).toHaveLength(original.layers.length)
    expect(model.countParams()).toBe(original.countParams())
    const want = modelWeights(original)
    const got = modelWeights(model)
    expect(got.size).toBe(want.size)
    for (const [name, w] of want) expect(sameBits(got.get(name)?.data, w.data), name).toBe(true)
    const x = tf.tensor4d(noiseImage(224, 224, 3, 21), [1, 224, 224, 3])
    const a = predict(original, x)
    const b = predict(model, x)
    expect(b.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5)
    expect(maxRelDiff(b, a)).toBeLessThan(1e-5)
  })
})
