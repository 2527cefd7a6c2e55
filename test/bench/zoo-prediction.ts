/**
 * Section "zoo-prediction" (issue 11 "How it is checked", issue 12 "prediction error of ORT stage
 * times beside wasm"): the prediction section's method over models amps has never been tuned on —
 * the generated Keras-application zoo (test/zoo/apps.ts: ResNet50, Xception, DenseNet121,
 * EfficientNetB0, VGG16), at a reduced input resolution (128×128; VGG16 32×32, 151 MB, so its fully-connected stage fits a 512 MB function) (the generator's `size`; layer and
 * parameter counts stay Keras's, except VGG16's fc1, which shrinks with the input) — on the
 * default backend (onnx) and beside it wasm.
 *
 * Per model and backend: a profile (profileModel, that backend, at the section's memories and
 * batch sizes 1 and B), the model cut in 2 stages of about equal MACs (local.ts balancedCuts),
 * deployed on the local target (CPU quota m/1769 of a core, m MiB memory limit, the backend's
 * stage runtime) at each memory size; per stage and batch size, the median platform Duration over
 * ≥ 50 requests after warm-up against each predictor's stage ms. Also, per row, the measured parts
 * (compute = the handler's model run, codec, the runtime's JSON around the handler) against the
 * predicted ones, to say where a gap comes from.
 *
 * Before the zoo: the CFS-period check (cfs-period.ts: busy work of known CPU under the local
 * target's quota at 128/256/512 MB) and a short stage (ResNet50's classifier head alone) at
 * 128/256 MB measured against the fluid and the period-aware prediction.
 *
 *   npm run bench -- --only zoo-prediction [--quick]
 *   AMPS_ZOO_ARCHS=vgg16,xception AMPS_ZOO_BACKENDS=onnx npm run bench -- --only zoo-prediction --quick
 */
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {cpuQuotaFor} from '../../deploy/targets/local/cgroup.js'
import {loadModel} from '../../src/model/index.js'
import {applyBackend} from '../../src/plan/backend.js'
import {profileModel} from '../../src/profile/index.js'
import type {StageBackend} from '../../src/stage/spec.js'
import {buildZooModel, KERAS_FACTS, type ZooName} from '../zoo/apps.js'
import {measureCfsPeriod, type CfsRow} from './cfs-period.js'
import {benchDir, errorPct, log, median, round, type BenchOptions} from './common.js'
import {balancedCuts, benchPlan, invokeSeries, type LocalDeployments} from './local.js'
import {measuredStage, type MeasuredStageRow} from './prediction.js'
import {PREDICTORS as ZOO_PREDICTORS, scoreAll, useThrottleTable, type ScoredPrediction} from './predictors.js'
import {localThrottle, THROTTLE_GAP_MS, type ThrottleTable} from '../../deploy/targets/local/throttle.js'

const ZOO_DIR = join(benchDir, 'zoo')

export type ZooPrediction = ScoredPrediction

export interface ZooRow extends MeasuredStageRow {
  arch: ZooName
  size: number
  backend: StageBackend
  predicted: Record<string, ZooPrediction>
}

export interface ZooSummary {
  backend: StageBackend
  predictor: string
  rows: number
  archs: number
  medianAbsErrPct: number
  worstAbsErrPct: number
  medianSignedErrPct: number
  within10Pct: number
  /** median signed error of the compute part alone (Σ layers × fusedFactor vs the handler's model run) */
  medianSignedComputeErrPct: number
  byMemory: {memoryMb: number; medianSignedErrPct: number; medianAbsErrPct: number}[]
  byArch: {arch: string; medianSignedErrPct: number; medianAbsErrPct: number}[]
}

/** Where the measured Duration goes, against the prediction's parts (medians over rows, ms and % of Duration). */
export interface ZooGap {
  backend: StageBackend
  /** measured model run − predicted compute, as % of the measured Duration */
  computeGapPct: number
  /** measured codec (decode + encode) − predicted codec (without the runtime's JSON) */
  codecGapPct: number
  /**
   * the stage process's CPU per request (all threads, procstat.ts) over the CPU the model predicts
   * (handler ms × min(1, m/1769)), − 1, in %: unlike wall time, barely touched by other tenants of
   * the machine, so a gap here is work the layers' sum does not count
   */
  cpuGapPct: number
  /** Duration − handler (the runtime's JSON parse/stringify around the handler), % of Duration */
  runtimeJsonPct: number
  /** handler − run − codec: the handler's own fixed cost, % of Duration */
  handlerRestPct: number
}

export interface ShortStageRow {
  arch: ZooName
  backend: StageBackend
  memoryMb: number
  periodMs: number
  quotaMs: number
  layers: string
  measuredMs: number
  fluidMs: number
  periodAwareMs: number
  fluidErrPct: number
  periodAwareErrPct: number
}

