/**
 * A tiny Keras-functional-API look-alike that writes what `tensorflowjs_converter --input_format
 * keras` writes for a tf.keras (2.13) model, quirks included:
 * - model.json {format: 'layers-model', generatedBy: 'keras v2.13.1', convertedBy: 'TensorFlow.js
 *   Converter v4.22.0', modelTopology: {keras_version, backend, model_config: {class_name:
 *   'Functional', config}, training_config}}, every layer {class_name, config, name, inbound_nodes}
 *   and (quirks on) Keras 2.13's `module` / `registered_name` / `build_config` fields, initializers
 *   as `{module, class_name, config, registered_name}` objects;
 * - every config key Keras writes, including those tfjs-layers refuses: `groups: 1`, Conv2D
 *   `kernel_*` beside SeparableConv2D's depthwise_/pointwise_ ones (tfjs issue 4479),
 *   BatchNormalization `axis: [3]`, Dropout `noise_shape`, Normalization (not a tfjs layer);
 * - weightsManifest: one group per layer with weights, each cut into 4 MB shards named
 *   `group<i>-shard<j>of<n>.bin`, weight names `<layer>/<weight>` (layer names may hold '/').
 *
 * Weights are deterministic pseudo-random numbers (He-uniform kernels, BatchNormalization
 * statistics near identity) generated while writing, never committed.
 */
import {mkdirSync, rmSync, writeFileSync, openSync, writeSync, closeSync} from 'node:fs'
import {join} from 'node:path'

type Obj = Record<string, unknown>
type Pad = [[number, number], [number, number]]

/** A symbolic tensor: the layer that made it and its shape without the batch dimension. */
export interface T {
  layer: string
  shape: number[]
}

interface WeightDef {
  name: string
  shape: number[]
  dtype: 'float32' | 'int32'
  init: 'kernel' | 'bias' | 'gamma' | 'beta' | 'mean' | 'var' | 'normMean' | 'normVar' | 'count'
  /** fan-in for kernels */
  fanIn?: number
  /** multiplies the kernel's range (a classifier head uses a small one so softmax does not saturate) */
  gain?: number
}

export const SHARD_BYTES = 4 * 1024 * 1024

const pair = (v: number | [number, number]): [number, number] => (typeof v === 'number' ? [v, v] : v)

function convOut(size: number, k: number, s: number, padding: string, d = 1): number {
  const ek = (k - 1) * d + 1
  return padding === 'same' ? Math.ceil(size / s) : Math.floor((size - ek) / s) + 1
}

export class KerasGraph {
  readonly layers: Obj[] = []
  readonly weights = new Map<string, WeightDef[]>()
  private readonly counters = new Map<string, number>()
  inputs: T[] = []
  outputs: T[] = []

  constructor(
    readonly name: string,
    /** write Keras 2.13's module/registered_name/build_config fields */
    readonly quirks = true,
  ) {}

  /** Keras' automatic layer names: conv2d, conv2d_1, … */
  auto(base: string): string {
    const n = this.counters.get(base)
    this.counters.set(base, (n ?? -1) + 1)
    return n === undefined ? base : `${base}_${n + 1}`
  }

  private init(cls: string, config: Obj = {}): Obj {
    return this.quirks ? {module: 'keras.initializers', class_name: cls, config, registered_name: null} : {class_name: cls, config}
  }

  private add(cls: string, name: string, config: Obj, inputs: T[], shape: number[], weights: WeightDef[] = []): T {
    const entry: Obj = {}
    if (this.quirks) entry.module = 'keras.layers'
    entry.class_name = cls
    entry.config = {name, trainable: true, dtype: 'float32', ...config}
    if (this.quirks) {
      entry.registered_name = null
      if (inputs.length) entry.build_config = {input_shape: inputs.length === 1 ? [null, ...inputs[0].shape] : inputs.map((t) => [null, ...t.shape])}
    }
    entry.name = name
    entry.inbound_nodes = inputs.length ? [inputs.map((t) => [t.layer, 0, 0, {}])] : []
    this.layers.push(entry)
    if (weights.length)
      this.weights.set(
        name,
        weights.map((w) => ({...w, name: `${name}/${w.name}`})),
      )
    return {layer: name, shape}
  }

  input(shape: number[], name = 'input_1'): T {
    const t = this.add('InputLayer', name, {batch_input_shape: [null, ...shape], sparse: false, ragged: false}, [], shape)
    this.inputs.push(t)
    return t
  }

