/**
 * Stages: a contiguous range [first..last] of the topological order rebuilt as its own tfjs layers
 * model. Its inputs are the tensors it consumes that earlier positions produced (plus the model
 * inputs in range); its outputs are the tensors it produces that later positions consume or that
 * are model outputs. The stage JSON is written straight from the canonical config, and only the
 * range's weights are carried (quantized entries stay quantized).
 *
 * Tensors travel by id: a coordinator keeps every tensor a stage returned and gives each later
 * stage the ids it asks for (runStages below does exactly that in-process).
 */
import type * as tfType from '../runtime/tfjs.js'

import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {initTf} from '../runtime/tf.js'
import {stageBoundary, tensorUses, topologyOf, type TensorUse} from './graph.js'
import {type KerasFunctionalTopology, type KerasLayerJson, type KerasTensorRef} from './keras-format.js'
import type {CanonicalArtifacts, LoadedModel, StageArtifacts} from './types.js'
import {joinWeightData, selectWeights} from './weights.js'

/** The ranges [first..last] a sorted list of cut positions ("cut after k") makes. */
export function stageRanges(layerCount: number, cuts: number[]): {first: number; last: number}[] {
  const ranges: {first: number; last: number}[] = []
  let first = 0
  for (const [i, c] of cuts.entries()) {
    if (!Number.isInteger(c) || c < 0 || c > layerCount - 2 || (i > 0 && c <= cuts[i - 1])) {
      throw new InvalidProblemError(`cuts must be increasing integers in 0..${layerCount - 2}, got ${JSON.stringify(cuts)}`)
    }
    ranges.push({first, last: c})
    first = c + 1
  }
  ranges.push({first, last: layerCount - 1})
  return ranges
}

export function extractStage(model: LoadedModel, first: number, last: number): StageArtifacts {
  const {graph, artifacts} = model
  const uses = tensorUses(graph)
  const {inputs, outputs} = stageBoundary(graph, first, last, uses)
  if (outputs.length === 0) throw new InvalidProblemError(`stage [${first}..${last}] produces nothing later stages or the model use`)
  const topo = topologyOf(artifacts)
  const byName = new Map(topo.config.layers.map((l) => [l.name as string, l]))
  const inRange = graph.layers.slice(first, last + 1)
  const names = new Set(inRange.map((l) => l.name))

  // one InputLayer per tensor that comes from before the range
  const inputName = new Map<string, string>()
  const newInputs: KerasLayerJson[] = []
  const taken = new Set(names)
  for (const u of inputs) {
    if (u.producer >= first) continue // an InputLayer inside the range
    const producer = graph.layers[u.producer].name
    let name = u.outputIndex === 0 ? producer : `${producer}_out${u.outputIndex}`
    for (let n = 1; taken.has(name); n++) name = `${producer}_out${u.outputIndex}_${n}`
    taken.add(name)
    inputName.set(u.info.id, name)
    newInputs.push({
      class_name: 'InputLayer',
      name,
      config: {batch_input_shape: u.info.shape, dtype: u.info.dtype, sparse: false, name},
      inbound_nodes: [],
    })
  }
  const rewrite = (r: KerasTensorRef): KerasTensorRef => {
    const id = r[2] === 0 ? r[0] : `${r[0]}:${r[2]}`
    const n = inputName.get(id)
    if (!n) return r
    return r.length > 3 ? [n, 0, 0, r[3]] : [n, 0, 0]
  }
  const layers: KerasLayerJson[] = [
    ...newInputs,
    ...inRange.map((l) => {
      const kl = byName.get(l.name) as KerasLayerJson
      return {...kl, inbound_nodes: (kl.inbound_nodes ?? []).map((node) => node.map(rewrite))}
    }),
  ]
  const refOf = (u: TensorUse): KerasTensorRef => {
    const n = inputName.get(u.info.id)
    return n ? [n, 0, 0] : [graph.layers[u.producer].name, 0, u.outputIndex]
  }
  const topology: KerasFunctionalTopology = {
    class_name: 'Model',
    config: {
      name: `${topo.config.name}_stage_${first}_${last}`,
      layers,
      input_layers: inputs.map(refOf),
      output_layers: outputs.map(refOf),
    },
  }
  if (topo.keras_version) topology.keras_version = topo.keras_version
  if (topo.backend) topology.backend = topo.backend

  const owned = new Set(inRange.flatMap((l) => l.weightNames ?? []))
  const data = joinWeightData(artifacts.weightData)
  const {weightSpecs, weightData} = selectWeights(artifacts.weightSpecs, data, (s) => owned.has(s.name))
  const stageArtifacts: CanonicalArtifacts = {
    modelTopology: topology as unknown as CanonicalArtifacts['modelTopology'],
    weightSpecs,
    weightData,
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  }
  return {
    first,
    last,
    firstLayer: graph.layers[first].name,
    lastLayer: graph.layers[last].name,
    inputs: inputs.map((u) => u.info),
    outputs: outputs.map((u) => u.info),
    artifacts: stageArtifacts,
    weightBytes: inRange.reduce((s, l) => s + l.weightBytes, 0),
    storedWeightBytes: weightData.byteLength,
  }
}

