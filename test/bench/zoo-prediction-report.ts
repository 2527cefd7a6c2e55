/** BENCHMARKS.md's zoo-prediction section, rendered from bench-results/zoo-prediction.json (see zoo-prediction.ts). */
import type {SectionResult} from './common.js'
import type {ZooPredictionData} from './zoo-prediction.js'

const TITLE = '## Prediction error of stage times on unseen models (zoo; ONNX Runtime and wasm)'
const pct = (x: number) => `${x > 0 ? '+' : ''}${x} %`

export function renderZooPredictionSection(r: SectionResult<ZooPredictionData> | undefined, table: (h: string[], rows: string[][]) => string): string {
  if (!r) return `${TITLE}\n\nSection not run (\`npm run bench -- --only zoo-prediction\`).`
  const d = r.data
  const out = [TITLE]
  out.push(
    `_\`${r.command}\`, ${r.startedAt.slice(0, 16).replace('T', ' ')} UTC, ${(r.durationS / 60).toFixed(1)} min, load average ${r.machine.loadAvgStart[0]} → ${r.machine.loadAvgEnd?.[0] ?? '?'}${r.quick ? '; --quick: fewer requests, memories and architectures, not the target protocol' : ''}._`,
  )
  out.push(
    'Target (issue 11): over ≥ 60 stages of ≥ 5 architectures, at batch 1 and the plan’s batch size and ≥ 3 memory sizes, median |error| ≤ 10 %, worst ≤ 25 %, median signed error within ±5 %.',
  )
  out.push(
    table(
      ['backend', 'predictor', 'stages', 'architectures', 'median |error|', 'worst |error|', 'median signed', 'within 10 %', 'median signed (compute only)'],
      d.summaries.map((s) => [
        s.backend,
        s.predictor,
        String(s.rows),
        String(s.archs),
        `${s.medianAbsErrPct} %`,
        `${s.worstAbsErrPct} %`,
        pct(s.medianSignedErrPct),
        `${s.within10Pct} of ${s.rows}`,
        pct(s.medianSignedComputeErrPct),
      ]),
    ),
  )
  out.push(
    '### Where the Duration goes beyond the layers (median over rows, % of Duration)',
    table(
      ['backend', 'CPU per request vs predicted', 'model run − Σ layers', 'codec measured − predicted', 'runtime JSON (Duration − handler)', 'handler rest'],
      d.gaps.map((g) => [g.backend, pct(g.cpuGapPct), pct(g.computeGapPct), pct(g.codecGapPct), `${g.runtimeJsonPct} %`, `${g.handlerRestPct} %`]),
    ),
  )
  if (d.throttle) {
    const multiples = d.throttle.curves[0]?.points.map((p) => Math.round((p.workMs / d.throttle!.curves[0].quotaMs) * 10) / 10) ?? []
    out.push(
      `### The local target’s quota, measured (wall ÷ CPU work of a loop without system calls after a ${d.throttle.gapMs[0]}–${d.throttle.gapMs[1]} ms idle gap, median of ${d.throttle.reps}; the \`local\` predictor interpolates it; fluid = 1769/m)`,
      table(
        ['memory', 'period / quota', ...multiples.map((c) => `work ${c} × quota`), 'fluid'],
        d.throttle.curves.map((c) => [
          `${c.memoryMb} MB`,
          `${c.periodMs} / ${c.quotaMs} ms`,
          ...c.points.map((p) => `${(p.wallMs / p.workMs).toFixed(2)}×`),
          `${(1769 / c.memoryMb).toFixed(2)}×`,
        ]),
      ),
    )
  }
  out.push(
    '### The CFS period: busy work of known CPU under the local target’s quota',
    table(
      ['memory', 'period', 'quota', 'CPU work', 'measured', 'fluid (1769/m)', 'period-aware', 'step function', 'error fluid', 'error period-aware'],
      d.cfs.map((c) => [
        `${c.memoryMb} MB`,
        `${c.periodMs} ms`,
        `${c.quotaMs} ms`,
        `${c.workMs} ms`,
        `${c.measuredMs} ms`,
        `${c.fluidMs} ms`,
        `${c.periodAwareMs} ms`,
        `${c.exactStepMs} ms`,
        pct(c.fluidErrPct),
        pct(c.periodAwareErrPct),
      ]),
    ),
  )
  if (d.shortStage.length) {
    out.push(
      '### A short stage at low memory',
      table(
        ['stage', 'backend', 'memory', 'quota / period', 'measured Duration', 'fluid prediction', 'period-aware', 'error fluid', 'error period-aware'],
        d.shortStage.map((s) => [
          `${s.arch} ${s.layers}`,
          s.backend,
          `${s.memoryMb} MB`,
          `${s.quotaMs} / ${s.periodMs} ms`,
          `${s.measuredMs} ms`,
          `${s.fluidMs} ms`,
          `${s.periodAwareMs} ms`,
          pct(s.fluidErrPct),
          pct(s.periodAwareErrPct),
        ]),
      ),
    )
  }
  const predictors = Object.keys(d.rows[0]?.predicted ?? {})
  out.push(
    '### Every stage',
    table(
      [
        'arch',
        'backend',
        'stage',
        'layers',
        'memory',
        'batch',
        'measured Duration',
        ...predictors.flatMap((p) => [`${p} ms`, `${p} error`]),
        'model run',
        'codec',
        'CPU',
        'throttled',
      ],
      d.rows.map((x) => [
        `${x.arch} ${x.size}`,
        x.backend,
        String(x.stage),
        `${x.first}–${x.last}`,
        `${x.memoryMb} MB`,
        String(x.batch),
        `${x.measured.durationMs} ms`,
        ...predictors.flatMap((p) => [`${Math.round(x.predicted[p].handlerMs * 100) / 100}`, pct(x.predicted[p].durationErrPct)]),
        `${x.measured.runMs} ms`,
        `${x.measured.codecMs} ms`,
        `${x.measured.cpuMs} ms`,
        x.measured.throttledMs === undefined ? '–' : `${x.measured.throttledMs} ms`,
      ]),
    ),
  )
  if (d.failures?.length) out.push(`Failed deployments (rows missing): ${d.failures.join('; ')}.`)
  out.push(...r.notes.map((n) => `- ${n}`))
  return out.join('\n\n')
}

