/**
 * Section "serve": `amps serve` (a real CLI process) in front of local deployments under the CPU
 * quotas, driven open-loop by `amps load`'s generator (src/serve/load.ts) from this process.
 *
 * (a) examples/tiny-cnn at 10 and 50 req/s and nsfwjs MobileNetV2 at 2 and 10 req/s, Poisson,
 *     each planned by the planner for that rate (x86_64, ≤ 1,769 MB so a stage is ≤ 1 core) and
 *     served with the plan's B and T (--fixed): measured p99 vs the plan's predicted p99, SLO miss
 *     rate, and cost per 1M from the billed ms the gateway recorded vs the plan's.
 * (b) a rate step 5 → 50 → 5 req/s on tiny-cnn (planned at 5 req/s): adaptive (default) vs fixed
 *     (the plan's B, T) vs no batching (--batch-size 1): SLO misses and cost per 1M per phase.
 * (c) the gateway's own overhead at 200 req/s with a trivial stage (tinyMlp, B = 1): p50/p99 of
 *     requests through the gateway minus the same open-loop traffic sent straight to the chain
 *     through the coordinator.
 *
 * AMPS_BENCH_SERVE=<part>[,<part>…] (parts: measured, step, overhead) runs only those parts; the
 * others are carried over from the previous bench-results/serve.json, and a note says so. E.g.
 * `AMPS_BENCH_SERVE=step npm run bench -- --only serve` runs just the rate step (three gateways,
 * adaptive, fixed, unbatched, on one deployment: about 3 min). AMPS_BENCH_STEP_PHASE_S sets the
 * step's phase length (default 15 s, --quick 6 s): at 5 req/s a 15 s phase has about 75 requests,
 * so a single miss is 1.3 %.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {mkdirSync} from 'node:fs'
import {join} from 'node:path'

import {createBatchInvoker} from '../../deploy/client/batch-invoke.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {writeGenerated} from '../../examples/models.js'
import {loadModel} from '../../src/model/index.js'
import {planFromProfile} from '../../src/plan/index.js'
import type {Plan} from '../../src/plan/types.js'
import {profileModel} from '../../src/profile/index.js'
import type {Profile} from '../../src/profile/types.js'
import {runLoad, type LoadReport} from '../../src/serve/load.js'
import {poissonArrivals} from '../../src/simulate/arrivals.js'
import {createRng, STREAM} from '../../src/simulate/rng.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'
import {benchDir, errorPct, log, quantile, readResult, repoRoot, round, type BenchOptions} from './common.js'
import type {LocalDeployments} from './local.js'
import {benchProfile, profileInfos} from './profiles.js'

export interface ServeRun {
  model: string
  rate: number
  sloMs: number
  percentile: number
  batch: {size: number; timeoutMs: number}
  stages: {memoryMb: number; layers: number}[]
  /** rate ÷ E[K] × Σ stage billed ms at the mean batch × the stage's CPU share (cores) */
  cpuDemandCores: number
  predictedP99Ms: number
  predictedCostPerMillionUsd: number
  sent: number
  ok: number
  achievedRate: number
  p50Ms: number
  p99Ms: number
  sloMissRate: number
  measuredCostPerMillionUsd: number
  meanBatchSize: number
  p99ErrPct: number
  costErrPct: number
  byStatus: Record<string, number>
}

export interface StepPhase {
  rate: number
  sent: number
  sloMissRate: number
  p99Ms: number
  costPerMillionUsd: number
  /** B and T at the end of the phase */
  policy: {maxBatch: number; timeoutMs: number} | null
  /** adaptive: policy changes during the phase, and the latency budget at its end (ms) */
  changes?: number
  budgetMs?: number
}

export interface ServeData {
  durationS: number
  runs: ServeRun[]
  step: {
    sloMs: number
    phaseS: number
    plan: {size: number; timeoutMs: number}
    /** log: the adaptive gateway's policy changes with their causes (s from the start: line) */
    modes: {mode: 'adaptive' | 'fixed' | 'unbatched'; phases: StepPhase[]; log?: string[]}[]
  }
  overhead: {
    rate: number
    durationS: number
    gateway: {p50Ms: number; p99Ms: number; sent: number}
    direct: {p50Ms: number; p99Ms: number; sent: number}
    addedP50Ms: number
    addedP99Ms: number
  }
}