export interface ZooPredictionData {
  memories: number[]
  batches: number[]
  sizes: Record<string, number>
  rows: ZooRow[]
  summaries: ZooSummary[]
  gaps: ZooGap[]
  cfs: CfsRow[]
  /** the local target's measured quota curve the `local` predictor uses (deploy/targets/local/throttle.ts) */
  throttle?: ThrottleTable
  shortStage: ShortStageRow[]
  profiles: {arch: ZooName; backend: StageBackend; seconds: number; fusedFactor?: number; invokeOverheadMs: number; codecMsPerMb: number}[]
  /** deployments that failed (their rows are missing) */
  failures: string[]
}

/** Writes the generated model once (deterministic weights) and returns its directory. */
export function zooModelDir(arch: ZooName, size: number): string {
  const dir = join(ZOO_DIR, `${arch}-${size}`)
  if (!existsSync(join(dir, 'model.json'))) {
    const g = buildZooModel(arch, size)
    g.write(dir)
    log(`zoo: generated ${arch} at ${size}×${size}: ${g.layers.length} layers, ${(g.weightBytes() / 1e6).toFixed(1)} MB`)
  }
  return dir
}

function summarize(rows: ZooRow[], backend: StageBackend, predictor: string): ZooSummary {
  const rs = rows.filter((r) => r.backend === backend)
  const e = (r: ZooRow) => r.predicted[predictor].durationErrPct
  const group = (key: (r: ZooRow) => string | number) => {
    const m = new Map<string | number, ZooRow[]>()
    for (const r of rs) m.set(key(r), [...(m.get(key(r)) ?? []), r])
    return [...m.entries()]
  }
  return {
    backend,
    predictor,
    rows: rs.length,
    archs: new Set(rs.map((r) => r.arch)).size,
    medianAbsErrPct: round(median(rs.map((r) => Math.abs(e(r)))), 1),
    worstAbsErrPct: round(Math.max(...rs.map((r) => Math.abs(e(r)))), 1),
    medianSignedErrPct: round(median(rs.map(e)), 1),
    within10Pct: rs.filter((r) => Math.abs(e(r)) <= 10).length,
    medianSignedComputeErrPct: round(median(rs.map((r) => r.predicted[predictor].computeErrPct)), 1),
    byMemory: group((r) => r.memoryMb).map(([memoryMb, g]) => ({
      memoryMb: Number(memoryMb),
      medianSignedErrPct: round(median(g.map(e)), 1),
      medianAbsErrPct: round(median(g.map((r) => Math.abs(e(r)))), 1),
    })),
    byArch: group((r) => r.arch).map(([arch, g]) => ({
      arch: String(arch),
      medianSignedErrPct: round(median(g.map(e)), 1),
      medianAbsErrPct: round(median(g.map((r) => Math.abs(e(r)))), 1),
    })),
  }
}

function gapsOf(rows: ZooRow[], backend: StageBackend): ZooGap {
  const rs = rows.filter((r) => r.backend === backend)
  const pct = (f: (r: ZooRow) => number) => round(median(rs.map((r) => (f(r) / r.measured.durationMs) * 100)), 1)
  const noJson = (r: ZooRow) => r.predicted.before
  return {
    backend,
    computeGapPct: pct((r) => r.measured.runMs - noJson(r).computeMs),
    codecGapPct: pct((r) => r.measured.codecMs - noJson(r).codecMs),
    cpuGapPct: round(median(rs.map((r) => (r.measured.cpuMs / (r.predicted.model.handlerMs * Math.min(1, r.memoryMb / 1769)) - 1) * 100)), 1),
    runtimeJsonPct: pct((r) => r.measured.durationMs - r.measured.handlerMs),
    handlerRestPct: pct((r) => r.measured.handlerMs - r.measured.runMs - r.measured.codecMs),
  }
}

