/**
 * Keras model config (Keras 2 `model_config` of a legacy .h5, or Keras 3 `config.json` of a .keras)
 * → one flat Keras 2 style Functional ("Model") config that tfjs-layers deserializes.
 *
 * Converted:
 * - Sequential → Functional: the InputLayer entry (or one made from the first layer's
 *   batch_input_shape / batch_shape / build_input_shape / build_config) and a chain of inbound nodes.
 * - Nested models (a Sequential or Functional used as a layer, called once) are inlined.
 * - Keras 3 only: `module` / `registered_name` / `shared_object_id` / `build_config` fields are
 *   dropped; DTypePolicy objects become dtype strings; inbound nodes `{args, kwargs}` holding
 *   `__keras_tensor__` objects become `[layer, node, tensor, kwargs]` lists; InputLayer
 *   `batch_shape` → `batch_input_shape` (and `optional` is dropped); LeakyReLU `negative_slope` →
 *   `alpha`; activation "silu" → "swish"; single `input_layers`/`output_layers` refs become lists.
 * - Inference-only simplifications for both: regularizers and constraints become null (they only
 *   act in training); Identity, SpatialDropout2D/3D and ActivityRegularization become a linear
 *   Activation (they are the identity at inference); BatchNormalization axis [k] → k.
 *
 * Rejected (MODEL_UNSUPPORTED_LAYER, naming the layer and what is wrong): layer classes tfjs-layers
 * does not implement (Lambda, TFOpLambda, custom layers, …), activations it lacks (and Keras 3's
 * hard_sigmoid, which differs from tfjs'), grouped convolutions, Conv2DTranspose output_padding,
 * GRU reset_after=true, global pooling keepdims=true, ReLU negative_slope/threshold, LoRA or
 * quantized layers, sparse/ragged inputs, non-float dtype policies, nested models called more than
 * once, and layer calls with tensor keyword arguments or non-tensor positional arguments.
 */
import * as tf from '../../runtime/tfjs.js'

import {AmpsUserError} from '../../errors.js'
import {
  isRecord,
  type KerasFunctionalConfig,
  type KerasFunctionalTopology,
  type KerasInboundNode,
  type KerasLayerJson,
  type KerasTensorRef,
} from '../keras-format.js'

type Obj = Record<string, unknown>

/** Where one layer's weights sit in the source file. */
export interface LayerOrigin {
  /** Keras 3 weights file: the layer's group, e.g. `layers/conv2d` or `layers/functional/layers/dense` */
  v3Path: string
  /** legacy .h5: the top-level layer group under model_weights/ that holds this layer's weights */
  h5Group: string
  /** legacy .h5, layers of inlined nested models: this layer's own name inside h5Group */
  h5Inner?: string
}

export interface NormalizedConfig {
  topology: KerasFunctionalTopology
  name: string
  /** layer name → where its weights are stored, for every layer of the flat config */
  origins: Map<string, LayerOrigin>
  /** names of nested models that were inlined */
  inlined: string[]
}

export interface NormalizeOptions {
  /** 2 for tf.keras files, 3 for Keras 3 (changes the meaning of a few names, e.g. hard_sigmoid) */
  kerasMajor: number
  /** how messages name the file */
  source: string
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model'])

/** Keras layers that compute the identity at inference and that tfjs-layers lacks. */
const IDENTITY_AT_INFERENCE = new Set(['Identity', 'SpatialDropout2D', 'SpatialDropout3D', 'ActivityRegularization'])

/** Activation functions tfjs-layers 4.x registers, by their (camel-cased) tfjs name. */
const TFJS_ACTIVATIONS = new Set([
  'elu',
  'gelu',
  'hardSigmoid',
  'linear',
  'logSoftmax',
  'mish',
  'relu',
  'relu6',
  'selu',
  'sigmoid',
  'softmax',
  'softplus',
  'softsign',
  'swish',
  'tanh',
])

const DROP_KEYS = new Set(['module', 'registered_name', 'shared_object_id', 'build_config', 'compile_config'])

/** Keras' own to_snake_case (keras/src/utils/naming.py): how Keras 3 names weight groups. */
export function kerasSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase()
}

function camel(s: string): string {
  return s.replace(/[_-]+(.)/g, (_, c: string) => c.toUpperCase())
}

