/**
 * Human tables for `amps plan` and `amps estimate-cost` (stdout, only without --json).
 */
import type {CostEstimate} from './estimate.js'
import {HEADLINE_INIT_SHARE, headlineCost} from './headline.js'
import type {Plan, PlanStage} from './types.js'

export {table, usd} from '../util/format.js'
import {table, usd} from '../util/format.js'

export function num(x: number, digits = 0): string {
  if (!Number.isFinite(x)) return '—'
  return x.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
}

const mb = (bytes: number): string => num(bytes / 1048576, 1)

/** The columns of a plan's stage table, in `amps plan` and in `amps report`. */
export const STAGE_COLUMNS = ['stage', 'layers', '#', 'memory', 'arch', 'predicted', 'billed', 'package', 'hand-off'] as const

/** One stage's cells under STAGE_COLUMNS. */
export function stageCells(s: PlanStage): string[] {
  return [
    s.name,
    `${s.layers.first} … ${s.layers.last} [${s.layers.firstIndex}..${s.layers.lastIndex}]`,
    String(s.layers.count),
    // * = thread scaling extrapolated beyond the profile's measurements (the plan's note says so)
    `${s.memoryMb} MB${s.threadsExtrapolated ? ' *' : ''}`,
    s.arch,
    `${num(s.predictedMs, 1)} ms`,
    s.billedMs === undefined ? '—' : `${num(s.billedMs)} ms`,
    `${mb(s.measuredPackageBytes ?? s.packageBytes)} MB${s.weightsFrom === 's3' ? ` + ${mb(s.weightsBytes)} MB of weights from S3` : ''}`,
    (s.inputHandoff === 's3' ? 'in: s3, out: ' : '') + s.handoff,
  ]
}

export function renderPlan(plan: Plan): string {
  const out: string[] = []
  const inp = plan.inputs
  const pct = inp.percentile === 100 ? 'max' : `p${inp.percentile}`
  out.push(
    `Plan for ${plan.model.name}: SLO ${num(inp.sloMs, 0)} ms at ${pct}, ${inp.ratePerSecond > 0 ? `${num(inp.ratePerSecond, 2)} req/s${(inp.replicas ?? 1) > 1 ? ` per replica × ${inp.replicas} replicas` : ''}` : 'no rate given'}, arch ${inp.arch}, ${inp.region}`,
  )
  out.push('')
  out.push(
    table(
      [...STAGE_COLUMNS],
      plan.stages.map((s) => stageCells(s)),
    ),
  )
  out.push('')
  const p = plan.predicted
  out.push(
    plan.batch.size > 1
      ? `Batch: up to ${plan.batch.size} requests or ${num(plan.batch.timeoutMs)} ms after the first (mean batch ${num(p.meanBatchSize, 2)}, ${pct} wait ${num(p.waitMs ?? 0, 1)} ms)`
      : 'Batch: none (each request invokes the chain)',
  )
  const parts = [`chain ${num(p.serviceMs, 1)} ms at median stage times`]
  if ((p.waitMs ?? 0) > 0) parts.unshift(`${pct} wait ${num(p.waitMs!, 1)} ms`)
  if (p.spreadMs !== undefined && Math.abs(p.spreadMs) >= 0.05)
    parts.push(`${p.spreadMs >= 0 ? '+' : '−'} ${num(Math.abs(p.spreadMs), 1)} ms for their measured spread${p.spreadMs < 0 ? ' and partial batches' : ''}`)
  out.push(`Latency (${pct}): ${num(p.latencyMs, 1)} ms (${parts.join(', ')})   SLO ${num(inp.sloMs)} ms`)
  // the headline is what the user will pay: INIT included when it adds more than 0.1 % (src/plan/headline.ts)
  const h = headlineCost(plan)
  out.push(
    `Cost: ${usd(h.costPerMillionUsd)} per 1M requests` +
      (inp.ratePerSecond > 0 ? `, ${usd(h.monthlyCostUsd)} per month at ${num(inp.ratePerSecond * (inp.replicas ?? 1), 2)} req/s` : '') +
      (h.includesInit
        ? ` (INIT included: ${usd(h.initPerMillionUsd)} per 1M at a ${num(h.coldStartProbability * 100, h.coldStartProbability >= 0.995 ? 0 : 2)} % cold-start probability${inp.ratePerSecond > 0 ? '' : ', no rate given'}; ${usd(p.costPerMillionUsd)} when every invocation is warm; first-tier prices, no free tier)`
        : ' (first-tier prices, no free tier)'),
  )
  out.push(
    `Cold start: ${num(p.coldStartMs)} ms through the chain, probability ${num(p.coldStartProbability * 100, 3)} % per batch` +
      (p.initPerMillionUsd !== undefined || h.includesInit
        ? `, INIT ${usd(h.initPerMillionUsd)} per 1M requests (${h.includesInit ? 'included above' : `not included above: under ${num(HEADLINE_INIT_SHARE * 100, 1)} % of the cost`})`
        : ''),
  )
  const sv = plan.solver
  out.push(
    `Solver: ${sv.method}, ${sv.optimal ? 'optimal' : 'NOT proven optimal'}` +
      (sv.gap !== undefined ? ` (gap ${num(sv.gap * 100, 3)} %)` : '') +
      `, ${num(sv.solveMs)} ms, ${sv.candidates ?? 0} inner solves` +
      (sv.searchTolerance ? `, batch/timeout search within ${num(sv.searchTolerance * 100, 2)} %` : ''),
  )
  out.push('')
  out.push(
    table(
      ['baseline', 'latency', 'per 1M', 'vs plan', 'notes'],
      plan.baselines.map((b) =>
        b.feasible
          ? [
              b.name,
              `${num(b.latencyMs, 1)} ms`,
              usd(b.costPerMillionUsd),
              b.costRatio === undefined ? '—' : `${num(b.costRatio, 2)}×`,
              b.stages ? b.stages.map((s) => `${s.memoryMb} MB`).join(' + ') : '',
            ]
          : [b.name, '—', '—', '—', `infeasible: ${b.reason ?? ''}`],
      ),
    ),
  )
  for (const w of plan.warnings ?? []) out.push(`Note: ${w}`)
  return out.join('\n')
}

