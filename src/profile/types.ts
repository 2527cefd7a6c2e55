/**
 * profile.json: what `amps profile` measured. Written by src/profile, read by the planner,
 * estimator and simulator. Validated on read by src/profile/schema.ts (one module owns the schema).
 */
import type {CutPoint, ModelFormat, TensorInfo} from '../model/types.js'

export const PROFILE_VERSION = 1

/** One measured (or modelled) time of one layer at one (memory, batch) point. */
export interface TimingPoint {
  memoryMb: number
  batch: number
  medianMs: number
  /** spread over the repeats, for the simulator */
  p10Ms: number
  p90Ms: number
  minMs: number
  maxMs: number
  repeats: number
  /** true when not measured under a CPU quota but scaled by the model ms(m) = ms(ref)·max(1, 1769/m) */
  modelled: boolean
}

export interface LayerProfile {
  index: number
  name: string
  className: string
  inbound: string[]
  params: number
  weightBytes: number
  outputShape: (number | null)[]
  /** bytes of this layer's output per sample */
  outputBytes: number
  macs: number
  macsEstimated: boolean
  timing: TimingPoint[]
}

export interface Profile {
  version: typeof PROFILE_VERSION
  model: {
    name: string
    sha256: string
    format: ModelFormat
    source: string
    layers: number
    params: number
    weightBytes: number
    storedWeightBytes: number
    macs: number
  }
  inputs: TensorInfo[]
  outputs: TensorInfo[]
  environment: {
    backend: 'tensorflow' | 'wasm' | 'cpu'
    threads: number
    node: string
    cpu: string
    /** how memory sizes were emulated */
    quotaMethod: 'cgroup-v1' | 'cgroup-v2' | 'modelled'
    measuredAt: string
    ampsVersion: string
  }
  batchSizes: number[]
  memoryMb: number[]
  layers: LayerProfile[]
  cuts: CutPoint[]
  /** whole-model times (not the sum of layers) at each (memory, batch), for calibration */
  wholeModel: TimingPoint[]
  runtime: {
    /** RSS of a stage process with the runtime loaded and no model (MB) */
    baselineRssMb: number
    /** measured RSS growth per MB of float32 weights loaded */
    rssPerWeightMb: number
    /** measured RSS growth per MB of peak live activations */
    rssPerActivationMb: number
    /** time to load the runtime and compile the backend, cold (ms, unrestricted CPU) */
    runtimeInitMs: number
    /** model load time per MB of weights (ms/MB, unrestricted CPU) */
    loadMsPerWeightMb: number
    /** fixed cost of one invocation through the handler (decode+encode excluded) (ms) */
    invokeOverheadMs: number
    /** binary tensor encode + decode cost (ms per MB) */
    codecMsPerMb: number
  }
  warnings: string[]
}
