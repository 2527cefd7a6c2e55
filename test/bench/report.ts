/**
 * BENCHMARKS.md, rendered from bench-results/*.json only (so `--report-only` re-renders without
 * measuring, and every figure in the report can be found in a committed JSON file).
 */
import {writeFileSync} from 'node:fs'

import {cfsSettings} from '../../src/profile/cgroup.js'

import type {AnalyticData} from './analytic.js'
import {analyticTargetRow, renderAnalyticBody} from './analytic-report.js'
import {SECTIONS, median, readResult, reportPath, round, type SectionName, type SectionResult} from './common.js'
import {handoffSection, type HandoffData} from './handoff.js'
import type {OverheadData} from './overhead.js'
import type {ServeData} from './serve.js'
import type {PredictionData, PredictionRow} from './prediction.js'
import type {ProfileInfo} from './profiles.js'
import type {QualityData} from './quality.js'
import type {SolverData} from './solver-section.js'
import type {BackendData} from './backend.js'
import {renderBackendSection} from './backend-report.js'
import {renderZooPredictionSection, zooTargetRows} from './zoo-prediction-report.js'
import type {ZooPredictionData} from './zoo-prediction.js'
import {renderReliability, type ReliabilityLine} from './reliability.js'

const fmt = (x: number | undefined | null, digits = 1): string =>
  x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', {minimumFractionDigits: digits, maximumFractionDigits: digits})
const pct = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : `${x > 0 ? '+' : ''}${fmt(x, 1)} %`)
const usd = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '–' : x >= 1 ? `$${fmt(x, 2)}` : x >= 0.01 ? `$${fmt(x, 3)}` : `$${x.toPrecision(3)}`
const bytes = (n: number): string => (n >= 1048576 ? `${fmt(n / 1048576, 2)} MB` : `${fmt(n / 1024, 0)} KB`)

function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
}

/** More than the bench's own ~1 core of load at the start or the end of the section. */
function busy(r: SectionResult): boolean {
  const m = r.machine
  return Math.max(m.loadAvgStart[0], m.loadAvgEnd?.[0] ?? 0) > 1.5
}

