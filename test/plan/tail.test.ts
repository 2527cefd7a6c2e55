import {describe, expect, it} from 'vitest'

import {waitPercentileMs} from '../../src/cost/batching.js'
import {planFromProfile} from '../../src/plan/index.js'
import {TAIL_SAMPLES, latencyPercentileMs, unbatched, type TailStage} from '../../src/plan/tail.js'
import {simulatePlan} from '../../src/simulate/index.js'
import {quantileOf} from '../../src/cost/spread.js'
import {seededRandom, syntheticProfile} from '../helpers/synthetic.js'

const stage = (latencyMs: number, computeMs: number, spread: TailStage['spread']): TailStage => ({latencyMs, computeMs, spread})

describe("latency at the percentile with the stage times' spread", () => {
  it('one stage, no batching: the exact quantile, worked by hand', () => {
    // p99 of the spread (40, 45, 50, 60, 70): 60 + 0.9·(70 − 60) = 69, i.e. 1.38 × the median;
    // 80 ms of compute at 1.38× adds 30.4 ms to the stage's 100 ms median latency
    const s = stage(100, 80, [40, 45, 50, 60, 70])
    expect(latencyPercentileMs(unbatched([s]), 99)).toBeCloseTo(130.4, 9)
    // the median is the median
    expect(latencyPercentileMs(unbatched([s]), 50)).toBeCloseTo(100, 9)
    // p100 is the slowest sample: 70/50 → +32 ms
    expect(latencyPercentileMs(unbatched([s]), 100)).toBeCloseTo(132, 9)
  })

  it('stages without spread add their median latency and nothing else', () => {
    const flat = stage(42, 30, [10, 10, 10, 10, 10])
    expect(latencyPercentileMs(unbatched([flat, flat]), 99)).toBe(84)
  })

  it('the wait alone is the exact BATCH wait percentile (to the tabulation grid)', () => {
    const policy = {ratePerSecond: 20, batchSize: 4, timeoutMs: 120}
    const flat = stage(50, 30, [10, 10, 10, 10, 10])
    for (const p of [50, 90, 99]) {
      const want = 50 + waitPercentileMs({ratePerSecond: 20, maxBatch: 4, timeoutMs: 120}, p)
      expect(Math.abs(latencyPercentileMs({sizes: [{k: policy.batchSize, weight: 1, stages: [flat]}], ...policy}, p) - want)).toBeLessThan(120 / 2000 + 1e-9)
    }
    expect(latencyPercentileMs({sizes: [{k: policy.batchSize, weight: 1, stages: [flat]}], ...policy}, 100)).toBeCloseTo(170, 9)
  })

  it('a request rides in a batch of k with its size-biased probability', () => {
    // half the requests in batches of 1 (10 ms), half in batches of 2 (20 ms), no wait
    const sizes = [
      {k: 1, weight: 0.5, stages: [stage(10, 5, [5, 5, 5, 5, 5])]},
      {k: 2, weight: 0.5, stages: [stage(20, 5, [5, 5, 5, 5, 5])]},
    ]
    const input = {sizes, ratePerSecond: 10, batchSize: 2, timeoutMs: 0}
    expect(latencyPercentileMs(input, 40)).toBe(10)
    expect(latencyPercentileMs(input, 60)).toBe(20)
    expect(latencyPercentileMs(input, 100)).toBe(20)
  })

  it('several independent parts: matches a brute-force sample with another seed', () => {
    const a = stage(100, 80, [40, 45, 50, 60, 70])
    const b = stage(60, 55, [20, 27, 30, 36, 52])
    const policy = {ratePerSecond: 15, batchSize: 3, timeoutMs: 90}
    const got = latencyPercentileMs({sizes: [{k: policy.batchSize, weight: 1, stages: [a, b]}], ...policy}, 99)
    // brute force: the wait by bisection on its exact CDF, stages through the simulator's quantile function
    const rnd = seededRandom(987)
    const n = 200_000
    const xs = new Float64Array(n)
    const waits = Array.from({length: 1001}, (_, i) => (i === 0 ? 0 : waitPercentileMs({ratePerSecond: 15, maxBatch: 3, timeoutMs: 90}, i / 10)))
    for (let i = 0; i < n; i++) {
      const u = rnd() * 1000
      const w = waits[Math.floor(u)] + (u % 1) * (waits[Math.min(1000, Math.floor(u) + 1)] - waits[Math.floor(u)])
      xs[i] = w + 160 + 80 * (quantileOf(a.spread, rnd()) / 50 - 1) + 55 * (quantileOf(b.spread, rnd()) / 30 - 1)
    }
    xs.sort()
    const want = xs[Math.ceil(0.99 * n) - 1]
    expect(Math.abs(got - want) / want).toBeLessThan(0.01)
    // and it is more than the parts' medians, less than the sum of their p99s
    expect(got).toBeGreaterThan(160 + waitPercentileMs({ratePerSecond: 15, maxBatch: 3, timeoutMs: 90}, 50))
    expect(got).toBeLessThan(latencyPercentileMs(unbatched([a]), 99) + latencyPercentileMs(unbatched([b]), 99) + 90)
    expect(TAIL_SAMPLES).toBeGreaterThanOrEqual(10_000)
  })
})

