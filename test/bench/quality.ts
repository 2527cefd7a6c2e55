/**
 * Section 2, plan quality: for the SLO × rate grid (grid.ts) on MobileNetV2 and InceptionV3, amps'
 * predicted cost per 1M requests, its ratio to each baseline the planner prices in the plan
 * (plan.baselines: best single function, AMPS-Inf style unbatched chain, largest memory) and to
 * the compute floor (floor.ts).
 */
import type {PlanBaseline} from '../../src/plan/types.js'
import {round, type BenchOptions} from './common.js'
import {computeFloor, type ComputeFloor} from './floor.js'
import {GRID_MODELS, PERCENTILE, RATES, SLO_FACTORS, planGrid, wholeModelMs} from './grid.js'
import {profileInfos} from './profiles.js'

export interface QualityCell {
  model: string
  sloFactor: number
  sloMs: number
  ratePerSecond: number
  planMs: number
  feasible: boolean
  error?: string
  stages?: {layers: number; memoryMb: number; arch: string}[]
  batch?: {size: number; timeoutMs: number}
  predictedLatencyMs?: number
  costPerMillionUsd?: number
  /** per baseline: its cost per 1M and baseline ÷ amps (> 1: amps is cheaper) */
  baselines?: {name: string; feasible: boolean; costPerMillionUsd?: number; latencyMs?: number; ratio?: number; reason?: string}[]
  /** amps ÷ floor (≥ 1) */
  floorRatio?: number
}

export interface QualityData {
  percentile: number
  sloFactors: number[]
  rates: number[]
  models: {model: string; wholeModelMsAt1769: number; floor: ComputeFloor}[]
  cells: QualityCell[]
  /** the target: amps ≤ 0.5 × the best single function at ≥ 10 req/s */
  target: {cells: number; met: number; worstRatio: number | null}
  profiles: unknown[]
}

export async function runQuality(opts: BenchOptions): Promise<{data: QualityData; notes: string[]}> {
  const cells: QualityCell[] = []
  const models: QualityData['models'] = []
  for (const name of GRID_MODELS) {
    const {profile, cells: grid} = await planGrid(name, opts.quick)
    const floor = computeFloor(profile)
    models.push({model: name, wholeModelMsAt1769: round(wholeModelMs(profile), 2), floor})
    for (const c of grid) {
      const base = {model: name, sloFactor: c.sloFactor, sloMs: c.sloMs, ratePerSecond: c.ratePerSecond, planMs: round(c.planMs, 1)}
      if (!c.plan) {
        cells.push({...base, feasible: false, error: `${c.error?.code ?? 'error'}: ${c.error?.message}`})
        continue
      }
      const p = c.plan
      const cost = p.predicted.costPerMillionUsd
      cells.push({
        ...base,
        feasible: true,
        stages: p.stages.map((s) => ({layers: s.layers.count, memoryMb: s.memoryMb, arch: s.arch})),
        batch: p.batch,
        predictedLatencyMs: round(p.predicted.latencyMs, 1),
        costPerMillionUsd: cost,
        baselines: p.baselines.map((b: PlanBaseline) =>
          b.feasible
            ? {
                name: b.name,
                feasible: true,
                costPerMillionUsd: b.costPerMillionUsd,
                latencyMs: round(b.latencyMs, 1),
                ratio: round(b.costPerMillionUsd / cost, 3),
              }
            : {name: b.name, feasible: false, reason: b.reason},
        ),
        floorRatio: round(cost / floor.usdPerMillion, 3),
      })
    }
  }
  const targetCells = cells.filter((c) => c.ratePerSecond >= 10)
  let met = 0
  let worst: number | null = null
  for (const c of targetCells) {
    const single = c.baselines?.find((b) => b.name === 'single-function')
    // an infeasible single function (too slow for the SLO) counts as met when amps has a plan
    const ok = c.feasible && (!single?.feasible || (single.ratio ?? 0) >= 2)
    if (ok) met++
    if (c.feasible && single?.feasible && single.ratio !== undefined) worst = worst === null ? single.ratio : Math.min(worst, single.ratio)
  }
  const notes = [
    `SLOs: ${SLO_FACTORS.join(', ')} × the whole model's time at 1,769 MB (Σ layer medians at batch 1 + invoke overhead, from the profile) + the price table's 15 ms Invoke round trip, rounded up to 10 ms; p${PERCENTILE}; arrival rates ${RATES.join(', ')} requests/s (Poisson); arch auto; built-in us-east-1 price table.`,
    'Cost per 1M = plan.predicted.costPerMillionUsd (duration at the first price tier + request fees + S3 fees; INIT charges are reported apart by the planner and not included); ratio = baseline cost ÷ amps cost (2.0 = amps costs half).',
    "Baselines are the planner's own (plan.baselines), priced with the same profile and prices: single-function = the whole model in one function, no batching, cheapest memory meeting the SLO (Power Tuning's answer at 1-MB resolution); amps-inf = cuts + memory per stage without batching (AMPS-Inf); max-memory = one function at 10,240 MB.",
    'Compute floor: Σ over layers of min over memory m (every breakpoint of the cost model) and batch k ≤ 32 of ms(m, k)/k × m/1024 GB × the cheapest first-tier price per GB-s (arm64, $0.0000133334, assumed as fast as the profiling machine); no request fee, overhead, codec, rounding, memory floor or SLO. No plan can cost less; floor ratio = amps ÷ floor.',
    'Target: amps ≤ 0.5 × the best single function at ≥ 10 req/s, i.e. single-function ratio ≥ 2 in every feasible cell with rate ≥ 10.',
  ]
  return {
    data: {
      percentile: PERCENTILE,
      sloFactors: SLO_FACTORS,
      rates: RATES,
      models,
      cells,
      target: {cells: targetCells.length, met, worstRatio: worst},
      profiles: [...profileInfos.values()],
    },
    notes,
  }
}
