/**
 * What `amps report` draws, as plain JSON-able data: built from a plan (and, when it can be read,
 * the profile the plan was made from) with the planner's, the cost model's and the simulator's own
 * functions, so the pictures show what amps computes, not a second model of it. Pure apart from
 * the clock: no fs, no oclif.
 */
import {CostModel, type StageRange} from '../cost/model.js'
import type {PriceTable} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {planFromProfile} from '../plan/index.js'
import type {Plan} from '../plan/types.js'
import type {Profile} from '../profile/types.js'
import type {SimulationResult} from '../simulate/index.js'

export const REPORT_SCHEMA_VERSION = 1

export interface FrontierPoint {
  sloMs: number
  /** the cheapest plan at this SLO (null: no plan meets it) */
  plan: {costPerMillionUsd: number; latencyMs: number; stages: number; batchSize: number; memoryMb: number[]} | null
  /** the baselines at this SLO, by name (null: infeasible) */
  baselines: Record<string, number | null>
}

export interface PowerTuningStage {
  name: string
  arch: string
  batchSize: number
  chosenMemoryMb: number
  /** handler ms of one full batch and the cost of that invocation per 1M requests, by memory */
  points: {memoryMb: number; ms: number; costPerMillionUsd: number}[]
}

export type TimelineKind = 'wait' | 'invoke' | 'compute' | 'hand-off'

export interface TimelineSegment {
  /** the stage's name, or "batch" for the wait in the buffer */
  lane: string
  kind: TimelineKind
  startMs: number
  ms: number
}

export interface ReportData {
  schemaVersion: typeof REPORT_SCHEMA_VERSION
  generatedAt: string
  plan: Plan
  /** where the pictures that need the profile came from, or why they are missing */
  profile: {path?: string; used: boolean; note?: string}
  frontier?: {percentile: number; points: FrontierPoint[]; chosen: {sloMs: number; costPerMillionUsd: number; latencyMs: number}}
  powerTuning?: PowerTuningStage[]
  timeline: {segments: TimelineSegment[]; totalMs: number; source: 'profile' | 'plan'}
  simulation?: Pick<SimulationResult, 'latencyMs' | 'slo' | 'cost' | 'arrivals' | 'coldStarts' | 'latencyHistogram' | 'seed'>
  deployment?: {target: string; region: string; stages: {name: string; functionName: string; status: string; arn?: string; zipBytes?: number}[]}
  notes: string[]
}

export interface ReportOptions {
  prices: PriceTable
  /** SLOs to re-solve the plan at, as multiples of the plan's SLO */
  sloFactors?: number[]
  /** wall-clock limit of each re-solve (ms) */
  solveTimeLimitMs?: number
  now?: Date
  /** called before each re-solve */
  onProgress?: (message: string) => void
}

/** Multiples of the plan's SLO the frontier is solved at (1 is the plan's own). */
export const DEFAULT_SLO_FACTORS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3]

/**
 * `n` of the default SLO factors, spread over the range, always with 1 (the plan's own SLO); 0: none.
 */
export function sloFactors(n: number): number[] {
  const all = DEFAULT_SLO_FACTORS
  if (n >= all.length) return all
  if (n <= 0) return []
  if (n === 1) return [1]
  const picked = Array.from({length: n}, (_, i) => all[Math.round((i * (all.length - 1)) / (n - 1))])
  if (!picked.includes(1)) {
    // the plan's own SLO replaces the pick nearest to it
    let k = 0
    for (let i = 1; i < n; i++) if (Math.abs(picked[i] - 1) < Math.abs(picked[k] - 1)) k = i
    picked[k] = 1
  }
  return picked
}

/** Memory sizes of the Power-Tuning chart: Power Tuning's usual ladder, plus the stage's own. */
export const POWER_TUNING_MEMORIES_MB = [128, 256, 512, 768, 1024, 1536, 1769, 2048, 3008, 4096, 5120, 6144, 8192, 10240]

export function buildReportData(plan: Plan, profile: Profile | undefined, options: ReportOptions): ReportData {
  const notes: string[] = []
  const data: ReportData = {
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: (options.now ?? new Date()).toISOString(),
    plan,
    profile: {path: plan.model.profile, used: Boolean(profile)},
    timeline: {segments: [], totalMs: 0, source: 'plan'},
    notes,
  }
  if (profile) {
    if ((options.sloFactors ?? DEFAULT_SLO_FACTORS).length > 0) data.frontier = frontier(plan, profile, options, notes)
    data.powerTuning = powerTuning(plan, profile, options.prices)
  }
  data.timeline = timeline(plan, profile, options.prices)
  return data
}

