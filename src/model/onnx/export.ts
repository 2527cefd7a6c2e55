/**
 * ONNX export of a stage range [first..last] (or the whole model) of a loaded LayerGraph.
 *
 * - Inputs and outputs are the stage's crossing tensors (graph.ts stageBoundary), named by tensor
 *   id, float32, NHWC exactly as Keras has them, batch dimension symbolic ("batch").
 * - Inside, every tensor value is tracked in the layout it was produced in: 4-D tensors out of
 *   Conv/Pool/BN/Pad/Resize stay NCHW, and a Transpose is emitted only where a consumer needs the
 *   other layout (Dense, Reshape, Flatten, Permute, stage outputs...); elementwise ops and
 *   Concatenate work in whichever layout their inputs already have. ORT's transpose optimizer
 *   removes the transposes that cancel.
 * - TF "same" padding is written as explicit (possibly asymmetric: the extra row/column at the end)
 *   pads; weights come dequantized (float32) from the model's weight manifest.
 * - A layer class or configuration that has no exact ONNX equivalent here throws AmpsUserError
 *   MODEL_UNSUPPORTED_LAYER naming the layer and its class, with the hint `--backend wasm`.
 */
import type * as tfType from '../../runtime/tfjs.js'

import {AmpsUserError, InvalidProblemError} from '../../errors.js'
import {initTf} from '../../runtime/tf.js'
import {stageBoundary, tensorUses, topologyOf} from '../graph.js'
import {INFERENCE_IDENTITY_LAYERS, type KerasLayerJson} from '../keras-format.js'
import type {LayerInfo, LoadedModel, Shape} from '../types.js'
import {joinWeightData} from '../weights.js'
import {GraphBuilder, OPSET, type AttrValue} from './proto.js'

export {OPSET} from './proto.js'

/** Layer classes the exporter writes (configurations it cannot write are rejected per layer). */
export const ONNX_LAYER_CLASSES = [
  'InputLayer',
  'Conv2D',
  'DepthwiseConv2D',
  'SeparableConv2D',
  'Dense',
  'BatchNormalization',
  'Activation',
  'ReLU',
  'LeakyReLU',
  'ELU',
  'Softmax',
  'ThresholdedReLU',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'ZeroPadding2D',
  'Cropping2D',
  'UpSampling2D',
  'Add',
  'Multiply',
  'Subtract',
  'Average',
  'Maximum',
  'Minimum',
  'Concatenate',
  'Reshape',
  'Flatten',
  'Permute',
  ...INFERENCE_IDENTITY_LAYERS,
  'Rescaling',
] as const

const IDENTITY = new Set<string>(INFERENCE_IDENTITY_LAYERS)

export interface OnnxExport {
  /** encoded ModelProto */
  bytes: Uint8Array
  /** graph input names = tensor ids, in stage input order */
  inputs: string[]
  /** graph output names = tensor ids, in stage output order */
  outputs: string[]
  opset: number
  /** how many ONNX nodes the graph has */
  nodes: number
}

type Layout = 'nhwc' | 'nchw'
const TO_NCHW = [0, 3, 1, 2]
const TO_NHWC = [0, 2, 3, 1]

interface Value {
  /** Keras (channels-last) shape with batch */
  shape: Shape
  native: Layout
  names: Partial<Record<Layout, string>>
}

const weightCache = new WeakMap<object, Promise<Map<string, {shape: number[]; data: Float32Array}>>>()

/** Every weight of the model as float32 (dequantized), by manifest name (decoded once per artifacts object). */
function decodedWeights(model: LoadedModel): Promise<Map<string, {shape: number[]; data: Float32Array}>> {
  const key = model.artifacts as object
  let p = weightCache.get(key)
  if (!p) {
    p = (async () => {
      const {tf} = await initTf()
      const named = tf.io.decodeWeights(joinWeightData(model.artifacts.weightData), model.artifacts.weightSpecs)
      const out = new Map<string, {shape: number[]; data: Float32Array}>()
      for (const [name, t] of Object.entries(named)) {
        const f = (t as tfType.Tensor).dtype === 'float32' ? t : tf.cast(t, 'float32')
        out.set(name, {shape: t.shape, data: (await f.data()) as Float32Array})
        tf.dispose([t, f])
      }
      return out
    })()
    weightCache.set(key, p)
  }
  return p
}

