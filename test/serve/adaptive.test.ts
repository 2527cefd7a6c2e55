/**
 * The adaptive controller of `amps serve` (src/serve/adaptive.ts), driven deterministically with
 * synthetic arrivals (seeded Poisson streams), measured stage Durations and measured request
 * latencies on a fixed clock; the models are the planner's, on the synthetic two-stage profile.
 * Checks: a rate step is followed within two seconds and not taken for burstiness while a steady
 * stream raises no false change; measured stage times correct the model; misses back the latency
 * budget off at once (T cut) and quiet relaxes it slowly; the choice is never dearer than the plan's
 * B, T when those meet the budget; a steady stream does not make it flap. No timing assertions.
 */
import {describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import {AdaptiveController, type Decision, RateTracker, StageCorrection} from '../../src/serve/adaptive.js'
import {assessPolicy, deployedChain, solvePolicy} from '../../src/serve/policy.js'
import {poissonArrivals} from '../../src/simulate/arrivals.js'
import {createRng, STREAM} from '../../src/simulate/rng.js'
import {syntheticProfile} from '../simulate/fixtures.js'

const profile = syntheticProfile()
const plan = planFromProfile(profile, {sloMs: 120, ratePerSecond: 20, arch: 'arm64', maxBatch: 8, timeLimitMs: 60_000})
const chain = () => deployedChain(plan, profile, DEFAULT_PRICE_TABLE)
const fixed = {maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs}

/** Poisson arrivals (ms) with the rate `phases[i].rate` for `phases[i].s` seconds each. */
function stepArrivals(phases: {rate: number; s: number}[], seed = 1): number[] {
  const rng = createRng(seed, STREAM.arrivals)
  const out: number[] = []
  let t0 = 0
  for (const p of phases) {
    if (p.rate > 0) for (const t of poissonArrivals(p.rate, p.s, rng)) out.push(t0 + t)
    t0 += p.s * 1000
  }
  return out
}

/** Feeds `arrivals` to a tracker, estimating every `everyMs`; returns each estimate with its time. */
function track(arrivals: number[], endMs: number, everyMs = 250, tracker = new RateTracker(0)) {
  const out: {at: number; e: ReturnType<RateTracker['estimate']>}[] = []
  let i = 0
  for (let t = everyMs; t <= endMs; t += everyMs) {
    while (i < arrivals.length && arrivals[i] <= t) tracker.add(arrivals[i++])
    out.push({at: t, e: tracker.estimate(t)})
  }
  return out
}

describe('RateTracker: steps vs steady streams vs bursts', () => {
  it('a steady Poisson stream raises no change, and its rate and dispersion are right', () => {
    for (const rate of [5, 50]) {
      const est = track(stepArrivals([{rate, s: 120}], rate), 120_000)
      expect(
        est.filter((x) => x.e.changed),
        `${rate} req/s`,
      ).toHaveLength(0)
      const last = est.at(-1)!.e
      expect(last.rate).toBeGreaterThan(rate * 0.75)
      expect(last.rate).toBeLessThan(rate * 1.25)
      expect(last.bursty).toBe(false)
      expect(last.dispersion).toBeLessThan(2)
    }
  })

  it('follows a step 5 → 50 → 5 req/s within two seconds, without calling it bursty', () => {
    const est = track(
      stepArrivals([
        {rate: 5, s: 30},
        {rate: 50, s: 30},
        {rate: 5, s: 30},
      ]),
      90_000,
    )
    const changes = est.filter((x) => x.e.changed)
    expect(changes.length).toBeGreaterThanOrEqual(2)
    expect(changes.length).toBeLessThanOrEqual(3)
    const up = changes.find((x) => x.at > 30_000)!
    const down = changes.find((x) => x.at > 60_000)!
    expect(up.at - 30_000).toBeLessThanOrEqual(2000)
    expect(down.at - 60_000).toBeLessThanOrEqual(2000)
    // the split lands near the step, so the new regime counts the new rate only
    expect(Math.abs(up.e.regimeStartMs - 30_000)).toBeLessThan(1000)
    expect(Math.abs(down.e.regimeStartMs - 60_000)).toBeLessThan(1000)
    const at = (t: number) => est.find((x) => x.at === t)!.e
    expect(at(32_500).rate).toBeGreaterThan(35)
    expect(at(32_500).rate).toBeLessThan(65)
    expect(at(63_000).rate).toBeLessThan(10)
    for (const x of est) expect(x.e.bursty, `at ${x.at} ms`).toBe(false)
    expect(at(45_000).dispersion).toBeLessThan(2)
    expect(at(80_000).dispersion).toBeLessThan(2.5)
  })

  it('an on/off stream (repeated changes) is bursty, with its low and high phase rates', () => {
    const phases = Array.from({length: 12}, () => [
      {rate: 60, s: 1},
      {rate: 0, s: 4},
    ]).flat()
    const est = track(stepArrivals(phases, 3), 60_000)
    const last = est.at(-1)!.e
    expect(last.bursty).toBe(true)
    expect(last.dispersion).toBeGreaterThan(5)
    expect(last.highRate).toBeGreaterThan(30)
    expect(last.lowRate).toBe(0)
    expect(last.rate).toBeGreaterThan(8)
    expect(last.rate).toBeLessThan(16)
  })
})

describe('StageCorrection', () => {
  it('takes the median measured ÷ modelled ratio by batch size, interpolates, and extrapolates with the largest', () => {
    const c = new StageCorrection((_s, k) => 10 + 2 * k, 2)
    expect(c.factor(0, 4)).toBe(1) // nothing measured
    for (let i = 0; i < 4; i++) c.add(0, 2, 1.2 * 14)
    expect(c.factor(0, 2)).toBe(1) // too few samples
    c.add(0, 2, 1.2 * 14)
    for (let i = 0; i < 9; i++) c.add(0, 6, i === 0 ? 500 : 1.8 * 22) // one outlier: the median ignores it
    expect(c.factor(0, 2)).toBeCloseTo(1.2, 9)
    expect(c.factor(0, 6)).toBeCloseTo(1.8, 9)
    expect(c.factor(0, 4)).toBeCloseTo(1.5, 9)
    expect(c.factor(0, 1)).toBeCloseTo(1.2, 9)
    expect(c.factor(0, 8)).toBeCloseTo(1.8, 9)
    expect(c.factor(1, 4)).toBe(1) // the other stage is its own
    expect(c.describe()).toContain('stage 1: k2×1.20 k6×1.80')
  })

  it('the corrected model predicts slower stages, and a choice made without it misses the SLO under it', () => {
    const base = chain()
    const slow = {...chain(), stageScale: () => 1.5}
    const plain = solvePolicy(base, 20).best
    const corrected = solvePolicy(slow, 20)
    expect(corrected.feasible).toBe(true)
    expect(corrected.best.latencyMs).toBeLessThanOrEqual(slow.sloMs + 1e-6)
    const plainUnder = assessPolicy(slow, plain, [20])
    expect(plainUnder.latencyMs).toBeGreaterThan(plain.latencyMs)
    expect(plainUnder.meetsSlo).toBe(false)
    expect(plainUnder.costPerMillionUsd).toBeGreaterThan(plain.costPerMillionUsd)
  })
})

/** A controller run: arrivals fed in time order, a tick every `everyMs`, hooks before each tick. */
async function drive(
  c: AdaptiveController,
  arrivals: number[],
  fromMs: number,
  toMs: number,
  everyMs = 500,
  before?: (t: number, c: AdaptiveController) => void,
): Promise<{at: number; d: Decision}[]> {
  const out: {at: number; d: Decision}[] = []
  let i = arrivals.findIndex((a) => a > fromMs)
  if (i < 0) i = arrivals.length
  for (let t = fromMs + everyMs; t <= toMs; t += everyMs) {
    while (i < arrivals.length && arrivals[i] <= t) c.arrival(arrivals[i++])
    before?.(t, c)
    const d = await c.tick(t)
    if (d) out.push({at: t, d})
  }
  return out
}

describe('AdaptiveController', () => {
  it('reacts to a rate step within three seconds, batching more after it and less after the way back', async () => {
    const c = new AdaptiveController(chain(), 0, {fixed})
    const arrivals = stepArrivals([
      {rate: 5, s: 20},
      {rate: 80, s: 20},
      {rate: 5, s: 20},
    ])
    const ds = await drive(c, arrivals, 0, 20_000)
    const solvesAtLow = c.solves
    const budget = () => chain().sloMs * (1 - c.feedback.margin) + 0.01 * chain().sloMs
    // within three seconds of the step up: re-solved for the high rate, with the step as its cause
    ds.push(...(await drive(c, arrivals, 20_000, 23_000)))
    expect(c.solves).toBeGreaterThan(solvesAtLow)
    expect(c.lastSolve!.cause).toMatch(/rate step .* detected/)
    expect(c.lastSolve!.rate).toBeGreaterThan(50)
    ds.push(...(await drive(c, arrivals, 23_000, 40_000)))
    const atHigh = assessPolicy(c.corrected(), c.policy, [80])
    expect(atHigh.latencyMs).toBeLessThanOrEqual(budget())
    expect(atHigh.meanBatchSize).toBeGreaterThan(3)
    // the way back: re-solved for the low rate within three seconds (the choice then may stay, if it
    // still meets the budget and nothing is clearly cheaper: hysteresis)
    const solvesAtHigh = c.solves
    const rest = await drive(c, arrivals, 40_000, 43_000)
    expect(c.solves).toBeGreaterThan(solvesAtHigh)
    expect(c.lastSolve!.cause).toMatch(/rate step .* detected/)
    expect(c.lastSolve!.rate).toBeLessThan(10)
    const atLow = assessPolicy(c.corrected(), c.policy, [5])
    expect(atLow.latencyMs).toBeLessThanOrEqual(budget())
    expect(atLow.meanBatchSize).toBeLessThan(atHigh.meanBatchSize)
    ds.push(...rest, ...(await drive(c, arrivals, 43_000, 60_000)))
    // every choice meets the budget it was solved for
    for (const x of ds) if (x.d.evaluation) expect(x.d.evaluation.latencyMs).toBeLessThanOrEqual(chain().sloMs * (1 - c.feedback.o.initial) + 1e-6)
    // and it did not flap: a handful of solves for three regimes
    expect(c.solves).toBeLessThanOrEqual(8)
  })

  it('is never dearer than the plan’s B, T when those meet the budget at the observed rate', async () => {
    for (const rate of [4, 20, 60]) {
      const c = new AdaptiveController(chain(), 0, {fixed, feedback: {initial: 0, min: 0}})
      await drive(c, stepArrivals([{rate, s: 12}], rate), 0, 12_000, 1000)
      const corrected = c.corrected()
      const r = [c.checkedRate!]
      const f = assessPolicy(corrected, fixed, r)
      const mine = assessPolicy(corrected, c.policy, r)
      // (a choice within 1 % of the SLO over the budget is kept rather than flapping on rate noise)
      expect(mine.latencyMs, `${rate} req/s: ${JSON.stringify(mine)}`).toBeLessThanOrEqual(corrected.sloMs + 0.01 * chain().sloMs)
      if (f.meetsSlo) expect(mine.costPerMillionUsd, `${rate} req/s`).toBeLessThanOrEqual(f.costPerMillionUsd * (1 + 1e-9))
    }
  })

  it('backs off at once on measured misses (T cut, margin up), then relaxes slowly on a quiet stretch', async () => {
    const slo = chain().sloMs
    const c = new AdaptiveController(chain(), 0, {fixed})
    const arrivals = stepArrivals([{rate: 20, s: 120}], 5)
    await drive(c, arrivals, 0, 10_000)
    const before = {...c.policy}
    const m0 = c.feedback.margin
    expect(before.maxBatch).toBeGreaterThan(1)
    // requests arriving after the last change answer 15 % over the SLO
    let answeredBad = false
    const ds = await drive(c, arrivals, 10_000, 11_000, 500, (t, ctl) => {
      if (answeredBad) return
      for (let j = 0; j < 10; j++) ctl.request(t - 1 + j * 0.01, slo * 1.15, true)
      answeredBad = true
    })
    expect(ds.length).toBeGreaterThanOrEqual(1)
    expect(ds[0].d.cause).toMatch(/^backoff: 10 of 10 requests .* missed/)
    expect(ds[0].d.to.timeoutMs).toBeLessThan(before.timeoutMs)
    expect(c.feedback.margin).toBeGreaterThan(m0 + 0.03)
    const backedOff = c.feedback.margin
    // a quiet stretch: every request well under the budget
    const margins: {at: number; m: number}[] = []
    const quiet = await drive(c, arrivals, 11_000, 60_000, 1000, (t, ctl) => {
      for (let j = 0; j < 10; j++) ctl.request(t - 50 + j, slo * 0.3, true)
      margins.push({at: t, m: ctl.feedback.margin})
    })
    const firstRelax = margins.find((x) => x.m < backedOff)
    expect(firstRelax).toBeDefined()
    expect(firstRelax!.at - 10_500).toBeGreaterThanOrEqual(c.feedback.o.relaxAfterMs)
    for (let j = 1; j < margins.length; j++) {
      expect(margins[j].m).toBeLessThanOrEqual(margins[j - 1].m + 1e-12) // never up without misses
      const o = c.feedback.o
      // slowly: a step, a tenth of the way to the floor, or half the gap between the measured p99 (0.3 × SLO) and SLO × (1 − safety)
      expect(margins[j - 1].m - margins[j].m).toBeLessThanOrEqual(
        Math.max(o.relaxStep, o.relaxFraction * (margins[j - 1].m - o.min), (1 - o.safety - 0.3) / 2) + 1e-12,
      )
    }
    expect(c.feedback.margin).toBeLessThan(backedOff)
    expect(c.feedback.margin).toBeGreaterThanOrEqual(c.feedback.o.min)
    // relaxing re-solves at the larger budget now and then, each change logged with its cause
    expect(quiet.some((x) => /^relax: no misses/.test(x.d.cause))).toBe(true)
    expect(c.policy.timeoutMs).toBeGreaterThan(ds[0].d.to.timeoutMs)
  })

  it('re-solves when measured stage times exceed the model, and picks a choice that meets the budget with them', async () => {
    const base = chain()
    const c = new AdaptiveController(base, 0, {fixed})
    const arrivals = stepArrivals([{rate: 30, s: 30}], 9)
    await drive(c, arrivals, 0, 8000)
    const first = {...c.policy}
    const predicted = (i: number, k: number) => base.model.handlerMs(base.stages[i].range, base.stages[i].memoryMb, k, k)
    const ds = await drive(c, arrivals, 8000, 20_000, 500, (_t, ctl) => {
      // every batch size up to B answers 1.6× slower than the model says
      for (let k = 1; k <= ctl.policy.maxBatch; k++)
        ctl.batch(
          k,
          base.stages.map((_, i) => 1.6 * predicted(i, k)),
        )
    })
    const d = ds.find((x) => /measured stage \d time/.test(x.d.cause))
    expect(d, JSON.stringify(ds.map((x) => x.d.cause))).toBeDefined()
    expect(c.correction.factor(0, c.policy.maxBatch)).toBeCloseTo(1.6, 6)
    const under = assessPolicy(c.corrected(), c.policy, [c.state.rate])
    expect(under.meetsSlo).toBe(true)
    expect(assessPolicy(c.corrected(), first, [c.state.rate]).meetsSlo).toBe(false)
  })

  it('a steady stream does not make it flap', async () => {
    const c = new AdaptiveController(chain(), 0, {fixed})
    const ds = await drive(c, stepArrivals([{rate: 25, s: 60}], 21), 0, 60_000)
    expect(ds.length).toBeLessThanOrEqual(2)
    expect(c.solves).toBeLessThanOrEqual(3)
  })
})
