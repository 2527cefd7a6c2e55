/**
 * Keras config → flat Keras 2 Functional config, construct by construct (no files, no weights).
 */
import {describe, expect, it} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'
import {kerasSnakeCase, normalizeKerasConfig} from '../../src/model/keras/index.js'
import {k3, k3BatchNorm, k3Conv, k3Dense, kerasTensor, keras3Nested, keras3Residual} from '../fixtures/keras/make-keras.js'

const K3 = {kerasMajor: 3, source: 'model.keras'}
const K2 = {kerasMajor: 2, source: 'model.h5'}

type Layer = {class_name: string; name: string; config: Record<string, unknown>; inbound_nodes: unknown[]}
const layersOf = (n: ReturnType<typeof normalizeKerasConfig>): Layer[] => n.topology.config.layers as unknown as Layer[]

function fn(layers: Record<string, unknown>[], input: unknown, output: unknown): Record<string, unknown> {
  return {
    module: 'keras.src.models.functional',
    class_name: 'Functional',
    config: {name: 'm', trainable: true, layers, input_layers: input, output_layers: output},
    registered_name: 'Functional',
  }
}
const input = (name: string, shape: (number | null)[]) =>
  k3('InputLayer', name, {batch_shape: shape, dtype: 'float32', sparse: false, ragged: false, optional: false}, [])

function rejects(run: () => unknown, code: string, message: RegExp): void {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe(code)
    expect((error as Error).message).toMatch(message)
    return
  }
  throw new Error('expected a user error')
}

describe('kerasSnakeCase (how Keras 3 names weight groups)', () => {
  it.each([
    ['Conv2D', 'conv2d'],
    ['Dense', 'dense'],
    ['MaxPooling2D', 'max_pooling2d'],
    ['BatchNormalization', 'batch_normalization'],
    ['DepthwiseConv2D', 'depthwise_conv2d'],
    ['GlobalAveragePooling2D', 'global_average_pooling2d'],
    ['LeakyReLU', 'leaky_re_lu'],
    ['InputLayer', 'input_layer'],
  ])('%s → %s', (cls, snake) => {
    expect(kerasSnakeCase(cls)).toBe(snake)
  })
})

