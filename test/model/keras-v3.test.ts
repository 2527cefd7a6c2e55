/**
 * Keras 3 `.keras` reader: the real mnist-cnn.keras (Keras 3.15.1, MIT, committed with its licence)
 * and generated Keras 3 Functional files. The loaded tfjs model must hold exactly the stored weights
 * and compute what a naive reference implementation of the Keras config computes.
 */
import * as tf from '../../src/runtime/tfjs.js'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readKerasFile, type KerasFile} from '../../src/model/keras/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {layerOutput, loadArtifacts, modelWeights, noiseImage, predict, readKerasWeights, sameBits, sevenImage} from '../fixtures/keras/check.js'
import {keras3Nested, keras3Recurrent, keras3Residual, writeKeras3} from '../fixtures/keras/make-keras.js'
import * as ref from '../fixtures/keras/reference.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'keras')
const MNIST = join(fixtures, 'mnist-cnn.keras')

let tmp: string
beforeAll(async () => {
  await initTf('cpu')
  tmp = mkdtempSync(join(tmpdir(), 'amps-keras3-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1)

describe('mnist-cnn.keras (written by Keras 3.15.1)', () => {
  let file: KerasFile
  let model: tf.LayersModel
  beforeAll(async () => {
    file = await readKerasFile(MNIST)
    model = await loadArtifacts(file.artifacts)
  })

  it('reports the format, the Keras version and the model name', () => {
    expect(file.format).toBe('keras-v3')
    expect(file.kerasVersion).toBe('3.15.1')
    expect(file.name).toBe('sequential')
  })

  it('counts exactly 225,034 parameters, without the optimizer state the file also holds', () => {
    const params = file.artifacts.weightSpecs.reduce((s, w) => s + count(w.shape), 0)
    expect(params).toBe(225_034)
    expect(model.countParams()).toBe(225_034)
    expect((file.artifacts.weightData as ArrayBuffer).byteLength).toBe(225_034 * 4)
  })

  it('becomes a flat Keras 2 style Functional config with no Keras 3 constructs left', () => {
    const topo = file.artifacts.modelTopology as {model_config: {class_name: string; config: {layers: {class_name: string; name: string}[]}}}
    expect(topo.model_config.class_name).toBe('Model')
    expect(topo.model_config.config.layers.map((l) => `${l.name}:${l.class_name}`)).toEqual([
      'input_layer:InputLayer',
      'conv2d:Conv2D',
      'max_pooling2d:MaxPooling2D',
      'conv2d_1:Conv2D',
      'max_pooling2d_1:MaxPooling2D',
      'flatten:Flatten',
      'dropout:Dropout',
      'dense:Dense',
      'dense_1:Dense',
    ])
    const text = JSON.stringify(file.artifacts.modelTopology)
    for (const k3 of ['"module"', '"registered_name"', 'DTypePolicy', '__keras_tensor__', '"build_config"', '"batch_shape"', '"optional"']) {
      expect(text).not.toContain(k3)
    }
    expect(model.inputs[0].shape).toEqual([null, 28, 28, 1])
  })

  it('names weights as tfjs does, in declaration order', () => {
    expect(file.artifacts.weightSpecs.map((w) => `${w.name}${JSON.stringify(w.shape)}`)).toEqual([
      'conv2d/kernel[3,3,1,32]',
      'conv2d/bias[32]',
      'conv2d_1/kernel[3,3,32,64]',
      'conv2d_1/bias[64]',
      'dense/kernel[1600,128]',
      'dense/bias[128]',
      'dense_1/kernel[128,10]',
      'dense_1/bias[10]',
    ])
  })

  it('holds every weight exactly as stored in model.weights.h5', async () => {
    const layers = ['conv2d', 'conv2d_1', 'dense', 'dense_1']
    const paths = layers.flatMap((l) => [`layers/${l}/vars/0`, `layers/${l}/vars/1`])
    const stored = await readKerasWeights(MNIST, paths)
    const loaded = modelWeights(model)
    expect(loaded.size).toBe(8)
    for (const l of layers) {
      for (const [i, w] of ['kernel', 'bias'].entries()) {
        const s = stored.get(`layers/${l}/vars/${i}`)
        const got = loaded.get(`${l}/${w}`)
        expect(got?.shape).toEqual(s?.shape)
        expect(sameBits(got?.data, s?.data)).toBe(true)
      }
    }
  })

  it('computes the first convolution as a hand-written loop does', async () => {
    const stored = await readKerasWeights(MNIST, ['layers/conv2d/vars/0', 'layers/conv2d/vars/1'])
    const k = stored.get('layers/conv2d/vars/0') as {shape: number[]; data: Float32Array}
    const b = stored.get('layers/conv2d/vars/1') as {data: Float32Array}
    const img = sevenImage()
    const want = ref.relu(ref.conv2d(ref.act(28, 28, 1, img), k.data, k.shape, b.data, 'valid'))
    const got = layerOutput(model, 'conv2d', tf.tensor4d(img, [1, 28, 28, 1]))
    expect(got.length).toBe(26 * 26 * 32)
    expect(ref.maxRelDiff(got, want.data)).toBeLessThan(1e-5)
  })

  it('predicts what the Keras config computes by hand, as a valid softmax', async () => {
    const names = ['conv2d', 'conv2d_1', 'dense', 'dense_1'].flatMap((l) => [`layers/${l}/vars/0`, `layers/${l}/vars/1`])
    const s = await readKerasWeights(MNIST, names)
    const v = (p: string): Float32Array => (s.get(p) as {data: Float32Array}).data
    const img = sevenImage()
    let x = ref.act(28, 28, 1, img)
    x = ref.maxPool2(ref.relu(ref.conv2d(x, v('layers/conv2d/vars/0'), [3, 3, 1, 32], v('layers/conv2d/vars/1'), 'valid')))
    x = ref.maxPool2(ref.relu(ref.conv2d(x, v('layers/conv2d_1/vars/0'), [3, 3, 32, 64], v('layers/conv2d_1/vars/1'), 'valid')))
    x = ref.relu(ref.dense(ref.flatten(x), v('layers/dense/vars/0'), v('layers/dense/vars/1')))
    const want = ref.softmax(ref.dense(x, v('layers/dense_1/vars/0'), v('layers/dense_1/vars/1')))
    const got = predict(model, tf.tensor4d(img, [1, 28, 28, 1]))
    expect(got.length).toBe(10)
    expect(got.every((p) => p >= 0 && p <= 1)).toBe(true)
    expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
    expect(ref.maxRelDiff(got, want.data)).toBeLessThan(1e-4)
  })
})

describe('generated Keras 3 Functional files', () => {
  it('maps class-named weight groups (conv2d, conv2d_1, …) to custom-named layers and computes the residual model', async () => {
    const fx = keras3Residual()
    const path = join(tmp, 'residual.keras')
    await writeKeras3(path, fx)
    const file = await readKerasFile(path)
    expect(file).toMatchObject({format: 'keras-v3', kerasVersion: '3.15.1', name: 'residual'})
    const model = await loadArtifacts(file.artifacts)
    const loaded = modelWeights(model)
    let expectedParams = 0
    for (const [layer, group] of Object.entries(fx.groupOf)) {
      const vars = fx.groups[group]
      const own = model.getLayer(layer).weights
      expect(own.length).toBe(vars.length)
      own.forEach((w, i) => {
        expect(sameBits(loaded.get(w.originalName)?.data, vars[i].data)).toBe(true)
        expectedParams += vars[i].data.length
      })
    }
    expect(model.countParams()).toBe(expectedParams)

    const layers = (
      file.artifacts.modelTopology as {
        model_config: {config: {layers: {name: string; class_name: string; config: Record<string, unknown>; inbound_nodes: unknown[]}[]}}
      }
    ).model_config.config.layers
    const byName = new Map(layers.map((l) => [l.name, l]))
    expect(byName.get('merge')?.inbound_nodes).toEqual([
      [
        ['stem_bn', 0, 0, {}],
        ['branch_b', 0, 0, {}],
      ],
    ])
    expect(byName.get('leaky')?.config.alpha).toBe(0.1)
    expect(byName.get('branch_a')?.config.activation).toBe('swish')
    expect(byName.get('stem')?.config.kernel_regularizer).toBeNull()

    const g = (p: string, i: number): Float32Array => fx.groups[p][i].data
    const img = noiseImage(8, 8, 3, 11)
    const stem = ref.batchNorm(
      ref.relu(ref.conv2d(ref.act(8, 8, 3, img), g('layers/conv2d', 0), [3, 3, 3, 4], g('layers/conv2d', 1), 'same')),
      g('layers/batch_normalization', 0),
      g('layers/batch_normalization', 1),
      g('layers/batch_normalization', 2),
      g('layers/batch_normalization', 3),
      0.001,
    )
    const a = ref.swish(ref.conv2d(stem, g('layers/conv2d_1', 0), [3, 3, 4, 4], g('layers/conv2d_1', 1), 'same'))
    const b = ref.conv2d(a, g('layers/conv2d_2', 0), [1, 1, 4, 4], g('layers/conv2d_2', 1), 'same')
    const pooled = ref.globalAvgPool(ref.leakyRelu(ref.addActs(stem, b), 0.1))
    const want = ref.softmax(ref.dense(pooled, g('layers/dense', 0), g('layers/dense', 1)))
    const got = predict(model, tf.tensor4d(img, [1, 8, 8, 3]))
    expect(ref.maxRelDiff(got, want.data)).toBeLessThan(1e-4)
  })

  it('inlines a nested Sequential and finds its weights under layers/sequential/layers/…', async () => {
    const fx = keras3Nested()
    const path = join(tmp, 'nested.keras')
    await writeKeras3(path, fx)
    const file = await readKerasFile(path)
    const layers = (file.artifacts.modelTopology as {model_config: {config: {layers: {name: string; inbound_nodes: unknown[]}[]}}}).model_config.config.layers
    expect(layers.map((l) => l.name)).toEqual(['img', 'f_conv', 'f_flat', 'head'])
    expect(layers[1].inbound_nodes).toEqual([[['img', 0, 0, {}]]])
    expect(layers[3].inbound_nodes).toEqual([[['f_flat', 0, 0, {}]]])
    const model = await loadArtifacts(file.artifacts)
    const w = modelWeights(model)
    const conv = fx.groups['layers/sequential/layers/conv2d']
    const head = fx.groups['layers/dense']
    expect(sameBits(w.get('f_conv/kernel')?.data, conv[0].data)).toBe(true)
    expect(sameBits(w.get('head/bias')?.data, head[1].data)).toBe(true)
    const img = noiseImage(6, 6, 2, 5)
    const x = ref.flatten(ref.relu(ref.conv2d(ref.act(6, 6, 2, img), conv[0].data, [3, 3, 2, 3], conv[1].data, 'valid')))
    const want = ref.softmax(ref.dense(x, head[0].data, head[1].data))
    expect(ref.maxRelDiff(predict(model, tf.tensor4d(img, [1, 6, 6, 2])), want.data)).toBeLessThan(1e-4)
  })

  it('finds LSTM weights in the cell sub-group, and a Bidirectional forward layer before its backward one', async () => {
    const fx = keras3Recurrent()
    const path = join(tmp, 'recurrent.keras')
    await writeKeras3(path, fx)
    const file = await readKerasFile(path)
    expect(file.artifacts.weightSpecs.map((w) => `${w.name}${JSON.stringify(w.shape)}`)).toEqual([
      'enc/kernel[3,16]',
      'enc/recurrent_kernel[4,16]',
      'enc/bias[16]',
      'bi/forward_gru/kernel[4,6]',
      'bi/forward_gru/recurrent_kernel[2,6]',
      'bi/forward_gru/bias[6]',
      'bi/backward_gru/kernel[4,6]',
      'bi/backward_gru/recurrent_kernel[2,6]',
      'bi/backward_gru/bias[6]',
      'out/kernel[4,2]',
      'out/bias[2]',
    ])
    const model = await loadArtifacts(file.artifacts)
    const w = modelWeights(model)
    const g = fx.groups
    expect(sameBits(w.get('enc/recurrent_kernel')?.data, g['layers/lstm/cell'][1].data)).toBe(true)
    expect(sameBits(w.get('bi/forward_gru/kernel')?.data, g['layers/bidirectional/forward_layer/cell'][0].data)).toBe(true)
    expect(sameBits(w.get('bi/backward_gru/bias')?.data, g['layers/bidirectional/backward_layer/cell'][2].data)).toBe(true)
    const y = predict(model, tf.tensor3d(noiseImage(5, 3, 1, 2), [1, 5, 3]))
    expect(y.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
  })
})
