/**
 * Canonical form of a layers model: one flat Keras 2 style Functional ("Model") config in which
 * every layer is called exactly once, plus its weight manifest and one weight buffer.
 *
 * - Sequential configs become Functional ones (an InputLayer is made from the first layer's
 *   input shape when the config has none, and inbound_nodes chain each layer to the previous).
 * - Nested models (a Sequential or Functional used as a layer) are inlined; their weight names lose
 *   the nested model's prefix.
 * - Shared layers (called more than once), unknown layer classes, graph models and malformed
 *   configs are user errors with one clear line.
 * - training_config and optimizer weights are dropped: amps only runs inference.
 */
import * as tf from '../runtime/tfjs.js'
import type {io} from '../runtime/tfjs.js'

import {AmpsUserError} from '../errors.js'
import type {CanonicalArtifacts} from './types.js'
import {
  isRecord,
  type KerasFunctionalConfig,
  type KerasFunctionalTopology,
  type KerasLayerJson,
  type KerasTensorRef,
  MODEL_CLASS_NAMES,
} from './keras-format.js'
import {tfjsLayerConfig} from './layer-config.js'
import {CONVERTER_HINT} from './tfjs-dir.js'
import {joinWeightData, nonFiniteWeight, selectWeights, storedByteLength} from './weights.js'

export interface CanonicalizeInput {
  modelTopology: unknown
  weightSpecs: io.WeightsManifestEntry[]
  weightData: ArrayBuffer | ArrayBuffer[]
  format?: string
  generatedBy?: string
  convertedBy?: string | null
}

/** Layer classes tfjs can deserialize (registered in tf.serialization). */
export function isKnownLayerClass(className: string): boolean {
  const map = tf.serialization.SerializationMap.getMap().classNameMap as Record<string, unknown>
  return className in map && className !== 'Model' && className !== 'Functional' && className !== 'Sequential'
}

interface Ctx {
  /** where the model came from, for messages */
  source: string
  /** names of nested models that were inlined */
  inlined: string[]
  /** layer name → its stored weights' renames (layer-config.ts), for layers that changed class */
  weightRenames?: Map<string, Record<string, string | null>>
}

function invalid(ctx: Ctx, what: string): AmpsUserError {
  return new AmpsUserError('FILE_INVALID', `${ctx.source}: ${what}`, {suggestions: [`Re-export the model: ${CONVERTER_HINT}`]})
}

function layerName(layer: KerasLayerJson): string | undefined {
  if (typeof layer.name === 'string') return layer.name
  return typeof layer.config?.name === 'string' ? (layer.config.name as string) : undefined
}

function checkRef(ref: unknown, ctx: Ctx, where: string): KerasTensorRef {
  if (!Array.isArray(ref) || typeof ref[0] !== 'string' || typeof ref[1] !== 'number' || typeof ref[2] !== 'number') {
    throw invalid(ctx, `${where} has a malformed tensor reference ${JSON.stringify(ref)?.slice(0, 80)}`)
  }
  return ref as KerasTensorRef
}

/** Keras 2 nodes are arrays of [name, node, tensor, kwargs]; Keras 3 configs use {args, kwargs}. */
function checkInboundNodes(layer: KerasLayerJson, name: string, ctx: Ctx): KerasTensorRef[][] {
  const nodes = layer.inbound_nodes ?? []
  if (!Array.isArray(nodes)) throw invalid(ctx, `layer '${name}' has inbound_nodes that are not a list`)
  return nodes.map((node) => {
    if (isRecord(node) && 'args' in node) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `${ctx.source}: layer '${name}' uses the Keras 3 config format, which TensorFlow.js layers models cannot hold`,
        {suggestions: ['Pass the .keras file itself to amps, or save the model from Keras 2 (tf.keras) and convert it']},
      )
    }
    if (!Array.isArray(node)) throw invalid(ctx, `layer '${name}' has a malformed inbound node`)
    return node.map((r) => checkRef(r, ctx, `layer '${name}'`))
  })
}

function sharedLayerError(ctx: Ctx, name: string, calls: number, className: string): AmpsUserError {
  return new AmpsUserError(
    'MODEL_FORMAT_UNSUPPORTED',
    `${ctx.source}: layer '${name}' (${className}) is called ${calls} times (a shared layer); amps can split only models in which every layer is called once`,
    {suggestions: ['Rebuild the model with one layer object per call (copying the weights), then export it again']},
  )
}

function inputShapeOf(config: Record<string, unknown>): unknown[] | undefined {
  if (Array.isArray(config.batch_input_shape)) return config.batch_input_shape
  if (Array.isArray(config.batch_shape)) return config.batch_shape
  if (Array.isArray(config.input_shape)) return [config.batch_size ?? null, ...config.input_shape]
  return undefined
}