describe('Keras 3 Functional config', () => {
  const n = normalizeKerasConfig(keras3Residual().config, K3)
  const byName = new Map(layersOf(n).map((l) => [l.name, l]))

  it('drops module, registered_name, build_config and compile_config everywhere', () => {
    const text = JSON.stringify(n.topology)
    for (const k of ['"module"', '"registered_name"', '"build_config"', '"compile_config"', '"shared_object_id"']) expect(text).not.toContain(k)
    expect(n.topology.class_name).toBe('Model')
    expect(n.name).toBe('residual')
  })

  it('turns DTypePolicy objects into dtype strings and InputLayer batch_shape into batch_input_shape', () => {
    expect(byName.get('stem')?.config.dtype).toBe('float32')
    expect(byName.get('pixels')?.config).toEqual({batch_input_shape: [null, 8, 8, 3], dtype: 'float32', sparse: false, ragged: false, name: 'pixels'})
  })

  it('turns {args, kwargs} nodes of __keras_tensor__ objects into [layer, node, tensor, kwargs] lists, dropping null kwargs', () => {
    expect(byName.get('stem')?.inbound_nodes).toEqual([[['pixels', 0, 0, {}]]])
    expect(byName.get('stem_bn')?.inbound_nodes).toEqual([[['stem', 0, 0, {}]]])
    expect(byName.get('merge')?.inbound_nodes).toEqual([
      [
        ['stem_bn', 0, 0, {}],
        ['branch_b', 0, 0, {}],
      ],
    ])
    expect(n.topology.config.input_layers).toEqual([['pixels', 0, 0]])
    expect(n.topology.config.output_layers).toEqual([['scores', 0, 0]])
  })

  it('maps names tfjs knows differently and nulls training-only settings', () => {
    expect(byName.get('leaky')?.config).toMatchObject({alpha: 0.1})
    expect(byName.get('leaky')?.config).not.toHaveProperty('negative_slope')
    expect(byName.get('branch_a')?.config.activation).toBe('swish')
    expect(byName.get('stem')?.config.kernel_regularizer).toBeNull()
    expect(byName.get('stem')?.config.kernel_initializer).toEqual({class_name: 'GlorotUniform', config: {seed: null}})
    expect(byName.get('scores')?.config).not.toHaveProperty('quantization_config')
  })

  it('locates weights by class-named groups counted in layer order', () => {
    expect(Object.fromEntries([...n.origins].map(([k, v]) => [k, v.v3Path]))).toEqual({
      pixels: 'layers/input_layer',
      stem: 'layers/conv2d',
      stem_bn: 'layers/batch_normalization',
      branch_a: 'layers/conv2d_1',
      branch_b: 'layers/conv2d_2',
      merge: 'layers/add',
      leaky: 'layers/leaky_re_lu',
      pool: 'layers/global_average_pooling2d',
      drop: 'layers/dropout',
      scores: 'layers/dense',
    })
  })

  it('inlines a nested Sequential, wiring its first layer to the outer tensor', () => {
    const nested = normalizeKerasConfig(keras3Nested().config, K3)
    expect(layersOf(nested).map((l) => l.name)).toEqual(['img', 'f_conv', 'f_flat', 'head'])
    expect(nested.inlined).toEqual(['features'])
    expect(nested.origins.get('f_conv')).toEqual({v3Path: 'layers/sequential/layers/conv2d', h5Group: 'features', h5Inner: 'f_conv'})
    expect(layersOf(nested)[3].inbound_nodes).toEqual([[['f_flat', 0, 0, {}]]])
  })

  it('accepts single refs for input_layers/output_layers', () => {
    const m = fn([input('a', [null, 3]), k3('Dense', 'd', k3Dense(2, 'relu'), [kerasTensor('a', [null, 3])])], ['a', 0, 0], ['d', 0, 0])
    const out = normalizeKerasConfig(m, K3)
    expect(out.topology.config.input_layers).toEqual([['a', 0, 0]])
    expect(out.topology.config.output_layers).toEqual([['d', 0, 0]])
  })

  it('replaces layers that are the identity at inference and tfjs lacks with linear Activations', () => {
    const m = fn(
      [
        input('a', [null, 4, 4, 2]),
        k3('SpatialDropout2D', 'sd', {rate: 0.2, seed: null}, [kerasTensor('a', [null, 4, 4, 2])]),
        k3('Identity', 'id', {}, [kerasTensor('sd', [null, 4, 4, 2])]),
      ],
      [['a', 0, 0]],
      [['id', 0, 0]],
    )
    const layers = layersOf(normalizeKerasConfig(m, K3))
    expect(layers.slice(1).map((l) => [l.class_name, l.config.activation])).toEqual([
      ['Activation', 'linear'],
      ['Activation', 'linear'],
    ])
  })

  it('treats mixed-precision policies as float32 (Keras keeps float variables in float32)', () => {
    const conv = k3('Conv2D', 'c', k3Conv(2, 1, 'relu'), [kerasTensor('a', [null, 4, 4, 2])])
    ;(conv.config as Record<string, unknown>).dtype = {module: 'keras', class_name: 'DTypePolicy', config: {name: 'mixed_float16'}, registered_name: null}
    const layers = layersOf(normalizeKerasConfig(fn([input('a', [null, 4, 4, 2]), conv], [['a', 0, 0]], [['c', 0, 0]]), K3))
    expect(layers[1].config.dtype).toBe('float32')
  })
})

