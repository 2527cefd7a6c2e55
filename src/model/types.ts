/**
 * The shared picture of a user's model. Every loader (tfjs layers model.json, Keras .h5, Keras 3
 * .keras) produces a LoadedModel; everything downstream (profile, plan, bundles) works from it.
 *
 * Conventions
 * - A "tensor id" is `${layerName}` for output 0 of a layer, `${layerName}:${i}` for output i > 0.
 * - Layer positions are 0-based indices into `LayerGraph.layers` (topological order; InputLayers
 *   first as they appear). A cut "after k" splits positions [0..k] | [k+1..L-1].
 * - Sizes are per sample (batch dimension excluded); multiply by batch size yourself.
 */
import type {io} from '../runtime/tfjs.js'

export type ModelFormat = 'tfjs-layers' | 'keras-h5' | 'keras-v3'

/** Shape without the batch dimension is `shape.slice(1)`; null = unknown/batch. */
export type Shape = (number | null)[]

export interface TensorInfo {
  /** tensor id (see module docs) */
  id: string
  /** full shape including the leading batch dimension (null) */
  shape: Shape
  dtype: 'float32' | 'int32' | 'bool'
  /** bytes of one sample of this tensor */
  bytesPerSample: number
}

export interface LayerInfo {
  /** position in topological order (0-based) */
  index: number
  name: string
  className: string
  /** tensor ids this layer consumes, in call order */
  inbound: string[]
  /** this layer's outputs (almost always one) */
  outputs: TensorInfo[]
  /** trainable + non-trainable parameter count */
  params: number
  /** bytes the weights occupy as float32 at run time (dequantized) */
  weightBytes: number
  /** bytes the weights occupy on disk in the source artifacts (quantized where quantized) */
  storedWeightBytes: number
  /** multiply–accumulates for one sample */
  macs: number
  /** true when the class has no exact MAC formula and MACs were estimated from output size */
  macsEstimated: boolean
  /** names of the LoadedModel.artifacts.weightSpecs entries this layer owns (set by src/model) */
  weightNames?: string[]
}

export interface CutPoint {
  /** cut after this layer position: stage A = [0..after], stage B = [after+1..] */
  after: number
  afterLayer: string
  /** tensors produced at positions <= after and consumed at positions > after (or model outputs) */
  tensors: TensorInfo[]
  /** Σ tensors[].bytesPerSample */
  bytesPerSample: number
}

export interface LayerGraph {
  name: string
  format: ModelFormat
  /** sha256 hex of the canonical topology JSON + weight bytes */
  sha256: string
  inputs: TensorInfo[]
  outputs: TensorInfo[]
  layers: LayerInfo[]
  /** one entry per position 0..L-2 where a cut is valid (every crossing tensor is known) */
  cuts: CutPoint[]
  totals: {params: number; weightBytes: number; storedWeightBytes: number; macs: number}
  /** non-fatal notes for the user (e.g. MACs estimated for class X) */
  warnings: string[]
}

/**
 * Canonical artifacts: a tfjs-layers ModelArtifacts whose modelTopology is a Keras 2 style
 * Functional ("Model") config (Sequential is normalised to Functional), weights dequantized or not
 * exactly as the source had them. `tf.loadLayersModel(tf.io.fromMemory(artifacts))` must load it.
 */
export type CanonicalArtifacts = Required<Pick<io.ModelArtifacts, 'modelTopology' | 'weightSpecs' | 'weightData'>> &
  Pick<io.ModelArtifacts, 'format' | 'generatedBy' | 'convertedBy'>

export interface LoadedModel {
  /** absolute path the user gave */
  source: string
  graph: LayerGraph
  artifacts: CanonicalArtifacts
}

/** A runnable slice of the model: positions [first..last], crossing tensors in and out. */
export interface StageArtifacts {
  first: number
  last: number
  firstLayer: string
  lastLayer: string
  /** tensors the stage consumes, in the order the stage model's inputs are declared */
  inputs: TensorInfo[]
  /** tensors the stage produces, in the order of the stage model's outputs */
  outputs: TensorInfo[]
  /** a tfjs-layers model with only this range's layers and weights */
  artifacts: CanonicalArtifacts
  /** Σ float32 run-time bytes of the stage's weights (dequantized), as LayerInfo.weightBytes */
  weightBytes: number
  /** bytes of artifacts.weightData (quantized where the source was), as LayerInfo.storedWeightBytes */
  storedWeightBytes?: number
}