function stripInputShape(config: Record<string, unknown>): Record<string, unknown> {
  const {batch_input_shape: _a, input_shape: _b, batch_size: _c, batch_shape: _d, ...rest} = config
  return rest
}

function sequentialToFunctional(config: unknown, ctx: Ctx, fallbackName: string): KerasFunctionalConfig {
  const list = Array.isArray(config) ? config : isRecord(config) && Array.isArray(config.layers) ? config.layers : undefined
  if (!list) throw invalid(ctx, 'Sequential config has no layers list')
  const name = isRecord(config) && typeof config.name === 'string' ? config.name : fallbackName
  if (list.length === 0) throw invalid(ctx, `Sequential model '${name}' has no layers`)
  const layers: KerasLayerJson[] = []
  let prev: string | undefined
  for (const [i, raw] of (list as unknown[]).entries()) {
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) {
      throw invalid(ctx, `layer ${i} of Sequential model '${name}' is not {class_name, config}`)
    }
    const lname = typeof raw.config.name === 'string' ? raw.config.name : `${String(raw.class_name).toLowerCase()}_${i}`
    let cfg = raw.config
    if (i === 0 && raw.class_name !== 'InputLayer') {
      let shape = inputShapeOf(raw.config)
      let dtype = typeof raw.config.dtype === 'string' ? raw.config.dtype : 'float32'
      if (!shape && MODEL_CLASS_NAMES.has(raw.class_name)) {
        const inner = toFunctional({class_name: raw.class_name, config: raw.config}, ctx, lname)
        const inName = inner.input_layers[0]?.[0]
        const inLayer = inner.layers.find((l) => layerName(l) === inName)
        shape = inLayer ? inputShapeOf(inLayer.config) : undefined
        if (inLayer && typeof inLayer.config.dtype === 'string') dtype = inLayer.config.dtype
      }
      if (!shape) {
        throw new AmpsUserError(
          'MODEL_FORMAT_UNSUPPORTED',
          `${ctx.source}: Sequential model '${name}' does not declare its input shape, so its layer shapes are unknown`,
          {suggestions: ['Build the model with an input shape (keras.Input(shape=...) or input_shape= on the first layer) and export it again']},
        )
      }
      const inputName = `${lname}_input`
      layers.push({
        class_name: 'InputLayer',
        name: inputName,
        config: {batch_input_shape: shape, dtype, sparse: false, name: inputName},
        inbound_nodes: [],
      })
      prev = inputName
      cfg = MODEL_CLASS_NAMES.has(raw.class_name) ? raw.config : stripInputShape(raw.config)
    }
    if (raw.class_name === 'InputLayer') {
      if (i !== 0) throw invalid(ctx, `Sequential model '${name}' has an InputLayer at position ${i}`)
      layers.push({class_name: 'InputLayer', name: lname, config: {...cfg, name: lname}, inbound_nodes: []})
    } else {
      layers.push({class_name: raw.class_name, name: lname, config: cfg, inbound_nodes: [[[prev as string, 0, 0, {}]]]})
    }
    prev = lname
  }
  const first = layers[0].name as string
  return {name, layers, input_layers: [[first, 0, 0]], output_layers: [[prev as string, 0, 0]]}
}

/** Turns a model JSON ({class_name, config}) into a flat Functional config. */
function toFunctional(model: Record<string, unknown>, ctx: Ctx, fallbackName: string): KerasFunctionalConfig {
  const className = model.class_name
  let fn: KerasFunctionalConfig
  if (className === 'Sequential') {
    fn = sequentialToFunctional(model.config, ctx, fallbackName)
  } else if (className === 'Model' || className === 'Functional') {
    const c = model.config
    if (!isRecord(c) || !Array.isArray(c.layers) || !Array.isArray(c.input_layers) || !Array.isArray(c.output_layers)) {
      throw invalid(ctx, `${String(className)} config must have layers, input_layers and output_layers`)
    }
    // Keras writes a single input/output as a flat [name, 0, 0]
    const refs = (list: unknown[], where: string): KerasTensorRef[] =>
      typeof list[0] === 'string' ? [checkRef(list, ctx, where)] : list.map((r) => checkRef(r, ctx, where))
    fn = {
      name: typeof c.name === 'string' ? c.name : fallbackName,
      layers: c.layers as KerasLayerJson[],
      input_layers: refs(c.input_layers, 'input_layers'),
      output_layers: refs(c.output_layers, 'output_layers'),
    }
  } else {
    throw new AmpsUserError(
      'MODEL_FORMAT_UNSUPPORTED',
      `${ctx.source}: the model's class is ${JSON.stringify(className)}; amps reads Keras Sequential and Functional models`,
      {suggestions: [`Convert a Keras model with: ${CONVERTER_HINT}`]},
    )
  }
  return flatten(fn, ctx)
}