  private convCommon(o: {strides?: number | [number, number]; padding?: string; activation?: string; useBias?: boolean; dilation?: number}): Obj {
    return {
      strides: pair(o.strides ?? 1),
      padding: o.padding ?? 'valid',
      data_format: 'channels_last',
      dilation_rate: pair(o.dilation ?? 1),
      activation: o.activation ?? 'linear',
      use_bias: o.useBias ?? true,
      bias_initializer: this.init('Zeros'),
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    }
  }

  private spatial(x: T, k: [number, number], o: {strides?: number | [number, number]; padding?: string; dilation?: number}): [number, number] {
    const s = pair(o.strides ?? 1)
    return [convOut(x.shape[0], k[0], s[0], o.padding ?? 'valid', o.dilation), convOut(x.shape[1], k[1], s[1], o.padding ?? 'valid', o.dilation)]
  }

  conv(
    x: T,
    filters: number,
    kernel: number | [number, number],
    o: {name?: string; strides?: number | [number, number]; padding?: string; activation?: string; useBias?: boolean; dilation?: number; kernelInit?: Obj} = {},
  ): T {
    const k = pair(kernel)
    const cin = x.shape[2]
    const [h, w] = this.spatial(x, k, o)
    const weights: WeightDef[] = [{name: 'kernel', shape: [k[0], k[1], cin, filters], dtype: 'float32', init: 'kernel', fanIn: k[0] * k[1] * cin}]
    if (o.useBias ?? true) weights.push({name: 'bias', shape: [filters], dtype: 'float32', init: 'bias'})
    const config = {filters, kernel_size: k, ...this.convCommon(o), groups: 1, kernel_initializer: o.kernelInit ?? this.init('GlorotUniform', {seed: null})}
    return this.add('Conv2D', o.name ?? this.auto('conv2d'), config, [x], [h, w, filters], weights)
  }

  /** SeparableConv2D as tf.keras 2 serializes it: kernel_* keys beside depthwise_/pointwise_ ones. */
  sepConv(x: T, filters: number, kernel: number, o: {name?: string; strides?: number; padding?: string; useBias?: boolean} = {}): T {
    const k = pair(kernel)
    const cin = x.shape[2]
    const [h, w] = this.spatial(x, k, o)
    const weights: WeightDef[] = [
      {name: 'depthwise_kernel', shape: [k[0], k[1], cin, 1], dtype: 'float32', init: 'kernel', fanIn: k[0] * k[1]},
      {name: 'pointwise_kernel', shape: [1, 1, cin, filters], dtype: 'float32', init: 'kernel', fanIn: cin},
    ]
    if (o.useBias ?? true) weights.push({name: 'bias', shape: [filters], dtype: 'float32', init: 'bias'})
    const config = {
      filters,
      kernel_size: k,
      ...this.convCommon(o),
      groups: 1,
      kernel_initializer: this.init('GlorotUniform', {seed: null}),
      depth_multiplier: 1,
      depthwise_initializer: this.init('GlorotUniform', {seed: null}),
      pointwise_initializer: this.init('GlorotUniform', {seed: null}),
      depthwise_regularizer: null,
      pointwise_regularizer: null,
      depthwise_constraint: null,
      pointwise_constraint: null,
    }
    return this.add('SeparableConv2D', o.name ?? this.auto('separable_conv2d'), config, [x], [h, w, filters], weights)
  }

  dwConv(x: T, kernel: number, o: {name?: string; strides?: number; padding?: string; useBias?: boolean; init?: Obj} = {}): T {
    const k = pair(kernel)
    const cin = x.shape[2]
    const [h, w] = this.spatial(x, k, o)
    const weights: WeightDef[] = [{name: 'depthwise_kernel', shape: [k[0], k[1], cin, 1], dtype: 'float32', init: 'kernel', fanIn: k[0] * k[1]}]
    if (o.useBias ?? true) weights.push({name: 'bias', shape: [cin], dtype: 'float32', init: 'bias'})
    const config = {
      kernel_size: k,
      ...this.convCommon(o),
      depth_multiplier: 1,
      depthwise_initializer: o.init ?? this.init('GlorotUniform', {seed: null}),
      depthwise_regularizer: null,
      depthwise_constraint: null,
    }
    return this.add('DepthwiseConv2D', o.name ?? this.auto('depthwise_conv2d'), config, [x], [h, w, cin], weights)
  }

