/**
 * Section 3, prediction error: for each stage of MobileNetV2 and InceptionV3 cut into 2 and 3
 * stages, deployed on the local target under the CPU quota of 512, 1024 and 1769 MB, the planner's
 * predicted stage ms (src/cost/model.ts CostModel.handlerMs for the stage's layers at its memory
 * and batch, from a real profile taken with profileModel's default settings) against the stage's
 * Duration as the platform reports it (the local runtime's REPORT line: event parse + handler +
 * result serialisation, what Lambda bills), its own handler ms, and the coordinator's round trip.
 *
 * Besides wall times it records, per request and stage, the CPU time the stage process used and
 * the time the kernel throttled it (procstat.ts), so a gap between prediction and measurement can
 * be pinned on compute, on the quota, or on what surrounds the handler.
 */
import {loadModel} from '../../src/model/index.js'
import type {Profile} from '../../src/profile/types.js'
import {CostModel} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {computeSpread} from '../../src/cost/spread.js'
import {nsfwjsModelDir, type NsfwjsModel} from '../helpers/nsfwjs.js'
import {errorPct, log, median, quantile, round, type BenchOptions} from './common.js'
import {balancedCuts, benchPlan, invokeSeries, type InvokeSeries, type LocalDeployments} from './local.js'
import {PREDICTORS, scoreAll, type PredictorName, type StagePrediction} from './predictors.js'
import {benchProfile, profileInfos} from './profiles.js'

export interface MeasuredStage {
  reps: number
  /** median platform Duration (REPORT line): what Lambda bills, before rounding up (ms) */
  durationMs: number
  durationP10Ms: number
  durationP90Ms: number
  handlerMs: number
  handlerP10Ms: number
  handlerP90Ms: number
  handlerMaxMs: number
  runMs: number
  codecMs: number
  roundTripMs: number
  /** CPU the stage process used during one request (all threads, ms) */
  cpuMs: number
  /** time the stage's CPU group was throttled during one request (ms) */
  throttledMs?: number
  /** time the stage's main thread was runnable but not running (ms): throttled, or another process on the CPU */
  waitMs: number
  /** waitMs − throttledMs (≥ 0): the part another process (or the stage's own helper threads) held the CPU */
  contentionMs: number
}

/** One deployed stage measured at one memory and batch size (this section's rows and the zoo's). */
export interface MeasuredStageRow {
  stage: number
  first: number
  last: number
  layers: number
  memoryMb: number
  batch: number
  measured: MeasuredStage
}

export interface PredictionRow extends MeasuredStageRow {
  model: NsfwjsModel
  stages: number
  /**
   * the simulator's compute spread for the stage (src/simulate computeSpread: Σ of the layers'
   * profiled p10/median/p90), to set next to the measured handler spread
   */
  simulatorSpread: {p10Ms: number; medianMs: number; p90Ms: number; maxMs: number}
  /** per predictor: its prediction and signed errors (% of the measurement) */
  predicted: Record<string, StagePrediction & {durationErrPct: number; handlerErrPct: number; computeErrPct: number; roundTripErrPct: number}>
}

export interface SpreadSummary {
  /** median over rows of (p90 − p10) / median of the measured handler time */
  measuredRelativeWidth: number
  /** the same for the simulator's compute spread */
  simulatorRelativeWidth: number
  /** median over rows of max / median: measured handler (over the requests of the row) and the simulator's spread */
  measuredMaxOverMedian: number
  simulatorMaxOverMedian: number
}

export interface ErrorSummary {
  predictor: string
  rows: number
  /** against the platform Duration (the target's measure) */
  medianAbsDurationErrPct: number
  worstAbsDurationErrPct: number
  medianSignedDurationErrPct: number
  within10Pct: number
  medianAbsHandlerErrPct: number
  worstAbsHandlerErrPct: number
  medianAbsRoundTripErrPct: number
  worstAbsRoundTripErrPct: number
  medianSignedHandlerErrPct: number
  byMemory: {memoryMb: number; medianAbsHandlerErrPct: number; medianSignedHandlerErrPct: number; medianSignedDurationErrPct: number}[]
  byModel: {model: string; medianAbsHandlerErrPct: number; medianSignedHandlerErrPct: number}[]
}