/** Checks every layer, inlines nested models, and rejects shared layers. */
function flatten(fn: KerasFunctionalConfig, ctx: Ctx): KerasFunctionalConfig {
  const out: KerasLayerJson[] = []
  /** nested model name → its output refs, in the outer namespace */
  const alias = new Map<string, KerasTensorRef[]>()
  for (const [i, raw] of (fn.layers as unknown[]).entries()) {
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config)) {
      throw invalid(ctx, `layer ${i} of model '${fn.name}' is not {class_name, config, inbound_nodes}`)
    }
    const layer = raw as unknown as KerasLayerJson
    const name = layerName(layer)
    if (!name) throw invalid(ctx, `layer ${i} of model '${fn.name}' has no name`)
    const nodes = checkInboundNodes(layer, name, ctx)
    if (nodes.length > 1) throw sharedLayerError(ctx, name, nodes.length, layer.class_name)
    if (MODEL_CLASS_NAMES.has(layer.class_name)) {
      if (nodes.length === 0) throw invalid(ctx, `nested model '${name}' is never called`)
      const inner = toFunctional({class_name: layer.class_name, config: {...layer.config, name}}, ctx, name)
      const args = nodes[0]
      if (args.length !== inner.input_layers.length) {
        throw invalid(ctx, `nested model '${name}' has ${inner.input_layers.length} inputs but is called on ${args.length} tensors`)
      }
      const inputMap = new Map(inner.input_layers.map((r, j) => [r[0], args[j]] as const))
      const mapRef = (r: KerasTensorRef): KerasTensorRef => inputMap.get(r[0]) ?? r
      for (const il of inner.layers) {
        if (il.class_name === 'InputLayer') continue
        out.push({...il, inbound_nodes: (il.inbound_nodes ?? []).map((n) => n.map(mapRef))})
      }
      alias.set(name, inner.output_layers.map(mapRef))
      ctx.inlined.push(name)
      continue
    }
    if (layer.class_name !== 'InputLayer' && nodes.length === 0) {
      throw invalid(ctx, `layer '${name}' (${layer.class_name}) is never called`)
    }
    const fixed =
      layer.class_name === 'InputLayer' ? {className: 'InputLayer', config: layer.config} : tfjsLayerConfig(layer.class_name, layer.config, name, ctx.source)
    if (fixed.weightRenames) ctx.weightRenames?.set(name, fixed.weightRenames)
    const config: Record<string, unknown> = {...fixed.config, name}
    for (const key of ['layer', 'backward_layer']) {
      const inner = config[key]
      if (isRecord(inner) && typeof inner.class_name === 'string' && isRecord(inner.config)) {
        const f = tfjsLayerConfig(inner.class_name, inner.config, name, ctx.source)
        config[key] = {...inner, class_name: f.className, config: f.config}
      }
    }
    const fixedLayer = {class_name: fixed.className, name, config, inbound_nodes: nodes}
    checkLayerClass(fixedLayer, name, ctx)
    out.push(fixedLayer)
  }
  const resolve = (r: KerasTensorRef): KerasTensorRef => {
    let ref = r
    for (let hops = 0; alias.has(ref[0]); hops++) {
      if (hops > 1000) throw invalid(ctx, `nested model references loop at '${ref[0]}'`)
      const outs = alias.get(ref[0]) as KerasTensorRef[]
      const target = outs[ref[2]]
      if (!target) throw invalid(ctx, `reference to output ${ref[2]} of nested model '${ref[0]}', which has ${outs.length}`)
      ref = ref.length > 3 ? [target[0], target[1], target[2], ref[3]] : target
    }
    return ref
  }
  const layers = out.map((l) => ({...l, inbound_nodes: (l.inbound_nodes ?? []).map((n) => n.map(resolve))}))
  const names = new Set<string>()
  for (const l of layers) {
    const n = l.name as string
    if (names.has(n)) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `${ctx.source}: two layers are named '${n}'` + (ctx.inlined.length ? ` after inlining nested model(s) ${ctx.inlined.join(', ')}` : ''),
        {suggestions: ['Give every layer (including those of nested models) a unique name and export the model again']},
      )
    }
    names.add(n)
  }
  const result = {
    name: fn.name,
    layers,
    input_layers: fn.input_layers.map(resolve).map((r) => [r[0], r[1], r[2]] as KerasTensorRef),
    output_layers: fn.output_layers.map(resolve).map((r) => [r[0], r[1], r[2]] as KerasTensorRef),
  }
  for (const l of layers) {
    for (const r of l.inbound_nodes?.[0] ?? []) {
      if (!names.has(r[0])) throw invalid(ctx, `layer '${l.name}' consumes '${r[0]}', which is not a layer of the model`)
    }
  }
  for (const r of [...result.input_layers, ...result.output_layers]) {
    if (!names.has(r[0])) throw invalid(ctx, `model input/output '${r[0]}' is not a layer of the model`)
  }
  return result
}

