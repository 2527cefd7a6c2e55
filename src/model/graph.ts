/**
 * LayerGraph: the model as amps plans it. Layers in a stable topological order (InputLayers first,
 * then Kahn's algorithm always taking the ready layer that comes first in the config), the tensors
 * each layer consumes and produces with their per-sample sizes, parameters, weight bytes, MACs,
 * and every cut point with the tensors that cross it.
 */
import {createHash} from 'node:crypto'

import {AmpsUserError, assert, InvalidProblemError} from '../errors.js'
import type {TfLayerFacts} from './inspect.js'
import {type KerasFunctionalTopology, type KerasLayerJson, parseTensorId, tensorId} from './keras-format.js'
import {layerMacs} from './macs.js'
import type {CanonicalArtifacts, CutPoint, LayerGraph, LayerInfo, ModelFormat, Shape, TensorInfo} from './types.js'
import {runtimeByteLength, storedByteLength} from './weights.js'

export function topologyOf(artifacts: CanonicalArtifacts): KerasFunctionalTopology {
  return artifacts.modelTopology as unknown as KerasFunctionalTopology
}

/** Inbound tensor ids of a canonical layer, in call order. */
export function inboundIds(layer: KerasLayerJson): string[] {
  return (layer.inbound_nodes?.[0] ?? []).map((r) => tensorId(r[0], r[2]))
}

/**
 * Stable topological order of a canonical config: InputLayers first in config order, then Kahn's
 * algorithm taking, among ready layers, the one earliest in the config.
 */
export function topologicalOrder(topology: KerasFunctionalTopology): KerasLayerJson[] {
  const layers = topology.config.layers
  const index = new Map(layers.map((l, i) => [l.name as string, i]))
  const pending = layers.map((l) => new Set(inboundIds(l).map((id) => parseTensorId(id).layer)).size)
  const consumers: number[][] = layers.map(() => [])
  for (const [i, l] of layers.entries()) {
    for (const dep of new Set(inboundIds(l).map((id) => parseTensorId(id).layer))) {
      consumers[index.get(dep) as number].push(i)
    }
  }
  const order: number[] = []
  const heap = new MinHeap()
  const inputs = layers.flatMap((l, i) => (l.class_name === 'InputLayer' ? [i] : []))
  const release = (i: number): void => {
    for (const c of consumers[i]) if (--pending[c] === 0) heap.push(c)
  }
  for (const i of inputs) order.push(i)
  for (const [i, l] of layers.entries()) if (pending[i] === 0 && l.class_name !== 'InputLayer') heap.push(i)
  for (const i of inputs) release(i)
  while (heap.size > 0) {
    const i = heap.pop()
    order.push(i)
    release(i)
  }
  if (order.length !== layers.length) {
    const stuck = layers.filter((_, i) => pending[i] > 0).map((l) => l.name)
    throw new AmpsUserError('FILE_INVALID', `the model's layers form a cycle (at ${stuck.slice(0, 3).join(', ')})`)
  }
  return order.map((i) => layers[i])
}

/** Longest chain of layers (the recursion depth tfjs-layers needs). */
export function graphDepth(ordered: KerasLayerJson[]): number {
  const depth = new Map<string, number>()
  let max = 0
  for (const l of ordered) {
    let d = 1
    for (const id of inboundIds(l)) d = Math.max(d, (depth.get(parseTensorId(id).layer) ?? 0) + 1)
    depth.set(l.name as string, d)
    max = Math.max(max, d)
  }
  return max
}

class MinHeap {
  private a: number[] = []
  get size(): number {
    return this.a.length
  }
  push(v: number): void {
    const a = this.a
    a.push(v)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (a[p] <= a[i]) break
      ;[a[p], a[i]] = [a[i], a[p]]
      i = p
    }
  }
  pop(): number {
    const a = this.a
    const top = a[0]
    const last = a.pop() as number
    if (a.length > 0) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && a[l] < a[m]) m = l
        if (r < a.length && a[r] < a[m]) m = r
        if (m === i) break
        ;[a[m], a[i]] = [a[i], a[m]]
        i = m
      }
    }
    return top
  }
}

const DTYPE_BYTES: Record<string, number> = {float32: 4, int32: 4, bool: 1}

/** True when every non-batch dimension is known. */
export function shapeKnown(shape: Shape): boolean {
  return shape.slice(1).every((d) => typeof d === 'number' && d >= 0)
}

export function tensorInfo(id: string, shape: Shape, dtype: string): TensorInfo {
  const bytes = DTYPE_BYTES[dtype]
  if (bytes === undefined) {
    throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `tensor ${id} has dtype ${dtype}; amps handles float32, int32 and bool tensors`)
  }
  let n = 1
  for (const d of shape.slice(1)) n *= d ?? 0
  return {id, shape: [...shape], dtype: dtype as TensorInfo['dtype'], bytesPerSample: shapeKnown(shape) ? n * bytes : 0}
}

