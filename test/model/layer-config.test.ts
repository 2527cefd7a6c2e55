/**
 * Keras-application config keys tfjs-layers refuses: accepted when they cannot change inference,
 * refused by name when they would. Real model.json files in the tfjs converter's format
 * (test/zoo/builder.ts), loaded by amps and run by tfjs against hand-computed results.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'
import {loadModel} from '../../src/model/index.js'
import {tfjsLayerConfig} from '../../src/model/layer-config.js'
import {initTf} from '../../src/runtime/tf.js'
import {KerasGraph} from '../zoo/builder.js'

const root = mkdtempSync(join(tmpdir(), 'amps-layer-config-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))
let n = 0

/** Writes the graph, lets `edit` change layer configs in model.json, returns the directory. */
function write(g: KerasGraph, edit?: (layers: {class_name: string; name: string; config: Record<string, unknown>}[]) => void): string {
  const dir = join(root, `m${n++}`)
  const file = g.write(dir)
  if (edit) {
    const json = JSON.parse(readFileSync(file, 'utf8'))
    edit(json.modelTopology.model_config.config.layers)
    writeFileSync(file, JSON.stringify(json))
  }
  return dir
}

async function run(dir: string, input: number[], shape: number[]): Promise<{out: Float32Array; weights: Map<string, Float32Array>}> {
  const model = await loadModel(dir)
  const {tf} = await initTf()
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  const y = m.predict(tf.tensor(input, shape)) as import('../../src/runtime/tfjs.js').Tensor
  const out = (await y.data()) as Float32Array
  const weights = new Map(m.weights.map((w) => [w.originalName, w.read().dataSync() as Float32Array]))
  m.dispose()
  return {out, weights}
}

async function rejects(dir: string, message: RegExp): Promise<void> {
  const error = await loadModel(dir).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AmpsUserError)
  expect((error as AmpsUserError).ampsCode).toBe('MODEL_UNSUPPORTED_LAYER')
  expect((error as Error).message).toMatch(message)
  expect((error as Error).message.split('\n')).toHaveLength(1)
}

describe('accepted: keys that cannot change inference', () => {
  it("SeparableConv2D with the converter's kernel_initializer/regularizer/constraint (tfjs issue 4479) computes depthwise then pointwise", async () => {
    const g = new KerasGraph('sep')
    const x = g.input([4, 4, 2])
    g.outputs = [g.sepConv(x, 3, 3, {padding: 'same', name: 'sep'})]
    const dir = write(g, (layers) => {
      const c = layers[1].config
      expect(c.kernel_initializer).toBeDefined()
      c.kernel_regularizer = {class_name: 'L2', config: {l2: 1e-4}}
      c.kernel_constraint = {class_name: 'MaxNorm', config: {max_value: 2, axis: 0}}
      c.activity_regularizer = {class_name: 'L1', config: {l1: 0.01}}
    })
    const input = Array.from({length: 32}, (_, i) => Math.sin(i))
    const {out, weights} = await run(dir, input, [1, 4, 4, 2])
    const dw = weights.get('sep/depthwise_kernel')!
    const pw = weights.get('sep/pointwise_kernel')!
    const b = weights.get('sep/bias')!
    // reference: depthwise 3×3 'same' per channel, then 1×1 pointwise, plus bias
    const at = (h: number, w: number, c: number): number => (h < 0 || w < 0 || h > 3 || w > 3 ? 0 : input[(h * 4 + w) * 2 + c])
    for (let h = 0; h < 4; h++) {
      for (let w = 0; w < 4; w++) {
        const d = [0, 1].map((c) => {
          let s = 0
          for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) s += at(h + i - 1, w + j - 1, c) * dw[(i * 3 + j) * 2 + c]
          return s
        })
        for (let f = 0; f < 3; f++) expect(out[(h * 4 + w) * 3 + f]).toBeCloseTo(d[0] * pw[f] + d[1] * pw[3 + f] + b[f], 4)
      }
    }
  })

  it('initializers tfjs lacks or spells differently, regularizers, groups: 1, BatchNormalization axis [3] and synchronized, Keras 3 dtype policies', async () => {
    const g = new KerasGraph('keys')
    const x = g.input([3, 3, 2])
    g.outputs = [g.bn(g.conv(x, 2, 1, {name: 'c'}), {name: 'bn'})]
    const dir = write(g, (layers) => {
      const c = layers[1].config
      c.kernel_initializer = {
        module: 'keras.initializers',
        class_name: 'VarianceScaling',
        config: {scale: 2, mode: 'fan_out', distribution: 'untruncated_normal'},
        registered_name: null,
      }
      c.bias_initializer = {class_name: 'SomethingNew', config: {}}
      c.kernel_regularizer = {class_name: 'L2', config: {l2: 0.01}}
      c.dtype = {module: 'keras', class_name: 'DTypePolicy', config: {name: 'mixed_float16'}, registered_name: null}
      expect(c.groups).toBe(1)
      const bn = layers[2].config
      expect(bn.axis).toEqual([3])
      bn.synchronized = false
    })
    const input = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]
    const {out, weights} = await run(dir, input, [1, 3, 3, 2])
    const k = weights.get('c/kernel')!
    const bias = weights.get('c/bias')!
    const [gamma, beta, mean, variance] = ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => weights.get(`bn/${w}`)!)
    for (let p = 0; p < 9; p++) {
      for (let f = 0; f < 2; f++) {
        const conv = input[p * 2] * k[f] + input[p * 2 + 1] * k[2 + f] + bias[f]
        const want = ((conv - mean[f]) / Math.sqrt(variance[f] + 0.001)) * gamma[f] + beta[f]
        expect(out[p * 2 + f]).toBeCloseTo(want, 4)
      }
    }
  })

  it("Keras' Normalization layer (not a tfjs class) runs as (x − mean) / √variance and drops its count", async () => {
    const g = new KerasGraph('norm')
    const x = g.input([2, 2, 3])
    g.outputs = [g.normalization(g.rescaling(x, 1 / 255))]
    const dir = write(g)
    const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')).weightsManifest[0].weights.map((w: {name: string}) => w.name)
    expect(manifest).toEqual(['normalization/mean', 'normalization/variance', 'normalization/count'])
    const input = Array.from({length: 12}, (_, i) => i * 20)
    const {out, weights} = await run(dir, input, [1, 2, 2, 3])
    const mean = weights.get('normalization/moving_mean')!
    const variance = weights.get('normalization/moving_variance')!
    expect([...weights.keys()].sort()).toEqual(['normalization/moving_mean', 'normalization/moving_variance'])
    input.forEach((v, i) => expect(out[i]).toBeCloseTo((v / 255 - mean[i % 3]) / Math.sqrt(variance[i % 3]), 4))
  })
})

