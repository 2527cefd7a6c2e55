/**
 * ONNX export numerics per layer class: small generated models (each class alone, then in
 * combinations), every layer as its own stage and the whole model, ORT vs tfjs max abs ≤ 1e-4.
 */
import type * as tfType from '../../src/runtime/tfjs.js'
import {beforeAll, describe, expect, it} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'
import {seedWeights, tinyCnn, sequentialCnn, tinyMlp, twoHeads} from '../../examples/models.js'
import {exportOnnx} from '../../src/model/onnx/export.js'
import {initTf} from '../../src/runtime/tf.js'
import {allTensors, loadedFrom, randomInputs, stageMaxAbsDiff} from './helpers.js'

let tf: typeof tfType
beforeAll(async () => {
  tf = (await initTf()).tf
})

type Sym = tfType.SymbolicTensor
type Build = (L: typeof tfType.layers, x: Sym) => Sym | Sym[]

/** One model: input [h, w, c] → build → outputs; weights seeded; BN statistics made non-trivial. */
async function model(name: string, shape: number[], build: Build): Promise<tfType.LayersModel> {
  const x = tf.input({shape, name: `${name}_in`})
  const y = build(tf.layers, x)
  const m = tf.model({inputs: x, outputs: y, name})
  seedWeights(tf, m, 7)
  for (const l of m.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue
    // moving_variance must be positive and not all 1 so the epsilon and scale matter
    l.setWeights(l.getWeights().map((w, i) => (l.weights[i].originalName.endsWith('moving_variance') ? tf.add(tf.abs(w), 0.5) : w)))
  }
  return m
}

/** Whole model and every single-layer stage agree with tfjs within 1e-4. */
async function check(m: tfType.LayersModel, batch = 2): Promise<void> {
  const loaded = await loadedFrom(m)
  const tensors = await allTensors(loaded, await randomInputs(loaded, batch, 3))
  const L = loaded.graph.layers.length
  const whole = await stageMaxAbsDiff(loaded, 0, L - 1, tensors)
  if (process.env.ONNX_DEBUG) console.log('whole', whole)
  for (let p = 1; p < L; p++) {
    if (loaded.graph.layers[p].className === 'InputLayer') continue
    const d = await stageMaxAbsDiff(loaded, p, p, tensors)
    if (process.env.ONNX_DEBUG) console.log(loaded.graph.layers[p].name, d)
    expect(d, `${loaded.graph.layers[p].name} (${loaded.graph.layers[p].className})`).toBeLessThanOrEqual(1e-4)
  }
  expect(whole).toBeLessThanOrEqual(1e-4)
}

const S = [9, 11, 4] // odd sizes make TF "same" padding asymmetric at stride 2