/** Re-solves the plan's own problem at a range of SLOs with the planner (planFromProfile). */
function frontier(plan: Plan, profile: Profile, options: ReportOptions, notes: string[]): ReportData['frontier'] {
  const inp = plan.inputs
  const factors = options.sloFactors ?? DEFAULT_SLO_FACTORS
  const points: FrontierPoint[] = []
  let infeasible = 0
  for (const f of factors) {
    const sloMs = Math.round(inp.sloMs * f * 1000) / 1000
    options.onProgress?.(`solving at SLO ${sloMs} ms`)
    try {
      const p = planFromProfile(profile, {
        sloMs,
        percentile: inp.percentile,
        ratePerSecond: inp.ratePerSecond,
        arch: inp.arch,
        maxBatch: inp.maxBatch,
        stages: inp.stages,
        maxStages: inp.maxStages,
        region: inp.region,
        prices: options.prices,
        timeLimitMs: options.solveTimeLimitMs ?? 30_000,
      })
      points.push({
        sloMs,
        plan: {
          costPerMillionUsd: p.predicted.costPerMillionUsd,
          latencyMs: p.predicted.latencyMs,
          stages: p.stages.length,
          batchSize: p.batch.size,
          memoryMb: p.stages.map((s) => s.memoryMb),
        },
        baselines: Object.fromEntries(p.baselines.map((b) => [b.name, b.feasible ? b.costPerMillionUsd : null])),
      })
    } catch (error) {
      if (error instanceof AmpsUserError && error.ampsCode === 'PLAN_INFEASIBLE') {
        infeasible++
        points.push({sloMs, plan: null, baselines: {}})
        continue
      }
      if (error instanceof InvalidProblemError) {
        notes.push(`the frontier could not be solved from the profile: ${error.message}`)
        return undefined
      }
      throw error
    }
  }
  if (infeasible > 0) notes.push(`${infeasible} of the ${factors.length} SLOs on the frontier can't be met by any plan (left blank)`)
  return {
    percentile: inp.percentile,
    points,
    chosen: {sloMs: inp.sloMs, costPerMillionUsd: plan.predicted.costPerMillionUsd, latencyMs: plan.predicted.latencyMs},
  }
}

function rangeOf(plan: Plan, index: number): StageRange {
  const s = plan.stages[index]
  return {first: s.layers.firstIndex, last: s.layers.lastIndex}
}

/** Time and cost of each stage's full batch against memory, from the cost model (Power Tuning's chart). */
function powerTuning(plan: Plan, profile: Profile, prices: PriceTable): PowerTuningStage[] {
  const B = plan.batch.size
  return plan.stages.map((s, i) => {
    const model = new CostModel(profile, {arch: s.arch, prices})
    const r = rangeOf(plan, i)
    const minMb = model.minimumMemoryMb(r, B) ?? s.memoryMb
    const memories = [...new Set([...POWER_TUNING_MEMORIES_MB, s.memoryMb])]
      .filter((m) => m >= Math.min(minMb, s.memoryMb) && m <= model.memoryMaxMb)
      .sort((a, b) => a - b)
    return {
      name: s.name,
      arch: s.arch,
      batchSize: B,
      chosenMemoryMb: s.memoryMb,
      points: memories.map((m) => {
        const e = model.evaluate(r, m, B, B)
        return {memoryMb: m, ms: round(e.handlerMs, 3), costPerMillionUsd: (e.costUsd / B) * 1e6}
      }),
    }
  })
}

/**
 * One full batch through the chain: the wait in the buffer (the plan's percentile wait), then per
 * stage the Invoke round trip and client transfers (invoke), the layers (compute) and the tensor
 * encoding/decoding and S3 transfers (hand-off), from the cost model when the profile is there,
 * else from the plan's predicted and billed ms.
 */
function timeline(plan: Plan, profile: Profile | undefined, prices: PriceTable): ReportData['timeline'] {
  const segments: TimelineSegment[] = []
  let t = 0
  const push = (lane: string, kind: TimelineKind, ms: number): void => {
    if (!(ms > 0)) return
    segments.push({lane, kind, startMs: round(t, 3), ms: round(ms, 3)})
    t += ms
  }
  push('batch', 'wait', plan.predicted.waitMs ?? 0)
  const B = plan.batch.size
  plan.stages.forEach((s, i) => {
    if (profile) {
      const model = new CostModel(profile, {arch: s.arch, prices})
      const r = rangeOf(plan, i)
      const handler = model.handlerMs(r, s.memoryMb, B, B)
      const compute = model.computeMs(r, s.memoryMb, B)
      const unbilled = model.unbilledMs(r, B, B)
      // the invoke overhead inside the handler counts with the round trip
      const overhead = model.profile.runtime.invokeOverheadMs
      push(s.name, 'invoke', unbilled / 2 + overhead)
      push(s.name, 'compute', compute)
      push(s.name, 'hand-off', Math.max(0, handler - compute - overhead))
      push(s.name, 'invoke', unbilled / 2)
    } else {
      const roundTrip = Math.max(0, (s.latencyMs ?? s.predictedMs) - (s.billedMs ?? s.predictedMs))
      push(s.name, 'invoke', roundTrip / 2)
      push(s.name, 'compute', s.predictedMs)
      push(s.name, 'invoke', roundTrip / 2)
    }
  })
  return {segments, totalMs: round(t, 3), source: profile ? 'profile' : 'plan'}
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
