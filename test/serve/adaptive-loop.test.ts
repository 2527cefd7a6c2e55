/**
 * The adaptive controller in a closed loop, in virtual time (deterministic, no timing): a BATCH
 * buffer dispatching by the controller's B and T, a chain whose TRUE stage times are slower than
 * the model, the more so the larger the batch (as measured on the local target), and a rate step
 * 5 → 50 → 5 req/s. The controller sees what the gateway sees (arrivals, each batch's stage
 * Durations, each request's latency) and ticks every second. The plan's own B and T (fixed) run on
 * the same arrivals and the same chain. Checks the target in this setting: adaptive within
 * the percentile's miss allowance in every phase; where the stages are a little slower than modelled
 * (fixed keeps its SLO) adaptive is no dearer than fixed in any phase and cheaper at 50 req/s; where
 * they are much slower (fixed misses at 50 req/s) adaptive still keeps the SLO, at a cost.
 */
import {describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import {AdaptiveController} from '../../src/serve/adaptive.js'
import type {BatchChoice} from '../../src/serve/policy.js'
import {deployedChain} from '../../src/serve/policy.js'
import {poissonArrivals} from '../../src/simulate/arrivals.js'
import {createRng, STREAM} from '../../src/simulate/rng.js'
import {seededRandom} from '../../src/util/random.js'
import {syntheticProfile} from '../simulate/fixtures.js'

const profile = syntheticProfile()
const SLO = 120
const plan = planFromProfile(profile, {sloMs: SLO, ratePerSecond: 5, arch: 'arm64', maxBatch: 16, timeLimitMs: 60_000})
const chain = deployedChain(plan, profile, DEFAULT_PRICE_TABLE)
const fixed: BatchChoice = {maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs}
const PHASE_S = 30
const RATES = [5, 50, 5]

/** The truth: each stage's handler time for a batch of k, slower than the model by `slow` + 4 % per extra instance, ±10 % noise. */
function trueStageMs(slow: number, i: number, k: number, rnd: () => number): number {
  const st = chain.stages[i]
  const model = chain.model.handlerMs(st.range, st.memoryMb, k, k)
  return model * (slow + 0.04 * (k - 1)) * (0.9 + 0.2 * rnd())
}
const ROUND_TRIP_MS = 2 // per stage, unbilled

interface PhaseResult {
  rate: number
  n: number
  misses: number
  missRate: number
  costPerMillionUsd: number
}

/** Runs the step through a buffer with the policy `policyAt` (the controller's, or fixed), 1 ms resolution. */
async function run(mode: 'adaptive' | 'fixed', slow: number): Promise<{phases: PhaseResult[]; controller?: AdaptiveController; changes: string[]}> {
  const rng = createRng(4, STREAM.arrivals)
  const arrivals: number[] = []
  RATES.forEach((r, p) => {
    for (const t of poissonArrivals(r, PHASE_S, rng)) arrivals.push(t + p * PHASE_S * 1000)
  })
  const rnd = seededRandom(77)
  const c = mode === 'adaptive' ? new AdaptiveController(chain, 0, {fixed}) : undefined
  const changes: string[] = []
  const queue: number[] = [] // arrival times
  const done: {arrival: number; latency: number; usd: number}[] = []
  const completions: {at: number; k: number; durations: number[]; latencies: number[]}[] = []
  const policy = (): BatchChoice => c?.policy ?? fixed
  let next = 0
  const end = RATES.length * PHASE_S * 1000 + 2000
  for (let t = 0; t <= end; t++) {
    while (next < arrivals.length && arrivals[next] <= t) {
      queue.push(arrivals[next])
      c?.arrival(arrivals[next])
      next++
    }
    const {maxBatch: B, timeoutMs: T} = policy()
    while (queue.length > 0 && (queue.length >= B || t >= queue[0] + (B === 1 ? 0 : T))) {
      const batch = queue.splice(0, B)
      const durations = chain.stages.map((_, i) => trueStageMs(slow, i, batch.length, rnd))
      const service = durations.reduce((s, d) => s + d + ROUND_TRIP_MS, 0)
      const usd = chain.stages.reduce((s, st, i) => s + chain.model.usdPerMbMs * st.memoryMb * Math.ceil(durations[i]) + chain.model.requestUsd, 0)
      const latencies = batch.map((a) => t + service - a)
      batch.forEach((a, j) => done.push({arrival: a, latency: latencies[j], usd: usd / batch.length}))
      completions.push({at: t + service, k: batch.length, durations, latencies})
    }
    // the gateway learns of a batch when it answers
    for (let j = completions.length - 1; j >= 0; j--) {
      const x = completions[j]
      if (x.at > t) continue
      completions.splice(j, 1)
      c?.batch(x.k, x.durations)
      for (const l of x.latencies) c?.request(t, l, true)
    }
    if (c && t % 1000 === 0) {
      const d = await c.tick(t)
      if (d) changes.push(`${(t / 1000).toFixed(0)} s: B ${d.from.maxBatch}→${d.to.maxBatch} T ${d.from.timeoutMs}→${d.to.timeoutMs}: ${d.cause.slice(0, 140)}`)
    }
  }
  const phases = RATES.map((rate, p) => {
    const inPhase = done.filter((x) => x.arrival >= p * PHASE_S * 1000 && x.arrival < (p + 1) * PHASE_S * 1000)
    const misses = inPhase.filter((x) => x.latency > SLO).length
    return {
      rate,
      n: inPhase.length,
      misses,
      missRate: misses / inPhase.length,
      costPerMillionUsd: (inPhase.reduce((s, x) => s + x.usd, 0) / inPhase.length) * 1e6,
    }
  })
  return {phases, controller: c, changes}
}

describe('adaptive controller in a closed loop (virtual time), rate step 5 → 50 → 5 req/s', () => {
  const check = (a: Awaited<ReturnType<typeof run>>, f: Awaited<ReturnType<typeof run>>, strict = true): string => {
    const show = JSON.stringify({adaptive: a.phases, fixed: f.phases, changes: a.changes}, null, 1)
    for (let p = 0; p < RATES.length; p++) {
      const ap = a.phases[p]
      const fp = f.phases[p]
      // the percentile's allowance (p99: 1 %), plus 2 requests for the first seconds of a phase the controller
      // needs to see a step or its first misses
      expect(ap.misses, `phase ${p + 1}: ${show}`).toBeLessThanOrEqual(Math.floor(0.01 * ap.n) + 2)
      if (fp.missRate <= 0.01 && strict) expect(ap.costPerMillionUsd, `phase ${p + 1}: ${show}`).toBeLessThanOrEqual(fp.costPerMillionUsd * 1.01)
    }
    // every change was logged with a cause
    expect(a.changes.length).toBeGreaterThan(0)
    for (const line of a.changes) expect(line).toMatch(/: (observed|rate|backoff|relax|measured|at )/)
    return show
  }

  it('stages a little slower than modelled (the plan keeps its SLO): keeps it too, never dearer than the plan’s B, T, cheaper at 50 req/s', async () => {
    const a = await run('adaptive', 1.1)
    const f = await run('fixed', 1.1)
    const show = check(a, f)
    expect(f.phases.every((p) => p.missRate <= 0.01)).toBe(true)
    expect(a.phases[1].costPerMillionUsd, show).toBeLessThan(f.phases[1].costPerMillionUsd)
    // it learnt the stage times: slower than modelled, the more so the larger the batch
    const corr = a.controller!.correction
    expect(corr.factor(0, 1)).toBeGreaterThan(1.05)
    expect(corr.factor(0, 4)).toBeGreaterThan(corr.factor(0, 1))
  })

  it('stages much slower than modelled (the plan misses its SLO at 50 req/s): keeps the SLO in every phase', async () => {
    const a = await run('adaptive', 1.6)
    const f = await run('fixed', 1.6)
    // (not held to fixed's cost where fixed kept its SLO: the stage times it measured made the model's
    // tail wider than the truth's here, and the budget relaxes to that only as latencies come in)
    const show = check(a, f, false)
    expect(
      f.phases.some((p) => p.missRate > 0.01),
      show,
    ).toBe(true)
    // it learnt the stage times from the Durations it saw, and solved with them
    expect(a.controller!.correction.factor(0, 1), show).toBeGreaterThan(1.5)
    expect(
      a.changes.some((c) => /measured\/model stage 1: k1×1\.[56]/.test(c)),
      show,
    ).toBe(true)
  })
})