  bn(x: T, o: {name?: string; epsilon?: number} = {}): T {
    const c = x.shape[x.shape.length - 1]
    const config = {
      axis: [x.shape.length],
      momentum: 0.99,
      epsilon: o.epsilon ?? 0.001,
      center: true,
      scale: true,
      beta_initializer: this.init('Zeros'),
      gamma_initializer: this.init('Ones'),
      moving_mean_initializer: this.init('Zeros'),
      moving_variance_initializer: this.init('Ones'),
      beta_regularizer: null,
      gamma_regularizer: null,
      beta_constraint: null,
      gamma_constraint: null,
    }
    const w = (name: string, init: WeightDef['init']): WeightDef => ({name, shape: [c], dtype: 'float32', init})
    return this.add('BatchNormalization', o.name ?? this.auto('batch_normalization'), config, [x], x.shape, [
      w('gamma', 'gamma'),
      w('beta', 'beta'),
      w('moving_mean', 'mean'),
      w('moving_variance', 'var'),
    ])
  }

  act(x: T, activation: string, name?: string): T {
    return this.add('Activation', name ?? this.auto('activation'), {activation}, [x], x.shape)
  }

  zeroPad(x: T, padding: Pad, name?: string): T {
    const [[t, b], [l, r]] = padding
    return this.add(
      'ZeroPadding2D',
      name ?? this.auto('zero_padding2d'),
      {padding, data_format: 'channels_last'},
      [x],
      [x.shape[0] + t + b, x.shape[1] + l + r, x.shape[2]],
    )
  }

  pool(cls: 'MaxPooling2D' | 'AveragePooling2D', x: T, size: number, o: {name?: string; strides?: number; padding?: string} = {}): T {
    const s = o.strides ?? size
    const padding = o.padding ?? 'valid'
    const shape = [convOut(x.shape[0], size, s, padding), convOut(x.shape[1], size, s, padding), x.shape[2]]
    const base = cls === 'MaxPooling2D' ? 'max_pooling2d' : 'average_pooling2d'
    return this.add(cls, o.name ?? this.auto(base), {pool_size: [size, size], padding, strides: [s, s], data_format: 'channels_last'}, [x], shape)
  }

  gap(x: T, name?: string): T {
    return this.add('GlobalAveragePooling2D', name ?? this.auto('global_average_pooling2d'), {data_format: 'channels_last', keepdims: false}, [x], [x.shape[2]])
  }

  flatten(x: T, name?: string): T {
    return this.add('Flatten', name ?? this.auto('flatten'), {data_format: 'channels_last'}, [x], [x.shape.reduce((a, b) => a * b, 1)])
  }

  dense(x: T, units: number, o: {name?: string; activation?: string; init?: Obj; gain?: number} = {}): T {
    const cin = x.shape[x.shape.length - 1]
    const config = {
      units,
      activation: o.activation ?? 'linear',
      use_bias: true,
      kernel_initializer: o.init ?? this.init('GlorotUniform', {seed: null}),
      bias_initializer: this.init('Zeros'),
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
    }
    const weights: WeightDef[] = [
      {name: 'kernel', shape: [cin, units], dtype: 'float32', init: 'kernel', fanIn: cin, gain: o.gain},
      {name: 'bias', shape: [units], dtype: 'float32', init: 'bias'},
    ]
    return this.add('Dense', o.name ?? this.auto('dense'), config, [x], [...x.shape.slice(0, -1), units], weights)
  }

  dropout(x: T, rate: number, o: {name?: string; noiseShape?: (number | null)[]} = {}): T {
    return this.add('Dropout', o.name ?? this.auto('dropout'), {rate, noise_shape: o.noiseShape ?? null, seed: null}, [x], x.shape)
  }

  merge(cls: 'Add' | 'Multiply' | 'Concatenate', xs: T[], name?: string): T {
    const base = cls === 'Add' ? 'add' : cls === 'Multiply' ? 'multiply' : 'concatenate'
    let shape = xs[0].shape
    if (cls === 'Concatenate') shape = [...shape.slice(0, -1), xs.reduce((s, t) => s + t.shape[t.shape.length - 1], 0)]
    else shape = xs.reduce((best, t) => (t.shape.reduce((a, b) => a * b, 1) > best.reduce((a, b) => a * b, 1) ? t.shape : best), shape)
    return this.add(cls, name ?? this.auto(base), cls === 'Concatenate' ? {axis: -1} : {}, xs, shape)
  }

  reshape(x: T, target: number[], name?: string): T {
    return this.add('Reshape', name ?? this.auto('reshape'), {target_shape: target}, [x], target)
  }