const bin = join(repoRoot, 'bin', 'run.js')

/** Starts `amps serve` and resolves with its URL once it listens. */
async function startServe(
  deploymentPath: string,
  flags: string[],
): Promise<{url: string; child: ChildProcess; stop: () => Promise<number | null>; policyLog: string[]; startedAt: number}> {
  const child = spawn(process.execPath, [bin, 'serve', deploymentPath, '--port', '0', '--json', ...flags], {stdio: ['ignore', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const policyLog: string[] = []
  const t0 = performance.now()
  child.stderr!.on('data', (d) => {
    err += d
    for (const line of String(d).split('\n'))
      if (/batching:|SLO:/.test(line)) {
        const text = line.replace(/^\S+ /, '')
        policyLog.push(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${text}`)
        log(`  serve: ${text}`)
      }
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).url)
    })
    void exited.then(() => reject(new Error(`amps serve exited: ${err.slice(-500)}`)))
  })
  return {
    url,
    child,
    policyLog,
    startedAt: t0,
    stop: async () => {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000)
      const code = await exited
      clearTimeout(t)
      return code
    },
  }
}

async function profileWithPath(modelPath: string, quick: boolean): Promise<{profile: Profile; path?: string}> {
  let path: string | undefined
  const profile = await profileModel(modelPath, {
    quick,
    onProgress: (e) => {
      const ev = e as {phase?: string; path?: string}
      if ((ev.phase === 'cache-hit' || ev.phase === 'cache-miss') && ev.path) path = ev.path
    },
  })
  return {profile, path}
}

function cpuDemand(plan: Plan): number {
  const ek = plan.predicted.meanBatchSize
  const k = Math.max(1, Math.round(ek))
  const perBatch = plan.stages.reduce((s, st) => s + (st.billedMsByBatch?.[k - 1] ?? st.billedMs ?? st.predictedMs) * Math.min(1, st.memoryMb / 1769), 0)
  return (plan.inputs.ratePerSecond / ek) * (perBatch / 1000)
}

const PLAN_LIMITS = {arch: 'x86_64' as const, memoryMaxMb: 1769, maxStages: 3, timeLimitMs: 60_000}

const PARTS = ['measured', 'step', 'overhead'] as const

/** AMPS_BENCH_SERVE=step,… → the parts to run (default all). */
function serveParts(): Set<(typeof PARTS)[number]> {
  const v = process.env.AMPS_BENCH_SERVE?.trim()
  if (!v) return new Set(PARTS)
  const parts = v.split(',').map((x) => x.trim())
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`AMPS_BENCH_SERVE: unknown part "${p}" (parts: ${PARTS.join(', ')})`)
  return new Set(parts as (typeof PARTS)[number][])
}

export async function runServe(opts: BenchOptions, deployments: LocalDeployments): Promise<{data: ServeData; notes: string[]}> {
  const parts = serveParts()
  const previous = parts.size < PARTS.length ? readResult<ServeData>('serve') : undefined
  if (parts.size < PARTS.length && !previous) log(`serve: only ${[...parts].join(', ')}; no previous serve.json to carry the other parts over from`)
  const measureS = opts.quick ? 8 : 25
  const warmS = opts.quick ? 2 : 4
  const notes: string[] = []
  const tinyDir = join(repoRoot, 'examples', 'tiny-cnn')
  const tiny = await profileWithPath(tinyDir, opts.quick)
  const configs = parts.has('measured')
    ? [
        {model: 'tiny-cnn', dir: tinyDir, p: tiny, sloMs: 150, rates: [10, 50]},
        {
          model: 'mobilenet_v2',
          dir: nsfwjsModelDir('mobilenet_v2'),
          p: {profile: await benchProfile('mobilenet_v2', opts.quick), path: profileInfos.get(`mobilenet_v2:${opts.quick}`)?.cachePath},
          sloMs: 1500,
          rates: [2, 10],
        },
      ]
    : []

  // (a) measured vs predicted
  const runs: ServeRun[] = parts.has('measured') ? [] : (previous?.data.runs ?? [])
  for (const c of configs) {
    for (const rate of c.rates) {
      const plan = planFromProfile(c.p.profile, {sloMs: c.sloMs, ratePerSecond: rate, ...PLAN_LIMITS, profilePath: c.p.path})
      log(
        `serve: ${c.model} at ${rate} req/s: plan B ${plan.batch.size}, T ${plan.batch.timeoutMs} ms, ${plan.stages.length} stage(s) at ${plan.stages.map((s) => s.memoryMb).join('/')} MB, predicted p${plan.inputs.percentile} ${plan.predicted.latencyMs.toFixed(1)} ms, $${plan.predicted.costPerMillionUsd.toFixed(4)}/1M`,
      )
      const run = await deployments.with(plan, c.dir, `serve-${c.model}-${rate}`, async (d) => {
        const gw = await startServe(d.statePath, ['--fixed', '--max-queue', '100000'])
        try {
          const base = `${gw.url}/v1/models/${plan.model.name}`
          await runLoad({url: base, ratePerSecond: rate, durationS: warmS, seed: 99, sloMs: c.sloMs, maxRequests: 1e6})
          const r = await runLoad({url: base, ratePerSecond: rate, durationS: measureS, seed: 1, sloMs: c.sloMs, maxRequests: 1e6})
          return {plan, r}
        } finally {
          await gw.stop()
        }
      })
      const r = run.r
      const measuredCost = r.gateway?.costPerMillionUsd ?? NaN
      runs.push({
        model: c.model,
        rate,
        sloMs: c.sloMs,
        percentile: plan.inputs.percentile,
        batch: plan.batch,
        stages: plan.stages.map((s) => ({memoryMb: s.memoryMb, layers: s.layers.count})),
        cpuDemandCores: round(cpuDemand(plan), 3),
        predictedP99Ms: plan.predicted.latencyMs,
        predictedCostPerMillionUsd: plan.predicted.costPerMillionUsd,
        sent: r.sent,
        ok: r.ok,
        achievedRate: round(r.achievedRate, 2),
        p50Ms: round(r.latencyMs.p50, 2),
        p99Ms: round(r.latencyMs.p99, 2),
        sloMissRate: r.sloMissRate ?? NaN,
        measuredCostPerMillionUsd: measuredCost,
        meanBatchSize: round(r.gateway?.meanBatchSize ?? NaN, 3),
        p99ErrPct: round(errorPct(plan.predicted.latencyMs, r.latencyMs.p99), 1),
        costErrPct: round(errorPct(plan.predicted.costPerMillionUsd, measuredCost), 1),
        byStatus: r.byStatus,
      })
      log(
        `serve: ${c.model} at ${rate} req/s: p99 ${r.latencyMs.p99.toFixed(1)} ms (predicted ${plan.predicted.latencyMs.toFixed(1)}), misses ${(100 * (r.sloMissRate ?? 0)).toFixed(2)} %, $${measuredCost.toFixed(4)}/1M (predicted ${plan.predicted.costPerMillionUsd.toFixed(4)})`,
      )
    }
  }

  // (b) rate step 5 → 50 → 5 on tiny-cnn
  const phaseEnv = Number(process.env.AMPS_BENCH_STEP_PHASE_S)
  const phaseS = phaseEnv > 0 ? phaseEnv : opts.quick ? 6 : 15
  const stepSlo = 150
  const stepPlan = planFromProfile(tiny.profile, {sloMs: stepSlo, ratePerSecond: 5, ...PLAN_LIMITS, profilePath: tiny.path})
  const rates = [5, 50, 5]
  const stepWarmS = opts.quick ? 2 : 3
  const rng = createRng(7, STREAM.arrivals)
  const phaseArrivals = rates.map((r, i) => Array.from(poissonArrivals(r, phaseS, rng), (t) => t + i * phaseS * 1000))
  const arrivalsMs = Float64Array.from(phaseArrivals.flat())
  const modes = [
    {mode: 'adaptive' as const, flags: []},
    {mode: 'fixed' as const, flags: ['--fixed']},
    {mode: 'unbatched' as const, flags: ['--batch-size', '1']},
  ]
  let step: ServeData['step'] = {sloMs: stepSlo, phaseS, plan: stepPlan.batch, modes: []}
  if (!parts.has('step') && previous) step = previous.data.step
  if (parts.has('step'))
    await deployments.with(stepPlan, tinyDir, 'serve-step', async (d) => {
      for (const m of modes) {
        log(`serve: rate step 5 → 50 → 5 req/s, ${m.mode}`)
        const gw = await startServe(d.statePath, [...m.flags, '--max-queue', '100000'])
        try {
          // the same short warm-up for every mode (a fresh gateway's first requests are slow: JIT,
          // connections), at the first phase's rate; it is not counted
          const url = `${gw.url}/v1/models/${stepPlan.model.name}`
          await runLoad({url, ratePerSecond: rates[0], durationS: stepWarmS, seed: 98, sloMs: stepSlo, maxRequests: 1e6})
          const loadAtS = (performance.now() - gw.startedAt) / 1000
          const r: LoadReport = await runLoad({
            url,
            arrivalsMs,
            durationS: phaseS * 3,
            sloMs: stepSlo,
            keepSamples: true,
            statsAtMs: [0, phaseS * 1000, 2 * phaseS * 1000, 3 * phaseS * 1000 + 3000],
            maxRequests: 1e6,
          })
          const phases: StepPhase[] = rates.map((rate, i) => {
            const inPhase = (r.samples ?? []).filter((s) => s.atMs >= i * phaseS * 1000 && s.atMs < (i + 1) * phaseS * 1000)
            const ok = inPhase.filter((s) => s.status === 200).map((s) => s.ms)
            const a = r.statsAt?.[i]
            const b = r.statsAt?.[i + 1]
            const di = a && b ? b.instances - a.instances : 0
            return {
              rate,
              sent: inPhase.length,
              sloMissRate: inPhase.length ? inPhase.filter((s) => s.status !== 200 || s.ms > stepSlo).length / inPhase.length : NaN,
              p99Ms: round(quantile(ok, 0.99), 2),
              costPerMillionUsd: a && b && di > 0 ? ((b.costUsd - a.costUsd) / di) * 1e6 : NaN,
              policy: b ? {maxBatch: b.policy.maxBatch, timeoutMs: b.policy.timeoutMs} : null,
              ...(m.mode === 'adaptive' && b ? {budgetMs: b.policy.budgetMs} : {}),
            }
          })
          if (m.mode === 'adaptive') {
            // changes per phase from the log's timestamps (s since the gateway started, less the load's start)
            const at = gw.policyLog.filter((l) => /batching:/.test(l)).map((l) => Number(l.split(' s:')[0]) - loadAtS)
            phases.forEach((p, i) => (p.changes = at.filter((t) => t >= i * phaseS && (i === rates.length - 1 || t < (i + 1) * phaseS)).length))
          }
          step.modes.push({mode: m.mode, phases, ...(m.mode === 'adaptive' ? {log: gw.policyLog} : {})})
          for (const p of phases)
            log(
              `serve: step ${m.mode} at ${p.rate} req/s: ${p.sent} requests, misses ${(100 * p.sloMissRate).toFixed(2)} %, p99 ${p.p99Ms} ms, $${p.costPerMillionUsd.toFixed(4)}/1M, B/T ${p.policy?.maxBatch}/${p.policy?.timeoutMs}`,
            )
        } finally {
          await gw.stop()
        }
      }
    })

  // (c) gateway overhead with a trivial stage at 200 req/s
  const measureOverhead = async (): Promise<ServeData['overhead']> => {
    const trivialDir = join(benchDir, 'serve-trivial-model')
    mkdirSync(trivialDir, {recursive: true})
    await writeGenerated('tinyMlp', trivialDir)
    const trivialModel = await loadModel(trivialDir)
    const {benchPlan} = await import('./local.js')
    const trivialPlan = benchPlan(trivialModel, [], {memoryMb: 1769, batch: 1})
    const ovRate = 200
    const ovS = opts.quick ? 4 : 10
    return deployments.with(trivialPlan, trivialDir, 'serve-overhead', async (d) => {
      // direct: the same open-loop arrivals straight to the chain through the coordinator (with the
      // gateway's throttle retry: the local pool answers 429 past its concurrency, as Lambda does)
      const {readDeployment} = await import('../../deploy/state/deployment.js')
      const invoker = createBatchInvoker(readDeployment(d.statePath))
      const inputs = randomInputs(trivialModel.graph.inputs, {batch: 1, seed: 3})
      const times = poissonArrivals(ovRate, ovS, createRng(11, STREAM.arrivals))
      const direct: number[] = []
      try {
        for (let i = 0; i < 20; i++) await invoker.invoke(inputs)
        const t0 = performance.now()
        const pending: Promise<void>[] = []
        for (const t of times) {
          const wait = t0 + t - performance.now()
          if (wait > 1) await new Promise((r) => setTimeout(r, wait))
          const s = performance.now()
          pending.push(invoker.invoke(inputs).then(() => void direct.push(performance.now() - s)))
        }
        await Promise.all(pending)
      } finally {
        invoker.close()
      }
      const gw = await startServe(d.statePath, ['--batch-size', '1', '--max-queue', '100000'])
      try {
        const url = `${gw.url}/v1/models/${trivialPlan.model.name}`
        await runLoad({url, ratePerSecond: 50, durationS: 1, maxRequests: 1e6})
        const r = await runLoad({url, arrivalsMs: times, durationS: ovS, maxRequests: 1e6})
        direct.sort((a, b) => a - b)
        const g = {p50Ms: round(r.latencyMs.p50, 3), p99Ms: round(r.latencyMs.p99, 3), sent: r.sent}
        const dd = {p50Ms: round(quantile(direct, 0.5), 3), p99Ms: round(quantile(direct, 0.99), 3), sent: direct.length}
        return {rate: ovRate, durationS: ovS, gateway: g, direct: dd, addedP50Ms: round(g.p50Ms - dd.p50Ms, 3), addedP99Ms: round(g.p99Ms - dd.p99Ms, 3)}
      } finally {
        await gw.stop()
      }
    })
  }
  const overhead = parts.has('overhead') || !previous ? await measureOverhead() : previous.data.overhead
  if (parts.has('overhead')) log(`serve: gateway overhead at ${overhead.rate} req/s: +${overhead.addedP50Ms} ms p50, +${overhead.addedP99Ms} ms p99`)

  notes.push(
    `Each configuration is planned by the planner for its rate (x86_64, memory ≤ 1,769 MB so every stage gets at most one core, ≤ 3 stages), deployed on the local target, and served by a real \`amps serve\` process with the plan's B and T (--fixed); requests come from \`amps load\`'s open-loop generator in the bench process (${warmS} s warm-up, then ${measureS} s measured, Poisson, seed 1).`,
    "cpuDemandCores estimates the stages' CPU demand: rate ÷ E[batch] × Σ billed ms per batch × the stage's CPU share. The issue asks for loads this 2-core machine can carry (≤ 1.5 cores); rows above that measure queueing in the single-process local stages, not the plan.",
    `Rate step: each mode gets its own \`amps serve\` on the same deployment, ${opts.quick ? 2 : 3} s of warm-up at 5 req/s (not counted), then the same seeded Poisson arrivals; phase figures count requests by their send time. The adaptive row's "changes" are its policy changes during the phase (their causes are in serve.json, step.modes[0].log), and the budget is the latency it aimed at when the phase ended (SLO × (1 − margin)).`,
    "Measured cost per 1M is Σ over every stage invocation of billed ms (the local runner's REPORT line, rounded up to 1 ms) × memory × the first-tier price + the request fee, ÷ instances answered: the same prices the plan uses.",
    "The local target runs each stage as a pool of execution environments (deploy/targets/local: up to --concurrency per stage, default sized to the cores and the stage's CPU share, pre-warmed at deploy), as Lambda runs concurrent batches side by side; past the limit a stage answers 429 and the gateway retries with backoff, so latencies include that wait.",
  )
  if (previous && parts.size < PARTS.length)
    notes.push(
      `This run (AMPS_BENCH_SERVE=${[...parts].join(',')}) measured only ${[...parts].join(' and ')}; ${PARTS.filter((p) => !parts.has(p)).join(' and ')} ${PARTS.length - parts.size === 1 ? 'is' : 'are'} carried over from the run of ${previous.startedAt} (${previous.command}).`,
    )
  return {data: {durationS: parts.has('measured') ? measureS : (previous?.data.durationS ?? measureS), runs, step, overhead}, notes}
}