/**
 * The Targets table's row for issue 11's prediction target, taken on the `local` predictor (the
 * model as amps predicts a stage on the local target the stages are measured on) of each backend run.
 */
export function zooTargetRows(r: SectionResult<ZooPredictionData> | undefined): string[][] {
  const target = 'Stage time on unseen models (zoo, ≥ 60 stages, ≥ 5 architectures): median |error| ≤ 10 %, worst ≤ 25 %, median signed within ±5 %'
  if (!r) return [[target, 'section not run', '–']]
  const rows = r.data.summaries.filter((s) => s.predictor === 'local')
  if (rows.length === 0) return [[target, 'no `local` predictor in this run', '–']]
  return rows.map((s) => {
    const met = [s.medianAbsErrPct <= 10, s.worstAbsErrPct <= 25, Math.abs(s.medianSignedErrPct) <= 5]
    const size = s.rows >= 60 && s.archs >= 5
    return [
      `${target} (${s.backend})`,
      `${s.rows} stages of ${s.archs} architectures: median ${s.medianAbsErrPct} %, worst ${s.worstAbsErrPct} %, signed ${pct(s.medianSignedErrPct)}, ${s.within10Pct} of ${s.rows} within ±10 %`,
      !size
        ? '**not the target protocol**'
        : met.every(Boolean)
          ? '**met**'
          : `**not met** (${['median', 'worst', 'signed'].filter((_, i) => !met[i]).join(', ')})`,
    ]
  })
}