function checkLayerClass(layer: KerasLayerJson, name: string, ctx: Ctx): void {
  const unsupported = (cls: string, inner?: string): AmpsUserError =>
    new AmpsUserError(
      'MODEL_UNSUPPORTED_LAYER',
      `${ctx.source}: layer '${name}'${inner ? ` wraps a layer` : ''} of class ${cls}, which TensorFlow.js cannot run` +
        (cls === 'Lambda' ? ' (Lambda layers hold Python code)' : ''),
      {suggestions: ['Replace the layer with built-in Keras layers (or a custom layer registered with TensorFlow.js) and export again']},
    )
  if (layer.class_name === 'InputLayer') return
  if (!isKnownLayerClass(layer.class_name)) throw unsupported(layer.class_name)
  const inner = layer.config.layer
  if (isRecord(inner) && typeof inner.class_name === 'string' && !isKnownLayerClass(inner.class_name)) {
    throw unsupported(inner.class_name, inner.class_name)
  }
}

/** The canonical, flat Functional topology of any accepted modelTopology. */
export function canonicalTopology(
  modelTopology: unknown,
  source: string,
  inlined: string[] = [],
  weightRenames: Map<string, Record<string, string | null>> = new Map(),
): KerasFunctionalTopology {
  const ctx: Ctx = {source, inlined, weightRenames}
  if (!isRecord(modelTopology)) throw invalid(ctx, 'modelTopology is not an object')
  const model = isRecord(modelTopology.model_config) ? modelTopology.model_config : modelTopology
  const config = toFunctional(model, ctx, 'model')
  const topo: KerasFunctionalTopology = {class_name: 'Model', config}
  if (typeof modelTopology.keras_version === 'string') topo.keras_version = modelTopology.keras_version
  if (typeof modelTopology.backend === 'string') topo.backend = modelTopology.backend
  return topo
}

/** Canonical artifacts for tf.io.fromMemory; see the module docs for what changes. */
export function canonicalize(raw: CanonicalizeInput, source: string): CanonicalArtifacts {
  const inlined: string[] = []
  const renames = new Map<string, Record<string, string | null>>()
  const modelTopology = canonicalTopology(raw.modelTopology, source, inlined, renames)
  const data = joinWeightData(raw.weightData)
  const expected = raw.weightSpecs.reduce((s, w) => s + storedByteLength(w), 0)
  if (expected !== data.byteLength) {
    throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${source}: the weight manifest describes ${expected} bytes but the weight data holds ${data.byteLength}`)
  }
  const inlinedSet = new Set(inlined)
  const canonicalName = (stored: string): string | null => {
    // TF variable names carry an output suffix (kernel:0) that tfjs' weight names do not
    let parts = stored.replace(/:\d+$/, '').split('/')
    while (parts.length > 2 && inlinedSet.has(parts[0])) parts = parts.slice(1)
    const rename = renames.get(parts[0])
    const last = parts[parts.length - 1]
    if (rename && last in rename) {
      const to = rename[last]
      if (to === null) return null
      parts = [...parts.slice(0, -1), to]
    }
    return parts.join('/')
  }
  const {weightSpecs, weightData} = selectWeights(raw.weightSpecs, data, (s) => s.group !== 'optimizer' && canonicalName(s.name) !== null)
  for (const s of weightSpecs) s.name = canonicalName(s.name) as string
  const bad = nonFiniteWeight(weightSpecs, weightData)
  if (bad) {
    throw new AmpsUserError(
      'MODEL_WEIGHTS_INVALID',
      `${source}: weight ${bad.name} holds ${bad.count} NaN or infinite value(s) of ${bad.total}; every output it feeds would be NaN`,
      {suggestions: ['The model diverged in training or the weight files are damaged: export it again from a good checkpoint']},
    )
  }
  const out: CanonicalArtifacts = {
    modelTopology: modelTopology as unknown as CanonicalArtifacts['modelTopology'],
    weightSpecs,
    weightData,
    format: 'layers-model',
  }
  if (raw.generatedBy) out.generatedBy = raw.generatedBy
  if (raw.convertedBy) out.convertedBy = raw.convertedBy
  return out
}
