/**
 * plan.json: what `amps plan` decided. Written by the planner (solver/ + src/plan), read by
 * estimate-cost, deploy, invoke and simulate. Validated on read by src/plan/schema.ts.
 */
import type {Arch} from '../platform/lambda.js'

export type {Arch}

export const PLAN_VERSION = 1

import type {StageBackend} from '../stage/spec.js'

export interface PlanStage {
  index: number
  /** Lambda function name suffix, e.g. "stage-1" */
  name: string
  layers: {first: string; last: string; firstIndex: number; lastIndex: number; count: number}
  memoryMb: number
  arch: Arch
  /** predicted unzipped package bytes (runtime + handler + weights) */
  packageBytes: number
  weightsBytes: number
  /** predicted handler time for one batch of `batch.size` (ms) */
  predictedMs: number
  /** tensors in / out per batch (bytes) */
  inputBytes: number
  outputBytes: number
  /** tensor ids entering/leaving this stage */
  inputTensors: string[]
  outputTensors: string[]
  /** how this stage's output reaches the next one */
  handoff: 'inline' | 's3'
  /** measured package bytes, written back by `amps deploy` */
  measuredPackageBytes?: number
  /**
   * 's3': the stage's weights do not fit in its unzipped package, so the package holds the runtime
   * only and the function fetches the weights from S3 when it starts (priced in initMs); absent:
   * the weights ship in the package
   */
  weightsFrom?: 's3'
  /** how this stage's input arrives when not inline (only the first stage can differ from the previous stage's handoff) */
  inputHandoff?: 'inline' | 's3'
  /** billed ms of a full batch (handler ms rounded up to the billing granularity) */
  billedMs?: number
  /** billedMs + the client's Invoke round trip (+ client S3 transfers at the model's ends) (ms) */
  latencyMs?: number
  /** expected cost of one invocation over the batch-size distribution (USD) */
  costPerBatchUsd?: number
  /** INIT ms billed on a cold start, and the whole cold-start latency (ms) */
  initMs?: number
  coldStartMs?: number
  /** billed ms of one invocation with a batch of k = 1..batch.size (index k-1), for re-pricing at other rates */
  billedMsByBatch?: number[]
  /** what runs the stage: 'onnx' (onnxruntime-node) or 'wasm' (tfjs); absent in older plans = 'wasm' */
  backend?: StageBackend
  /** ORT intra-op threads the stage runs with (onnx only: the vCPUs its memory gives, at most 6) */
  threads?: number
  /**
   * true: the stage's memory gives it more threads than any measurement of the profile ran with (on
   * a 2-core machine: above 3,538 MB), so its time is extrapolated from each layer's fitted parallel
   * efficiency (src/cost/timing.ts threadFit); absent: measured thread counts
   */
  threadsExtrapolated?: boolean
}

export interface PlanBaseline {
  name: string
  description: string
  feasible: boolean
  reason?: string
  latencyMs: number
  costPerMillionUsd: number
  stages?: {layers: number; memoryMb: number; arch: Arch}[]
  batch?: {size: number; timeoutMs: number}
  /** baseline cost ÷ plan cost (> 1: the plan is cheaper) */
  costRatio?: number
}

export interface Plan {
  version: typeof PLAN_VERSION
  model: {
    name: string
    sha256: string
    /** the model path the plan was made from (deploy builds the stages from it) */
    source: string
    /**
     * absolute path of the profile.json the plan was made from: the file given to `amps plan`, or the
     * profiler's cache entry ($AMPS_CACHE_DIR/profiles/…) when `amps plan` profiled a model; `amps
     * simulate` reads it for the measured spread
     */
    profile?: string
  }
  inputs: {
    sloMs: number
    percentile: number
    ratePerSecond: number
    arch: Arch | 'auto'
    region: string
    priceTableVersion: string
    maxBatch: number
    stages?: number
    maxStages?: number
    /** gateway replicas sharing the traffic; ratePerSecond is each one's share (amps plan --replicas) */
    replicas?: number
    /** what the stages run on (`--backend`); absent in older plans = wasm */
    backend?: StageBackend
  }
  batch: {size: number; timeoutMs: number}
  stages: PlanStage[]
  /**
   * optional: `amps plan --verify` ran the stages (deploy/verify-plan.ts): measured median Duration
   * vs prediction per stage, and whether the plan was re-solved with the corrections it saved
   */
  verification?: {
    target: 'local' | 'aws'
    batch: number
    stages: {index: number; predictedMs: number; measuredMs: number; error: number; samples: number}[]
    resolved: boolean
    /** when re-solved: the plan as first solved (before the corrections) */
    previous?: {memoriesMb: number[]; batch: {size: number; timeoutMs: number}; costPerMillionUsd: number; latencyMs: number}
    costUsd?: number
  }
  predicted: {
    latencyMs: number
    /** service time of a full batch through the chain (ms) */
    serviceMs: number
    /**
     * optional: latencyMs − (waitMs + serviceMs) (ms). latencyMs is the percentile of wait + Σ stage
     * times with their measured spread, over the batch sizes a request rides in (src/plan/tail.ts);
     * waitMs + serviceMs counts every stage at its median for a full batch. Positive: what the
     * spread adds; negative where partial batches save more than that.
     */
    spreadMs?: number
    meanBatchSize: number
    costPerMillionUsd: number
    monthlyCostUsd: number
    coldStartMs: number
    /** per batch: at least one stage finds no warm environment (each stage's pool, src/cost/batching.ts coldStartProbability) */
    coldStartProbability: number
    /** p-th percentile of a request's wait in the batch buffer (ms) */
    waitMs?: number
    /** INIT charge of one cold start of every stage (USD) */
    initUsdPerColdStart?: number
    /** expected INIT charge per 1M requests: Σ stages' cold-start probability × INIT charge (USD), not in costPerMillionUsd */
    initPerMillionUsd?: number
    /** what the user will pay (src/plan/headline.ts): costPerMillionUsd, plus INIT when it adds more than 0.1 % */
    headline?: {costPerMillionUsd: number; monthlyCostUsd: number; includesInit: boolean}
    /** whole model, one request, one full vCPU (ms): sizing the always-on alternative */
    fullCpuMsPerRequest?: number
    /** memory the whole model needs in one process at batch 1 (MB) */
    wholeModelMemoryMb?: number
  }
  solver: {
    method: 'fast' | 'milp'
    optimal: boolean
    solveMs: number
    bound?: number
    gap?: number
    candidates?: number
    /** (arch, batch size, timeout interval) nodes of the outer search dropped by their lower bound */
    prunedIntervals?: number
    /** relative tolerance of the outer (batch size, timeout) search; 0 = exact over integer ms */
    searchTolerance?: number
    /**
     * optional: the SLO the solver was finally given for its median-based latency, when the stage
     * times' spread made it lower than the user's (src/plan/index.ts solveWithSpread)
     */
    sloForMediansMs?: number
    /** optional: how many times the whole search ran (1 + each tightening for the spread) */
    rounds?: number
  }
  baselines: PlanBaseline[]
  createdAt: string
  /** assumptions the user should know about (prices for another region, unmeasured arch speed, …) */
  warnings?: string[]
}