export interface PredictionData {
  memories: number[]
  rows: PredictionRow[]
  summaries: ErrorSummary[]
  profiles: unknown[]
  /** Σ layer medians vs the whole model in each profile (profile.calibration) */
  calibration: {model: string; memoryMb: number; batch: number; sumLayersMs: number; wholeModelMs: number; wholeModelCpuMs?: number; ratio: number}[]
  spread: SpreadSummary
  /** per model: the profile's fused factor and runtime JSON ms/MB (what `fused` and `model` add) */
  corrections: {model: string; fusedFactor?: number; jsonParseMsPerMb?: number; jsonStringifyMsPerMb?: number}[]
}

/** Medians (and spread) over a series' requests of stage `i`'s times and CPU samples. */
export function measuredStage(series: InvokeSeries, i: number): MeasuredStage {
  const rs = series.results
  const handler = rs.map((r) => r.stages[i].handlerMs)
  const duration = rs.map((r) => r.stages[i].durationMs ?? NaN)
  const throttled = series.cpu.map((c) => c[i].throttledMs).filter((x): x is number => x !== undefined)
  return {
    reps: rs.length,
    durationMs: round(median(duration)),
    durationP10Ms: round(quantile(duration, 0.1)),
    durationP90Ms: round(quantile(duration, 0.9)),
    handlerMs: round(median(handler)),
    handlerP10Ms: round(quantile(handler, 0.1)),
    handlerP90Ms: round(quantile(handler, 0.9)),
    handlerMaxMs: round(Math.max(...handler)),
    runMs: round(median(rs.map((r) => r.stages[i].runMs))),
    codecMs: round(median(rs.map((r) => r.stages[i].decodeMs + r.stages[i].encodeMs))),
    roundTripMs: round(median(rs.map((r) => r.stages[i].measuredMs))),
    cpuMs: round(median(series.cpu.map((c) => c[i].cpuMs))),
    waitMs: round(median(series.cpu.map((c) => c[i].waitMs))),
    ...(throttled.length ? {throttledMs: round(median(throttled))} : {}),
    contentionMs: round(median(series.cpu.map((c) => Math.max(0, c[i].waitMs - (c[i].throttledMs ?? 0))))),
  }
}

function summarize(rows: PredictionRow[], predictor: string): ErrorSummary {
  const abs = (f: (r: PredictionRow) => number) => rows.map((r) => Math.abs(f(r)))
  const h = (r: PredictionRow) => r.predicted[predictor].handlerErrPct
  const d = (r: PredictionRow) => r.predicted[predictor].durationErrPct
  const rt = (r: PredictionRow) => r.predicted[predictor].roundTripErrPct
  const group = <K>(key: (r: PredictionRow) => K) => {
    const m = new Map<K, PredictionRow[]>()
    for (const r of rows) m.set(key(r), [...(m.get(key(r)) ?? []), r])
    return [...m.entries()]
  }
  return {
    predictor,
    rows: rows.length,
    medianAbsDurationErrPct: round(median(abs(d)), 1),
    worstAbsDurationErrPct: round(Math.max(...abs(d)), 1),
    medianSignedDurationErrPct: round(median(rows.map(d)), 1),
    within10Pct: rows.filter((r) => Math.abs(d(r)) <= 10).length,
    medianAbsHandlerErrPct: round(median(abs(h)), 1),
    worstAbsHandlerErrPct: round(Math.max(...abs(h)), 1),
    medianAbsRoundTripErrPct: round(median(abs(rt)), 1),
    worstAbsRoundTripErrPct: round(Math.max(...abs(rt)), 1),
    medianSignedHandlerErrPct: round(median(rows.map(h)), 1),
    byMemory: group((r) => r.memoryMb).map(([memoryMb, rs]) => ({
      memoryMb,
      medianAbsHandlerErrPct: round(median(rs.map((r) => Math.abs(h(r)))), 1),
      medianSignedHandlerErrPct: round(median(rs.map(h)), 1),
      medianSignedDurationErrPct: round(median(rs.map(d)), 1),
    })),
    byModel: group((r) => r.model).map(([model, rs]) => ({
      model,
      medianAbsHandlerErrPct: round(median(rs.map((r) => Math.abs(h(r)))), 1),
      medianSignedHandlerErrPct: round(median(rs.map(h)), 1),
    })),
  }
}

