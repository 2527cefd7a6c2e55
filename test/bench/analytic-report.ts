/**
 * BENCHMARKS.md section 4, analytic vs simulated (data: analytic.ts), and its row of the targets
 * table: predicted cost per 1M within ±3 % of simulated and simulated p99 ≤ SLO on every plan.
 */
import type {AnalyticData, AnalyticRow} from './analytic.js'

type Table = (head: string[], rows: (string | number)[][]) => string

const fmt = (x: number | undefined | null, digits = 1): string =>
  x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
const pct = (x: number | undefined | null, digits = 1): string =>
  x === undefined || x === null || !Number.isFinite(x) ? '–' : `${x > 0 ? '+' : ''}${fmt(x, digits)} %`
const usd = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x >= 1 ? `$${fmt(x, 2)}` : x >= 0.01 ? `$${fmt(x, 3)}` : `$${x.toPrecision(3)}`
const verdict = (ok: boolean): string => (ok ? 'yes' : '**no**')

/** The targets-table row for this section. */
export function analyticTargetRow(d: AnalyticData | undefined): string[] {
  const name = `Predicted cost per 1M within ±3 % of simulated, simulated p99 ≤ SLO (pre-warmed, first minutes counted), every plan`
  if (!d) return [name, 'section not run', '–']
  const s = d.summary
  if (s.bothOk === undefined) return [name, 'result predates this target: rerun `npm run bench -- --only analytic`', '–']
  return [
    name,
    `${s.bothOk} of ${s.rows} plans: cost within ±${d.costTolerancePct} % on ${s.costOk} (worst ${fmt(s.worstAbsCostErrPct, 2)} %), p99 ≤ SLO on ${s.sloOk} (worst ${pct(s.worstP99OverSloPct, 2)} vs the SLO)`,
    s.rows > 0 && s.bothOk === s.rows ? '**met**' : '**not met**',
  ]
}

function label(r: AnalyticRow): string {
  return r.label ? `${r.model}: ${r.label}` : r.model
}

function findings(d: AnalyticData): string {
  const rows = d.rows
  const misses = rows.filter((r) => !r.costOk || !r.sloOk)
  const lines = ['**What the numbers say:**']
  lines.push(
    `- ${d.summary.bothOk} of ${rows.length} plans meet both targets. Median |cost error| ${fmt(d.summary.medianAbsCostErrPct, 2)} % (worst ${fmt(d.summary.worstAbsCostErrPct, 2)} %); the simulated p99 is a median ${pct(d.summary.medianP99OverSloPct)} from the SLO (worst ${pct(d.summary.worstP99OverSloPct, 2)}).`,
  )
  const cold = rows.reduce((s, r) => s + r.seeds.reduce((a, x) => a + x.coldStarts, 0), 0)
  lines.push(
    `- Cold starts beyond the pre-warmed pools: ${cold} over ${rows.length * d.seeds.length} runs (a pool grows when more batches are in flight than it holds; an environment idle past the keep-alive is gone). Their INIT is billed in the simulation and expected in the plan's headline cost, and their latency falls into the predicted p99, from each stage's pool in steady state (src/cost/batching.ts coldStartProbability, src/plan/tail.ts chainCold).`,
  )
  for (const r of misses) {
    const why = [
      ...(r.costOk ? [] : [`cost ${pct(r.worstCostErrPct, 2)} off`]),
      ...(r.sloOk ? [] : [`p99 ${fmt(r.simulatedP99Ms, 2)} ms (first ${d.firstMinutesS} s: ${fmt(r.simulatedFirstMinutesP99Ms, 2)} ms) > SLO ${r.sloMs} ms`]),
    ]
    lines.push(`- Miss: ${label(r)}, SLO ${r.sloMs} ms at ${r.ratePerSecond}/s (B = ${r.batch.size}): ${why.join('; ')}.`)
  }
  if (d.infeasible.length) lines.push(`- No plan: ${d.infeasible.map((x) => `${x.model} SLO ${x.sloMs} ms at ${x.ratePerSecond}/s (${x.error})`).join('; ')}.`)
  return lines.join('\n')
}

/** Section 4 (after the provenance and profile lines the caller writes). */
export function renderAnalyticBody(d: AnalyticData, table: Table): string[] {
  // a result file written by the section before it checked the issue's targets
  if (!Array.isArray(d.rows) || d.rows.some((r) => !Array.isArray(r.seeds))) {
    return ["_This result predates the section's cost and SLO verdicts: rerun `npm run bench -- --only analytic`._"]
  }
  const out: string[] = [findings(d)]
  out.push(
    table(
      [
        'group',
        'model',
        'SLO',
        'rate/s',
        'stages (MB)',
        'B, T',
        'pre-warmed',
        'run',
        'p99 predicted',
        'p99 simulated',
        `p99 first ${d.firstMinutesS} s`,
        'p99 ≤ SLO',
        'per 1M predicted',
        'cost error (seeds)',
        'within ±3 %',
        'cold starts (seeds)',
      ],
      d.rows.map((x) => [
        x.group,
        x.label ? `${x.model} (${x.label})` : x.model,
        `${x.sloMs} ms`,
        x.ratePerSecond,
        `${x.stages} (${x.memoryMb.join('/')})`,
        `${x.batch.size}, ${fmt(x.batch.timeoutMs, 0)} ms`,
        x.warmEnvironments.join('/'),
        `${fmt(x.durationS, 0)} s`,
        fmt(x.analyticP99Ms, 2),
        fmt(x.simulatedP99Ms, 2),
        fmt(x.simulatedFirstMinutesP99Ms, 2),
        verdict(x.sloOk),
        usd(x.analyticCostPerMillionUsd),
        x.seeds.map((s) => pct(s.costErrPct, 2)).join(' / '),
        verdict(x.costOk),
        x.seeds.map((s) => s.coldStarts).join(' / '),
      ]),
    ),
  )
  return out
}
