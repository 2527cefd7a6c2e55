/**
 * Multiply–accumulates per sample, per layer, from the layer's Keras config and its input/output
 * shapes (batch dimension excluded).
 *
 * Conventions (so numbers are comparable across layers):
 * - convolutions and Dense: one MAC per weight use; bias adds are not counted; a fused activation
 *   (activation other than linear) adds one per output element;
 * - BatchNormalization, Rescaling and activation layers: one per output element (inference folds
 *   BN into one multiply-add);
 * - pooling: pool window size per output element; global pooling: one per input element;
 * - Add/Multiply/Average/Maximum/Minimum/Subtract: (inputs − 1) per output element;
 * - data movement (Concatenate, ZeroPadding, Cropping, UpSampling, Reshape, Flatten, Permute,
 *   RepeatVector, Dropout family, InputLayer, Embedding lookup): 0;
 * - anything else: estimated as one per output element (`estimated: true`).
 */
import {INFERENCE_IDENTITY_LAYERS} from './keras-format.js'
import type {Shape} from './types.js'

export interface MacsInput {
  className: string
  config: Record<string, unknown>
  /** full shapes (with batch) of the tensors the layer consumes */
  inputShapes: Shape[]
  /** full shapes (with batch) of the layer's outputs */
  outputShapes: Shape[]
}

export interface MacsResult {
  macs: number
  estimated: boolean
}

/** Product of the dimensions after the batch one (unknown dimensions count as 1). */
export function sampleElements(shape: Shape): number {
  let n = 1
  for (const d of shape.slice(1)) n *= d ?? 1
  return n
}

function channelsFirst(config: Record<string, unknown>): boolean {
  return config.data_format === 'channels_first'
}

/** channel count and spatial element count of a conv-style tensor */
function split(shape: Shape, config: Record<string, unknown>): {channels: number; spatial: number} {
  const s = shape.slice(1).map((d) => d ?? 1)
  const channels = channelsFirst(config) ? s[0] : s[s.length - 1]
  return {channels, spatial: s.reduce((a, b) => a * b, 1) / channels}
}

function prod(v: unknown, rank: number): number {
  if (typeof v === 'number') return v ** rank
  if (Array.isArray(v)) return v.reduce((a: number, b) => a * Number(b), 1)
  return 1
}

function fusedActivation(config: Record<string, unknown>, outElems: number): number {
  const a = config.activation
  return a === undefined || a === null || a === 'linear' ? 0 : outElems
}

const ZERO = new Set([
  'InputLayer',
  'Concatenate',
  'ZeroPadding1D',
  'ZeroPadding2D',
  'ZeroPadding3D',
  'Cropping1D',
  'Cropping2D',
  'Cropping3D',
  'UpSampling1D',
  'UpSampling2D',
  'UpSampling3D',
  'Reshape',
  'Flatten',
  'Permute',
  'RepeatVector',
  ...INFERENCE_IDENTITY_LAYERS,
  'Embedding',
  'Masking',
])

const PER_OUTPUT_ELEMENT = new Set(['BatchNormalization', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'ThresholdedReLU', 'Softmax', 'Rescaling'])

const MERGE = new Set(['Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Subtract'])

const CONV: Record<string, number> = {Conv1D: 1, Conv2D: 2, Conv3D: 3}
const CONV_T: Record<string, number> = {Conv2DTranspose: 2, Conv3DTranspose: 3}
const SEPARABLE: Record<string, number> = {SeparableConv1D: 1, SeparableConv2D: 2}
const POOL: Record<string, number> = {
  MaxPooling1D: 1,
  MaxPooling2D: 2,
  MaxPooling3D: 3,
  AveragePooling1D: 1,
  AveragePooling2D: 2,
  AveragePooling3D: 3,
}
const GLOBAL_POOL = new Set([
  'GlobalAveragePooling1D',
  'GlobalAveragePooling2D',
  'GlobalAveragePooling3D',
  'GlobalMaxPooling1D',
  'GlobalMaxPooling2D',
  'GlobalMaxPooling3D',
])

/** MACs of one layer for one sample; see the module docs for the conventions. */
export function layerMacs(layer: MacsInput): MacsResult {
  const {className: cls, config} = layer
  const out = layer.outputShapes[0] ?? [null]
  const inp = layer.inputShapes[0] ?? out
  const outElems = layer.outputShapes.reduce((s, sh) => s + sampleElements(sh), 0)
  const exact = (macs: number): MacsResult => ({macs, estimated: false})

  if (ZERO.has(cls)) return exact(0)
  if (PER_OUTPUT_ELEMENT.has(cls)) return exact(outElems)
  if (MERGE.has(cls)) return exact(Math.max(0, layer.inputShapes.length - 1) * outElems)
  if (GLOBAL_POOL.has(cls)) return exact(sampleElements(inp))
  if (cls in POOL) return exact(outElems * prod(config.pool_size, POOL[cls]))
  if (cls === 'Dense') {
    const inFeatures = inp[inp.length - 1] ?? 1
    return exact(outElems * inFeatures + fusedActivation(config, outElems))
  }
  if (cls in CONV) {
    const groups = typeof config.groups === 'number' ? config.groups : 1
    const inC = split(inp, config).channels
    return exact(outElems * prod(config.kernel_size, CONV[cls]) * (inC / groups) + fusedActivation(config, outElems))
  }
  if (cls in CONV_T) {
    const i = split(inp, config)
    const outC = split(out, config).channels
    return exact(i.spatial * i.channels * prod(config.kernel_size, CONV_T[cls]) * outC + fusedActivation(config, outElems))
  }
  if (cls === 'DepthwiseConv2D') {
    return exact(outElems * prod(config.kernel_size, 2) + fusedActivation(config, outElems))
  }
  if (cls in SEPARABLE) {
    const inC = split(inp, config).channels
    const o = split(out, config)
    const dm = typeof config.depth_multiplier === 'number' ? config.depth_multiplier : 1
    const depthwise = o.spatial * inC * dm * prod(config.kernel_size, SEPARABLE[cls])
    const pointwise = o.spatial * o.channels * inC * dm
    return exact(depthwise + pointwise + fusedActivation(config, outElems))
  }
  return {macs: outElems, estimated: true}
}