/** Exports positions [first..last] of the model (default: the whole model) to ONNX. */
export async function exportOnnx(model: LoadedModel, first = 0, last = model.graph.layers.length - 1): Promise<OnnxExport> {
  const {graph} = model
  const uses = tensorUses(graph)
  const {inputs, outputs} = stageBoundary(graph, first, last, uses)
  if (outputs.length === 0) throw new InvalidProblemError(`stage [${first}..${last}] produces nothing later stages or the model use`)
  const configs = new Map(topologyOf(model.artifacts).config.layers.map((l) => [l.name as string, l]))
  const weights = await decodedWeights(model)
  const b = new GraphBuilder()
  const values = new Map<string, Value>()
  for (const u of inputs) b.reserve(u.info.id)
  for (const u of outputs) b.reserve(u.info.id)

  for (const u of inputs) {
    if (u.info.dtype !== 'float32') {
      throw new AmpsUserError('MODEL_UNSUPPORTED_LAYER', `tensor ${u.info.id} is ${u.info.dtype}; the ONNX backend takes float32 tensors only`, {
        suggestions: ['Use --backend wasm for this model'],
      })
    }
    b.inputs.push(b.valueInfo(u.info.id, u.info.shape))
    values.set(u.info.id, {shape: u.info.shape, native: 'nhwc', names: {nhwc: u.info.id}})
  }

  const get = (id: string, layout: Layout): string => {
    const v = values.get(id)
    if (!v) throw new InvalidProblemError(`ONNX export: tensor ${id} is used before it is produced`)
    const have = v.names[layout]
    if (have) return have
    if (v.shape.length !== 4) throw new InvalidProblemError(`ONNX export: tensor ${id} has rank ${v.shape.length}; only 4-D tensors change layout`)
    const from = v.names[layout === 'nchw' ? 'nhwc' : 'nchw'] as string
    const t = b.op('Transpose', [from], {perm: layout === 'nchw' ? TO_NCHW : TO_NHWC}, `${id}_${layout}`)
    v.names[layout] = t
    return t
  }

  for (let p = first; p <= last; p++) {
    const layer = graph.layers[p]
    if (layer.className === 'InputLayer') continue
    const kl = configs.get(layer.name) as KerasLayerJson
    b.tag = layerTag(p)
    const ctx = new LayerCtx(b, layer, kl, weights, values, get, uses)
    ctx.emit()
  }

  b.tag = ''
  for (const u of outputs) {
    const v = values.get(u.info.id)
    if (!v) throw new InvalidProblemError(`ONNX export: stage output ${u.info.id} was not produced`)
    const src = v.names.nhwc ?? (v.names.nchw as string)
    if (v.names.nhwc) b.op('Identity', [src], {}, 'out', u.info.id)
    else b.op('Transpose', [src], {perm: TO_NHWC}, 'out', u.info.id)
    b.outputs.push(b.valueInfo(u.info.id, u.info.shape))
  }
  const name = `${graph.name}_${graph.layers[first].name}_${graph.layers[last].name}`
  return {
    bytes: b.encode(name, `amps stage [${first}..${last}] of ${graph.name} (sha256 ${graph.sha256})`),
    inputs: inputs.map((u) => u.info.id),
    outputs: outputs.map((u) => u.info.id),
    opset: OPSET,
    nodes: b.nodes.length,
  }
}

/** Every node a layer emits is named `@L<position>@…`, so ORT's per-node profile maps back to layers (see layerOfNode). */
export function layerTag(position: number): string {
  return `@L${position}@`
}

/** The layer position a node name (also ORT's fused node names, which keep the first node's name) belongs to, or undefined. */
export function layerOfNode(name: string): number | undefined {
  const m = /@L(\d+)@/.exec(name)
  return m ? Number(m[1]) : undefined
}

function pair(v: unknown, name: string): [number, number] {
  if (typeof v === 'number') return [v, v]
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]]
  throw new InvalidProblemError(`${name} must be a number or a pair, got ${JSON.stringify(v)}`)
}