let layerClassCache: Set<string> | undefined

/** Layer classes tfjs-layers can deserialize (its registry also holds initializers etc., excluded). */
export function tfjsLayerClasses(): Set<string> {
  if (layerClassCache) return layerClassCache
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, [unknown, unknown]>
  const out = new Set<string>()
  for (const [name, entry] of Object.entries(map)) {
    const ctor = Array.isArray(entry) ? entry[0] : entry
    if (typeof ctor === 'function' && ctor.prototype instanceof tf.layers.Layer) out.add(name)
  }
  layerClassCache = out
  return out
}

class Converter {
  readonly origins = new Map<string, LayerOrigin>()
  readonly inlined: string[] = []

  constructor(private readonly opts: NormalizeOptions) {}

  private where(layer?: string, cls?: string): string {
    return `${this.opts.source}: ` + (layer ? `layer '${layer}'${cls ? ` (${cls})` : ''}` : 'the model config')
  }

  invalid(what: string): AmpsUserError {
    return new AmpsUserError('FILE_INVALID', `${this.opts.source}: ${what}`, {
      suggestions: ['The file may be damaged, or written by a Keras version amps does not know; save the model again with model.save()'],
    })
  }

  unsupported(layer: string, cls: string, why: string, suggestion?: string): AmpsUserError {
    return new AmpsUserError('MODEL_UNSUPPORTED_LAYER', `${this.where(layer, cls)} ${why}`, {
      suggestions: [suggestion ?? 'Replace it with built-in Keras layers that TensorFlow.js implements, then save the model again'],
      details: {layer, className: cls},
    })
  }

  // ---------------------------------------------------------------- models

  /** A model entry ({class_name, config}) → flat graph; `v3Container` is its `layers` group path. */
  model(entry: Obj, v3Container: string, h5Group: string | undefined, fallbackName: string): KerasFunctionalConfig {
    const cls = entry.class_name
    if (cls === 'Sequential') return this.sequential(entry, v3Container, h5Group, fallbackName)
    if (cls === 'Functional' || cls === 'Model') return this.functional(entry, v3Container, h5Group, fallbackName)
    throw new AmpsUserError(
      'MODEL_FORMAT_UNSUPPORTED',
      `${this.opts.source}: the model is a ${JSON.stringify(cls)}; amps reads Sequential and Functional Keras models (subclassed models keep their code in Python)`,
      {suggestions: ['Rebuild the model with the Sequential or Functional API and save it again']},
    )
  }

