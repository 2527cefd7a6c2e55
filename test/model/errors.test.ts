import {mkdtempSync, readFileSync, truncateSync, unlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type * as tfType from '../../src/runtime/tfjs.js'
import {beforeAll, describe, expect, it} from 'vitest'

import {type AmpsErrorCode, AmpsUserError} from '../../src/errors.js'
import {saveToMemory, seedWeights, writeGenerated, writeLayersModelDir} from '../../examples/models.js'
import {loadModel} from '../../src/model/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'

let tf: typeof tfType
let tinyCnnDir: string

beforeAll(async () => {
  tf = (await initTf()).tf
  tinyCnnDir = mkdtempSync(join(tmpdir(), 'amps-err-base-'))
  // ~200 KB of weights in 50,000-byte shards: 5 shards
  await writeGenerated('tinyCnn', tinyCnnDir, {shardBytes: 50_000})
})

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'amps-err-'))
}

/** A fresh copy of the 5-shard tiny CNN whose model.json `edit` may change. */
function brokenCopy(edit?: (json: any) => void): string {
  const dir = tmp()
  const json = JSON.parse(readFileSync(join(tinyCnnDir, 'model.json'), 'utf8'))
  for (const p of json.weightsManifest[0].paths) writeFileSync(join(dir, p), readFileSync(join(tinyCnnDir, p)))
  edit?.(json)
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json))
  return dir
}

async function userError(promise: Promise<unknown>, code: AmpsErrorCode): Promise<AmpsUserError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, 'expected an AmpsUserError').toBeInstanceOf(AmpsUserError)
  const e = error as AmpsUserError
  expect(e.ampsCode).toBe(code)
  // one line, no stack in the message
  expect(e.message).not.toContain('\n')
  expect(e.message).not.toMatch(/\bat .*\.(ts|js):\d+/)
  return e
}

describe('paths and file types', () => {
  it('a missing path', async () => {
    const e = await userError(loadModel(join(tmp(), 'nope')), 'FILE_NOT_FOUND')
    expect(e.message).toMatch(/no such file or directory/)
  })

  it('a directory without model.json suggests the model files it holds', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'net.h5'), 'x')
    const e = await userError(loadModel(dir), 'FILE_NOT_FOUND')
    expect(e.message).toMatch(/holds no model\.json/)
    expect(e.suggestions?.join(' ')).toContain('net.h5')
  })

  it('a TensorFlow SavedModel directory', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'saved_model.pb'), 'x')
    const e = await userError(loadModel(dir), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/SavedModel/)
  })

  it('model.json that is not JSON', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'model.json'), '{"modelTopology": oops')
    const e = await userError(loadModel(dir), 'FILE_INVALID')
    expect(e.message).toMatch(/model\.json is not valid JSON/)
  })

  it('JSON that is not a model', async () => {
    const dir = tmp()
    writeFileSync(join(dir, 'model.json'), '{"hello": 1}')
    const e = await userError(loadModel(dir), 'FILE_INVALID')
    expect(e.message).toMatch(/no modelTopology/)
  })

  it('a file of another type', async () => {
    const file = join(tmp(), 'photo.png')
    writeFileSync(file, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]))
    const e = await userError(loadModel(file), 'FILE_INVALID')
    expect(e.message).toMatch(/not a model file amps reads/)
  })

  it('a .h5 / .keras file that is not HDF5 / zip', async () => {
    const h5 = join(tmp(), 'model.h5')
    writeFileSync(h5, 'just text')
    expect((await userError(loadModel(h5), 'FILE_INVALID')).message).toMatch(/not an HDF5 file/)
    const keras = join(tmp(), 'model.keras')
    writeFileSync(keras, 'just text')
    expect((await userError(loadModel(keras), 'FILE_INVALID')).message).toMatch(/not a zip archive/)
  })

  it('a TF.js graph model (nsfwjs mobilenet_v2_mid) says only layers models are supported and how to convert', async () => {
    const e = await userError(loadModel(nsfwjsModelDir('mobilenet_v2_mid')), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/graph model; amps supports only TF\.js layers models/)
    expect(e.suggestions?.join(' ')).toContain('tensorflowjs_converter --input_format=keras model.h5 out/')
  })
})