/** [[top, bottom], [left, right]] from an int, a pair or a pair of pairs. */
function pads2d(v: unknown, name: string): [[number, number], [number, number]] {
  if (typeof v === 'number')
    return [
      [v, v],
      [v, v],
    ]
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number'))
    return [
      [v[0], v[0]],
      [v[1], v[1]],
    ]
  if (Array.isArray(v) && v.length === 2 && v.every((x) => Array.isArray(x))) return [pair(v[0], name), pair(v[1], name)]
  throw new InvalidProblemError(`${name} must be an int, a pair or a pair of pairs, got ${JSON.stringify(v)}`)
}

/** TF "same"/"valid" pads for one spatial dimension: [begin, end]. */
function tfPads(padding: string, size: number, kernel: number, stride: number, dilation: number): [number, number] {
  if (padding === 'valid') return [0, 0]
  const eff = (kernel - 1) * dilation + 1
  const out = Math.ceil(size / stride)
  const total = Math.max((out - 1) * stride + eff - size, 0)
  return [Math.floor(total / 2), total - Math.floor(total / 2)]
}

class LayerCtx {
  readonly cfg: Record<string, unknown>
  constructor(
    private b: GraphBuilder,
    private layer: LayerInfo,
    kl: KerasLayerJson,
    private weights: Map<string, {shape: number[]; data: Float32Array}>,
    private values: Map<string, Value>,
    private get: (id: string, layout: Layout) => string,
    private uses: ReturnType<typeof tensorUses>,
  ) {
    this.cfg = (kl?.config ?? {}) as Record<string, unknown>
  }

  unsupported(why: string): AmpsUserError {
    return new AmpsUserError('MODEL_UNSUPPORTED_LAYER', `layer '${this.layer.name}' (${this.layer.className}) cannot be exported to ONNX: ${why}`, {
      suggestions: ['Run this model on the TensorFlow.js runtime: --backend wasm'],
      details: {layer: this.layer.name, className: this.layer.className},
    })
  }

  weight(suffix: string, required = true): {shape: number[]; data: Float32Array} | undefined {
    const name = (this.layer.weightNames ?? []).find((n) => n === suffix || n.endsWith(`/${suffix}`))
    const w = name ? this.weights.get(name) : undefined
    if (!w && required) throw this.unsupported(`weight ${suffix} not found`)
    return w
  }

  inShape(i = 0): Shape {
    return this.uses.get(this.layer.inbound[i])!.info.shape
  }

  get outShape(): Shape {
    return this.layer.outputs[0].shape
  }

  set(out: string, layout: Layout, index = 0): void {
    const info = this.layer.outputs[index]
    this.values.set(info.id, {shape: info.shape, native: layout, names: {[layout]: out}})
  }

  input(i: number, layout: Layout): string {
    return this.get(this.layer.inbound[i], layout)
  }

  /** The layout input i already has (its producer's), for layout-agnostic ops. */
  nativeOf(i: number): Layout {
    return this.values.get(this.layer.inbound[i])?.native ?? 'nhwc'
  }

  checkChannelsLast(): void {
    if (this.cfg.data_format === 'channels_first') throw this.unsupported('data_format channels_first is not exported')
  }

  need4d(): void {
    if (this.inShape().length !== 4) throw this.unsupported(`expects a 4-D input, got rank ${this.inShape().length}`)
  }

