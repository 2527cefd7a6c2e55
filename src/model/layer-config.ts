/**
 * One layer's Keras 2 config → a config tfjs-layers builds into the same inference computation.
 *
 * Applied to every layer of every canonical model (TF.js model.json, .h5 and .keras alike), after
 * the Keras readers' own conversions (keras/config.ts). Two kinds of keys:
 *
 * Accepted and neutralised (they cannot change what inference computes, because every weight is
 * loaded from the file and regularizers/constraints act only in training):
 * - every `*_initializer` becomes Zeros: Keras' initializers tfjs lacks (or spells differently,
 *   e.g. VarianceScaling 'untruncated_normal', Keras 3 module objects) no longer stop the load, and
 *   building a big model no longer draws millions of random numbers only to overwrite them;
 * - every `*_regularizer` (activity_regularizer included: tfjs refuses to run a layer that has one)
 *   and `*_constraint` becomes null;
 * - SeparableConv2D's `kernel_initializer` / `kernel_regularizer` / `kernel_constraint`, which the
 *   converter writes beside the depthwise_/pointwise_ ones and tfjs refuses (tfjs issue 4479), are
 *   dropped;
 * - `groups: 1`, BatchNormalization `synchronized`, `axis: [k]` (→ k), Dropout `seed`,
 *   `noise_shape`, `trainable`, DTypePolicy objects and float dtype policies (→ 'float32', as Keras
 *   keeps float variables in float32 under every policy), Keras-3 `module`/`registered_name`.
 * - Keras' Normalization preprocessing layer ((x − mean) / max(√variance, 1e-7)) becomes a
 *   BatchNormalization without centre or scale and epsilon 0 ((x − mean) / √variance, equal
 *   whenever variance > 1e-14) whose moving mean/variance are the layer's mean/variance; its
 *   sample `count` (one parameter, never read at inference) is dropped (see NORMALIZATION_WEIGHTS).
 *
 * Refused by name (MODEL_UNSUPPORTED_LAYER), because tfjs-layers would compute something else or
 * fail deep inside tfjs: grouped convolutions (groups > 1), dilation with strides > 1, causal
 * padding, ELU alpha ≠ 1, ReLU negative_slope/threshold, batch renormalization, global pooling
 * keepdims, Normalization with invert=True, Rescaling with a per-channel list, GRU reset_after,
 * Conv2DTranspose output_padding.
 */
import {AmpsUserError} from '../errors.js'
import {isRecord} from './keras-format.js'

type Obj = Record<string, unknown>

const ZEROS = {class_name: 'Zeros', config: {}}

/** Weight renames of a Normalization layer turned into BatchNormalization (null = dropped). */
export const NORMALIZATION_WEIGHTS: Record<string, string | null> = {mean: 'moving_mean', variance: 'moving_variance', count: null}

export interface LayerConfigResult {
  className: string
  config: Obj
  /** stored weight suffix → new suffix (null: drop the weight), when the layer changed class */
  weightRenames?: Record<string, string | null>
}

function unsupported(source: string, layer: string, cls: string, why: string, hint?: string): AmpsUserError {
  return new AmpsUserError('MODEL_UNSUPPORTED_LAYER', `${source}: layer '${layer}' (${cls}) ${why}`, {
    suggestions: [hint ?? 'Rebuild the layer without it (or with built-in Keras layers TensorFlow.js implements) and export the model again'],
    details: {layer, className: cls},
  })
}

function nums(v: unknown): number[] {
  if (typeof v === 'number') return [v]
  return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : []
}

function floatPolicy(v: unknown): unknown {
  const name = isRecord(v) ? (isRecord(v.config) ? v.config.name : undefined) : v
  if (typeof name !== 'string') return v === undefined ? undefined : 'float32'
  if (/^(mixed_)?b?float(16|32|64)$/.test(name)) return 'float32'
  return name
}