describe('plans held to the SLO with the spread', () => {
  const profile = syntheticProfile({layers: 30, seed: 31, topology: 'chain', meanLayerMs: 6})

  it("an unbatched plan's p99 matches the simulator's, and meets the SLO there", () => {
    const plan = planFromProfile(profile, {sloMs: 400, ratePerSecond: 20, maxBatch: 1})
    expect(plan.batch.size).toBe(1)
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(400)
    expect(plan.predicted.spreadMs).toBeGreaterThan(0)
    const sim = simulatePlan(plan, profile, {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 60 + 2500}, seed: 3, warmupS: 60})
    const simP99 = sim.latencyMs.p99
    expect(Math.abs(plan.predicted.latencyMs - simP99) / simP99).toBeLessThan(0.05)
    expect(simP99).toBeLessThanOrEqual(400 * 1.02)
  })

  it("a batched plan's p99 is within 5 % of the simulator's", () => {
    const plan = planFromProfile(profile, {sloMs: 600, ratePerSecond: 30, maxBatch: 8})
    expect(plan.batch.size).toBeGreaterThan(1)
    const sim = simulatePlan(plan, profile, {arrivals: {kind: 'poisson', ratePerSecond: 30, durationS: 60 + 2000}, seed: 5, warmupS: 60})
    expect(Math.abs(plan.predicted.latencyMs - sim.latencyMs.p99) / sim.latencyMs.p99).toBeLessThan(0.05)
  })

  it('the solver is given a tighter SLO for its medians when the spread needs it', () => {
    const plan = planFromProfile(profile, {sloMs: 300})
    expect(plan.solver.sloForMediansMs).toBeLessThan(300)
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(300)
    // every baseline is held to the same rule
    for (const b of plan.baselines) if (b.feasible) expect(b.latencyMs).toBeLessThanOrEqual(300 + 1e-6)
  })
})

describe('budget search on a plateau', () => {
  it('a profile with a wide spread: one function at max memory meets the SLO, so the cheapest single function and AMPS-Inf do too', () => {
    for (const seed of [41, 42, 43]) {
      const p = syntheticProfile({layers: 24, seed, topology: 'chain', meanLayerMs: 1})
      // tiny noisy layers: p90 twice the median, the slowest four times (the cap keeps 3·(p90 − median))
      for (const l of p.layers)
        for (const t of l.timing) Object.assign(t, {p10Ms: t.medianMs * 0.9, minMs: t.medianMs * 0.8, p90Ms: t.medianMs * 2, maxMs: t.medianMs * 4})
      const whole = planFromProfile(p, {sloMs: 1000, ratePerSecond: 0})
      const fastest = whole.baselines.find((b) => b.name === 'max-memory')!
      expect(fastest.feasible).toBe(true)
      const slo = Math.ceil(fastest.latencyMs * 3)
      const plan = planFromProfile(p, {sloMs: slo, ratePerSecond: 10})
      for (const name of ['single-function', 'amps-inf', 'max-memory']) {
        const b = plan.baselines.find((x) => x.name === name)!
        expect(b.feasible, `${name} at SLO ${slo} (seed ${seed}): ${b.reason ?? ''}`).toBe(true)
        expect(b.latencyMs).toBeLessThanOrEqual(slo + 1e-6)
      }
      expect(plan.predicted.latencyMs).toBeLessThanOrEqual(slo)
    }
  })

  it("an SLO just under the p99 at the memory floor: the budget drops below that memory's own median latency, not by 1 % a round", () => {
    const p = syntheticProfile({layers: 24, seed: 44, topology: 'chain', meanLayerMs: 1})
    for (const l of p.layers)
      for (const t of l.timing) Object.assign(t, {p10Ms: t.medianMs * 0.9, minMs: t.medianMs * 0.8, p90Ms: t.medianMs * 2, maxMs: t.medianMs * 4})
    // the cheapest memory is the floor for every loose SLO
    const loose = planFromProfile(p, {sloMs: 100_000})
    const floor = loose.stages[0].memoryMb
    const tight = Math.floor(loose.predicted.latencyMs) - 1
    expect(loose.predicted.spreadMs).toBeGreaterThan(5)
    const plan = planFromProfile(p, {sloMs: tight})
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(tight)
    expect(plan.stages.reduce((s, x) => s + x.memoryMb, 0)).toBeGreaterThan(floor)
    expect(plan.baselines.find((b) => b.name === 'single-function')!.feasible).toBe(true)
  })
})
