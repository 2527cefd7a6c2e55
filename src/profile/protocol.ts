/**
 * Messages between the profiler (parent) and its measuring child (worker.ts), over the Node IPC
 * channel. The job itself travels in the AMPS_PROFILE_JOB environment variable.
 */
import type {BackendName} from '../runtime/tf.js'

/** What the profiler measures with: a tfjs backend, or 'onnx' (the exported model on onnxruntime-node). */
export type ProfileBackend = BackendName | 'onnx'

export interface WorkerJob {
  /** directory holding model.json + weights.bin (the canonical artifacts) and graph.json (the LayerGraph) */
  modelDir: string
  /** force a backend (else initTf's order: tensorflow > wasm > cpu) */
  backend?: ProfileBackend
  /** batch size for the activation-memory probe (≥ 2) */
  probeBatch: number
  /** peak live activations of one sample when the whole model runs (bytes), from the LayerGraph */
  peakActivationBytesPerSample: number
}

/** How many passes to run at one (memory, batch) point. */
export interface RepeatPlan {
  /** unmeasured layer-by-layer passes (+ one predict) before measuring; 0 when already warm */
  warmup: number
  minRepeats: number
  maxRepeats: number
  /** stop adding layer-by-layer passes once their estimated wall time passes this (ms) */
  budgetMs: number
  wholeMin: number
  wholeMax: number
  wholeBudgetMs: number
}

export type ParentMessage = {type: 'measure'; memoryMb: number; fraction: number; batch: number; plan: RepeatPlan} | {type: 'exit'}

export interface WorkerInfo {
  backend: ProfileBackend
  threads: number
  node: string
  cpu: string
  pid: number
}

/** Cold-process facts, measured before any quota is applied. */
export interface RuntimeProbe {
  /** ms from process start until the tensor runtime was ready */
  runtimeInitMs: number
  /** RSS with the runtime loaded, no model (bytes) */
  baselineRssBytes: number
  /** RSS after the model's weights were loaded into the runtime (bytes) */
  loadedRssBytes: number
  /** RSS after loading a second copy of the same model (bytes) */
  secondModelRssBytes: number
  /** ms to read model.json + weights and tf.loadLayersModel them */
  loadMs: number
  coldFirstPredictMs: number
  /** RSS after predict at batch 1 and at probeBatch (bytes) */
  rssBatch1Bytes: number
  rssProbeBatchBytes: number
  probeBatch: number
  /** peak live activations of one sample (bytes) */
  peakActivationBytesPerSample: number
  invokeOverheadMs: number
  codecMsPerMb: number
  /** JSON.parse of an event / JSON.stringify of a result with base64 tensors (CPU ms per raw MB) */
  jsonParseMsPerMb: number
  jsonStringifyMsPerMb: number
  /** the same done the local target's runner's way (src/stage/json-body.ts splicing) */
  localJsonParseMsPerMb: number
  localJsonStringifyMsPerMb: number
  /** cost of an empty measured region, already subtracted from every sample (ms) */
  timerOverheadCpuMs: number
  timerOverheadWallMs: number
}

export interface LayerSamples {
  /** LayerInfo.index */
  index: number
  cpuMs: number[]
  wallMs: number[]
}

export interface PointResult {
  memoryMb: number
  fraction: number
  batch: number
  layers: LayerSamples[]
  /** model.predict + read back of the outputs */
  wholeWallMs: number[]
  wholeCpuMs: number[]
  /** wall time of each layer-by-layer pass, gaps included */
  chainWallMs: number[]
  tensorsBefore: number
  tensorsAfter: number
  /** not measured: derived from the point measured at this memory (derive.ts) */
  derivedFrom?: number
}

export type WorkerMessage =
  | {type: 'ready'; info: WorkerInfo; probe: RuntimeProbe}
  | {type: 'progress'; memoryMb: number; batch: number; phase: 'warmup' | 'layers' | 'whole'; done: number; total: number}
  | {type: 'point'; result: PointResult}
  | {type: 'error'; message: string; code?: string; suggestions?: string[]; stack?: string}