/** See the module docs. `source` names the model file in messages. */
export function tfjsLayerConfig(className: string, given: Obj, layer: string, source: string): LayerConfigResult {
  const refuse = (why: string, hint?: string): AmpsUserError => unsupported(source, layer, className, why, hint)
  const config: Obj = {}
  for (const [k, v] of Object.entries(given)) {
    if (k === 'module' || k === 'registered_name' || k === 'build_config') continue
    if (/_initializer$/.test(k)) config[k] = v === null || v === undefined ? v : ZEROS
    else if (/_(regularizer|constraint)$/.test(k)) config[k] = null
    else config[k] = v
  }
  if ('dtype' in config) {
    const d = floatPolicy(config.dtype)
    if (d !== undefined) config.dtype = d
  }
  if ('groups' in config) {
    const g = Number(config.groups)
    if (g !== 1) throw refuse(`is a grouped convolution (groups=${String(config.groups)}), which tfjs-layers does not implement`)
    delete config.groups
  }
  const isConv = /^(Conv[123]D|SeparableConv[12]D|DepthwiseConv[12]D|Conv[23]DTranspose)$/.test(className)
  if (isConv) {
    const dil = nums(config.dilation_rate)
    const str = nums(config.strides)
    if (dil.some((d) => d > 1) && str.some((s) => s > 1)) {
      throw refuse(`combines dilation_rate ${JSON.stringify(config.dilation_rate)} with strides ${JSON.stringify(config.strides)}, which tfjs cannot compute`)
    }
    if (config.padding === 'causal')
      throw refuse("uses padding='causal', which tfjs-layers does not implement", "Pad the input with ZeroPadding1D and use padding='valid'")
    if (/Transpose$/.test(className) && dil.some((d) => d > 1)) throw refuse('is a dilated transposed convolution, which tfjs-layers ignores the dilation of')
  }
  if (className === 'SeparableConv2D' || className === 'SeparableConv1D') {
    delete config.kernel_initializer
    delete config.kernel_regularizer
    delete config.kernel_constraint
  }
  if (/Transpose$/.test(className)) {
    if (config.output_padding !== undefined && config.output_padding !== null) throw refuse('sets output_padding, which tfjs-layers does not implement')
    delete config.output_padding
  }
  if (className === 'ELU' && config.alpha !== undefined && Number(config.alpha) !== 1) {
    throw refuse(`has alpha=${String(config.alpha)}; tfjs-layers' ELU layer implements only alpha=1`)
  }
  if (className === 'ReLU') {
    if (Number(config.negative_slope ?? 0) !== 0 || Number(config.threshold ?? 0) !== 0) {
      throw refuse('has negative_slope or threshold set, which tfjs-layers ReLU does not implement')
    }
    delete config.negative_slope
    delete config.threshold
  }
  if (className === 'LeakyReLU' && 'negative_slope' in config) {
    config.alpha = config.negative_slope
    delete config.negative_slope
  }
  if (className === 'BatchNormalization') {
    if (config.renorm === true) throw refuse('uses batch renormalization, which tfjs-layers does not implement')
    if (Array.isArray(config.axis)) {
      if (config.axis.length !== 1) throw refuse(`normalizes over several axes ${JSON.stringify(config.axis)}, which tfjs-layers does not implement`)
      config.axis = config.axis[0]
    }
    for (const k of ['synchronized', 'renorm', 'renorm_clipping', 'renorm_momentum', 'fused', 'virtual_batch_size', 'adjustment']) delete config[k]
  }
  if (/^Global(Average|Max)Pooling[123]D$/.test(className) && config.keepdims === true) {
    throw refuse('uses keepdims=True, which tfjs-layers does not implement', 'Use keepdims=False followed by a Reshape layer')
  }
  if (className === 'GRU' && config.reset_after === true) {
    throw refuse('uses reset_after=True, which tfjs-layers GRU does not implement', 'Rebuild the layer with GRU(..., reset_after=False) and save again')
  }
  if (className === 'Dropout' || className === 'SpatialDropout1D') {
    delete config.seed
  }
  if (className === 'Rescaling') {
    if (typeof config.scale !== 'number' || (config.offset !== undefined && typeof config.offset !== 'number')) {
      throw refuse(
        `has a per-channel scale or offset (${JSON.stringify(config.scale)}, ${JSON.stringify(config.offset)}); tfjs-layers' Rescaling takes one number each`,
      )
    }
  }
  if (className === 'Normalization') return normalization(config, refuse)
  return {className, config}
}

function normalization(config: Obj, refuse: (why: string, hint?: string) => AmpsUserError): LayerConfigResult {
  if (config.invert === true) throw refuse('has invert=True (it de-normalizes), which amps does not implement')
  if (config.mean !== undefined && config.mean !== null) {
    throw refuse(
      'holds its mean and variance in the config instead of as weights, which amps does not read',
      'Adapt the layer (layer.adapt(data)) instead of passing mean= and variance=, and save again',
    )
  }
  let axis = config.axis
  if (Array.isArray(axis)) {
    if (axis.length !== 1) throw refuse(`normalizes over several axes ${JSON.stringify(axis)}, which amps does not implement`)
    axis = axis[0]
  }
  return {
    className: 'BatchNormalization',
    config: {
      name: config.name,
      trainable: false,
      dtype: 'float32',
      axis: typeof axis === 'number' ? axis : -1,
      momentum: 0.99,
      epsilon: 0,
      center: false,
      scale: false,
      moving_mean_initializer: ZEROS,
      moving_variance_initializer: {class_name: 'Ones', config: {}},
    },
    weightRenames: NORMALIZATION_WEIGHTS,
  }
}
