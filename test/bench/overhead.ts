/**
 * Section 5, pipeline overhead: the same model as 1, 2, 3 and 4 stages on the local target (every
 * stage at the same memory size, so the same CPU quota), against the whole model run in one
 * process with no HTTP at all. Reports the ms each extra cut adds end to end, where they go
 * (split compute, tensor codec, HTTP + JSON, the coordinator) and the bytes crossing each cut.
 */
import type {ChainResult} from '../../deploy/client/coordinator.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {loadModel} from '../../src/model/index.js'
import {nsfwjsModelDir, type NsfwjsModel} from '../helpers/nsfwjs.js'
import {log, median, quantile, round, type BenchOptions} from './common.js'
import {balancedCuts, benchPlan, cutBytes, invokeSeries, type LocalDeployments} from './local.js'

export interface OverheadStage {
  stage: number
  layers: number
  firstLayer: string
  lastLayer: string
  /** medians over the measured invocations (ms) */
  roundTripMs: number
  handlerMs: number
  runMs: number
  codecMs: number
  requestBytes: number
  responseBytes: number
}

export interface OverheadConfig {
  stages: number
  cuts: {after: number; layer: string; bytesPerSample: number; wireBytes: number}[]
  reps: number
  endToEnd: {medianMs: number; p10Ms: number; p90Ms: number}
  /** medians of per-invocation sums over stages (ms) */
  sumRunMs: number
  sumCodecMs: number
  /** Σ (round trip − handler): HTTP, JSON parse/stringify in the stage process, socket */
  sumTransportMs: number
  /** end to end − Σ round trips: the coordinator's own JSON/base64 and bookkeeping */
  clientMs: number
  perStage: OverheadStage[]
}

export interface OverheadModel {
  model: NsfwjsModel
  layers: number
  memoryMb: number
  batch: number
  /** whole model in the bench process itself: model.predict + read back, wasm, no quota (ms) */
  inProcess: {medianMs: number; p10Ms: number; p90Ms: number; reps: number; backend: string}
  configs: OverheadConfig[]
  /** (end to end(n) − end to end(1)) / (n − 1) and its parts, per n ≥ 2 */
  perCut: {stages: number; perCutMs: number; computeMs: number; codecMs: number; transportMs: number; clientMs: number}[]
}

export interface OverheadData {
  memoryMb: number
  batch: number
  models: OverheadModel[]
}

function sumOver(r: ChainResult, f: (s: ChainResult['stages'][number]) => number): number {
  return r.stages.reduce((a, s) => a + f(s), 0)
}

async function inProcessBaseline(modelDir: string, batch: number, reps: number): Promise<OverheadModel['inProcess']> {
  const {initTf} = await import('../../src/runtime/tf.js')
  const {tf, backend} = await initTf('wasm')
  const model = await loadModel(modelDir)
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  const raw = randomInputs(model.graph.inputs, {batch, seed: 7})
  const xs = raw.map((t) => tf.tensor(t.data, t.shape, t.dtype))
  const once = (): number => {
    const t0 = performance.now()
    const y = m.predict(xs.length === 1 ? xs[0] : xs)
    const ys = Array.isArray(y) ? y : [y]
    for (const t of ys) t.dataSync()
    const ms = performance.now() - t0
    tf.dispose(ys)
    return ms
  }
  for (let i = 0; i < 2; i++) once()
  const times: number[] = []
  for (let i = 0; i < reps; i++) times.push(once())
  tf.dispose(xs)
  m.dispose()
  return {medianMs: round(median(times)), p10Ms: round(quantile(times, 0.1)), p90Ms: round(quantile(times, 0.9)), reps, backend}
}

