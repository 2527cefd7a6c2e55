/**
 * Keras 2 legacy `.h5` reader, on files generated in tf.keras 2.11's layout (make-h5.ts) and, when
 * the machine has it, on the real Keras 2.11 digits.h5 in /work/shared/models (not committed: it
 * has no licence). The loaded tfjs model must hold exactly the stored weights and compute what a
 * naive reference implementation of the Keras config computes.
 */
import * as tf from '../../src/runtime/tfjs.js'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readKerasFile} from '../../src/model/keras/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {layerOutput, loadArtifacts, modelWeights, noiseImage, predict, readDatasets, sameBits, sevenImage} from '../fixtures/keras/check.js'
import {type FixtureModel, functionalAdd, nestedBackbone, sequentialCnn, writeKeras2H5} from '../fixtures/keras/make-h5.js'
import * as ref from '../fixtures/keras/reference.js'

const DIGITS = '/work/shared/models/digits.h5'

let tmp: string
beforeAll(async () => {
  await initTf('cpu')
  tmp = mkdtempSync(join(tmpdir(), 'amps-kerash5-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

type Topo = {model_config: {class_name: string; config: {layers: {name: string; class_name: string; inbound_nodes: unknown[]}[]}}}

/** Every stored weight of the fixture, by the tfjs name it must load as. */
function fixtureByTfjsName(fx: FixtureModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>()
  for (const ws of Object.values(fx.weights)) for (const w of ws) out.set(w.name.replace(/:0$/, ''), w.data)
  return out
}

function weight(fx: FixtureModel, name: string): Float32Array {
  for (const ws of Object.values(fx.weights)) for (const w of ws) if (w.name === `${name}:0`) return w.data
  throw new Error(`fixture has no ${name}`)
}

async function roundTrip(fx: FixtureModel, file: string) {
  const path = join(tmp, file)
  await writeKeras2H5(path, fx)
  const read = await readKerasFile(path)
  const model = await loadArtifacts(read.artifacts)
  return {read, model}
}

describe('generated Keras 2.11 .h5 files', () => {
  it('reads a Sequential CNN with Activation and BatchNormalization layers, ignoring optimizer_weights', async () => {
    const fx = sequentialCnn()
    const {read, model} = await roundTrip(fx, 'seq.h5')
    expect(read).toMatchObject({format: 'keras-h5', kerasVersion: '2.11.0', name: 'sequential'})
    const topo = read.artifacts.modelTopology as unknown as Topo
    expect(topo.model_config.class_name).toBe('Model')
    expect(topo.model_config.config.layers.map((l) => l.class_name)).toEqual([
      'InputLayer',
      'Conv2D',
      'Activation',
      'MaxPooling2D',
      'Conv2D',
      'BatchNormalization',
      'Activation',
      'Flatten',
      'Dense',
      'Activation',
      'Dropout',
      'Dense',
      'Activation',
    ])
    const stored = fixtureByTfjsName(fx)
    const params = [...stored.values()].reduce((s, d) => s + d.length, 0)
    expect(model.countParams()).toBe(params)
    expect((read.artifacts.weightData as ArrayBuffer).byteLength).toBe(params * 4)
    // BatchNormalization: gamma, beta (trainable) before moving_mean, moving_variance
    expect(read.artifacts.weightSpecs.filter((w) => w.name.startsWith('batch_normalization/')).map((w) => w.name)).toEqual([
      'batch_normalization/gamma',
      'batch_normalization/beta',
      'batch_normalization/moving_mean',
      'batch_normalization/moving_variance',
    ])
    const loaded = modelWeights(model)
    expect(loaded.size).toBe(stored.size)
    for (const [name, data] of stored) expect(sameBits(loaded.get(name)?.data, data), name).toBe(true)

    const v = (n: string): Float32Array => weight(fx, n)
    const img = noiseImage(12, 12, 1, 3)
    let x = ref.maxPool2(ref.relu(ref.conv2d(ref.act(12, 12, 1, img), v('conv2d/kernel'), [3, 3, 1, 4], v('conv2d/bias'), 'valid')))
    x = ref.conv2d(x, v('conv2d_1/kernel'), [3, 3, 4, 6], v('conv2d_1/bias'), 'valid')
    x = ref.relu(
      ref.batchNorm(
        x,
        v('batch_normalization/gamma'),
        v('batch_normalization/beta'),
        v('batch_normalization/moving_mean'),
        v('batch_normalization/moving_variance'),
        0.001,
      ),
    )
    x = ref.relu(ref.dense(ref.flatten(x), v('dense/kernel'), v('dense/bias')))
    const want = ref.softmax(ref.dense(x, v('dense_1/kernel'), v('dense_1/bias')))
    expect(ref.maxRelDiff(predict(model, tf.tensor4d(img, [1, 12, 12, 1])), want.data)).toBeLessThan(1e-4)
  })

  it('reads a Functional model with an Add branch and a DepthwiseConv2D', async () => {
    const fx = functionalAdd()
    const {read, model} = await roundTrip(fx, 'functional.h5')
    expect(read.name).toBe('residual_net')
    const layers = (read.artifacts.modelTopology as unknown as Topo).model_config.config.layers
    expect(layers.find((l) => l.name === 'residual')?.inbound_nodes).toEqual([
      [
        ['stem_bn', 0, 0, {}],
        ['branch_pw', 0, 0, {}],
      ],
    ])
    const stored = fixtureByTfjsName(fx)
    const loaded = modelWeights(model)
    expect([...loaded.keys()].sort()).toEqual([...stored.keys()].sort())
    for (const [name, data] of stored) expect(sameBits(loaded.get(name)?.data, data), name).toBe(true)

    const v = (n: string): Float32Array => weight(fx, n)
    const img = noiseImage(8, 8, 3, 9)
    const stem = ref.batchNorm(
      ref.relu(ref.conv2d(ref.act(8, 8, 3, img), v('stem/kernel'), [3, 3, 3, 4], v('stem/bias'), 'same')),
      v('stem_bn/gamma'),
      v('stem_bn/beta'),
      v('stem_bn/moving_mean'),
      v('stem_bn/moving_variance'),
      0.001,
    )
    const dw = ref.depthwiseSame(stem, v('branch_dw/depthwise_kernel'), [3, 3, 4, 1], v('branch_dw/bias'))
    const pw = ref.conv2d(dw, v('branch_pw/kernel'), [1, 1, 4, 4], v('branch_pw/bias'), 'same')
    const pooled = ref.globalAvgPool(ref.relu(ref.addActs(stem, pw)))
    const want = ref.softmax(ref.dense(pooled, v('logits/kernel'), v('logits/bias')))
    expect(ref.maxRelDiff(predict(model, tf.tensor4d(img, [1, 8, 8, 3])), want.data)).toBeLessThan(1e-4)
  })

  it('inlines a nested Sequential whose weights share one group, picking each inner layer its own', async () => {
    const fx = nestedBackbone()
    const {read, model} = await roundTrip(fx, 'nested.h5')
    const layers = (read.artifacts.modelTopology as unknown as Topo).model_config.config.layers
    expect(layers.map((l) => l.name)).toEqual(['x', 'inner_conv', 'inner_bn', 'inner_flat', 'head'])
    expect(layers[1].inbound_nodes).toEqual([[['x', 0, 0, {}]]])
    const stored = fixtureByTfjsName(fx)
    const loaded = modelWeights(model)
    for (const [name, data] of stored) expect(sameBits(loaded.get(name)?.data, data), name).toBe(true)
    const v = (n: string): Float32Array => weight(fx, n)
    const img = noiseImage(6, 6, 2, 4)
    let x = ref.relu(ref.conv2d(ref.act(6, 6, 2, img), v('inner_conv/kernel'), [3, 3, 2, 3], v('inner_conv/bias'), 'valid'))
    x = ref.batchNorm(x, v('inner_bn/gamma'), v('inner_bn/beta'), v('inner_bn/moving_mean'), v('inner_bn/moving_variance'), 0.001)
    const want = ref.softmax(ref.dense(ref.flatten(x), v('head/kernel'), v('head/bias')))
    expect(ref.maxRelDiff(predict(model, tf.tensor4d(img, [1, 6, 6, 2])), want.data)).toBeLessThan(1e-4)
  })
})

describe.skipIf(!existsSync(DIGITS))('digits.h5 (written by Keras 2.11.0, machine-local)', () => {
  const layers = ['conv2d', 'conv2d_1', 'conv2d_2', 'dense', 'dense_1', 'dense_2']
  const paths = layers.flatMap((l) => [`model_weights/${l}/${l}/kernel:0`, `model_weights/${l}/${l}/bias:0`])

  it('has 17 layers including 6 Activation layers and exactly 81,066 parameters', async () => {
    const read = await readKerasFile(DIGITS)
    expect(read).toMatchObject({format: 'keras-h5', kerasVersion: '2.11.0', name: 'sequential'})
    const topo = read.artifacts.modelTopology as unknown as Topo
    expect(topo.model_config.config.layers).toHaveLength(17)
    expect(topo.model_config.config.layers.filter((l) => l.class_name === 'Activation')).toHaveLength(6)
    expect(read.artifacts.weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0)).toBe(81_066)
    expect((read.artifacts.weightData as ArrayBuffer).byteLength).toBe(81_066 * 4)
  })

  it('holds every weight exactly as stored, computes the first convolution and the whole model as hand-written loops do', async () => {
    const read = await readKerasFile(DIGITS)
    const model = await loadArtifacts(read.artifacts)
    expect(model.countParams()).toBe(81_066)
    const stored = await readDatasets(DIGITS, paths)
    const loaded = modelWeights(model)
    expect(loaded.size).toBe(12)
    for (const l of layers) {
      for (const w of ['kernel', 'bias']) {
        const s = stored.get(`model_weights/${l}/${l}/${w}:0`)
        expect(loaded.get(`${l}/${w}`)?.shape).toEqual(s?.shape)
        expect(sameBits(loaded.get(`${l}/${w}`)?.data, s?.data), `${l}/${w}`).toBe(true)
      }
    }
    const v = (l: string, w: string): Float32Array => (stored.get(`model_weights/${l}/${l}/${w}:0`) as {data: Float32Array}).data
    const img = sevenImage()
    const input = tf.tensor4d(img, [1, 28, 28, 1])
    const conv1 = ref.conv2d(ref.act(28, 28, 1, img), v('conv2d', 'kernel'), [3, 3, 1, 64], v('conv2d', 'bias'), 'valid')
    expect(ref.maxRelDiff(layerOutput(model, 'conv2d', input), conv1.data)).toBeLessThan(1e-5)

    let x = ref.maxPool2(ref.relu(conv1))
    x = ref.maxPool2(ref.relu(ref.conv2d(x, v('conv2d_1', 'kernel'), [3, 3, 64, 64], v('conv2d_1', 'bias'), 'valid')))
    x = ref.maxPool2(ref.relu(ref.conv2d(x, v('conv2d_2', 'kernel'), [3, 3, 64, 64], v('conv2d_2', 'bias'), 'valid')))
    x = ref.relu(ref.dense(ref.flatten(x), v('dense', 'kernel'), v('dense', 'bias')))
    x = ref.relu(ref.dense(x, v('dense_1', 'kernel'), v('dense_1', 'bias')))
    const want = ref.softmax(ref.dense(x, v('dense_2', 'kernel'), v('dense_2', 'bias')))
    const got = predict(model, input)
    expect(got.every((p) => p >= 0 && p <= 1)).toBe(true)
    expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
    expect(ref.maxRelDiff(got, want.data)).toBeLessThan(1e-4)
  })
})