  rescaling(x: T, scale: number, name?: string): T {
    return this.add('Rescaling', name ?? this.auto('rescaling'), {scale, offset: 0.0}, [x], x.shape)
  }

  /** Keras' Normalization preprocessing layer (not a tfjs-layers class), adapted: mean, variance, count. */
  normalization(x: T, name?: string): T {
    const c = x.shape[x.shape.length - 1]
    return this.add('Normalization', name ?? this.auto('normalization'), {axis: [x.shape.length], mean: null, variance: null, invert: false}, [x], x.shape, [
      {name: 'mean', shape: [c], dtype: 'float32', init: 'normMean'},
      {name: 'variance', shape: [c], dtype: 'float32', init: 'normVar'},
      {name: 'count', shape: [], dtype: 'int32', init: 'count'},
    ])
  }

  /** Parameter count as Keras' model.count_params() reports it (every stored weight element). */
  paramCount(): number {
    let n = 0
    for (const ws of this.weights.values()) for (const w of ws) n += w.shape.reduce((a, b) => a * b, 1)
    return n
  }

  weightBytes(): number {
    return this.paramCount() * 4
  }

  modelJson(): Obj {
    const groups = [...this.weights.values()]
    return {
      format: 'layers-model',
      generatedBy: 'keras v2.13.1',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version: '2.13.1',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Functional',
          config: {
            name: this.name,
            trainable: true,
            layers: this.layers,
            input_layers: this.inputs.map((t) => [t.layer, 0, 0]),
            output_layers: this.outputs.map((t) => [t.layer, 0, 0]),
          },
        },
        training_config: null,
      },
      weightsManifest: groups.map((ws, gi) => {
        const bytes = ws.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1) * 4, 0)
        const n = Math.max(1, Math.ceil(bytes / SHARD_BYTES))
        return {
          paths: Array.from({length: n}, (_, j) => `group${gi + 1}-shard${j + 1}of${n}.bin`),
          weights: ws.map((w) => ({name: w.name, shape: w.shape, dtype: w.dtype})),
        }
      }),
    }
  }

  /** Writes model.json and its shards into `dir` (emptied first); returns the model.json path. */
  write(dir: string, seed = 1): string {
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true})
    const json = this.modelJson() as {weightsManifest: {paths: string[]}[]}
    const rng = xorshift(seed)
    const groups = [...this.weights.values()]
    groups.forEach((ws, gi) => {
      const paths = json.weightsManifest[gi].paths
      let shard = 0
      let fd = openSync(join(dir, paths[0]), 'w')
      let left = SHARD_BYTES
      const put = (buf: Uint8Array): void => {
        let at = 0
        while (at < buf.byteLength) {
          if (left === 0) {
            closeSync(fd)
            shard++
            fd = openSync(join(dir, paths[shard]), 'w')
            left = SHARD_BYTES
          }
          const n = Math.min(left, buf.byteLength - at)
          writeSync(fd, buf, at, n)
          at += n
          left -= n
        }
      }
      for (const w of ws) {
        const count = w.shape.reduce((a, b) => a * b, 1)
        const chunk = 1 << 20
        for (let done = 0; done < count; done += chunk) {
          const n = Math.min(chunk, count - done)
          if (w.dtype === 'int32') {
            const a = new Int32Array(n).fill(1000)
            put(new Uint8Array(a.buffer))
            continue
          }
          const a = new Float32Array(n)
          fill(a, w, rng)
          put(new Uint8Array(a.buffer))
        }
      }
      closeSync(fd)
    })
    const file = join(dir, 'model.json')
    writeFileSync(file, JSON.stringify(json))
    return file
  }
}

function xorshift(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

function fill(a: Float32Array, w: WeightDef, rng: () => number): void {
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rng()
  switch (w.init) {
    case 'kernel': {
      const lim = (w.gain ?? 1) * Math.sqrt(6 / Math.max(1, w.fanIn ?? 1))
      for (let i = 0; i < a.length; i++) a[i] = u(-lim, lim)
      return
    }
    case 'bias':
    case 'beta':
    case 'mean':
      for (let i = 0; i < a.length; i++) a[i] = u(-0.05, 0.05)
      return
    case 'gamma':
    case 'var':
      for (let i = 0; i < a.length; i++) a[i] = u(0.8, 1.2)
      return
    case 'normMean':
      for (let i = 0; i < a.length; i++) a[i] = u(0.4, 0.5)
      return
    case 'normVar':
      for (let i = 0; i < a.length; i++) a[i] = u(0.05, 0.08)
      return
    default:
      a.fill(0)
  }
}
