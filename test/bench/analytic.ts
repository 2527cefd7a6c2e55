/**
 * Section 4, analytic vs simulated: every plan of the SLO × rate grid (grid.ts), its analytic p99
 * latency and cost per 1M (plan.predicted) against the discrete-event simulator (src/simulate
 * simulatePlan) run on the same profile with Poisson arrivals at the plan's rate, seed 1.
 */
import {simulatePlan} from '../../src/simulate/index.js'
import {errorPct, log, median, round, type BenchOptions} from './common.js'
import {GRID_MODELS, planGrid} from './grid.js'
import {profileInfos} from './profiles.js'

export interface AnalyticRow {
  model: string
  sloMs: number
  sloFactor: number
  ratePerSecond: number
  stages: number
  batch: {size: number; timeoutMs: number}
  requests: number
  durationS: number
  warmupS: number
  analyticP99Ms: number
  simulatedP99Ms: number
  simulatedP50Ms: number
  p99ErrPct: number
  analyticCostPerMillionUsd: number
  simulatedCostPerMillionUsd: number
  costErrPct: number
  analyticMeanBatch: number
  simulatedMeanBatch: number
  coldStarts: number
  sloMissRate: number
  simulateMs: number
}

export interface AnalyticData {
  seed: number
  rows: AnalyticRow[]
  summary: {rows: number; medianAbsP99ErrPct: number; worstAbsP99ErrPct: number; medianAbsCostErrPct: number; worstAbsCostErrPct: number; within10Pct: number}
  profiles: unknown[]
}

export async function runAnalytic(opts: BenchOptions): Promise<{data: AnalyticData; notes: string[]}> {
  const seed = 1
  const requests = opts.quick ? 20_000 : 100_000
  const rows: AnalyticRow[] = []
  for (const name of GRID_MODELS) {
    const {profile, cells} = await planGrid(name, opts.quick)
    for (const c of cells) {
      if (!c.plan) continue
      const plan = c.plan
      const rate = plan.inputs.ratePerSecond
      // a minute to fill every stage's pool, then enough requests for a stable p99 (≥ 200 beyond it)
      const warmupS = 60
      const durationS = warmupS + Math.max(300, requests / rate)
      const t0 = performance.now()
      const sim = simulatePlan(plan, profile, {arrivals: {kind: 'poisson', ratePerSecond: rate, durationS}, seed, warmupS})
      const simulateMs = performance.now() - t0
      const row: AnalyticRow = {
        model: name,
        sloMs: c.sloMs,
        sloFactor: c.sloFactor,
        ratePerSecond: rate,
        stages: plan.stages.length,
        batch: plan.batch,
        requests: sim.arrivals.requests - sim.warmup.requestsExcluded,
        durationS: round(durationS, 0),
        warmupS,
        analyticP99Ms: round(plan.predicted.latencyMs, 2),
        simulatedP99Ms: round(sim.latencyMs.p99, 2),
        simulatedP50Ms: round(sim.latencyMs.p50, 2),
        p99ErrPct: round(errorPct(plan.predicted.latencyMs, sim.latencyMs.p99), 1),
        analyticCostPerMillionUsd: plan.predicted.costPerMillionUsd,
        simulatedCostPerMillionUsd: sim.cost.perMillionUsd,
        costErrPct: round(errorPct(plan.predicted.costPerMillionUsd, sim.cost.perMillionUsd), 1),
        analyticMeanBatch: round(plan.predicted.meanBatchSize, 3),
        simulatedMeanBatch: round(sim.batches.meanSize, 3),
        coldStarts: sim.coldStarts.count,
        sloMissRate: sim.slo.missRate,
        simulateMs: round(simulateMs, 0),
      }
      rows.push(row)
      log(
        `  ${name} SLO ${c.sloMs} ms at ${rate}/s: p99 analytic ${row.analyticP99Ms} vs simulated ${row.simulatedP99Ms} ms (${row.p99ErrPct} %), cost ${row.costErrPct} %`,
      )
    }
  }
  const absP = rows.map((r) => Math.abs(r.p99ErrPct))
  const absC = rows.map((r) => Math.abs(r.costErrPct))
  const notes = [
    `Analytic = plan.predicted (latencyMs at the plan's percentile, costPerMillionUsd) from planFromProfile; simulated = simulatePlan(plan, profile) with Poisson arrivals at the plan's rate, seed ${seed}, the first 60 s left out of every statistic (a fresh deployment's cold pool), then max(300 s, ${requests.toLocaleString('en-US')} requests / rate).`,
    "The simulator draws each stage's time from the profile's measured spread (p10/median/p90/min/max per layer) at the actual batch size, bills each invocation rounded up to 1 ms, and bills INIT on cold starts; the analytic model uses medians and, for latency, the full batch B (a bound).",
    'Error % = (analytic − simulated) / simulated × 100.',
  ]
  return {
    data: {
      seed,
      rows,
      summary: {
        rows: rows.length,
        medianAbsP99ErrPct: round(median(absP), 1),
        worstAbsP99ErrPct: round(Math.max(...absP), 1),
        medianAbsCostErrPct: round(median(absC), 1),
        worstAbsCostErrPct: round(Math.max(...absC), 1),
        within10Pct: rows.filter((r) => Math.abs(r.p99ErrPct) <= 10).length,
      },
      profiles: [...profileInfos.values()],
    },
    notes,
  }
}