  emit(): void {
    const c = this.layer.className
    if (this.layer.outputs.length !== 1) throw this.unsupported(`has ${this.layer.outputs.length} outputs`)
    if (this.layer.outputs[0].dtype !== 'float32') throw this.unsupported(`produces ${this.layer.outputs[0].dtype}`)
    if (IDENTITY.has(c)) return this.set(this.input(0, this.nativeOf(0)), this.nativeOf(0))
    switch (c) {
      case 'Conv2D':
        return this.conv()
      case 'DepthwiseConv2D':
        return this.depthwise()
      case 'SeparableConv2D':
        return this.separable()
      case 'Dense':
        return this.dense()
      case 'BatchNormalization':
        return this.batchNorm()
      case 'Activation':
        return this.activationLayer(String(this.cfg.activation ?? 'linear'))
      case 'ReLU':
        return this.relu()
      case 'LeakyReLU': {
        const alpha = Number(this.cfg.alpha ?? this.cfg.negative_slope ?? 0.3)
        const l = this.nativeOf(0)
        return this.set(this.b.op('LeakyRelu', [this.input(0, l)], {alpha: float(alpha)}), l)
      }
      case 'ELU': {
        const l = this.nativeOf(0)
        return this.set(this.b.op('Elu', [this.input(0, l)], {alpha: float(Number(this.cfg.alpha ?? 1))}), l)
      }
      case 'ThresholdedReLU': {
        const l = this.nativeOf(0)
        return this.set(this.b.op('ThresholdedRelu', [this.input(0, l)], {alpha: float(Number(this.cfg.theta ?? 1))}), l)
      }
      case 'Softmax': {
        const axis = this.cfg.axis ?? -1
        const a = Array.isArray(axis) ? axis : [axis]
        if (a.length !== 1) throw this.unsupported('softmax over several axes')
        return this.softmax(this.nativeOf(0), Number(a[0]))
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D':
        return this.pool(c === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool')
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
        return this.globalPool(c === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool')
      case 'ZeroPadding2D':
        return this.zeroPad()
      case 'Cropping2D':
        return this.crop()
      case 'UpSampling2D':
        return this.upsample()
      case 'Add':
      case 'Multiply':
      case 'Subtract':
      case 'Average':
      case 'Maximum':
      case 'Minimum':
        return this.merge(c)
      case 'Concatenate':
        return this.concat()
      case 'Reshape':
        return this.set(this.b.op('Reshape', [this.input(0, 'nhwc'), this.b.int64s([0, ...this.outShape.slice(1).map((d) => d ?? -1)])]), 'nhwc')
      case 'Flatten':
        return this.set(this.b.op('Flatten', [this.input(0, 'nhwc')], {axis: 1}), 'nhwc')
      case 'Permute': {
        const dims = this.cfg.dims as number[]
        return this.set(this.b.op('Transpose', [this.input(0, 'nhwc')], {perm: [0, ...dims]}), 'nhwc')
      }
      case 'Rescaling': {
        const l = this.nativeOf(0)
        const scale = this.cfg.scale ?? 1
        const offset = this.cfg.offset ?? 0
        if (typeof scale !== 'number' || typeof offset !== 'number') throw this.unsupported('per-channel scale/offset')
        let x = this.b.op('Mul', [this.input(0, l), this.b.scalar(scale)])
        x = this.b.op('Add', [x, this.b.scalar(offset)])
        return this.set(x, l)
      }
      default:
        throw this.unsupported(`class ${c} has no ONNX export`)
    }
  }

  /** Applies a Keras activation by name to `x` (laid out as `layout`; softmax is over the Keras last axis). */
  activation(name: string, x: string, layout: Layout, rank: number): string {
    const key = name.toLowerCase().replace(/_/g, '')
    const b = this.b
    switch (key) {
      case 'linear':
        return x
      case 'relu':
        return b.op('Relu', [x])
      case 'relu6':
        return b.op('Clip', [x, b.scalar(0), b.scalar(6)])
      case 'sigmoid':
        return b.op('Sigmoid', [x])
      case 'hardsigmoid':
        return b.op('HardSigmoid', [x], {alpha: float(0.2), beta: float(0.5)})
      case 'tanh':
        return b.op('Tanh', [x])
      case 'elu':
        return b.op('Elu', [x], {alpha: float(1)})
      case 'selu':
        return b.op('Selu', [x], {alpha: float(1.6732632423543772), gamma: float(1.0507009873554805)})
      case 'softplus':
        return b.op('Softplus', [x])
      case 'softsign':
        return b.op('Softsign', [x])
      case 'exponential':
        return b.op('Exp', [x])
      case 'swish':
      case 'silu':
        return b.op('Mul', [b.op('Sigmoid', [x]), x])
      case 'mish':
        return b.op('Mul', [x, b.op('Tanh', [b.op('Softplus', [x])])])
      case 'gelu': {
        const e = b.op('Erf', [b.op('Div', [x, b.scalar(Math.SQRT2)])])
        return b.op('Mul', [x, b.op('Mul', [b.op('Add', [e, b.scalar(1)]), b.scalar(0.5)])])
      }
      case 'softmax':
      case 'logsoftmax': {
        const axis = layout === 'nchw' && rank === 4 ? 1 : rank - 1
        return b.op(key === 'softmax' ? 'Softmax' : 'LogSoftmax', [x], {axis})
      }
      default:
        throw this.unsupported(`activation ${name} has no ONNX export`)
    }
  }

  activationLayer(name: string): void {
    const l = this.nativeOf(0)
    this.set(this.activation(name, this.input(0, l), l, this.inShape().length), l)
  }

  fused(x: string, layout: Layout): string {
    const a = this.cfg.activation
    if (a === undefined || a === null) return x
    if (typeof a !== 'string') throw this.unsupported(`activation ${JSON.stringify(a)}`)
    return this.activation(a, x, layout, this.outShape.length)
  }

  softmax(layout: Layout, kerasAxis: number): void {
    const rank = this.inShape().length
    const k = kerasAxis < 0 ? kerasAxis + rank : kerasAxis
    const axis = layout === 'nchw' ? TO_NCHW.indexOf(k) : k
    this.set(this.b.op('Softmax', [this.input(0, layout)], {axis}), layout)
  }

  relu(): void {
    const max = this.cfg.max_value ?? this.cfg.maxValue
    const slope = Number(this.cfg.negative_slope ?? 0)
    const threshold = Number(this.cfg.threshold ?? 0)
    if (slope !== 0 || threshold !== 0) throw this.unsupported('negative_slope/threshold other than 0')
    const l = this.nativeOf(0)
    const x = this.input(0, l)
    const y = max === undefined || max === null ? this.b.op('Relu', [x]) : this.b.op('Clip', [x, this.b.scalar(0), this.b.scalar(Number(max))])
    this.set(y, l)
  }

  /** Conv attributes for kernel [kh, kw] from the layer's strides/padding/dilation. */
  convAttrs(kh: number, kw: number): {strides: number[]; dilations: number[]; pads: number[]} {
    this.checkChannelsLast()
    this.need4d()
    const [sh, sw] = pair(this.cfg.strides ?? 1, 'strides')
    const [dh, dw] = pair(this.cfg.dilation_rate ?? 1, 'dilation_rate')
    const padding = String(this.cfg.padding ?? 'valid')
    if (padding !== 'same' && padding !== 'valid') throw this.unsupported(`padding ${padding}`)
    const [, h, w] = this.inShape() as number[]
    const [pt, pb] = tfPads(padding, h, kh, sh, dh)
    const [pl, pr] = tfPads(padding, w, kw, sw, dw)
    return {strides: [sh, sw], dilations: [dh, dw], pads: [pt, pl, pb, pr]}
  }

  bias(required: boolean): string | undefined {
    if (this.cfg.use_bias === false) return undefined
    const w = this.weight('bias', required)
    return w ? this.b.floatTensor(`${this.layer.name}_bias`, [w.data.length], w.data) : undefined
  }

  conv(): void {
    const k = this.weight('kernel')!
    const [kh, kw, cin, cout] = k.shape
    const groups = Number(this.cfg.groups ?? 1)
    const w = this.b.floatTensor(`${this.layer.name}_W`, [cout, cin, kh, kw], hwioToOihw(k.data, kh, kw, cin, cout))
    const bias = this.bias(true)
    const y = this.b.op('Conv', [this.input(0, 'nchw'), w, ...(bias ? [bias] : [])], {...this.convAttrs(kh, kw), group: groups}, this.layer.name)
    this.set(this.fused(y, 'nchw'), 'nchw')
  }

  depthwiseNode(x: string, withBias: boolean): string {
    const k = this.weight('depthwise_kernel')!
    const [kh, kw, cin, mult] = k.shape
    const data = new Float32Array(cin * mult * kh * kw)
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let c = 0; c < cin; c++) {
          for (let m = 0; m < mult; m++) data[((c * mult + m) * kh + i) * kw + j] = k.data[((i * kw + j) * cin + c) * mult + m]
        }
      }
    }
    const w = this.b.floatTensor(`${this.layer.name}_dw`, [cin * mult, 1, kh, kw], data)
    const bias = withBias ? this.bias(true) : undefined
    return this.b.op('Conv', [x, w, ...(bias ? [bias] : [])], {...this.convAttrs(kh, kw), group: cin}, `${this.layer.name}_dw`)
  }