  private layerEntries(list: unknown, modelName: string): Obj[] {
    if (!Array.isArray(list)) throw this.invalid(`model '${modelName}' has no layers list`)
    return list.map((raw, i) => {
      if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) {
        throw this.invalid(`layer ${i} of model '${modelName}' is not {class_name, config}`)
      }
      return raw
    })
  }

  private nameOf(entry: Obj, i: number): string {
    const config = entry.config as Obj
    if (typeof entry.name === 'string') return entry.name
    if (typeof config.name === 'string') return config.name
    throw this.invalid(`layer ${i} (${String(entry.class_name)}) has no name`)
  }

  private sequential(entry: Obj, v3Container: string, h5Group: string | undefined, fallbackName: string): KerasFunctionalConfig {
    const config = entry.config
    const name = isRecord(config) && typeof config.name === 'string' ? config.name : fallbackName
    const entries = this.layerEntries(Array.isArray(config) ? config : isRecord(config) ? config.layers : undefined, name)
    if (entries.length === 0) throw this.invalid(`Sequential model '${name}' has no layers`)
    const layers: KerasLayerJson[] = []
    let rest = entries
    let inputName: string
    if (entries[0].class_name === 'InputLayer') {
      const input = this.layer(entries[0], this.nameOf(entries[0], 0), [])
      inputName = input.name as string
      layers.push(input)
      rest = entries.slice(1)
    } else {
      const first = entries[0].config as Obj
      const buildConfig = isRecord(entry.build_config) ? entry.build_config : undefined
      const shape =
        batchShapeOf(first) ??
        (isRecord(config) && Array.isArray(config.build_input_shape) ? config.build_input_shape : undefined) ??
        (Array.isArray(buildConfig?.input_shape) ? buildConfig.input_shape : undefined)
      if (!shape && !h5Group) {
        throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${this.opts.source}: Sequential model '${name}' was never built, so its input shape is unknown`, {
          suggestions: ['Give the model an input shape (keras.Input(shape=...) as its first layer), run it once, and save it again'],
        })
      }
      inputName = `${this.nameOf(entries[0], 0)}_input`
      const dtype = typeof first.dtype === 'string' && !first.dtype.startsWith('mixed') ? first.dtype : 'float32'
      layers.push({
        class_name: 'InputLayer',
        name: inputName,
        // a nested model's InputLayer is replaced by the outer tensor, so its shape is never used
        config: {
          batch_input_shape: shape ?? [null],
          dtype: dtype === 'float16' || dtype === 'float64' || dtype === 'bfloat16' ? 'float32' : dtype,
          sparse: false,
          ragged: false,
          name: inputName,
        },
        inbound_nodes: [],
      })
    }
    // Keras 3 names weight groups over Sequential.layers, which leaves out the leading InputLayer
    const counter = new Map<string, number>()
    let prev: KerasTensorRef = [inputName, 0, 0, {}]
    for (const [i, raw] of rest.entries()) {
      const lname = this.nameOf(raw, i + 1)
      const v3Path = `${v3Container}/${nextGroupName(counter, raw.class_name as string)}`
      if (raw.class_name === 'InputLayer') throw this.invalid(`Sequential model '${name}' has an InputLayer at position ${i + 1}`)
      if (MODEL_CLASSES.has(raw.class_name as string)) {
        const inner = this.model({...raw, config: {...(raw.config as Obj), name: lname}}, `${v3Path}/layers`, h5Group ?? lname, lname)
        const outs = this.inline(inner, lname, [prev], layers)
        if (outs.length !== 1) throw this.unsupported(lname, String(raw.class_name), `has ${outs.length} outputs, so it cannot sit inside a Sequential model`)
        prev = outs[0]
        continue
      }
      const layer = this.layer(raw, lname, [[prev]])
      this.origins.set(lname, {v3Path, h5Group: h5Group ?? lname, ...(h5Group ? {h5Inner: lname} : {})})
      layers.push(layer)
      prev = [lname, 0, 0, {}]
    }
    return {name, layers, input_layers: [[inputName, 0, 0]], output_layers: [[prev[0], prev[1], prev[2]]]}
  }

  private functional(entry: Obj, v3Container: string, h5Group: string | undefined, fallbackName: string): KerasFunctionalConfig {
    const c = entry.config
    if (!isRecord(c)) throw this.invalid('Functional model config is not an object')
    const name = typeof c.name === 'string' ? c.name : fallbackName
    const entries = this.layerEntries(c.layers, name)
    const layers: KerasLayerJson[] = []
    /** inlined nested model → its outputs, in this graph's namespace */
    const alias = new Map<string, KerasTensorRef[]>()
    // Keras 3 names weight groups over Functional.layers: every layer, InputLayers included
    const counter = new Map<string, number>()
    for (const [i, raw] of entries.entries()) {
      const lname = this.nameOf(raw, i)
      const cls = raw.class_name as string
      const v3Path = `${v3Container}/${nextGroupName(counter, cls)}`
      const nodes = this.inboundNodes(raw.inbound_nodes, lname, cls)
      if (MODEL_CLASSES.has(cls)) {
        if (nodes.length !== 1) {
          throw this.unsupported(lname, cls, `is a nested model called ${nodes.length} times; amps can inline a nested model only when it is called once`)
        }
        const inner = this.model({...raw, config: {...(raw.config as Obj), name: lname}}, `${v3Path}/layers`, h5Group ?? lname, lname)
        alias.set(lname, this.inline(inner, lname, nodes[0], layers))
        continue
      }
      const layer = this.layer(raw, lname, nodes)
      this.origins.set(lname, {v3Path, h5Group: h5Group ?? lname, ...(h5Group ? {h5Inner: lname} : {})})
      layers.push(layer)
    }
    const resolve = (r: KerasTensorRef): KerasTensorRef => {
      let ref = r
      for (let hops = 0; alias.has(ref[0]); hops++) {
        if (hops > 10_000) throw this.invalid(`nested model references loop at '${ref[0]}'`)
        const outs = alias.get(ref[0]) as KerasTensorRef[]
        if (ref[1] !== 0 || !outs[ref[2]]) throw this.invalid(`reference to output ${ref[1]}:${ref[2]} of nested model '${ref[0]}', which has ${outs.length}`)
        const t = outs[ref[2]]
        ref = [t[0], t[1], t[2], ref[3] ?? t[3] ?? {}]
      }
      return ref
    }
    for (const l of layers) l.inbound_nodes = (l.inbound_nodes ?? []).map((n) => n.map(resolve))
    const ends = (v: unknown, what: string): KerasTensorRef[] =>
      this.refList(v, what)
        .map(resolve)
        .map((r) => [r[0], r[1], r[2]] as KerasTensorRef)
    return {name, layers, input_layers: ends(c.input_layers, 'input_layers'), output_layers: ends(c.output_layers, 'output_layers')}
  }

  /**
   * Appends a nested model's layers (not its InputLayers) to `out`, wiring its inputs to `args`;
   * returns its outputs in the outer namespace.
   */
  private inline(inner: KerasFunctionalConfig, name: string, args: KerasTensorRef[], out: KerasLayerJson[]): KerasTensorRef[] {
    if (args.length !== inner.input_layers.length) {
      throw this.invalid(`nested model '${name}' has ${inner.input_layers.length} inputs but is called on ${args.length} tensors`)
    }
    const inputs = new Map(inner.input_layers.map((r, j) => [r[0], args[j]] as const))
    const map = (r: KerasTensorRef): KerasTensorRef => {
      const a = inputs.get(r[0])
      return a ? [a[0], a[1], a[2], r[3] ?? {}] : r
    }
    for (const l of inner.layers) {
      if (l.class_name === 'InputLayer') continue
      out.push({...l, inbound_nodes: (l.inbound_nodes ?? []).map((n) => n.map(map))})
    }
    this.inlined.push(name)
    return inner.output_layers.map((r) => map([r[0], r[1], r[2], {}]))
  }

  // ---------------------------------------------------------------- tensors

  private isRef(v: unknown): v is KerasTensorRef {
    return Array.isArray(v) && v.length >= 3 && typeof v[0] === 'string' && typeof v[1] === 'number' && typeof v[2] === 'number'
  }

  /** input_layers / output_layers: a list of refs, a single ref, or (Keras 3) a dict of refs. */
  private refList(v: unknown, what: string): KerasTensorRef[] {
    if (this.isRef(v)) return [[v[0], v[1], v[2]]]
    if (Array.isArray(v)) return v.flatMap((x) => this.refList(x, what))
    if (isRecord(v))
      return Object.keys(v)
        .sort()
        .flatMap((k) => this.refList(v[k], what))
    throw this.invalid(`${what} has a malformed tensor reference ${JSON.stringify(v)?.slice(0, 80)}`)
  }

  /** Keras 2 nodes pass through; Keras 3 `{args, kwargs}` nodes become Keras 2 ref lists. */
  private inboundNodes(v: unknown, layer: string, cls: string): KerasInboundNode[] {
    if (v === undefined || v === null) return []
    if (!Array.isArray(v)) throw this.invalid(`layer '${layer}' has inbound_nodes that are not a list`)
    return v.map((node): KerasInboundNode => {
      if (Array.isArray(node)) {
        return node.map((r) => {
          if (!this.isRef(r)) throw this.invalid(`layer '${layer}' has a malformed inbound tensor ${JSON.stringify(r)?.slice(0, 80)}`)
          return [r[0], r[1], r[2], isRecord(r[3]) ? this.callKwargs(r[3], layer, cls) : {}]
        })
      }
      if (isRecord(node) && 'args' in node) {
        const refs: [string, number, number][] = []
        this.collectTensors(node.args, refs, layer, cls)
        if (refs.length === 0) throw this.unsupported(layer, cls, 'is called without any tensor argument')
        const kwargs = isRecord(node.kwargs) ? this.callKwargs(node.kwargs, layer, cls) : {}
        return refs.map((r) => [r[0], r[1], r[2], kwargs])
      }
      throw this.invalid(`layer '${layer}' has a malformed inbound node`)
    })
  }

  private collectTensors(v: unknown, out: [string, number, number][], layer: string, cls: string): void {
    if (Array.isArray(v)) {
      for (const x of v) this.collectTensors(x, out, layer, cls)
      return
    }
    if (isRecord(v) && v.class_name === '__keras_tensor__') {
      const h = isRecord(v.config) ? v.config.keras_history : undefined
      if (!Array.isArray(h) || typeof h[0] !== 'string' || typeof h[1] !== 'number' || typeof h[2] !== 'number') {
        throw this.invalid(`layer '${layer}' has an input tensor without keras_history`)
      }
      out.push([h[0], h[1], h[2]])
      return
    }
    throw this.unsupported(layer, cls, `is called with a non-tensor argument ${JSON.stringify(v)?.slice(0, 60)}, which tfjs-layers cannot pass`)
  }

  private containsTensor(v: unknown): boolean {
    if (Array.isArray(v)) return v.some((x) => this.containsTensor(x))
    if (isRecord(v)) return v.class_name === '__keras_tensor__' || Object.values(v).some((x) => this.containsTensor(x))
    return false
  }

  /** Call keyword arguments: nulls dropped; tensors (e.g. mask=…) are rejected. */
  private callKwargs(kwargs: Obj, layer: string, cls: string): Obj {
    const out: Obj = {}
    for (const [k, v] of Object.entries(kwargs)) {
      if (v === null || v === undefined) continue
      if (this.containsTensor(v)) throw this.unsupported(layer, cls, `is called with tensor keyword argument '${k}', which tfjs-layers cannot pass`)
      out[k] = v
    }
    return out
  }

  // ---------------------------------------------------------------- layers

  /** One plain layer → Keras 2 entry (inbound nodes already converted). */
  layer(raw: Obj, name: string, nodes: KerasInboundNode[]): KerasLayerJson {
    const cls = raw.class_name as string
    const config = this.cleanConfig(raw.config as Obj, name, cls)
    config.name = name
    const out = this.fixLayer(cls, config, name)
    return {class_name: out.cls, name, config: out.config, inbound_nodes: nodes}
  }

  /** A layer nested in a wrapper's config (TimeDistributed, Bidirectional): same checks, no nodes. */
  private wrapped(raw: unknown, outer: string, key: string): Obj {
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) throw this.invalid(`wrapper layer '${outer}' has a malformed ${key}`)
    const innerName = typeof raw.config.name === 'string' ? raw.config.name : `${outer}_${key}`
    const config = this.cleanConfig(raw.config, outer, raw.class_name)
    config.name = innerName
    const out = this.fixLayer(raw.class_name, config, outer)
    return {class_name: out.cls, config: out.config}
  }

  private cleanConfig(config: Obj, layer: string, cls: string): Obj {
    const out: Obj = {}
    for (const [k, v] of Object.entries(config)) {
      if (DROP_KEYS.has(k)) continue
      out[k] = this.cleanValue(k, v, layer, cls)
    }
    return out
  }

  private cleanValue(key: string, v: unknown, layer: string, cls: string): unknown {
    if (/_(regularizer|constraint)$/.test(key)) return null
    if (key === 'dtype') return this.dtype(v, layer, cls)
    if (key === 'layer' || key === 'backward_layer') return v
    if (Array.isArray(v)) return v.map((x) => this.cleanValue('', x, layer, cls))
    if (isRecord(v)) {
      const o: Obj = {}
      for (const [k, x] of Object.entries(v)) if (!DROP_KEYS.has(k)) o[k] = this.cleanValue(k, x, layer, cls)
      return o
    }
    return v
  }

  /** dtype string or Keras 3 DTypePolicy object → the dtype tfjs computes in. */
  private dtype(v: unknown, layer: string, cls: string): unknown {
    let name: unknown = v
    if (isRecord(v)) {
      const policyClass = String(v.class_name ?? '')
      name = isRecord(v.config) ? v.config.name : undefined
      if (/Quantized/i.test(policyClass)) throw this.unsupported(layer, cls, `is quantized (${policyClass} ${String(name)}), which tfjs-layers cannot run`)
    }
    if (typeof name !== 'string') return 'float32'
    // float variables are kept as float32 by Keras under every float policy; tfjs computes in float32
    if (/^(mixed_)?(b?float)(16|32|64)$/.test(name)) return 'float32'
    if (/^(int|uint)(8|16|32|64)$/.test(name) || name === 'bool') return name === 'int32' || name === 'bool' ? name : 'int32'
    throw this.unsupported(layer, cls, `uses dtype policy ${name}, which tfjs-layers cannot run`)
  }

  private activation(v: unknown, layer: string, cls: string): unknown {
    if (v === null || v === undefined) return v
    let name: unknown = v
    if (isRecord(v)) {
      // Keras 3 may serialize built-in activations as {class_name: 'function', config: 'relu'}
      name = typeof v.config === 'string' ? v.config : v.class_name
    }
    if (typeof name !== 'string') throw this.unsupported(layer, cls, `has an activation tfjs-layers cannot read: ${JSON.stringify(v)?.slice(0, 60)}`)
    return this.activationName(name, layer, cls)
  }

  private activationName(given: string, layer: string, cls: string): string {
    const name = given === 'silu' ? 'swish' : given
    if (name === 'hard_sigmoid' && this.opts.kerasMajor >= 3) {
      throw this.unsupported(layer, cls, "uses Keras 3's hard_sigmoid (relu6(x+3)/6), which differs from tfjs' hard_sigmoid (0.2x+0.5)")
    }
    if (!TFJS_ACTIVATIONS.has(camel(name))) throw this.unsupported(layer, cls, `uses activation '${name}', which tfjs-layers does not implement`)
    return name
  }

  private fixLayer(cls: string, config: Obj, layer: string): {cls: string; config: Obj} {
    if (IDENTITY_AT_INFERENCE.has(cls)) {
      return {cls: 'Activation', config: {name: config.name, trainable: config.trainable ?? true, dtype: config.dtype ?? 'float32', activation: 'linear'}}
    }
    if (MODEL_CLASSES.has(cls)) throw this.unsupported(layer, cls, 'is a model nested inside a wrapper layer, which amps cannot inline')
    if (cls === 'InputLayer') {
      if (config.sparse === true || config.ragged === true) throw this.unsupported(layer, cls, 'takes a sparse or ragged input, which tfjs-layers cannot run')
      if (Array.isArray(config.batch_shape) && !Array.isArray(config.batch_input_shape)) config.batch_input_shape = config.batch_shape
      delete config.batch_shape
      delete config.optional
      delete config.input_tensor
      config.sparse = false
      config.ragged = false
      if (typeof config.dtype !== 'string') config.dtype = 'float32'
      return {cls, config}
    }
    if (!tfjsLayerClasses().has(cls)) {
      const why = cls === 'Lambda' || cls === 'TFOpLambda' || cls === 'SlicingOpLambda' ? ' (it holds Python code)' : ''
      throw this.unsupported(layer, cls, `is of class ${cls}, which tfjs-layers does not implement${why}`)
    }
    if (config.quantization_config !== undefined && config.quantization_config !== null)
      throw this.unsupported(layer, cls, 'is quantized, which tfjs-layers cannot run')
    delete config.quantization_config
    if (typeof config.lora_rank === 'number' && config.lora_rank > 0)
      throw this.unsupported(layer, cls, 'has LoRA weights enabled; merge them (layer.disable_lora / save without LoRA) first')
    delete config.lora_rank
    delete config.lora_alpha
    if ('activation' in config) config.activation = this.activation(config.activation, layer, cls)
    if ('recurrent_activation' in config) config.recurrent_activation = this.activation(config.recurrent_activation, layer, cls)
    if (typeof config.groups === 'number' && config.groups !== 1)
      throw this.unsupported(layer, cls, `is a grouped convolution (groups=${config.groups}), which tfjs-layers does not implement`)
    if (cls === 'LeakyReLU' && 'negative_slope' in config) {
      config.alpha = config.negative_slope
      delete config.negative_slope
    }
    if (cls === 'ReLU') {
      if (Number(config.negative_slope ?? 0) !== 0 || Number(config.threshold ?? 0) !== 0) {
        throw this.unsupported(layer, cls, 'has negative_slope or threshold set, which tfjs-layers ReLU does not implement')
      }
      delete config.negative_slope
      delete config.threshold
    }
    if (cls === 'Conv2DTranspose' || cls === 'Conv3DTranspose') {
      if (config.output_padding !== undefined && config.output_padding !== null)
        throw this.unsupported(layer, cls, 'sets output_padding, which tfjs-layers does not implement')
      delete config.output_padding
    }
    if (cls === 'GRU' && config.reset_after === true) {
      throw this.unsupported(
        layer,
        cls,
        'uses reset_after=True (the Keras 3 default), which tfjs-layers GRU does not implement',
        'Rebuild the layer with GRU(..., reset_after=False), retrain or convert its weights, and save again',
      )
    }
    if (/^Global(Average|Max)Pooling[123]D$/.test(cls) && config.keepdims === true) {
      throw this.unsupported(layer, cls, 'uses keepdims=True, which tfjs-layers does not implement', 'Use keepdims=False followed by a Reshape layer')
    }
    if (cls === 'BatchNormalization') {
      if (config.renorm === true) throw this.unsupported(layer, cls, 'uses batch renormalization, which tfjs-layers does not implement')
      if (Array.isArray(config.axis) && config.axis.length === 1) config.axis = config.axis[0]
    }
    if (cls === 'LayerNormalization' && config.rms_scaling === true)
      throw this.unsupported(layer, cls, 'uses rms_scaling, which tfjs-layers does not implement')
    if (cls === 'TimeDistributed' || cls === 'Bidirectional') {
      config.layer = this.wrapped(config.layer, layer, 'layer')
      if (config.backward_layer !== undefined && config.backward_layer !== null)
        config.backward_layer = this.wrapped(config.backward_layer, layer, 'backward_layer')
    }
    return {cls, config}
  }
}

function batchShapeOf(config: Obj): unknown[] | undefined {
  if (Array.isArray(config.batch_input_shape)) return config.batch_input_shape
  if (Array.isArray(config.batch_shape)) return config.batch_shape
  if (Array.isArray(config.input_shape)) return [null, ...config.input_shape]
  return undefined
}

/** Keras 3 `_save_container_state` naming: snake-cased class name, `_1`, `_2`, … on repeats. */
function nextGroupName(counter: Map<string, number>, className: string): string {
  const base = kerasSnakeCase(className)
  const seen = counter.get(base)
  if (seen === undefined) {
    counter.set(base, 0)
    return base
  }
  counter.set(base, seen + 1)
  return `${base}_${seen + 1}`
}

/** Removes a Sequential first layer's own input shape (the made-up InputLayer carries it). */
function stripInputShape(layers: KerasLayerJson[]): void {
  for (const l of layers) {
    if (l.class_name === 'InputLayer') continue
    delete l.config.batch_input_shape
    delete l.config.batch_shape
    delete l.config.input_shape
    delete l.config.batch_size
  }
}

/** See the module docs. `raw` is the parsed model_config / config.json. */
export function normalizeKerasConfig(raw: unknown, opts: NormalizeOptions): NormalizedConfig {
  const conv = new Converter(opts)
  if (!isRecord(raw)) throw conv.invalid('the model config is not a JSON object')
  const model = isRecord(raw.model_config) ? raw.model_config : raw
  const config = conv.model(model, 'layers', undefined, 'model')
  stripInputShape(config.layers)
  const seen = new Set<string>()
  for (const l of config.layers) {
    const n = l.name as string
    if (seen.has(n)) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `${opts.source}: two layers are named '${n}'` + (conv.inlined.length ? ` once nested model(s) ${conv.inlined.join(', ')} are inlined` : ''),
        {suggestions: ['Give every layer (including those of nested models) a unique name and save the model again']},
      )
    }
    seen.add(n)
  }
  for (const l of config.layers) {
    for (const node of l.inbound_nodes ?? []) {
      for (const r of node) if (!seen.has(r[0])) throw conv.invalid(`layer '${l.name}' consumes '${r[0]}', which is not a layer of the model`)
    }
  }
  for (const r of [...config.input_layers, ...config.output_layers]) {
    if (!seen.has(r[0])) throw conv.invalid(`model input/output '${r[0]}' is not a layer of the model`)
  }
  return {topology: {class_name: 'Model', config}, name: config.name, origins: conv.origins, inlined: conv.inlined}
}