/** Every stage of a cut list, in order. */
export function extractStages(model: LoadedModel, cuts: number[]): StageArtifacts[] {
  return stageRanges(model.graph.layers.length, cuts).map((r) => extractStage(model, r.first, r.last))
}

/** Builds the stage's tfjs model (initialises tfjs if nobody has). */
export async function loadStageModel(stage: StageArtifacts): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(stage.artifacts))
  } catch (error) {
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `stage ${stage.firstLayer}..${stage.lastLayer} (${stage.last - stage.first + 1} layers) is too deep for TensorFlow.js on this thread's stack`,
        {suggestions: ['Split the model into more stages (fewer layers per stage)']},
      )
    }
    throw error
  }
}

/** Runs a loaded stage model on tensors given by id; returns its outputs by id. */
export function runStage(stage: StageArtifacts, model: tfType.LayersModel, tensors: Map<string, tfType.Tensor>): Map<string, tfType.Tensor> {
  const xs = stage.inputs.map((t) => {
    const x = tensors.get(t.id)
    if (!x) throw new InvalidProblemError(`stage ${stage.firstLayer}..${stage.lastLayer} needs tensor ${t.id}, which no earlier stage produced`)
    return x
  })
  const ys = model.predict(xs.length === 1 ? xs[0] : xs)
  const list = Array.isArray(ys) ? ys : [ys]
  return new Map(stage.outputs.map((t, i) => [t.id, list[i]]))
}

/**
 * Runs the model as a chain of stages cut after each position in `cuts`, passing tensors by id,
 * and returns the model's outputs in order. Intermediate tensors are disposed; `input` is not.
 */
export async function runStages(model: LoadedModel, cuts: number[], input: tfType.Tensor | tfType.Tensor[]): Promise<tfType.Tensor[]> {
  const {tf} = await initTf()
  const xs = Array.isArray(input) ? input : [input]
  const {graph} = model
  if (xs.length !== graph.inputs.length) throw new InvalidProblemError(`the model takes ${graph.inputs.length} inputs, got ${xs.length}`)
  const uses = tensorUses(graph)
  const tensors = new Map<string, tfType.Tensor>(graph.inputs.map((t, i) => [t.id, xs[i]]))
  const own = new Set<tfType.Tensor>()
  for (const r of stageRanges(graph.layers.length, cuts)) {
    const stage = extractStage(model, r.first, r.last)
    const m = await loadStageModel(stage)
    try {
      for (const [id, t] of runStage(stage, m, tensors)) {
        tensors.set(id, t)
        own.add(t)
      }
    } finally {
      m.dispose()
    }
    // drop ids no later stage needs; dispose a tensor only when no id still needing it remains
    // (a layer may return one tensor object under two ids, e.g. an LSTM's output and its state h)
    for (const [id] of tensors) {
      const u = uses.get(id)
      if (u && !u.isModelOutput && u.consumers.every((c) => c <= r.last)) tensors.delete(id)
    }
    const alive = new Set(tensors.values())
    for (const t of own) {
      if (!alive.has(t)) {
        tf.dispose(t)
        own.delete(t)
      }
    }
  }
  return graph.outputs.map((t) => tensors.get(t.id) as tfType.Tensor)
}