  depthwise(): void {
    const y = this.depthwiseNode(this.input(0, 'nchw'), true)
    this.set(this.fused(y, 'nchw'), 'nchw')
  }

  separable(): void {
    const d = this.depthwiseNode(this.input(0, 'nchw'), false)
    const k = this.weight('pointwise_kernel')!
    const [, , cin, cout] = k.shape
    const w = this.b.floatTensor(`${this.layer.name}_pw`, [cout, cin, 1, 1], hwioToOihw(k.data, 1, 1, cin, cout))
    const bias = this.bias(true)
    const y = this.b.op('Conv', [d, w, ...(bias ? [bias] : [])], {kernel_shape: [1, 1]}, this.layer.name)
    this.set(this.fused(y, 'nchw'), 'nchw')
  }

  dense(): void {
    const k = this.weight('kernel')!
    const [cin, cout] = k.shape
    const w = this.b.floatTensor(`${this.layer.name}_W`, [cin, cout], k.data)
    const bias = this.bias(true)
    const x = this.input(0, 'nhwc')
    let y: string
    if (this.inShape().length === 2) y = this.b.op('Gemm', [x, w, ...(bias ? [bias] : [])], {}, this.layer.name)
    else {
      y = this.b.op('MatMul', [x, w], {}, this.layer.name)
      if (bias) y = this.b.op('Add', [y, bias])
    }
    this.set(this.fused(y, 'nhwc'), 'nhwc')
  }