function provenance(r: SectionResult): string {
  const m = r.machine
  return [
    `Command: \`${r.command}\` (${r.quick ? 'quick settings' : 'full settings'}) · started ${r.startedAt} · took ${fmt(r.durationS / 60, 1)} min · raw figures: [bench-results/${r.section}.json](bench-results/${r.section}.json)`,
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${fmt(m.memoryGiB, 1)} GiB, ${m.kernel}, Node ${m.node}` +
      `${m.backend ? `, backend ${m.backend}` : ''}${m.quotaMethod ? `, memory sizes emulated by ${m.quotaMethod}` : ''}` +
      ` · load average ${m.loadAvgStart.join('/')} at the start, ${m.loadAvgEnd?.join('/') ?? '?'} at the end`,
    ...(busy(r) && r.section !== 'quality' && r.section !== 'analytic' && r.section !== 'solver'
      ? [
          `**Warning: the machine was busy** (1-minute load average up to ${fmt(Math.max(m.loadAvgStart[0], m.loadAvgEnd?.[0] ?? 0), 1)} on ${m.cores} cores; the bench itself keeps about one core busy): measured times are inflated by other processes. Rerun on a quiet machine before reading these figures.`,
        ]
      : []),
  ].join('  \n')
}

/** What profilesLine reads of profiles.ts's ProfileInfo, as the section results store it. */
type ProfileLine = Pick<ProfileInfo, 'model' | 'source' | 'seconds' | 'memoryMb' | 'batchSizes' | 'measuredAt' | 'backend' | 'quotaMethod'>

/** Which profiles a section used: measured in this run or read from the bench cache. */
function profilesLine(profiles: unknown): string {
  if (!Array.isArray(profiles) || profiles.length === 0) return ''
  return (
    'Profiles (profileModel): ' +
    (profiles as ProfileLine[])
      .map(
        (p) =>
          `${p.model} ${p.source === 'cache' ? 'from the bench cache, measured' : 'measured in this run'} ${p.measuredAt.replace('T', ' ').slice(0, 16)} (${p.memoryMb.join('/')} MB × batch ${p.batchSizes.join('/')}, ${p.backend}, ${p.quotaMethod}${p.source === 'cache' ? '' : `, ${fmt(p.seconds, 0)} s`})`,
      )
      .join('; ') +
    '.'
  )
}

function notes(r: SectionResult): string {
  return r.notes.length ? r.notes.map((n) => `- ${n}`).join('\n') : ''
}

// ---------------------------------------------------------------------------------------------

function solverSection(r: SectionResult<SolverData> | undefined): string {
  const out = ['## 1. Solver time']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only solver`._'].join('\n\n')
  out.push(provenance(r))
  const d = r.data
  if (!d.available) out.push(`_Not available: ${d.reason}._`)
  else if (d.rows.length === 0) out.push(`_${d.entry} returned no rows._`)
  else {
    const keys = [...new Set(d.rows.flatMap((row) => Object.keys(row)))]
    out.push(
      table(
        keys,
        d.rows.map((row) =>
          keys.map((k) => {
            const v = row[k]
            if (k === 'gapPct' && typeof v === 'number') return `${v.toFixed(3)} %`
            if (typeof v === 'number') return Number.isInteger(v) ? fmt(v, 0) : Math.abs(v) < 0.01 && v !== 0 ? v.toPrecision(3) : fmt(v, 2)
            return v === undefined || v === null ? '–' : typeof v === 'object' ? JSON.stringify(v) : String(v)
          }),
        ),
      ),
    )
  }
  if (d.jobs?.length) {
    const rowsOf = (j: NonNullable<SolverData['jobs']>[number]): string => (j.rows === undefined ? '' : `${j.rows} rows`)
    const deadline = (j: NonNullable<SolverData['jobs']>[number]): string => (j.budgetS === undefined ? '' : `deadline ${fmt(j.budgetS, 0)} s`)
    out.push(
      `Workloads (each in its own process, ${d.budgetS} s for the section): ` +
        d.jobs
          .map((j) => {
            const extra = [rowsOf(j), deadline(j)].filter(Boolean).join(', ')
            const what =
              j.status === 'done'
                ? `${fmt(j.seconds, 0)} s`
                : j.status === 'timed-out'
                  ? `stopped at its deadline after ${fmt(j.seconds, 0)} s${j.rows ? `, ${j.rows} rows kept` : ''}`
                  : `failed (${j.error ?? ''})`
            return `${j.label} ${what}${extra ? ` (${extra})` : ''}`
          })
          .join('; ') +
        '.',
    )
  }
  const limits = [
    d.milpTimeLimitMs ? `MILP ${fmt(d.milpTimeLimitMs / 1000, 0)} s per solve` : '',
    d.fastTimeLimitMs ? `fast path ${fmt(d.fastTimeLimitMs / 1000, 0)} s per solve` : '',
    d.planTimeLimitMs ? `whole search ${fmt(d.planTimeLimitMs / 1000, 0)} s` : '',
  ].filter(Boolean)
  if (limits.length) {
    out.push(
      `Time limits set by the bench: ${limits.join(', ')}; a row that hit one says so in its status (time-limit: the best found and its gap to a proven lower bound; too-large: refused before building, with the reason).`,
    )
  }
  if (r.notes.length) out.push(notes(r))
  return out.join('\n\n')
}

function qualitySection(r: SectionResult<QualityData> | undefined): string {
  const out = ['## 2. Plan quality']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only quality`._'].join('\n\n')
  out.push(provenance(r))
  const d = r.data
  out.push(profilesLine(d.profiles))
  out.push(
    table(
      ['model', 'whole model at 1,769 MB (ms)', 'compute floor per 1M'],
      d.models.map((m) => [m.model, fmt(m.wholeModelMsAt1769, 1), usd(m.floor.usdPerMillion)]),
    ),
  )
  const names = [...new Set(d.cells.flatMap((c) => (c.baselines ?? []).map((b) => b.name)))]
  out.push(
    table(
      ['model', 'SLO p' + d.percentile, 'rate/s', 'amps plan', 'latency (ms)', 'amps per 1M', ...names.map((n) => `${n} ÷ amps`), 'amps ÷ floor', 'plan ms'],
      d.cells.map((c) => {
        if (!c.feasible)
          return [
            c.model,
            `${c.sloMs} ms (${c.sloFactor}×)`,
            c.ratePerSecond,
            `no plan: ${c.error ?? ''}`.slice(0, 80),
            '–',
            '–',
            ...names.map(() => '–'),
            '–',
            fmt(c.planMs, 0),
          ]
        const stages = c.stages!.map((s) => `${s.layers}L@${s.memoryMb}`).join(' + ')
        return [
          c.model,
          `${c.sloMs} ms (${c.sloFactor}×)`,
          c.ratePerSecond,
          `${stages}, ${c.stages![0].arch}, B=${c.batch!.size} T=${fmt(c.batch!.timeoutMs, 0)} ms`,
          fmt(c.predictedLatencyMs, 0),
          usd(c.costPerMillionUsd),
          ...names.map((n) => {
            const b = c.baselines!.find((x) => x.name === n)
            return !b ? '–' : b.feasible ? `${fmt(b.ratio, 2)}× (${usd(b.costPerMillionUsd)})` : 'infeasible'
          }),
          `${fmt(c.floorRatio, 2)}×`,
          fmt(c.planMs, 0),
        ]
      }),
    ),
  )
  out.push(qualityFindings(d))
  out.push(notes(r))
  return out.join('\n\n')
}

function qualityFindings(d: QualityData): string {
  const lines = ['**What the numbers say:**']
  for (const m of d.models) {
    const cells = d.cells.filter((c) => c.model === m.model && c.feasible)
    const singles = cells.map((c) => c.baselines?.find((b) => b.name === 'single-function')).filter((b) => b?.feasible && b.costPerMillionUsd !== undefined)
    if (singles.length === 0) continue
    const best = Math.min(...singles.map((b) => b!.costPerMillionUsd!))
    const worst = Math.max(...singles.map((b) => b!.costPerMillionUsd!))
    const multi = cells.filter((c) => (c.stages?.length ?? 0) > 1).length
    const batched = cells.filter((c) => (c.batch?.size ?? 1) > 1).length
    lines.push(
      `- ${m.model}: the best single function costs ${usd(best)}–${usd(worst)} per 1M, only ${fmt(best / m.floor.usdPerMillion, 2)}–${fmt(worst / m.floor.usdPerMillion, 2)}× the compute floor (${usd(m.floor.usdPerMillion)}), so no plan can be 2× cheaper than it. ` +
        `amps chose more than one stage in ${multi} of ${cells.length} feasible cells and batching in ${batched}.`,
    )
  }
  lines.push(
    "- Why the floor is so close: the wasm backend computes on one thread, so below 1,769 MB a layer's time scales as 1769/m and its GB-s per request (time × memory) is the same at every memory size; above 1,769 MB more memory buys no speed. One function at the smallest memory meeting the SLO is already at the floor, apart from the request fee, the codec and per-invoke overhead and 1-ms rounding. Splitting pays only where a stage can run at a memory its neighbours cannot (a memory floor forced by weights or activations) or where an SLO forces a large memory onto part of the model; batching pays only to the extent a batch of k costs less than k single requests, which on one thread it barely does.",
  )
  return lines.join('\n')
}

function predictionRowsTable(rows: PredictionRow[], predictors: string[]): string {
  const main = predictors.includes('model') ? 'model' : predictors[0]
  return table(
    [
      'model',
      'stages',
      'stage',
      'layers',
      'MB',
      'batch',
      'measured duration (p10–p90)',
      'handler',
      'run',
      'codec',
      'round trip',
      'CPU used',
      'throttled',
      'waited for another process',
      `${main}: predicted (compute + codec & JSON + overhead)`,
      ...predictors.map((p) => `${p}: error`),
    ],
    rows.map((x) => [
      x.model,
      x.stages,
      x.stage,
      `${x.first}..${x.last}`,
      x.memoryMb,
      x.batch,
      x.measured.durationMs === undefined ? '–' : `${fmt(x.measured.durationMs)} (${fmt(x.measured.durationP10Ms, 0)}–${fmt(x.measured.durationP90Ms, 0)})`,
      fmt(x.measured.handlerMs),
      fmt(x.measured.runMs),
      fmt(x.measured.codecMs),
      fmt(x.measured.roundTripMs),
      fmt(x.measured.cpuMs),
      fmt(x.measured.throttledMs),
      fmt(x.measured.contentionMs ?? x.measured.waitMs),
      x.predicted[main]
        ? `${fmt(x.predicted[main].handlerMs)} (${fmt(x.predicted[main].computeMs)} + ${fmt(x.predicted[main].codecMs)} + ${fmt(x.predicted[main].overheadMs, 2)})`
        : '–',
      ...predictors.map((p) => pct(x.predicted[p]?.durationErrPct)),
    ]),
  )
}

function predictionSection(r: SectionResult<PredictionData> | undefined): string {
  const out = ['## 3. Prediction error of stage times (local target under CPU quota)']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only prediction`._'].join('\n\n')
  out.push(provenance(r))
  const d = r.data
  out.push(profilesLine(d.profiles))
  out.push(
    "Measured: each stage's platform **Duration** (the local runtime's REPORT line, as Lambda writes it: event parse + handler + result serialisation, the time Lambda bills), median over the requests. Predictors: `before` = the cost model without this round's corrections (Σ of the layers timed one by one + codec + fixed cost); `fused` = + the fused-predict factor; `model` = + the runtime's JSON parse/stringify of inline tensors: the planner as it is.",
  )
  out.push(
    table(
      [
        'predictor',
        'rows',
        'median abs error (duration)',
        'worst',
        'median signed',
        'within ±10 %',
        'median abs error vs handler',
        'median abs error vs round trip',
        ...d.memories.map((m) => `median signed at ${m} MB`),
      ],
      d.summaries.map((s) => [
        s.predictor,
        s.rows,
        `${fmt(s.medianAbsDurationErrPct)} %`,
        `${fmt(s.worstAbsDurationErrPct)} %`,
        pct(s.medianSignedDurationErrPct),
        `${s.within10Pct} of ${s.rows}`,
        `${fmt(s.medianAbsHandlerErrPct)} %`,
        `${fmt(s.medianAbsRoundTripErrPct)} %`,
        ...d.memories.map((m) => pct(s.byMemory.find((b) => b.memoryMb === m)?.medianSignedDurationErrPct)),
      ]),
    ),
  )
  if (d.corrections?.length) {
    out.push(
      "The corrections, as each profile measured them (src/profile: `runtime.fusedFactor` = median over the profile's points of whole-model CPU ÷ Σ layers; `runtime.json{Parse,Stringify}MsPerMb` = CPU ms per MB of tensor at one vCPU): " +
        d.corrections
          .map(
            (c) =>
              `${c.model}: fused factor ${fmt(c.fusedFactor, 3)}, JSON parse ${fmt(c.jsonParseMsPerMb, 2)} ms/MB, stringify ${fmt(c.jsonStringifyMsPerMb, 2)} ms/MB`,
          )
          .join('; ') +
        '.',
    )
  }
  out.push(
    'All times in ms, medians over the measured requests. "CPU used" is the CPU time of every thread of the stage process during one request, "throttled" the time its CFS quota held it back (cgroup cpu.stat), "waited for another process" the time its main thread was runnable but neither running nor throttled (schedstat run delay − throttled time: a busy machine shows here; ~0 on a quiet one). Error columns are against the measured duration.',
  )
  out.push(
    predictionRowsTable(
      d.rows,
      d.summaries.map((s) => s.predictor),
    ),
  )
  if (d.spread) {
    out.push(
      `Spread of a stage's time from one request to the next: measured handler (p90 − p10) / median = ${fmt(d.spread.measuredRelativeWidth * 100)} % (median over the rows); ` +
        `the simulator's compute spread for the same stages (src/simulate computeSpread: Σ of the layers' profiled p10 and p90) = ${fmt(d.spread.simulatorRelativeWidth * 100)} %. ` +
        (d.spread.measuredMaxOverMedian !== undefined
          ? `Slowest request ÷ median: measured ${fmt(d.spread.measuredMaxOverMedian, 2)} (over ${fmt(median(d.rows.map((r) => r.measured.reps)), 0)} requests per row), the simulator's max (Σ of the layers' slowest samples, capped at median + 3·(p90 − median): src/cost/spread.ts STAGE_TAIL_CAP) ${fmt(d.spread.simulatorMaxOverMedian, 2)}.`
          : ''),
    )
  }
  out.push(predictionFindings(d))
  if (d.calibration.length) {
    out.push(
      "Profile self-check (profile.calibration): Σ layer medians vs the whole model run under the same quota (wall time, and CPU time converted like the layers').",
    )
    out.push(
      table(
        ['model', 'MB', 'batch', 'Σ layers (ms)', 'whole model, wall (ms)', 'whole model, CPU (ms)', 'CPU ÷ Σ layers'],
        d.calibration.map((c) => [
          c.model,
          c.memoryMb,
          c.batch,
          fmt(c.sumLayersMs),
          fmt(c.wholeModelMs),
          fmt(c.wholeModelCpuMs),
          c.wholeModelCpuMs ? fmt(c.wholeModelCpuMs / c.sumLayersMs, 3) : '–',
        ]),
      ),
    )
  }
  out.push(notes(r))
  return out.join('\n\n')
}

/** Where the prediction error comes from, computed from the rows (see the report's text). */
function predictionFindings(d: PredictionData): string {
  const rows = d.rows
  const med = (xs: number[]) => {
    const s = xs.filter(Number.isFinite).sort((a, b) => a - b)
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
  }
  const quota = rows.filter((r) => r.memoryMb < 1769)
  const waitShare = med(rows.map((r) => (r.measured.contentionMs ?? r.measured.waitMs) / r.measured.roundTripMs)) * 100
  const fluid = med(quota.map((r) => r.measured.cpuMs / (r.memoryMb / 1769) / r.measured.roundTripMs))
  const runErr = med(rows.map((r) => r.predicted.model?.computeErrPct ?? NaN))
  const runErrBefore = med(rows.map((r) => r.predicted.before?.computeErrPct ?? NaN))
  // the model's codecMs includes the runtime's JSON: compare with the codec inside the handler + the time outside it
  const codecErr = med(
    rows.map(
      (r) =>
        (((r.predicted.model?.codecMs ?? NaN) - (r.measured.codecMs + r.measured.durationMs - r.measured.handlerMs)) /
          (r.measured.codecMs + r.measured.durationMs - r.measured.handlerMs)) *
        100,
    ),
  )
  const outside = med(rows.map((r) => (r.measured.durationMs - r.measured.handlerMs) / r.measured.durationMs)) * 100
  const beyond = med(rows.map((r) => (r.measured.roundTripMs - r.measured.durationMs) / r.measured.roundTripMs)) * 100
  return [
    '**What the numbers say** (medians over the rows above):',
    `- Other processes: the stage's main thread waited ${fmt(waitShare)} % of the round trip for a CPU held by another process (or its own helper threads). On a quiet machine this is ~0; anything above a few % inflates every measured time while the profile (CPU time) is immune, so predictions look too low.`,
    `- The quota behaves as a fluid share over a whole request: below 1,769 MB, CPU used ÷ (m/1769) = ${fmt(fluid, 2)} × the round trip. So what the stage process burns outside the model (JSON, HTTP, codec, GC) costs wall time at the same 1/share rate as the layers.`,
    `- Compute: the model's stage compute (Σ layers × fused factor) is ${pct(runErr)} off the stage's measured model.predict + read-back (run ms; negative = predicted too low); Σ of the layers alone was ${pct(runErrBefore)}.`,
    `- Tensors in and out (the handler's decode + encode, and the runtime's JSON parse + stringify around it): predicted ${pct(codecErr)} vs measured (codec + duration − handler).`,
    `- Around the handler: ${fmt(outside)} % of the measured duration is outside handle() (the runtime's JSON parse of the event and stringify of the result); the rest of the round trip (${fmt(beyond)} %) is HTTP and the coordinator's side, which on AWS is the unbilled Invoke round trip.`,
  ].join('\n')
}

function analyticSection(r: SectionResult<AnalyticData> | undefined): string {
  const out = ['## 4. Analytic vs simulated']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only analytic`._'].join('\n\n')
  out.push(provenance(r))
  out.push(profilesLine(r.data.profiles))
  out.push(...renderAnalyticBody(r.data, table))
  out.push(notes(r))
  return out.join('\n\n')
}

function overheadSection(r: SectionResult<OverheadData> | undefined): string {
  const out = ['## 5. Pipeline overhead']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only overhead`._'].join('\n\n')
  out.push(provenance(r))
  const d = r.data
  for (const m of d.models) {
    out.push(`### ${m.model} (${m.layers} layers), every stage at ${m.memoryMb} MB, batch ${m.batch}`)
    out.push(
      `In one process (${m.inProcess.backend}, no quota, no HTTP): ${fmt(m.inProcess.medianMs)} ms median (p10 ${fmt(m.inProcess.p10Ms)}, p90 ${fmt(m.inProcess.p90Ms)}, ${m.inProcess.reps} runs).`,
    )
    out.push(
      table(
        [
          'stages',
          'cuts after (bytes/sample → on the wire)',
          'end to end median (p10–p90)',
          'Σ run',
          'Σ codec',
          'Σ HTTP+JSON',
          'coordinator',
          'per cut',
          'of which compute / codec / HTTP+JSON / coordinator',
        ],
        m.configs.map((c) => {
          const pc = m.perCut.find((p) => p.stages === c.stages)
          return [
            c.stages,
            c.cuts.length ? c.cuts.map((k) => `${k.layer} (${bytes(k.bytesPerSample)} → ${bytes(k.wireBytes)})`).join(', ') : '–',
            `${fmt(c.endToEnd.medianMs)} (${fmt(c.endToEnd.p10Ms, 0)}–${fmt(c.endToEnd.p90Ms, 0)})`,
            fmt(c.sumRunMs),
            fmt(c.sumCodecMs),
            fmt(c.sumTransportMs),
            fmt(c.clientMs),
            pc ? `${fmt(pc.perCutMs)} ms` : '–',
            pc ? `${fmt(pc.computeMs)} / ${fmt(pc.codecMs)} / ${fmt(pc.transportMs)} / ${fmt(pc.clientMs)}` : '–',
          ]
        }),
      ),
    )
  }
  out.push(notes(r))
  return out.join('\n\n')
}

function reliabilitySection(r: SectionResult<{lines: ReliabilityLine[]}> | undefined): string {
  if (!r) return '## 7. Reliability\n\nSection not run (`npm run bench -- --only reliability`).'
  return [
    '## 7. Reliability',
    `Command: \`${r.command}\` · started ${r.startedAt} · took ${round(r.durationS / 60, 1)} min · raw figures: [bench-results/reliability.json](bench-results/reliability.json)`,
    renderReliability(r.data.lines),
    r.notes.map((n) => `- ${n}`).join('\n'),
  ].join('\n\n')
}

function serveSection(r: SectionResult<ServeData> | undefined): string {
  const out = ['## 6. Serving (amps serve + amps load)']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only serve`._'].join('\n\n')
  out.push(provenance(r))
  const d = r.data
  const pct = (x: number) => (Number.isFinite(x) ? `${fmt(100 * x, 2)} %` : '–')
  const usd = (x: number) => (Number.isFinite(x) ? `$${x.toFixed(4)}` : '–')
  out.push(`### Measured vs predicted (Poisson, ${d.durationS} s each; targets: p99 within ±15 %, misses ≤ 1 %, cost within ±10 %)`)
  out.push(
    table(
      [
        'model',
        'req/s (achieved)',
        'plan: stages @ MB, B / T',
        'CPU demand',
        'SLO',
        'p99 measured / predicted (error)',
        'p50',
        'SLO misses',
        'cost per 1M measured / plan (error)',
        'mean batch',
        'status',
      ],
      d.runs.map((x) => [
        x.model,
        `${x.rate} (${fmt(x.achievedRate)})`,
        `${x.stages.map((s) => s.memoryMb).join(' / ')} MB, ${x.batch.size} / ${fmt(x.batch.timeoutMs, 0)} ms`,
        `${fmt(x.cpuDemandCores, 2)} cores`,
        `p${x.percentile} ${x.sloMs} ms`,
        `${fmt(x.p99Ms)} / ${fmt(x.predictedP99Ms)} ms (${x.p99ErrPct > 0 ? '+' : ''}${fmt(x.p99ErrPct)} %)`,
        `${fmt(x.p50Ms)} ms`,
        pct(x.sloMissRate),
        `${usd(x.measuredCostPerMillionUsd)} / ${usd(x.predictedCostPerMillionUsd)} (${x.costErrPct > 0 ? '+' : ''}${fmt(x.costErrPct)} %)`,
        fmt(x.meanBatchSize, 2),
        Object.entries(x.byStatus)
          .map(([k, v]) => `${k}×${v}`)
          .join(' '),
      ]),
    ),
  )
  out.push(
    `### Rate step 5 → 50 → 5 req/s on tiny-cnn, ${d.step.phaseS} s per phase, SLO ${d.step.sloMs} ms (plan for 5 req/s: B ${d.step.plan.size}, T ${fmt(d.step.plan.timeoutMs, 0)} ms); target: adaptive ≤ 1 % misses in every phase and never dearer than fixed`,
  )
  out.push(
    table(
      ['mode', ...(d.step.modes[0]?.phases.map((p, i) => `phase ${i + 1} (${p.rate} req/s): misses, p99, cost per 1M, B/T at end`) ?? [])],
      d.step.modes.map((m) => [
        m.mode,
        ...m.phases.map(
          (p) =>
            `${pct(p.sloMissRate)}, ${fmt(p.p99Ms)} ms, ${usd(p.costPerMillionUsd)}, ${p.policy ? `${p.policy.maxBatch}/${fmt(p.policy.timeoutMs, 0)} ms` : '–'}${p.changes !== undefined ? ` (${p.changes} change${p.changes === 1 ? '' : 's'}${p.budgetMs !== undefined ? `, budget ${fmt(p.budgetMs)} ms` : ''})` : ''}`,
        ),
      ]),
    ),
  )
  const o = d.overhead
  out.push(`### Gateway overhead at ${o.rate} req/s, trivial stage (tinyMlp, no batching), ${o.durationS} s; target ≤ 2 ms p99 added`)
  out.push(
    table(
      ['path', 'requests', 'p50', 'p99'],
      [
        ['straight to the chain (coordinator)', o.direct.sent, `${fmt(o.direct.p50Ms, 2)} ms`, `${fmt(o.direct.p99Ms, 2)} ms`],
        ['through amps serve (HTTP + JSON + batcher)', o.gateway.sent, `${fmt(o.gateway.p50Ms, 2)} ms`, `${fmt(o.gateway.p99Ms, 2)} ms`],
        ['added by the gateway', '', `${fmt(o.addedP50Ms, 2)} ms`, `${fmt(o.addedP99Ms, 2)} ms`],
      ],
    ),
  )
  out.push(notes(r))
  return out.join('\n\n')
}

// ---------------------------------------------------------------------------------------------

function targets(
  p?: SectionResult<PredictionData>,
  a?: SectionResult<AnalyticData>,
  q?: SectionResult<QualityData>,
  z?: SectionResult<ZooPredictionData>,
): string {
  const rows: string[][] = []
  if (p) {
    const s = p.data.summaries.find((x) => x.predictor === 'model') ?? p.data.summaries[0]
    const ok = s.medianAbsDurationErrPct <= 10
    const others = p.data.summaries
      .filter((x) => x !== s)
      .map((x) => `${x.predictor}: ${fmt(x.medianAbsDurationErrPct)} % (worst ${fmt(x.worstAbsDurationErrPct)} %)`)
    rows.push([
      'Predicted stage ms within ±10 % of measured (median |error|, platform Duration)',
      `${fmt(s.medianAbsDurationErrPct)} % median, worst ${fmt(s.worstAbsDurationErrPct)} %, ${s.within10Pct} of ${s.rows} stages within ±10 % (the cost model as it is)${others.length ? `; ${others.join('; ')}` : ''}`,
      ok ? (s.within10Pct === s.rows ? '**met**' : '**met in the median, not for every stage**') : '**not met**',
    ])
  } else rows.push(['Predicted stage ms within ±10 % of measured (median)', 'section not run', '–'])
  rows.push(...zooTargetRows(z))
  rows.push(analyticTargetRow(a?.data))
  if (q) {
    const t = q.data.target
    rows.push([
      'Plan cost ≤ 0.5 × the best single function at ≥ 10 req/s',
      `${t.met} of ${t.cells} grid cells; smallest single-function ÷ amps ratio ${t.worstRatio === null ? '–' : `${fmt(t.worstRatio, 2)}×`}`,
      t.cells > 0 && t.met === t.cells ? '**met**' : '**not met**',
    ])
  } else rows.push(['Plan cost ≤ 0.5 × the best single function at ≥ 10 req/s', 'section not run', '–'])
  return ['## Targets', table(['target', 'result', 'verdict'], rows)].join('\n\n')
}

export function renderReport(): string {
  const res = Object.fromEntries(SECTIONS.map((s) => [s, readResult(s)])) as Record<SectionName, SectionResult | undefined>
  const dates = Object.values(res)
    .filter(Boolean)
    .map((r) => r!.startedAt)
    .sort()
  const any = Object.values(res).find(Boolean)
  const head = [
    '# amps benchmarks',
    '_Generated by `npm run bench` (test/bench/run.ts) from the raw results in [bench-results/](bench-results/); do not edit by hand. ' +
      'Re-render without measuring: `npm run bench -- --report-only`. Run one section: `npm run bench -- --only <solver|quality|prediction|analytic|overhead|handoff|backend|serve|zoo-prediction>`; ' +
      'a first look in a few minutes: `npm run bench -- --quick`; keep the profiles measured by the last run: `--reuse-profiles`._',
    dates.length
      ? `Results from ${dates[0].slice(0, 10)}${dates.at(-1)!.slice(0, 10) !== dates[0].slice(0, 10) ? ` to ${dates.at(-1)!.slice(0, 10)}` : ''}.`
      : 'No results yet.',
  ]
  if (any) {
    const m = any.machine
    head.push(
      table(
        ['section', 'command', 'date (UTC)', 'took', 'machine', 'load avg start → end'],
        SECTIONS.filter((s) => res[s]).map((s) => {
          const r = res[s]!
          return [
            r.title,
            `\`${r.command}\``,
            r.startedAt.replace('T', ' ').slice(0, 16),
            `${fmt(r.durationS / 60, 1)} min`,
            `${r.machine.cpuModel}, ${r.machine.cores} cores, Node ${r.machine.node}`,
            `${r.machine.loadAvgStart[0]} → ${r.machine.loadAvgEnd?.[0] ?? '?'}`,
          ]
        }),
      ),
    )
    head.push(
      `Backend of sections 1–3 and 5: tfjs ${m.backend ?? 'wasm'} (single-threaded SIMD) in the profiler and in every stage (they were measured before ONNX Runtime became the default; the Backends section compares the two); section 4 plans on profiles measured on ONNX Runtime, the default. Lambda memory sizes are emulated with cgroup v1 CPU quotas of m/1769 of a core ` +
        `(one CFS period for the profiler and the local stages: ${cfsSettings(1).periodUs / 1000} ms, longer only where the quota would fall under 1 ms) and memory limits of m MiB on the local target.`,
    )
  }
  const body = [
    ...head,
    targets(
      res.prediction as SectionResult<PredictionData>,
      res.analytic as SectionResult<AnalyticData>,
      res.quality as SectionResult<QualityData>,
      res['zoo-prediction'] as SectionResult<ZooPredictionData>,
    ),
    solverSection(res.solver as SectionResult<SolverData>),
    qualitySection(res.quality as SectionResult<QualityData>),
    predictionSection(res.prediction as SectionResult<PredictionData>),
    analyticSection(res.analytic as SectionResult<AnalyticData>),
    overheadSection(res.overhead as SectionResult<OverheadData>),
    handoffSection(res.handoff as SectionResult<HandoffData>),
    renderBackendSection(res.backend?.data as BackendData | undefined, table),
    serveSection(res.serve as SectionResult<ServeData>),
    reliabilitySection(res.reliability as SectionResult<{lines: ReliabilityLine[]}> | undefined),
    renderZooPredictionSection(res['zoo-prediction'] as SectionResult<ZooPredictionData> | undefined, table),
  ]
  return body.join('\n\n') + '\n'
}

export function writeReport(): string {
  writeFileSync(reportPath, renderReport())
  return reportPath
}

export {round}