export async function runPrediction(opts: BenchOptions, deployments: LocalDeployments): Promise<{data: PredictionData; notes: string[]}> {
  const memories = [512, 1024, 1769]
  const models: {name: NsfwjsModel; batches: number[]}[] = [
    {name: 'mobilenet_v2', batches: opts.quick ? [1] : [1, 4]},
    {name: 'inception_v3', batches: [1]},
  ]
  const corrections: PredictionData['corrections'] = []
  const rows: PredictionRow[] = []
  const calibration: PredictionData['calibration'] = []
  for (const {name, batches} of models) {
    const modelDir = nsfwjsModelDir(name)
    const profile: Profile = await benchProfile(name, opts.quick)
    for (const c of profile.calibration ?? []) calibration.push({model: name, ...c})
    const rt = profile.runtime
    corrections.push({model: name, fusedFactor: rt.fusedFactor, jsonParseMsPerMb: rt.jsonParseMsPerMb, jsonStringifyMsPerMb: rt.jsonStringifyMsPerMb})
    log(
      `prediction: ${name} profile: fused factor ${rt.fusedFactor ?? '–'}, JSON ${rt.jsonParseMsPerMb ?? '–'} ms/MB parse, ${rt.jsonStringifyMsPerMb ?? '–'} ms/MB stringify`,
    )
    const model = await loadModel(modelDir)
    const heavy = name === 'inception_v3'
    for (const n of [2, 3]) {
      const cuts = balancedCuts(model.graph, n)
      for (const memoryMb of memories) {
        const maxBatch = Math.max(...batches)
        const plan = benchPlan(model, cuts, {
          memoryMb,
          batch: maxBatch,
          predictMs: (f, l) => PREDICTORS.model(profile, {first: f, last: l}, memoryMb, maxBatch).handlerMs,
        })
        log(`prediction: ${name} in ${n} stages at ${memoryMb} MB`)
        await deployments.with(plan, modelDir, `prediction-${name}-${n}-${memoryMb}`, async (d) => {
          for (const batch of batches) {
            // about 10 s of requests per deployment and batch at most (quick: 5 s); at least 5 (quick: 3)
            const series = await invokeSeries(d, {
              batch,
              // a warm Lambda instance serves many requests: measure after the first ones (a fresh
              // stage process settles over its first ~150 requests, 20–30 % lower than its first
              // 20: `node dist-test/test/bench/warmup.js`)
              warmup: 150,
              warmupBudgetMs: opts.quick ? 3_000 : 15_000,
              reps: opts.quick ? 5 : heavy ? 10 : 20,
              minReps: opts.quick ? 3 : 5,
              budgetMs: opts.quick ? 5_000 : 10_000,
            })
            const rs = series.results
            plan.stages.forEach((s, i) => {
              const range = {first: s.layers.firstIndex, last: s.layers.lastIndex}
              if (rs.some((r) => !Number.isFinite(r.stages[i].durationMs ?? NaN)))
                throw new Error(`stage ${i + 1} of ${name} reported no Duration (REPORT line)`)
              const measured = measuredStage(series, i)
              const scored = scoreAll(profile, range, memoryMb, batch, measured)
              const predicted: PredictionRow['predicted'] = {}
              for (const [pname, p] of Object.entries(scored)) {
                predicted[pname] = {
                  ...p,
                  handlerErrPct: round(errorPct(p.handlerMs, measured.handlerMs), 1),
                  roundTripErrPct: round(errorPct(p.handlerMs, measured.roundTripMs), 1),
                }
              }
              const cpuEnv = new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE}).env
              const sp = computeSpread(profile.layers.slice(range.first, range.last + 1), memoryMb, batch, cpuEnv)
              const simulatorSpread = {p10Ms: round(sp[1]), medianMs: round(sp[2]), p90Ms: round(sp[3]), maxMs: round(sp[4])}
              rows.push({
                model: name,
                stages: n,
                stage: i + 1,
                first: range.first,
                last: range.last,
                layers: s.layers.count,
                memoryMb,
                batch,
                measured,
                simulatorSpread,
                predicted,
              })
            })
            const last = rows.slice(-plan.stages.length)
            log(
              `  batch ${batch}: ` +
                last
                  .map(
                    (r) =>
                      `stage ${r.stage} measured ${r.measured.durationMs} ms, predicted ${round(r.predicted.model.handlerMs)} ms (${r.predicted.model.durationErrPct > 0 ? '+' : ''}${r.predicted.model.durationErrPct} %; before ${r.predicted.before.durationErrPct > 0 ? '+' : ''}${r.predicted.before.durationErrPct} %)`,
                  )
                  .join('; '),
            )
          }
        })
      }
    }
  }
  const summaries = (Object.keys(PREDICTORS) as PredictorName[]).map((p) => summarize(rows, p))
  const spread: SpreadSummary = {
    measuredRelativeWidth: round(median(rows.map((r) => (r.measured.handlerP90Ms - r.measured.handlerP10Ms) / r.measured.handlerMs)), 3),
    simulatorRelativeWidth: round(median(rows.map((r) => (r.simulatorSpread.p90Ms - r.simulatorSpread.p10Ms) / r.simulatorSpread.medianMs)), 3),
    measuredMaxOverMedian: round(median(rows.map((r) => r.measured.handlerMaxMs / r.measured.handlerMs)), 3),
    simulatorMaxOverMedian: round(median(rows.map((r) => r.simulatorSpread.maxMs / r.simulatorSpread.medianMs)), 3),
  }
  const notes = [
    "Predicted = CostModel.handlerMs (src/cost/model.ts): Σ layer ms × the profile's fusedFactor at the memory and batch + codec (codecMsPerMb × MB in and out) + the runtime's JSON parse/stringify of inline tensors (json*MsPerMb × MB) + the profile's invokeOverheadMs; no S3 hand-off here (every tensor is inline). `before` and `fused` are the same model with the corrections taken out of the profile, `cfs` the same with the local target's CFS period (work within one period's quota runs at full speed) (test/bench/predictors.ts).",
    "Measured duration = the platform Duration of each invocation (the local runtime's REPORT line, like Lambda's: from the event as received, through JSON.parse, the handler and JSON.stringify of the result: what Lambda bills before rounding up); handler = the stage's own metrics.handlerMs (decode + model.predict + read back + encode); round trip = the coordinator's wall time around InvokeCommand. Medians over the requests after up to 150 warm-up requests (at most 15 s of them, at least 3): a fresh stage process settles over its first ~150 requests (`node dist-test/test/bench/warmup.js`).",
    'Error % = (predicted − measured) / measured × 100; |error| statistics over every (model, stages, stage, memory, batch) row.',
    "Cuts split the model into parts of about equal MACs, at the valid cut carrying the fewest bytes within ±15 % of each MAC quantile. Every stage of a deployment has the same memory size; the local target applies m/1769 of a core as a CFS quota (the profiler's period) and m MiB as a memory limit.",
  ]
  return {data: {memories, rows, summaries, spread, profiles: [...profileInfos.values()], calibration, corrections}, notes}
}