  batchNorm(): void {
    const rank = this.inShape().length
    const axisCfg = this.cfg.axis ?? -1
    const axes = Array.isArray(axisCfg) ? axisCfg : [axisCfg]
    if (axes.length !== 1) throw this.unsupported('normalisation over several axes')
    const axis = Number(axes[0]) < 0 ? Number(axes[0]) + rank : Number(axes[0])
    const eps = Number(this.cfg.epsilon ?? 1e-3)
    const mean = this.weight('moving_mean')!.data
    const variance = this.weight('moving_variance')!.data
    const C = mean.length
    const gamma = this.cfg.scale === false ? new Float32Array(C).fill(1) : this.weight('gamma')!.data
    const beta = this.cfg.center === false ? new Float32Array(C) : this.weight('beta')!.data
    const n = this.layer.name
    if ((rank === 4 && axis === 3) || (rank === 2 && axis === 1)) {
      const layout: Layout = rank === 4 ? 'nchw' : 'nhwc'
      const y = this.b.op(
        'BatchNormalization',
        [
          this.input(0, layout),
          this.b.floatTensor(`${n}_gamma`, [C], gamma),
          this.b.floatTensor(`${n}_beta`, [C], beta),
          this.b.floatTensor(`${n}_mean`, [C], mean),
          this.b.floatTensor(`${n}_var`, [C], variance),
        ],
        {epsilon: float(eps)},
        n,
      )
      return this.set(y, layout)
    }
    // tfjs broadcasts the statistics of a non-last axis along the last axis (not as Keras does), so
    // no ONNX graph can agree with the wasm runtime here
    throw this.unsupported(`normalisation over axis ${axis} of a rank-${rank} tensor (only the channel axis exports)`)
  }

  pool(op: 'MaxPool' | 'AveragePool'): void {
    const [kh, kw] = pair(this.cfg.pool_size ?? 2, 'pool_size')
    const strides = this.cfg.strides ?? this.cfg.pool_size ?? 2
    const a = {...this.convAttrsWith(kh, kw, strides)}
    const attrs: Record<string, AttrValue> = {kernel_shape: [kh, kw], strides: a.strides, pads: a.pads}
    if (op === 'AveragePool') attrs.count_include_pad = 0
    this.set(this.b.op(op, [this.input(0, 'nchw')], attrs, this.layer.name), 'nchw')
  }

  convAttrsWith(kh: number, kw: number, strides: unknown): {strides: number[]; pads: number[]} {
    this.checkChannelsLast()
    this.need4d()
    const [sh, sw] = pair(strides ?? 1, 'strides')
    const padding = String(this.cfg.padding ?? 'valid')
    if (padding !== 'same' && padding !== 'valid') throw this.unsupported(`padding ${padding}`)
    const [, h, w] = this.inShape() as number[]
    const [pt, pb] = tfPads(padding, h, kh, sh, 1)
    const [pl, pr] = tfPads(padding, w, kw, sw, 1)
    return {strides: [sh, sw], pads: [pt, pl, pb, pr]}
  }

  globalPool(op: 'GlobalAveragePool' | 'GlobalMaxPool'): void {
    this.checkChannelsLast()
    this.need4d()
    const y = this.b.op(op, [this.input(0, 'nchw')], {}, this.layer.name)
    if (this.cfg.keepdims === true) return this.set(y, 'nchw')
    this.set(this.b.op('Flatten', [y], {axis: 1}), 'nhwc')
  }

