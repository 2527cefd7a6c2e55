/**
 * profile.json: what `amps profile` measured. Written by src/profile, read by the planner,
 * estimator and simulator. Validated on read by src/profile/schema.ts (one module owns the schema).
 */
import type {CutPoint, ModelFormat, TensorInfo} from '../model/types.js'

export const PROFILE_VERSION = 1

/**
 * A measured correction of one stage's layer timings by `amps plan --verify` (applied by
 * src/profile/corrections.ts).
 */
export interface StageCorrection {
  /** first and last layer index of the verified stage (inclusive) */
  firstIndex: number
  lastIndex: number
  /** the stage's memory and batch size when it was measured */
  memoryMb: number
  batch: number
  arch: 'x86_64' | 'arm64'
  /** where it was measured: the local runtime or AWS Lambda */
  target: 'local' | 'aws'
  /** the prediction before this correction, and the median Duration measured (ms) */
  predictedMs: number
  measuredMs: number
  /** multiplies medianMs, p10Ms, p90Ms, minMs and maxMs of every timing point of layers firstIndex..lastIndex */
  factor: number
  /** requests measured */
  samples: number
  measuredAt: string
}

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

/**
 * How well the per-layer numbers add up at one (memory, batch) point (optional; written by
 * src/profile since v1). A ratio near 1 means Σ layer medians predicts a stage's time.
 */
export interface CalibrationPoint {
  memoryMb: number
  batch: number
  /** Σ over layers of medianMs */
  sumLayersMs: number
  /** median wall time of the whole model (model.predict) under the quota */
  wholeModelMs: number
  /** median wall time of one layer-by-layer pass under the quota (same work as sumLayersMs) */
  chainWallMs: number
  /** sumLayersMs / wholeModelMs */
  ratio: number
  /** ms the kernel held the child back while this point was measured (cgroup cpu.stat), when known */
  throttledMs?: number
  /**
   * optional: median of the whole model's CPU time under the quota, converted like the layers'
   * (CPU ÷ min(1, m/1769) for a single-threaded backend). Unlike wholeModelMs it does not count
   * the time another tenant of the machine holds the CPU, so wholeModelCpuMs / sumLayersMs is what
   * running the layers fused in one model.predict adds over timing them one by one.
   */
  wholeModelCpuMs?: number
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
    /** 'onnx': the exported model on onnxruntime-node, per-layer times from ORT's node profile (src/profile/ort-runner.ts) */
    backend: 'tensorflow' | 'wasm' | 'cpu' | 'onnx'
    threads: number
    node: string
    cpu: string
    /** how memory sizes were emulated */
    quotaMethod: 'cgroup-v1' | 'cgroup-v2' | 'modelled'
    /** optional: CFS period used for the quota at 1769 MB and above (µs); lower memory may use a longer one */
    cfsPeriodUs?: number
    /**
     * optional: how per-layer ms were derived from the samples. 'cpu-fluid': process CPU time under
     * the quota ÷ min(1, m/1769) (single-threaded backends); 'wall-fluid': max(wall, CPU ÷ (m/1769)).
     */
    layerTiming?: 'cpu-fluid' | 'wall-fluid'
    measuredAt: string
    ampsVersion: string
  }
  batchSizes: number[]
  memoryMb: number[]
  layers: LayerProfile[]
  cuts: CutPoint[]
  /** whole-model times (not the sum of layers) at each (memory, batch), for calibration */
  wholeModel: TimingPoint[]
  /** optional: Σ layers vs whole model at each (memory, batch) */
  calibration?: CalibrationPoint[]
  /** optional: stage times measured by `amps plan --verify`, applied to the layer timings when planning (src/profile/corrections.ts) */
  corrections?: StageCorrection[]
  runtime: {
    /** RSS of a stage process with the runtime loaded and no model (MB) */
    baselineRssMb: number
    /** measured RSS growth per MB of float32 weights loaded (marginal: a second copy of the model) */
    rssPerWeightMb: number
    /** measured RSS growth per MB of peak live activations */
    rssPerActivationMb: number
    /** time to load the runtime and compile the backend, cold (ms, unrestricted CPU) */
    runtimeInitMs: number
    /** model load time per MB of weights (ms/MB, unrestricted CPU) */
    loadMsPerWeightMb: number
    /**
     * fixed cost of one invocation through the stage handler (ms): measured with a one-element
     * tensor, so the size-dependent decode+encode is excluded (that is codecMsPerMb)
     */
    invokeOverheadMs: number
    /** binary tensor encode + decode cost (ms per MB) */
    codecMsPerMb: number
    /**
     * optional: RSS the first model loaded into a process adds beyond rssPerWeightMb × its weights
     * (MB): compiled code, and load-time buffers (dequantised copies, the raw weight file) that the
     * allocators keep. Measured on the whole model, so for a smaller stage it is an upper bound.
     */
    modelFixedRssMb?: number
    /** optional: peak live activation bytes of one sample when the whole model runs (per sample) */
    peakActivationBytesPerSample?: number
    /** optional: the first predict (batch 1) right after loading, cold (ms, unrestricted CPU) */
    coldFirstPredictMs?: number
    /**
     * optional: what a stage's fused model.predict (graph executor bookkeeping, disposing every
     * intermediate, reading the outputs back) costs relative to Σ of its layers timed one by one:
     * the median over the measured (memory, batch) points of wholeModelCpuMs / sumLayersMs. The
     * cost model multiplies every layer's time by it (1 when absent).
     */
    fusedFactor?: number
    /**
     * optional: CPU ms per MB of raw tensor (at one vCPU) for what the Lambda runtime does around
     * the handler with an inline hand-off: JSON.parse of the event (base64 tensors), and
     * JSON.stringify of the result plus its conversion to bytes. Slowed by max(1, 1769/m) like the
     * codec. 0 when absent.
     */
    jsonParseMsPerMb?: number
    jsonStringifyMsPerMb?: number
    /**
     * optional: the same two done the way the local target's runner does them (src/stage/json-body.ts
     * splices the base64 strings around a small JSON skeleton instead of running them through V8's
     * JSON parser and serialiser). CostModel uses these with `runtime: 'local'`; absent, the Lambda ones.
     */
    localJsonParseMsPerMb?: number
    localJsonStringifyMsPerMb?: number
  }
  warnings: string[]
}