/** JSON with sorted object keys, so equal values hash equally. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',')}]`
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** sha256 of the canonical topology config, the weight manifest and the weight bytes. */
export function modelSha256(artifacts: CanonicalArtifacts): string {
  const h = createHash('sha256')
  h.update(stableStringify(topologyOf(artifacts).config))
  h.update('\0')
  h.update(stableStringify(artifacts.weightSpecs))
  h.update('\0')
  const data = artifacts.weightData
  for (const b of Array.isArray(data) ? data : [data]) h.update(new Uint8Array(b))
  return h.digest('hex')
}

/** Per-tensor bookkeeping shared by cuts, liveness and stage extraction. */
export interface TensorUse {
  info: TensorInfo
  producer: number
  /** output index within the producer */
  outputIndex: number
  /** positions of the layers consuming it, ascending */
  consumers: number[]
  isModelOutput: boolean
}

const usesCache = new WeakMap<LayerGraph, Map<string, TensorUse>>()

/** Every tensor of the graph keyed by id, in producer order (cached per graph object; treat as read-only). */
export function tensorUses(graph: LayerGraph): Map<string, TensorUse> {
  const cached = usesCache.get(graph)
  if (cached) return cached
  const uses = new Map<string, TensorUse>()
  const outputs = new Set(graph.outputs.map((t) => t.id))
  for (const layer of graph.layers) {
    layer.outputs.forEach((info, outputIndex) => {
      uses.set(info.id, {info, producer: layer.index, outputIndex, consumers: [], isModelOutput: outputs.has(info.id)})
    })
  }
  for (const layer of graph.layers) {
    for (const id of layer.inbound) {
      const u = uses.get(id)
      assert(u, `layer ${layer.name} consumes unknown tensor ${id}`)
      if (u.consumers[u.consumers.length - 1] !== layer.index) u.consumers.push(layer.index)
    }
  }
  usesCache.set(graph, uses)
  return uses
}

function byProducer(a: TensorUse, b: TensorUse): number {
  return a.producer - b.producer || a.outputIndex - b.outputIndex
}

/** Tensors produced at ≤ after and consumed at > after, or model outputs produced at ≤ after. */
export function computeCuts(graph: Pick<LayerGraph, 'layers' | 'outputs'>): CutPoint[] {
  const uses = tensorUses(graph as LayerGraph)
  const byPos: TensorUse[][] = graph.layers.map(() => [])
  for (const u of uses.values()) byPos[u.producer].push(u)
  const live = new Map<string, TensorUse>()
  const expiring: string[][] = graph.layers.map(() => [])
  for (const u of uses.values()) {
    if (!u.isModelOutput && u.consumers.length > 0) expiring[u.consumers[u.consumers.length - 1]].push(u.info.id)
  }
  const cuts: CutPoint[] = []
  for (let k = 0; k < graph.layers.length - 1; k++) {
    for (const u of byPos[k]) if (u.isModelOutput || u.consumers.length > 0) live.set(u.info.id, u)
    for (const id of expiring[k]) live.delete(id)
    const crossing = [...live.values()].sort(byProducer)
    if (!crossing.every((u) => shapeKnown(u.info.shape))) continue
    const tensors = crossing.map((u) => u.info)
    cuts.push({after: k, afterLayer: graph.layers[k].name, tensors, bytesPerSample: tensors.reduce((s, t) => s + t.bytesPerSample, 0)})
  }
  return cuts
}

/** The tensors a stage [first..last] takes in and hands out (both in producer order). */
export function stageBoundary(graph: LayerGraph, first: number, last: number, uses = tensorUses(graph)): {inputs: TensorUse[]; outputs: TensorUse[]} {
  if (!Number.isInteger(first) || !Number.isInteger(last) || first < 0 || last < first || last >= graph.layers.length) {
    throw new InvalidProblemError(`stage range [${first}..${last}] is not within 0..${graph.layers.length - 1}`)
  }
  const inputs = new Map<string, TensorUse>()
  for (let p = first; p <= last; p++) {
    const layer = graph.layers[p]
    if (layer.className === 'InputLayer') for (const t of layer.outputs) inputs.set(t.id, uses.get(t.id) as TensorUse)
    for (const id of layer.inbound) {
      const u = uses.get(id) as TensorUse
      if (u.producer < first) inputs.set(id, u)
    }
  }
  const outputs: TensorUse[] = []
  for (let p = first; p <= last; p++) {
    for (const t of graph.layers[p].outputs) {
      const u = uses.get(t.id) as TensorUse
      if (u.isModelOutput || (u.consumers.length > 0 && u.consumers[u.consumers.length - 1] > last)) outputs.push(u)
    }
  }
  return {inputs: [...inputs.values()].sort(byProducer), outputs: outputs.sort(byProducer)}
}

/**
 * Largest Σ bytes (per sample) of tensors alive at once while running positions first..last
 * (O(range length) per call once the graph's tensor table is cached, so all O(L²) ranges are cheap
 * for models of a few hundred layers):
 * the range's inputs are alive from the start until their last use in the range, each layer's
 * outputs are allocated while its inputs are still alive, and the range's outputs stay alive to
 * the end. Backend scratch space (e.g. im2col buffers) is not included.
 */