  zeroPad(): void {
    this.checkChannelsLast()
    this.need4d()
    const [[t, bo], [l, r]] = pads2d(this.cfg.padding ?? 1, 'padding')
    this.set(this.b.op('Pad', [this.input(0, 'nchw'), this.b.int64s([0, 0, t, l, 0, 0, bo, r])], {mode: 'constant'}, this.layer.name), 'nchw')
  }

  crop(): void {
    this.checkChannelsLast()
    this.need4d()
    const [[t, bo], [l, r]] = pads2d(this.cfg.cropping ?? 0, 'cropping')
    const [, h, w] = this.inShape() as number[]
    const y = this.b.op('Slice', [this.input(0, 'nchw'), this.b.int64s([t, l]), this.b.int64s([h - bo, w - r]), this.b.int64s([2, 3])], {}, this.layer.name)
    this.set(y, 'nchw')
  }

  upsample(): void {
    this.checkChannelsLast()
    this.need4d()
    const [sh, sw] = pair(this.cfg.size ?? 2, 'size')
    const interpolation = String(this.cfg.interpolation ?? 'nearest')
    if (interpolation !== 'nearest' && interpolation !== 'bilinear') throw this.unsupported(`interpolation ${interpolation}`)
    const scales = this.b.floatTensor(`${this.layer.name}_scales`, [4], new Float32Array([1, 1, sh, sw]))
    const attrs: Record<string, string> =
      interpolation === 'nearest'
        ? {mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor'}
        : {mode: 'linear', coordinate_transformation_mode: 'asymmetric'}
    this.set(this.b.op('Resize', [this.input(0, 'nchw'), '', scales], attrs, this.layer.name), 'nchw')
  }

  /** The layout most inputs already have (4-D only; anything else is NHWC). */
  commonLayout(): Layout {
    const shapes = this.layer.inbound.map((_, i) => this.inShape(i))
    if (!shapes.every((s) => s.length === 4)) return 'nhwc'
    const nchw = this.layer.inbound.filter((_, i) => this.nativeOf(i) === 'nchw').length
    return nchw * 2 >= this.layer.inbound.length ? 'nchw' : 'nhwc'
  }

  merge(c: string): void {
    const ranks = new Set(this.layer.inbound.map((_, i) => this.inShape(i).length))
    if (ranks.size !== 1) throw this.unsupported('inputs of different ranks')
    const l = this.commonLayout()
    const xs = this.layer.inbound.map((_, i) => this.input(i, l))
    const n = this.layer.name
    let y: string
    if (c === 'Add') y = xs.length === 2 ? this.b.op('Add', xs, {}, n) : this.b.op('Sum', xs, {}, n)
    else if (c === 'Average') y = this.b.op('Mean', xs, {}, n)
    else if (c === 'Maximum') y = this.b.op('Max', xs, {}, n)
    else if (c === 'Minimum') y = this.b.op('Min', xs, {}, n)
    else if (c === 'Subtract') {
      if (xs.length !== 2) throw this.unsupported('Subtract takes exactly two inputs')
      y = this.b.op('Sub', xs, {}, n)
    } else {
      y = xs[0]
      for (const x of xs.slice(1)) y = this.b.op('Mul', [y, x], {}, n)
    }
    this.set(y, l)
  }

  concat(): void {
    const rank = this.inShape().length
    const a = Number(this.cfg.axis ?? -1)
    const k = a < 0 ? a + rank : a
    const l = this.commonLayout()
    const axis = l === 'nchw' ? TO_NCHW.indexOf(k) : k
    const xs = this.layer.inbound.map((_, i) => this.input(i, l))
    this.set(this.b.op('Concat', xs, {axis}, this.layer.name), l)
  }
}

/** A float attribute even when the value is integral (AttributeProto FLOAT, not INT). */
function float(v: number): {f: number} {
  return {f: v}
}

/** Keras kernel [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
function hwioToOihw(src: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const out = new Float32Array(src.length)
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      for (let c = 0; c < cin; c++) {
        const base = ((i * kw + j) * cin + c) * cout
        for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + i) * kw + j] = src[base + o]
      }
    }
  }
  return out
}