describe('weight files', () => {
  it('a missing shard is named', async () => {
    const dir = brokenCopy()
    unlinkSync(join(dir, 'group1-shard3of5.bin'))
    const e = await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')
    expect(e.message).toMatch(/weight shard group1-shard3of5\.bin listed in model\.json is missing/)
  })

  it('a truncated shard is named with expected and actual bytes', async () => {
    const dir = brokenCopy()
    truncateSync(join(dir, 'group1-shard2of5.bin'), 1000)
    const e = await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')
    expect(e.message).toMatch(/weight shard group1-shard2of5\.bin has 1000 bytes but model\.json needs 50000 \(truncated/)
  })

  it('a manifest that wants more bytes than the shards hold', async () => {
    const dir = brokenCopy((j) => j.weightsManifest[0].weights.push({name: 'extra/kernel', shape: [100], dtype: 'float32'}))
    const e = await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')
    const last = readFileSync(join(dir, 'group1-shard5of5.bin')).byteLength
    expect(e.message).toContain(`weight shard group1-shard5of5.bin has ${last} bytes but model.json needs ${last + 400}`)
  })

  it('a manifest that wants fewer bytes than the shards hold', async () => {
    const dir = brokenCopy((j) => j.weightsManifest[0].weights.pop())
    const e = await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')
    expect(e.message).toMatch(/group1-shard5of5\.bin has \d+ bytes but model\.json needs \d+ \(holds more bytes than the manifest describes/)
  })

  it('a weight name no layer has', async () => {
    const dir = brokenCopy((j) => (j.weightsManifest[0].weights[0].name = 'nope/kernel'))
    const e = await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')
    expect(e.message).toMatch(/nope\/kernel/)
  })

  it('TF variable suffixes (kernel:0) in weight names are accepted', async () => {
    const dir = brokenCopy((j) => {
      for (const w of j.weightsManifest[0].weights) w.name = `${w.name}:0`
    })
    const model = await loadModel(dir)
    expect(model.artifacts.weightSpecs[0].name).toBe('stem_conv/kernel')
  })

  it('a model.json without weightsManifest', async () => {
    const dir = brokenCopy((j) => delete j.weightsManifest)
    expect((await userError(loadModel(dir), 'MODEL_WEIGHTS_INVALID')).message).toMatch(/no weightsManifest/)
  })
})

describe('layers and topology', () => {
  const layer = (j: any, name: string) => j.modelTopology.config.layers.find((l: any) => l.name === name)

  it('an unknown layer class names the layer and the class', async () => {
    const dir = brokenCopy((j) => (layer(j, 'res_add').class_name = 'MyCustomAdd'))
    const e = await userError(loadModel(dir), 'MODEL_UNSUPPORTED_LAYER')
    expect(e.message).toMatch(/layer 'res_add' of class MyCustomAdd, which TensorFlow\.js cannot run/)
  })

  it('a Lambda layer', async () => {
    const dir = brokenCopy((j) => (layer(j, 'gate_reshape').class_name = 'Lambda'))
    const e = await userError(loadModel(dir), 'MODEL_UNSUPPORTED_LAYER')
    expect(e.message).toMatch(/'gate_reshape' of class Lambda.*Python code/)
  })

  it('a Keras 3 style config', async () => {
    const dir = brokenCopy((j) => (layer(j, 'stem_conv').inbound_nodes = [{args: [{class_name: '__keras_tensor__'}], kwargs: {}}]))
    const e = await userError(loadModel(dir), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/Keras 3 config format/)
  })

  it('a shared layer (called twice)', async () => {
    const x = tf.input({shape: [4], name: 'sh_in'})
    const dense = tf.layers.dense({units: 4, name: 'shared_dense'})
    const y = dense.apply(dense.apply(x)) as tfType.SymbolicTensor
    const model = tf.model({inputs: x, outputs: y})
    seedWeights(tf, model, 1)
    const dir = tmp()
    writeLayersModelDir(dir, await saveToMemory(model))
    const e = await userError(loadModel(dir), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/layer 'shared_dense' \(Dense\) is called 2 times \(a shared layer\)/)
  })

  it('unknown input dimensions need an input shape, which must fit the model', async () => {
    const dir = brokenCopy((j) => (layer(j, 'image').config.batch_input_shape = [null, null, null, 3]))
    const e = await userError(loadModel(dir), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/input 'image' has shape \[null,null,null,3\] with unknown dimensions/)
    const fixed = await loadModel(dir, {inputShape: [32, 32, 3]})
    expect(fixed.graph.inputs[0].shape).toEqual([null, 32, 32, 3])
    expect(fixed.graph.cuts).toHaveLength(fixed.graph.layers.length - 1)
    await userError(loadModel(dir, {inputShape: [32, 32, 4]}), 'FLAG_INVALID')
  })
})

describe('nested sub-models', () => {
  async function nestedDir(edit?: (json: any) => void): Promise<string> {
    const dir = tmp()
    await writeGenerated('nestedModel', dir)
    if (edit) {
      const file = join(dir, 'model.json')
      const json = JSON.parse(readFileSync(file, 'utf8'))
      edit(json)
      writeFileSync(file, JSON.stringify(json))
    }
    return dir
  }

  async function originalPrediction(dir: string, x: tfType.Tensor): Promise<tfType.Tensor> {
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    const data = readFileSync(join(dir, 'weights.bin'))
    const m = await tf.loadLayersModel(
      tf.io.fromMemory({
        modelTopology: json.modelTopology,
        weightSpecs: json.weightsManifest[0].weights,
        weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength),
      }),
    )
    return m.predict(x) as tfType.Tensor
  }

  it('are inlined: same predictions as tfjs running the nested original', async () => {
    const dir = await nestedDir()
    const model = await loadModel(dir)
    expect(model.graph.layers.map((l) => l.name)).toEqual(['nest_in', 'inner_dense_1', 'inner_dense_2', 'nest_add', 'nest_out'])
    expect(model.graph.layers[3].inbound).toEqual(['nest_in', 'inner_dense_2'])
    const x = tf.randomUniform([4, 6], -1, 1, 'float32', 3)
    const flat = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
    const a = (flat.predict(x) as tfType.Tensor).arraySync()
    const b = (await originalPrediction(dir, x)).arraySync()
    expect(a).toEqual(b)
  })

  it('weight names prefixed with the nested model name are accepted', async () => {
    const dir = await nestedDir((j) => {
      for (const w of j.weightsManifest[0].weights) if (w.name.startsWith('inner_')) w.name = `inner_block/${w.name}`
    })
    const model = await loadModel(dir)
    expect(model.graph.layers[1].weightNames).toEqual(['inner_dense_1/kernel', 'inner_dense_1/bias'])
  })

  it('a nested layer named like an outer layer is a clear error', async () => {
    const dir = await nestedDir((j) => {
      const layers = j.modelTopology.config.layers
      const out = layers.find((l: any) => l.name === 'nest_out')
      out.name = 'inner_dense_1'
      out.config.name = 'inner_dense_1'
      j.modelTopology.config.output_layers = [['inner_dense_1', 0, 0]]
    })
    const e = await userError(loadModel(dir), 'MODEL_FORMAT_UNSUPPORTED')
    expect(e.message).toMatch(/two layers are named 'inner_dense_1' after inlining nested model\(s\) inner_block/)
  })
})

describe('format sniffing', () => {
  it('a model.json under another name is read as JSON', async () => {
    const dir = brokenCopy()
    // beside its shards (weight paths may not leave the model's folder), under a name that is not model.json
    writeFileSync(join(dir, 'net.txt'), readFileSync(join(dir, 'model.json'), 'utf8'))
    const model = await loadModel(join(dir, 'net.txt'))
    expect(model.graph.layers.length).toBeGreaterThan(20)
  })
})
