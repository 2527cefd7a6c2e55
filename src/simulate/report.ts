/** Human-readable rendering of a SimulationResult (the command prints it when --json is off). */
import {table as renderTable, usd} from '../util/format.js'
import type {Compared, SimulationResult} from './index.js'

/** First row is the header; the first column left-aligned, the others right-aligned. */
function table(rows: string[][]): string[] {
  return renderTable(
    rows[0],
    rows.slice(1),
    rows[0].map((_, c) => (c === 0 ? 'left' : 'right')),
  ).split('\n')
}

const ms = (x: number): string => `${x.toFixed(1)} ms`
const money = (x: number): string => usd(x)
const pctOf = (x: number): string => `${(x * 100).toFixed(2)}%`
const err = (c: Compared): string => (c.errorPct === null ? 'n/a' : `${c.errorPct.toFixed(1)}%`)

export function renderSimulation(r: SimulationResult): string {
  const out: string[] = []
  const a = r.arrivals
  out.push(
    `Simulated ${a.requests.toLocaleString('en-US')} requests (${a.process}${a.process === 'trace' ? '' : ` at ${a.meanRatePerSecond}/s mean`}, ${a.durationS} s, seed ${r.seed}); batch B=${r.batch.size}, T=${r.batch.timeoutMs} ms; keep-alive ${r.keepAliveS} s; ${r.warmEnvironments.some((w) => w > 0) ? `pre-warmed start (${r.warmEnvironments.join('/')} warm environments per stage)` : 'cold start (no warm environment)'}`,
  )
  if (r.warmup.seconds > 0) {
    out.push(`Warm-up: the first ${r.warmup.seconds} s (${r.warmup.requestsExcluded.toLocaleString('en-US')} requests) simulated but not counted`)
  }
  out.push('')
  out.push(
    ...table([
      ['latency', 'mean', 'p50', 'p95', 'p99', 'max'],
      ['', ms(r.latencyMs.mean), ms(r.latencyMs.p50), ms(r.latencyMs.p95), ms(r.latencyMs.p99), ms(r.latencyMs.max)],
    ]),
  )
  out.push(
    `SLO ${r.slo.ms} ms missed by ${r.slo.misses.toLocaleString('en-US')} requests (${pctOf(r.slo.missRate)}; target ${pctOf(1 - r.slo.percentile)} at p${r.slo.percentile * 100})`,
  )
  out.push(
    `Cost ${money(r.cost.perMillionUsd)} per 1M requests (duration ${money(r.cost.durationUsd)}, requests ${money(r.cost.requestUsd)}, S3 ${money(r.cost.s3Usd)}; total ${money(r.cost.totalUsd)})`,
  )
  out.push(
    `Cold starts ${r.coldStarts.count} of ${r.coldStarts.invocations} invocations (${pctOf(r.coldStarts.rate)}); ${pctOf(r.coldStarts.requestRate)} of requests met one`,
  )
  out.push('')
  out.push(
    ...table([
      ['stage', 'memory', 'invocations', 'cold', 'peak inst.', 'mean billed', 'init', 'median@B model', 'plan'],
      ...r.stages.map((s) => [
        s.name,
        `${s.memoryMb} MB ${s.arch}`,
        String(s.invocations),
        String(s.coldStarts),
        String(s.peakConcurrency),
        ms(s.meanBilledMs),
        ms(s.initMs),
        ms(s.handlerMsAtBatch.simulated),
        ms(s.handlerMsAtBatch.predicted),
      ]),
    ]),
  )
  out.push('')
  const shown = r.batches.histogram.filter((h) => h.count > 0)
  out.push(
    `Batches: ${r.batches.count.toLocaleString('en-US')}, mean size ${r.batches.meanSize.toFixed(3)}` +
      (r.batches.analyticMeanSize === undefined ? '' : ` (Poisson model: ${r.batches.analyticMeanSize.toFixed(3)})`),
  )
  const maxFrac = Math.max(...shown.map((h) => h.fraction))
  for (const h of shown) {
    const bar = '#'.repeat(Math.max(1, Math.round((h.fraction / maxFrac) * 40))).padEnd(40)
    out.push(`  ${String(h.size).padStart(4)}  ${bar} ${pctOf(h.fraction).padStart(7)}${h.analytic === undefined ? '' : `  (model ${pctOf(h.analytic)})`}`)
  }
  out.push('')
  const p = r.prediction
  const aside = p.note === undefined ? '' : p.comparable ? ` (${p.note})` : ` (not like for like: ${p.note})`
  out.push(`Versus the plan's analytic prediction${aside}:`)
  out.push(
    ...table([
      ['', 'predicted', 'simulated', '|error|'],
      [
        `latency p${p.latencyAtPercentile.percentile * 100}`,
        ms(p.latencyAtPercentile.predicted),
        ms(p.latencyAtPercentile.simulated),
        err(p.latencyAtPercentile),
      ],
      ['cost per 1M', money(p.costPerMillionUsd.predicted), money(p.costPerMillionUsd.simulated), err(p.costPerMillionUsd)],
      ['mean batch size', p.meanBatchSize.predicted.toFixed(3), p.meanBatchSize.simulated.toFixed(3), err(p.meanBatchSize)],
      ['cold-start probability', pctOf(p.coldStartProbability.predicted), pctOf(p.coldStartProbability.simulated), err(p.coldStartProbability)],
    ]).map((l) => '  ' + l),
  )
  return out.join('\n')
}