export async function runOverhead(opts: BenchOptions, deployments: LocalDeployments): Promise<{data: OverheadData; notes: string[]}> {
  const memoryMb = 1769
  const batch = 1
  const models: NsfwjsModel[] = ['mobilenet_v2', 'inception_v3']
  const out: OverheadModel[] = []
  for (const name of models) {
    const modelDir = nsfwjsModelDir(name)
    const model = await loadModel(modelDir)
    const g = model.graph
    const heavy = name === 'inception_v3'
    const reps = opts.quick ? (heavy ? 4 : 8) : heavy ? 10 : 25
    log(`overhead: ${name} in one process (wasm, no quota)`)
    const inProcess = await inProcessBaseline(modelDir, batch, reps)
    const configs: OverheadConfig[] = []
    for (const n of [1, 2, 3, 4]) {
      const cuts = balancedCuts(g, n)
      const plan = benchPlan(model, cuts, {memoryMb, batch})
      log(`overhead: ${name} as ${n} stage${n > 1 ? 's' : ''} at ${memoryMb} MB (cuts after ${cuts.map((c) => g.layers[c].name).join(', ') || 'none'})`)
      const series = await deployments.with(plan, modelDir, `overhead-${name}-${n}`, (d) =>
        invokeSeries(d, {batch, warmup: 3, reps, minReps: Math.min(reps, opts.quick ? 3 : 8), budgetMs: opts.quick ? 8_000 : 15_000}),
      )
      const rs = series.results
      const perStage: OverheadStage[] = plan.stages.map((s, i) => ({
        stage: i + 1,
        layers: s.layers.count,
        firstLayer: s.layers.first,
        lastLayer: s.layers.last,
        roundTripMs: round(median(rs.map((r) => r.stages[i].measuredMs))),
        handlerMs: round(median(rs.map((r) => r.stages[i].handlerMs))),
        runMs: round(median(rs.map((r) => r.stages[i].runMs))),
        codecMs: round(median(rs.map((r) => r.stages[i].decodeMs + r.stages[i].encodeMs))),
        requestBytes: rs[0].stages[i].requestBytes,
        responseBytes: rs[0].stages[i].responseBytes,
      }))
      const e2e = rs.map((r) => r.totalMs)
      configs.push({
        stages: n,
        cuts: cuts.map((c, i) => ({after: c, layer: g.layers[c].name, bytesPerSample: cutBytes(g, c), wireBytes: rs[0].stages[i + 1].requestBytes})),
        reps: rs.length,
        endToEnd: {medianMs: round(median(e2e)), p10Ms: round(quantile(e2e, 0.1)), p90Ms: round(quantile(e2e, 0.9))},
        sumRunMs: round(median(rs.map((r) => sumOver(r, (s) => s.runMs)))),
        sumCodecMs: round(median(rs.map((r) => sumOver(r, (s) => s.decodeMs + s.encodeMs)))),
        sumTransportMs: round(median(rs.map((r) => sumOver(r, (s) => s.measuredMs - s.handlerMs)))),
        clientMs: round(median(rs.map((r) => r.totalMs - sumOver(r, (s) => s.measuredMs)))),
        perStage,
      })
    }
    const one = configs[0]
    const perCut = configs.slice(1).map((c) => {
      const k = c.stages - 1
      return {
        stages: c.stages,
        perCutMs: round((c.endToEnd.medianMs - one.endToEnd.medianMs) / k),
        computeMs: round((c.sumRunMs - one.sumRunMs) / k),
        codecMs: round((c.sumCodecMs - one.sumCodecMs) / k),
        transportMs: round((c.sumTransportMs - one.sumTransportMs) / k),
        clientMs: round((c.clientMs - one.clientMs) / k),
      }
    })
    out.push({model: name, layers: g.layers.length, memoryMb, batch, inProcess, configs, perCut})
  }
  const notes = [
    `Every stage runs at ${memoryMb} MB: a CFS quota of one full core (cgroup v1 cpu) and a ${memoryMb} MiB memory limit, as one Lambda vCPU.`,
    'Cuts split the model into parts of about equal MACs, at the valid cut carrying the fewest bytes within ±15 % of each MAC quantile (between blocks, as one would cut by hand).',
    "End to end = the coordinator's wall time for one request through every stage (createChainInvoker().invoke), inputs encoded, outputs decoded.",
    'Per cut = (end to end with n stages − end to end with 1 stage) / (n − 1); its parts are the same differences of Σ run ms (split compute), Σ decode+encode ms (codec), Σ (round trip − handler) (HTTP + JSON in the stage process) and end to end − Σ round trips (the coordinator).',
    'In one process = model.predict + reading the output back inside the bench process (wasm backend, no quota, no HTTP, no codec).',
  ]
  return {data: {memoryMb, batch, models: out}, notes}
}