export async function runZooPrediction(opts: BenchOptions, deployments: LocalDeployments): Promise<{data: ZooPredictionData; notes: string[]}> {
  const quick = opts.quick
  const memories = quick ? [512, 1769] : [512, 1024, 1769]
  const B = 4
  const batches = [1, B]
  // AMPS_ZOO_ARCHS / AMPS_ZOO_BACKENDS (comma lists) narrow the sweep, e.g. to check one change
  const pick = <T extends string>(env: string | undefined, all: readonly T[]): T[] => {
    const want = env?.split(',').map((x) => x.trim())
    return want ? all.filter((a) => want.includes(a)) : [...all]
  }
  const archs = pick<ZooName>(process.env.AMPS_ZOO_ARCHS, ['resnet50', 'xception', 'densenet121', 'efficientnetb0', 'vgg16'])
  const size = (a: ZooName) => Math.max(KERAS_FACTS[a].minSize, a === 'vgg16' ? 32 : quick ? 64 : 128)
  const backends = pick<StageBackend>(process.env.AMPS_ZOO_BACKENDS, ['onnx', 'wasm']).map((backend) => ({
    backend,
    archs: backend === 'wasm' && quick ? (archs.includes('efficientnetb0') ? ['efficientnetb0' as ZooName] : archs.slice(0, 1)) : archs,
  }))
  const reps = quick ? 8 : 50
  /** The measuring protocol of every row: warm-up, then `reps` requests, each after the quota curve's idle gap. */
  const measuring = (batch: number) => ({
    batch,
    warmup: 150,
    warmupBudgetMs: quick ? 3_000 : 15_000,
    reps,
    minReps: reps,
    budgetMs: 0,
    gapMs: THROTTLE_GAP_MS,
  })
  const rows: ZooRow[] = []
  const profiles: ZooPredictionData['profiles'] = []
  const failures: string[] = []

  // 1. the CFS period on the local target's quota, with a busy loop of known CPU
  const cfs = await measureCfsPeriod({quick})
  // 2. this machine's quota curve (syscall-free work after an idle gap; cached), for the `local` predictor
  const throttle = await localThrottle([128, 256, ...memories], log)
  useThrottleTable(throttle)

  for (const {backend, archs: list} of backends) {
    for (const arch of list) {
      const dir = zooModelDir(arch, size(arch))
      const t0 = Date.now()
      log(`zoo-prediction: profiling ${arch} (${size(arch)}×${size(arch)}) on ${backend} at ${memories.join('/')} MB × batch ${batches.join('/')}`)
      const profile = await profileModel(dir, {backend, memoryMb: memories, batchSizes: batches, quick, force: !quick})
      const seconds = round((Date.now() - t0) / 1000, 1)
      profiles.push({
        arch,
        backend,
        seconds,
        fusedFactor: profile.runtime.fusedFactor,
        invokeOverheadMs: profile.runtime.invokeOverheadMs,
        codecMsPerMb: profile.runtime.codecMsPerMb,
      })
      const model = await loadModel(dir)
      const cuts = balancedCuts(model.graph, 2)
      for (const memoryMb of memories) {
        const plan = applyBackend(
          benchPlan(model, cuts, {memoryMb, batch: B, predictMs: (f, l) => ZOO_PREDICTORS.model(profile, {first: f, last: l}, memoryMb, B).handlerMs}),
          backend,
        )
        // one deployment that fails (e.g. out of memory at 512 MB) is recorded, not the end of the sweep
        await deployments
          .with(plan, dir, `zoo-${arch}-${backend}-${memoryMb}`, async (d) => {
            for (const batch of batches) {
              const series = await invokeSeries(d, measuring(batch))
              plan.stages.forEach((s, i) => {
                if (series.results.some((r) => !Number.isFinite(r.stages[i].durationMs ?? NaN)))
                  throw new Error(`stage ${i + 1} of ${arch} reported no Duration`)
                const measured = measuredStage(series, i)
                const range = {first: s.layers.firstIndex, last: s.layers.lastIndex}
                const predicted: ZooRow['predicted'] = scoreAll(profile, range, memoryMb, batch, measured)
                rows.push({
                  arch,
                  size: size(arch),
                  backend,
                  stage: i + 1,
                  first: range.first,
                  last: range.last,
                  layers: s.layers.count,
                  memoryMb,
                  batch,
                  measured,
                  predicted,
                })
              })
              const last = rows.slice(-plan.stages.length)
              log(
                `  ${arch} ${backend} ${memoryMb} MB batch ${batch}: ` +
                  last
                    .map(
                      (r) =>
                        `stage ${r.stage} ${r.measured.durationMs} ms vs ${round(r.predicted.model.handlerMs)} (${r.predicted.model.durationErrPct} %), cfs ${round(r.predicted.cfs.handlerMs)} (${r.predicted.cfs.durationErrPct} %)`,
                    )
                    .join('; '),
              )
            }
          })
          .catch((error: unknown) => {
            const message = `${arch} on ${backend} at ${memoryMb} MB: ${(error as Error).message}`
            failures.push(message)
            log(`  FAILED ${message}`)
          })
      }
    }
  }

  // 2. a short stage at low memory: ResNet50 cut before its classifier, the head alone on ORT
  const shortStage: ShortStageRow[] = []
  if (archs.includes('resnet50') && backends.some((b) => b.backend === 'onnx')) {
    const arch: ZooName = 'resnet50'
    const dir = zooModelDir(arch, size(arch))
    const shortMemories = [128, 256]
    const profile = await profileModel(dir, {backend: 'onnx', memoryMb: memories, batchSizes: batches, quick, force: false})
    const model = await loadModel(dir)
    const lastCut = model.graph.cuts.filter((c) => c.after < model.graph.layers.length - 1).at(-1)!
    for (const memoryMb of shortMemories) {
      const hand = benchPlan(model, [lastCut.after], {memoryMb, batch: 1})
      // the body (everything but the head) would not fit in 128 MB: it runs at one vCPU
      hand.stages[0].memoryMb = 1769
      const plan = applyBackend(hand, 'onnx')
      await deployments.with(plan, dir, `zoo-short-${memoryMb}`, async (d) => {
        const series = await invokeSeries(d, measuring(1))
        const s = plan.stages[1]
        const range = {first: s.layers.firstIndex, last: s.layers.lastIndex}
        const measuredMs = measuredStage(series, 1).durationMs
        const fluidMs = ZOO_PREDICTORS.model(profile, range, memoryMb, 1).handlerMs
        const periodAwareMs = ZOO_PREDICTORS.cfs(profile, range, memoryMb, 1).handlerMs
        const q = cpuQuotaFor(memoryMb)
        shortStage.push({
          arch,
          backend: 'onnx',
          memoryMb,
          periodMs: q.periodUs / 1000,
          quotaMs: q.quotaUs / 1000,
          layers: `${s.layers.first}…${s.layers.last} (${s.layers.count})`,
          measuredMs,
          fluidMs: round(fluidMs, 2),
          periodAwareMs: round(periodAwareMs, 2),
          fluidErrPct: round(errorPct(fluidMs, measuredMs), 1),
          periodAwareErrPct: round(errorPct(periodAwareMs, measuredMs), 1),
        })
        log(
          `  short stage ${s.layers.first}…${s.layers.last} at ${memoryMb} MB: measured ${measuredMs} ms, fluid ${round(fluidMs)} ms, period-aware ${round(periodAwareMs)} ms`,
        )
      })
    }
  }

  const usedBackends = backends.map((b) => b.backend)
  const summaries = usedBackends.flatMap((b) => Object.keys(ZOO_PREDICTORS).map((p) => summarize(rows, b, p)))
  const gaps = usedBackends.map((b) => gapsOf(rows, b))
  const sizes = Object.fromEntries(archs.map((a) => [a, size(a)]))
  const notes = [
    `Models: the generated Keras-application zoo (test/zoo/apps.ts) with random weights at a reduced input resolution (${Object.entries(sizes)
      .map(([a, s]) => `${a} ${s}×${s}`)
      .join(
        ', ',
      )}); layer and parameter counts are Keras's except VGG16's fc1, which shrinks with the input. Each cut in 2 stages of about equal MACs (the fewest bytes within ±15 %), every stage at one memory size.`,
    `Profiles: profileModel on the row's backend at ${memories.join('/')} MB × batch ${batches.join('/')}${quick ? ' (--quick repeats)' : ''}; B = ${B} is the batch size of the bench's plans.`,
    `Measured = the median platform Duration (the local runtime's REPORT line) over ${reps} requests per stage and batch, after up to 150 warm-up requests (at most ${quick ? 3 : 15} s of them), each measured request ${THROTTLE_GAP_MS[0]}–${THROTTLE_GAP_MS[1]} ms after the previous one ended (a stage idle between batches, as the quota curve is measured: how much the quota slows a request depends on how long the function was idle before it); the local target runs the plan's backend under a CPU quota of m/1769 of a core (CFS period 10 ms, ${cpuQuotaFor(128).periodUs / 1000} ms at 128 MB).`,
    "Predictors: `before` = Σ layer ms + codec + invoke overhead; `model` = the planner's CostModel.handlerMs (× fusedFactor, + the runtime's JSON per MB; fluid quota: time ∝ 1769/m); `cfs` = `model` with the CFS period of the local target (src/cost/timing.ts cfsWallMs: work within one period's quota runs at full speed); `local` = the model as amps predicts a stage on the local target (deploy/targets/local/throttle.ts localCostModel: the runner's spliced JSON instead of Lambda's JSON.parse/stringify, and the quota curve measured on this machine, table above). Error % = (predicted − measured) / measured.",
    "Gaps (median over rows, % of Duration): CPU = the stage process's CPU per request ÷ the model's handler ms × min(1, m/1769), − 1 (load-robust); compute = the handler's model run − Σ layers (no fused factor); codec = measured decode+encode − predicted codec; runtime JSON = Duration − handler; handler rest = handler − run − codec.",
  ]
  return {data: {memories, batches, sizes, rows, summaries, gaps, cfs, throttle, shortStage, profiles, failures}, notes}
}