const cases: [string, number[], Build][] = [
  ['conv_same_s2', S, (L, x) => L.conv2d({filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu'}).apply(x) as Sym],
  ['conv_valid_dilated', S, (L, x) => L.conv2d({filters: 3, kernelSize: [3, 2], dilationRate: 2, useBias: false}).apply(x) as Sym],
  ['conv_5x5_s3_same', S, (L, x) => L.conv2d({filters: 4, kernelSize: 5, strides: 3, padding: 'same', activation: 'tanh'}).apply(x) as Sym],
  ['depthwise_s2_mult2', S, (L, x) => L.depthwiseConv2d({kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu6'}).apply(x) as Sym],
  ['separable', S, (L, x) => L.separableConv2d({filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'sigmoid'}).apply(x) as Sym],
  ['dense_2d', [7], (L, x) => L.dense({units: 5, activation: 'elu'}).apply(x) as Sym],
  ['dense_4d_no_bias', S, (L, x) => L.dense({units: 3, useBias: false, activation: 'softplus'}).apply(x) as Sym],
  ['batchnorm_4d', S, (L, x) => L.batchNormalization({epsilon: 0.01}).apply(x) as Sym],
  ['batchnorm_2d', [6], (L, x) => L.batchNormalization({}).apply(x) as Sym],
  ['batchnorm_no_center', S, (L, x) => L.batchNormalization({center: false, scale: false}).apply(x) as Sym],
  [
    'activations',
    S,
    (L, x) =>
      ['relu', 'relu6', 'sigmoid', 'hardSigmoid', 'tanh', 'elu', 'selu', 'softplus', 'softsign', 'swish', 'mish', 'gelu', 'softmax', 'linear'].map(
        (a) => L.activation({activation: a as 'relu'}).apply(x) as Sym,
      ),
  ],
  [
    'activation_layers',
    S,
    (L, x) => [
      L.reLU({}).apply(x) as Sym,
      L.reLU({maxValue: 0.5}).apply(x) as Sym,
      L.leakyReLU({alpha: 0.1}).apply(x) as Sym,
      L.elu({}).apply(x) as Sym,
      L.softmax({axis: -1}).apply(x) as Sym,
      L.thresholdedReLU({theta: 0.3}).apply(x) as Sym,
    ],
  ],
  [
    'pooling',
    S,
    (L, x) => [
      L.maxPooling2d({poolSize: 3, strides: 2, padding: 'same'}).apply(x) as Sym,
      L.averagePooling2d({poolSize: 3, strides: 2, padding: 'same'}).apply(x) as Sym,
      L.maxPooling2d({poolSize: 2}).apply(x) as Sym,
      L.averagePooling2d({poolSize: [2, 3], strides: 1, padding: 'valid'}).apply(x) as Sym,
      L.globalAveragePooling2d({}).apply(x) as Sym,
      L.globalMaxPooling2d({}).apply(x) as Sym,
    ],
  ],
  [
    'pad_crop_upsample',
    S,
    (L, x) => [
      L.zeroPadding2d({
        padding: [
          [1, 2],
          [0, 3],
        ],
      }).apply(x) as Sym,
      L.cropping2D({
        cropping: [
          [1, 2],
          [3, 0],
        ],
      }).apply(x) as Sym,
      L.upSampling2d({size: [2, 3]}).apply(x) as Sym,
      L.upSampling2d({size: [2, 2], interpolation: 'bilinear'}).apply(x) as Sym,
    ],
  ],
  [
    'merges',
    S,
    (L, x) => {
      const a = L.conv2d({filters: 4, kernelSize: 1}).apply(x) as Sym
      const b = L.conv2d({filters: 4, kernelSize: 3, padding: 'same'}).apply(x) as Sym
      return [
        L.add({}).apply([a, b, x]) as Sym,
        L.multiply({}).apply([a, b]) as Sym,
        L.average({}).apply([a, b]) as Sym,
        L.maximum({}).apply([a, b]) as Sym,
        L.minimum({}).apply([x, b]) as Sym,
        L.concatenate({}).apply([a, x, b]) as Sym,
        L.concatenate({axis: 1}).apply([a, b]) as Sym,
      ]
    },
  ],
  [
    'reshape_flatten_permute',
    S,
    (L, x) => {
      const c = L.conv2d({filters: 2, kernelSize: 1}).apply(x) as Sym
      return [
        L.reshape({targetShape: [11, 9, 2]}).apply(c) as Sym,
        L.flatten({}).apply(c) as Sym,
        L.permute({dims: [3, 1, 2]}).apply(c) as Sym,
        L.dense({units: 3}).apply(L.flatten({}).apply(L.permute({dims: [2, 1, 3]}).apply(c) as Sym) as Sym) as Sym,
      ]
    },
  ],
  [
    'identity_and_rescale',
    S,
    (L, x) => [
      L.dropout({rate: 0.5}).apply(x) as Sym,
      L.spatialDropout1d({rate: 0.2}).apply(L.reshape({targetShape: [99, 4]}).apply(x) as Sym) as Sym,
      L.gaussianNoise({stddev: 1}).apply(x) as Sym,
      L.alphaDropout({rate: 0.3}).apply(x) as Sym,
      L.rescaling({scale: 1 / 127.5, offset: -1}).apply(x) as Sym,
    ],
  ],
  [
    'mobilenet_block',
    [16, 16, 8],
    (L, x) => {
      let h = L.conv2d({filters: 16, kernelSize: 1, useBias: false}).apply(x) as Sym
      h = L.batchNormalization({}).apply(h) as Sym
      h = L.reLU({maxValue: 6}).apply(h) as Sym
      h = L.zeroPadding2d({
        padding: [
          [0, 1],
          [0, 1],
        ],
      }).apply(h) as Sym
      h = L.depthwiseConv2d({kernelSize: 3, strides: 2, useBias: false}).apply(h) as Sym
      h = L.batchNormalization({}).apply(h) as Sym
      h = L.reLU({maxValue: 6}).apply(h) as Sym
      h = L.conv2d({filters: 8, kernelSize: 1, useBias: false}).apply(h) as Sym
      h = L.batchNormalization({}).apply(h) as Sym
      const skip = L.averagePooling2d({poolSize: 2}).apply(x) as Sym
      h = L.add({}).apply([h, skip]) as Sym
      const g = L.dense({units: 8, activation: 'hardSigmoid'}).apply(h) as Sym
      h = L.multiply({}).apply([h, g]) as Sym
      h = L.cropping2D({cropping: 1}).apply(h) as Sym
      h = L.globalAveragePooling2d({}).apply(h) as Sym
      return L.dense({units: 4, activation: 'softmax'}).apply(h) as Sym
    },
  ],
]

describe('ONNX export numerics per layer class (ORT vs tfjs, max abs ≤ 1e-4)', () => {
  for (const [name, shape, build] of cases) {
    it(name, async () => check(await model(name, shape, build)))
  }
  it('the generated example models (tiny CNN, sequential CNN, MLP, two heads)', async () => {
    for (const m of [await tinyCnn(), await sequentialCnn(), await tinyMlp(), await twoHeads()]) await check(m)
  })
})

describe('ONNX export errors', () => {
  it('a layer with no ONNX export names itself and its class and suggests --backend wasm', async () => {
    const x = tf.input({shape: [6, 3]})
    const y = tf.layers.conv1d({filters: 2, kernelSize: 3, name: 'my_conv1d'}).apply(x) as Sym
    const loaded = await loadedFrom(tf.model({inputs: x, outputs: y, name: 'c1d'}))
    const error = await exportOnnx(loaded).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).message).toMatch(/layer 'my_conv1d' \(Conv1D\) cannot be exported to ONNX/)
    expect(String((error as AmpsUserError).suggestions)).toMatch(/--backend wasm/)
  })

  it('BatchNormalization over a non-channel axis is refused (tfjs broadcasts it differently from Keras)', async () => {
    const x = tf.input({shape: [3, 4, 2]})
    const y = tf.layers.batchNormalization({axis: 1, name: 'bn_axis1'}).apply(x) as Sym
    const loaded = await loadedFrom(tf.model({inputs: x, outputs: y, name: 'bn1'}))
    await expect(exportOnnx(loaded)).rejects.toThrow(/layer 'bn_axis1' \(BatchNormalization\) cannot be exported to ONNX: normalisation over axis 1/)
  })
})