describe('constructs that are rejected with the layer named', () => {
  const one = (layer: Record<string, unknown>) => fn([input('a', [null, 4, 4, 2]), layer], [['a', 0, 0]], [[String(layer.name), 0, 0]])
  const x = [kerasTensor('a', [null, 4, 4, 2])]

  it.each([
    [
      'Lambda',
      k3('Lambda', 'lam', {function: {}, arguments: {}}, x),
      /layer 'lam' \(Lambda\) is of class Lambda, which tfjs-layers does not implement \(it holds Python code\)/,
    ],
    ['a custom class', k3('MyBlock', 'blk', {units: 3}, x), /layer 'blk' \(MyBlock\) is of class MyBlock/],
    ['a grouped convolution', k3('Conv2D', 'g', {...k3Conv(4, 3, 'relu'), groups: 2}, x), /layer 'g' \(Conv2D\) is a grouped convolution \(groups=2\)/],
    [
      'keepdims pooling',
      k3('GlobalAveragePooling2D', 'p', {data_format: 'channels_last', keepdims: true}, x),
      /layer 'p' \(GlobalAveragePooling2D\) uses keepdims=True/,
    ],
    ['an unknown activation', k3('Conv2D', 'e', k3Conv(2, 1, 'hard_silu'), x), /layer 'e' \(Conv2D\) uses activation 'hard_silu'/],
    ["Keras 3's hard_sigmoid", k3('Conv2D', 'h', k3Conv(2, 1, 'hard_sigmoid'), x), /layer 'h' \(Conv2D\) uses Keras 3's hard_sigmoid/],
    ['a quantized layer', k3('Dense', 'q', {...k3Dense(2, 'relu'), quantization_config: {mode: 'int8'}}, x), /layer 'q' \(Dense\) is quantized/],
    [
      'a tensor keyword argument',
      k3('BatchNormalization', 'bn', k3BatchNorm(), x, {mask: kerasTensor('a', [null, 4, 4, 2])}),
      /layer 'bn' \(BatchNormalization\) is called with tensor keyword argument 'mask'/,
    ],
    [
      'a non-tensor argument',
      k3('Dense', 'd', k3Dense(2, 'relu'), [kerasTensor('a', [null, 4, 4, 2]), 3]),
      /layer 'd' \(Dense\) is called with a non-tensor argument 3/,
    ],
  ])('%s', (_what, layer, message) => {
    rejects(() => normalizeKerasConfig(one(layer), K3), 'MODEL_UNSUPPORTED_LAYER', message)
  })

  it("keeps Keras 2's hard_sigmoid, which is tfjs' own", () => {
    const m = {
      class_name: 'Sequential',
      config: {name: 's', layers: [{class_name: 'Dense', config: {name: 'd', units: 2, activation: 'hard_sigmoid', batch_input_shape: [null, 3]}}]},
    }
    const layers = layersOf(normalizeKerasConfig(m, K2))
    expect(layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Dense'])
    expect(layers[0].config.batch_input_shape).toEqual([null, 3])
    expect(layers[1].config).not.toHaveProperty('batch_input_shape')
    expect(layers[1].config.activation).toBe('hard_sigmoid')
  })

  it('a nested model called twice', () => {
    const inner = {
      ...keras3Nested().config,
      name: 'shared',
      inbound_nodes: [
        {args: [kerasTensor('a', [null, 6, 6, 2])], kwargs: {}},
        {args: [kerasTensor('b', [null, 6, 6, 2])], kwargs: {}},
      ],
    }
    const m = fn(
      [input('a', [null, 6, 6, 2]), input('b', [null, 6, 6, 2]), inner],
      [
        ['a', 0, 0],
        ['b', 0, 0],
      ],
      [['shared', 0, 0]],
    )
    rejects(() => normalizeKerasConfig(m, K3), 'MODEL_UNSUPPORTED_LAYER', /layer 'shared' \(Functional\) is a nested model called 2 times/)
  })

  it('a Sequential that was never built', () => {
    const m = {module: 'keras', class_name: 'Sequential', config: {name: 's', layers: [k3('Dense', 'd', k3Dense(2, 'relu'), undefined)]}, registered_name: null}
    rejects(() => normalizeKerasConfig(m, K3), 'MODEL_FORMAT_UNSUPPORTED', /Sequential model 's' was never built/)
  })

  it('a subclassed model', () => {
    rejects(
      () => normalizeKerasConfig({module: 'my_project', class_name: 'MyNet', config: {}, registered_name: 'MyNet'}, K3),
      'MODEL_FORMAT_UNSUPPORTED',
      /the model is a "MyNet"/,
    )
  })
})