describe('refused by name: keys that would change the computation', () => {
  const conv = (edit: (c: Record<string, unknown>) => void): string => {
    const g = new KerasGraph('bad')
    const x = g.input([8, 8, 4])
    g.outputs = [g.conv(x, 4, 3, {name: 'the_conv'})]
    return write(g, (layers) => edit(layers[1].config))
  }

  it('a grouped convolution (groups=2)', async () => {
    await rejects(
      conv((c) => (c.groups = 2)),
      /layer 'the_conv' \(Conv2D\) is a grouped convolution \(groups=2\)/,
    )
  })

  it('dilation with strides > 1', async () => {
    await rejects(
      conv((c) => ((c.dilation_rate = [2, 2]), (c.strides = [2, 2]))),
      /layer 'the_conv' \(Conv2D\) combines dilation_rate \[2,2\] with strides \[2,2\]/,
    )
  })

  it('ELU with alpha ≠ 1, ReLU with a threshold, causal padding, a per-channel Rescaling, Normalization invert=True', async () => {
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['ELU', {alpha: 0.5}, /\(ELU\) has alpha=0\.5/],
      ['ReLU', {threshold: 0.5, max_value: null, negative_slope: 0}, /\(ReLU\) has negative_slope or threshold/],
      ['Conv1D', {filters: 2, kernel_size: [2], padding: 'causal'}, /\(Conv1D\) uses padding='causal'/],
      ['Rescaling', {scale: [0.1, 0.2, 0.3], offset: 0}, /\(Rescaling\) has a per-channel scale/],
      ['Normalization', {axis: [-1], invert: true, mean: null, variance: null}, /\(Normalization\) has invert=True/],
    ]
    for (const [cls, config, message] of cases) {
      expect(() => tfjsLayerConfig(cls, {name: 'x', ...config}, 'x', 'model.json')).toThrow(message)
    }
    // and through a real file: the error names the layer
    const g = new KerasGraph('elu')
    const x = g.input([4])
    g.outputs = [g.act(x, 'linear', 'e')]
    await rejects(
      write(g, (layers) => {
        layers[1].class_name = 'ELU'
        layers[1].config = {name: 'e', trainable: true, dtype: 'float32', alpha: 0.3}
      }),
      /layer 'e' \(ELU\) has alpha=0\.3/,
    )
  })
})
