/**
 * plan.json: what `amps plan` decided. Written by the planner (solver/ + src/plan), read by
 * estimate-cost, deploy, invoke and simulate. Validated on read by src/plan/schema.ts.
 */
export const PLAN_VERSION = 1

export type Arch = 'x86_64' | 'arm64'

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
}

export interface Plan {
  version: typeof PLAN_VERSION
  model: {name: string; sha256: string; source: string; profile?: string}
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
  }
  batch: {size: number; timeoutMs: number}
  stages: PlanStage[]
  predicted: {
    latencyMs: number
    /** service time of a full batch through the chain (ms) */
    serviceMs: number
    meanBatchSize: number
    costPerMillionUsd: number
    monthlyCostUsd: number
    coldStartMs: number
    coldStartProbability: number
  }
  solver: {method: 'fast' | 'milp'; optimal: boolean; solveMs: number; bound?: number; gap?: number; candidates?: number}
  baselines: PlanBaseline[]
  createdAt: string
}