export function peakActivationBytes(graph: LayerGraph, first: number, last: number): number {
  const uses = tensorUses(graph)
  const {inputs, outputs} = stageBoundary(graph, first, last, uses)
  const keep = new Set(outputs.map((u) => u.info.id))
  const lastUseIn = (u: TensorUse): number => {
    let l = -1
    for (const c of u.consumers) if (c >= first && c <= last) l = c
    return l
  }
  const freeAt = new Map<number, number>()
  const addFree = (pos: number, bytes: number): void => {
    freeAt.set(pos, (freeAt.get(pos) ?? 0) + bytes)
  }
  let cur = 0
  for (const u of inputs) {
    cur += u.info.bytesPerSample
    if (!keep.has(u.info.id)) addFree(Math.max(lastUseIn(u), first), u.info.bytesPerSample)
  }
  let peak = cur
  for (let p = first; p <= last; p++) {
    const layer = graph.layers[p]
    if (layer.className !== 'InputLayer') {
      for (const t of layer.outputs) {
        const u = uses.get(t.id) as TensorUse
        cur += t.bytesPerSample
        if (!keep.has(t.id)) addFree(Math.max(lastUseIn(u), p), t.bytesPerSample)
      }
    }
    peak = Math.max(peak, cur)
    cur -= freeAt.get(p) ?? 0
  }
  return peak
}

export interface BuildGraphInput {
  name: string
  format: ModelFormat
  artifacts: CanonicalArtifacts
  /** canonical layers in topological order */
  ordered: KerasLayerJson[]
  facts: TfLayerFacts[]
  /** weight spec name → owning layer name */
  weightOwner: Map<string, string>
}

export function buildLayerGraph(input: BuildGraphInput): LayerGraph {
  const factsByName = new Map(input.facts.map((f) => [f.name, f]))
  const specsByLayer = new Map<string, {stored: number; runtime: number; names: string[]}>()
  for (const s of input.artifacts.weightSpecs) {
    const owner = input.weightOwner.get(s.name)
    assert(owner, `weight ${s.name} has no owning layer`)
    const e = specsByLayer.get(owner) ?? {stored: 0, runtime: 0, names: []}
    e.stored += storedByteLength(s)
    e.runtime += runtimeByteLength(s)
    e.names.push(s.name)
    specsByLayer.set(owner, e)
  }
  const tensors = new Map<string, TensorInfo>()
  const estimated = new Map<string, number>()
  const layers: LayerInfo[] = input.ordered.map((kl, index) => {
    const name = kl.name as string
    const f = factsByName.get(name)
    assert(f, `tfjs built no layer named ${name}`)
    const outputs = f.outputShapes.map((shape, i) => tensorInfo(tensorId(name, i), shape, f.outputDtypes[i]))
    for (const t of outputs) tensors.set(t.id, t)
    const inbound = inboundIds(kl)
    const inputShapes = inbound.map((id) => {
      const t = tensors.get(id)
      assert(t, `layer ${name} consumes ${id} before it is produced`)
      return t.shape
    })
    const m = layerMacs({className: kl.class_name, config: kl.config, inputShapes, outputShapes: outputs.map((t) => t.shape)})
    if (m.estimated) estimated.set(kl.class_name, (estimated.get(kl.class_name) ?? 0) + 1)
    const w = specsByLayer.get(name)
    return {
      index,
      name,
      className: kl.class_name,
      inbound,
      outputs,
      params: f.params,
      weightBytes: w?.runtime ?? 0,
      storedWeightBytes: w?.stored ?? 0,
      macs: m.macs,
      macsEstimated: m.estimated,
      weightNames: w?.names ?? [],
    }
  })
  const topo = topologyOf(input.artifacts)
  const ref = (r: [string, number, number, ...unknown[]]): TensorInfo => tensors.get(tensorId(r[0], r[2])) as TensorInfo
  const warnings: string[] = []
  for (const [cls, n] of estimated) {
    warnings.push(`MACs of ${n} ${cls} layer(s) are estimated as one per output element (no exact formula for ${cls})`)
  }
  const unknown = layers.flatMap((l) => l.outputs).filter((t) => !shapeKnown(t.shape))
  if (unknown.length > 0) {
    warnings.push(`${unknown.length} tensor(s) have unknown dimensions (first: ${unknown[0].id} ${JSON.stringify(unknown[0].shape)}); no cut crosses them`)
  }
  const graph: LayerGraph = {
    name: input.name,
    format: input.format,
    sha256: modelSha256(input.artifacts),
    inputs: topo.config.input_layers.map(ref),
    outputs: topo.config.output_layers.map(ref),
    layers,
    cuts: [],
    totals: {
      params: layers.reduce((s, l) => s + l.params, 0),
      weightBytes: layers.reduce((s, l) => s + l.weightBytes, 0),
      storedWeightBytes: layers.reduce((s, l) => s + l.storedWeightBytes, 0),
      macs: layers.reduce((s, l) => s + l.macs, 0),
    },
    warnings,
  }
  graph.cuts = computeCuts(graph)
  return graph
}