export function renderEstimate(e: CostEstimate): string {
  const out: string[] = []
  out.push(
    `${e.model}: ${num(e.ratePerSecond, 3)} req/s = ${num(e.requestsPerMonth)} requests/month, batch ${e.batch.size > 1 ? `≤ ${e.batch.size} / ${num(e.batch.timeoutMs)} ms (mean ${num(e.meanBatchSize, 2)})` : 'none'}, ${e.freeTier ? 'with' : 'without'} the free tier`,
  )
  out.push('')
  out.push(
    table(
      ['stage', 'memory', 'invocations', 'mean billed', 'GB-s', 'duration', 'requests', 'S3', 'INIT', '/tmp', 'total'],
      [
        ...e.stages.map((s) => [
          s.stage,
          `${s.memoryMb} MB`,
          num(s.invocationsPerMonth),
          `${num(s.meanBilledMs, 1)} ms`,
          num(s.gbSeconds),
          usd(s.durationUsd),
          usd(s.requestsUsd),
          usd(s.s3Usd),
          usd(s.initUsd),
          usd(s.tmpUsd),
          usd(s.totalUsd),
        ]),
        [
          'total',
          '',
          '',
          '',
          num(e.totals.gbSeconds),
          usd(e.totals.durationUsd),
          usd(e.totals.requestsUsd),
          usd(e.totals.s3Usd),
          usd(e.totals.initUsd),
          usd(e.totals.tmpUsd),
          usd(e.totals.totalUsd),
        ],
      ],
    ),
  )
  out.push('')
  out.push(
    `Monthly: ${usd(e.totals.totalUsd)} (${usd(e.totals.perMillionUsd)} per 1M requests)` +
      (e.freeTier ? `, free tier saved ${usd(e.totals.freeTierUsd)}` : ''),
  )
  out.push('')
  const ao = e.alwaysOn
  out.push(
    table(
      ['alternative', 'per 1M', 'per month', 'vs plan'],
      [
        ...e.baselines.map((b) =>
          b.feasible
            ? [b.name, usd(b.perMillionUsd ?? NaN), usd(b.monthlyUsd ?? NaN), b.ratio === null ? '—' : `${num(b.ratio, 2)}×`]
            : [b.name, '—', '—', `infeasible: ${b.reason ?? ''}`],
        ),
        ao.feasible
          ? [
              `SageMaker ${ao.count}× ${ao.instance} (always on)`,
              usd(ao.perMillionUsd ?? NaN),
              usd(ao.monthlyUsd!),
              e.totals.totalUsd > 0 ? `${num(ao.monthlyUsd! / e.totals.totalUsd, 2)}×` : '—',
            ]
          : ['SageMaker (always on)', '—', '—', `infeasible: ${ao.reason ?? ''}`],
      ],
    ),
  )
  out.push(`  ${ao.note}`)
  out.push('')
  out.push('Across rates (the plan’s batch settings; first-tier prices, no free tier):')
  out.push(
    table(
      ['rate', 'req/s', 'mean batch', 'batched per 1M', 'unbatched per 1M', 'batched /month', 'unbatched /month', 'always-on /month', 'latency', 'SLO'],
      e.rates.map((r) => [
        `${num(r.multiplier, 1)}×`,
        num(r.ratePerSecond, 3),
        num(r.meanBatchSize, 2),
        usd(r.batchedPerMillionUsd),
        r.unbatchedPerMillionUsd === null ? '—' : usd(r.unbatchedPerMillionUsd),
        usd(r.batchedMonthlyUsd),
        r.unbatchedMonthlyUsd === null ? '—' : usd(r.unbatchedMonthlyUsd),
        r.alwaysOnMonthlyUsd === null ? '—' : usd(r.alwaysOnMonthlyUsd),
        `${num(r.latencyMs, 1)} ms`,
        r.meetsSlo ? 'yes' : 'no',
      ]),
    ),
  )
  out.push(
    e.batch.size === 1
      ? 'Batching: the plan does not batch.'
      : e.batchingPaysFromRatePerSecond === null
        ? 'Batching does not pay within this range of rates.'
        : `Batching pays from ${num(e.batchingPaysFromRatePerSecond, 3)} req/s.`,
  )
  for (const w of e.warnings) out.push(`Note: ${w}`)
  return out.join('\n')
}
