import {describe, expect, it} from 'vitest'

import {batchSizeDistribution as plannerDistribution} from '../../src/cost/batching.js'
import {burstyParams, COLD_REQUEST_WARNING_FRACTION, MAX_SUGGESTED_WARMUP_FRACTION, simulatePlan} from '../../src/simulate/index.js'
import {syntheticPlan, syntheticProfile} from './fixtures.js'

/**
 * P(batch size = k) under Poisson(λ) arrivals with BATCH(B, T), from first principles: the batch
 * takes its first request plus every arrival in the next T ms, up to B in all, so
 * k = min(B, 1 + N) with N ~ Poisson(λT).
 */
function batchSizeDistribution(ratePerS: number, B: number, timeoutMs: number): number[] {
  const mu = (ratePerS * timeoutMs) / 1000
  const p = new Array(B + 1).fill(0)
  let pn = Math.exp(-mu)
  let below = 0
  for (let k = 1; k < B; k++) {
    p[k] = pn // P(N = k − 1)
    below += pn
    pn *= mu / k
  }
  p[B] = 1 - below
  return p
}

describe('reproducibility', () => {
  const run = (seed: number) => simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 300}, seed})
  it('gives the identical result for the same seed', () => {
    expect(JSON.stringify(run(9))).toBe(JSON.stringify(run(9)))
  })
  it('gives a different result for a different seed', () => {
    const a = run(9)
    const b = run(10)
    expect(a.arrivals.requests === b.arrivals.requests && a.latencyMs.p99 === b.latencyMs.p99 && a.cost.totalUsd === b.cost.totalUsd).toBe(false)
  })
  it('keeps service draws apart from arrival draws (same seed, other arrival process)', () => {
    const bursty = simulatePlan(syntheticPlan(), syntheticProfile(), {
      arrivals: {kind: 'bursty', params: burstyParams(20), durationS: 300},
      seed: 9,
    })
    expect(JSON.stringify(bursty)).toBe(
      JSON.stringify(simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'bursty', params: burstyParams(20), durationS: 300}, seed: 9})),
    )
    expect(bursty.arrivals.process).toBe('bursty')
  })
})

describe('Poisson batch sizes follow min(B, 1 + Poisson(λT))', () => {
  it.each([
    {rate: 20, B: 4, T: 50},
    {rate: 100, B: 8, T: 40},
    {rate: 5, B: 2, T: 100},
  ])('λ = $rate/s, B = $B, T = $T ms', ({rate, B, T}) => {
    const plan = syntheticPlan({rate, batch: B, timeoutMs: T})
    const r = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: rate, durationS: 100_000 / rate}, seed: 4})
    const p = batchSizeDistribution(rate, B, T)
    // the planner's exact model (src/cost/batching.ts) says the same, and the result carries it
    const planner = plannerDistribution({ratePerSecond: rate, maxBatch: B, timeoutMs: T})
    for (let k = 1; k <= B; k++) {
      expect(planner[k - 1]).toBeCloseTo(p[k], 12)
      expect(r.batches.histogram[k - 1].analytic).toBeCloseTo(p[k], 6)
    }
    const n = r.batches.count
    expect(n).toBeGreaterThan(15_000)
    let chi2 = 0
    let dof = -1
    let maxDiff = 0
    for (const h of r.batches.histogram) {
      const expected = n * p[h.size]
      maxDiff = Math.max(maxDiff, Math.abs(h.fraction - p[h.size]))
      if (expected >= 5) {
        chi2 += (h.count - expected) ** 2 / expected
        dof++
      }
    }
    // 0.999 quantiles of chi-square with 1..7 degrees of freedom
    const critical = [10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32]
    expect(chi2).toBeLessThan(critical[dof - 1])
    expect(maxDiff).toBeLessThan(0.015)
    const mean = p.reduce((a, pk, k) => a + pk * k, 0)
    expect(Math.abs(r.batches.meanSize - mean) / mean).toBeLessThan(0.01)
  })
})

describe('bursty arrivals', () => {
  it.each([1, 2, 3])('have a larger p99 than Poisson at the same mean rate when idle instances expire (seed %i)', (seed) => {
    // Keep-alive 2 s: the pool shrinks during each 30-s LOW spell and every burst (3× the rate)
    // meets cold instances; Poisson at the same mean rate rarely needs a new one.
    const plan = syntheticPlan({rate: 20})
    const common = {keepAliveS: 2, seed}
    const poisson = simulatePlan(plan, syntheticProfile(), {...common, arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 1800}})
    const bursty = simulatePlan(plan, syntheticProfile(), {...common, arrivals: {kind: 'bursty', params: burstyParams(20), durationS: 1800}})
    expect(bursty.arrivals.meanRatePerSecond).toBe(20)
    expect(bursty.coldStarts.requestRate).toBeGreaterThan(poisson.coldStarts.requestRate * 3)
    expect(bursty.latencyMs.p99).toBeGreaterThan(poisson.latencyMs.p99 * 2)
  })
})

describe('warm-up', () => {
  it('leaves the cold starts of the empty pool at t = 0 out of the statistics', () => {
    const opts = {arrivals: {kind: 'poisson' as const, ratePerSecond: 20, durationS: 600}, keepAliveS: 600}
    const all = simulatePlan(syntheticPlan(), syntheticProfile(), opts)
    const steady = simulatePlan(syntheticPlan(), syntheticProfile(), {...opts, warmupS: 30})
    // the first batches find no instance; once the pools have grown, 600 s keep-alive keeps them warm
    expect(all.coldStarts.count).toBeGreaterThan(0)
    expect(steady.coldStarts.count).toBe(0)
    expect(steady.latencyMs.max).toBeLessThan(all.latencyMs.max)
    expect(steady.warmup.requestsExcluded).toBe(all.arrivals.requests - steady.batches.histogram.reduce((a, h) => a + h.count * h.size, 0))
    // same arrivals and draws: only the counting differs
    expect(steady.arrivals.requests).toBe(all.arrivals.requests)
  })
  it('suggests a warm-up when the start-up cold starts are over 1 % of a short run, one that leaves them out', () => {
    const opts = {arrivals: {kind: 'poisson' as const, ratePerSecond: 20, durationS: 60}, keepAliveS: 600}
    const short = simulatePlan(syntheticPlan(), syntheticProfile(), opts)
    expect(short.coldStarts.requestRate).toBeGreaterThan(COLD_REQUEST_WARNING_FRACTION)
    const w = short.warmup.suggestedS!
    expect(w).toBeGreaterThan(0)
    expect(w).toBeLessThanOrEqual(60 * MAX_SUGGESTED_WARMUP_FRACTION)
    const advice = short.warnings.filter((x) => x.includes('--warmup-s'))
    expect(advice).toHaveLength(1)
    expect(advice[0]).toContain(`${(100 * short.coldStarts.requestRate).toFixed(1)}% of the counted requests met a cold start (more than 1.0%)`)
    expect(advice[0]).toContain(`--warmup-s ${w} leaves the first ${w} s out`)
    // taking the advice: the same run counted from w s on meets at most half the threshold, and is not warned again
    const steady = simulatePlan(syntheticPlan(), syntheticProfile(), {...opts, warmupS: w})
    expect(steady.coldStarts.requestRate).toBeLessThanOrEqual(COLD_REQUEST_WARNING_FRACTION / 2)
    expect(steady.warnings.join('\n')).not.toContain('--warmup-s')
    expect(steady.warmup.suggestedS).toBeUndefined()
    // one second less would not have done (w is the shortest)
    if (w > 1) {
      const shorter = simulatePlan(syntheticPlan(), syntheticProfile(), {...opts, warmupS: w - 1})
      expect(shorter.coldStarts.requestRate).toBeGreaterThan(COLD_REQUEST_WARNING_FRACTION / 2)
    }
  })
  it('suggests no warm-up when the cold starts are under 1 %, or spread through the run', () => {
    // a long run dilutes the start-up cold starts
    const long = simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 600}, keepAliveS: 600})
    expect(long.coldStarts.requestRate).toBeLessThanOrEqual(COLD_REQUEST_WARNING_FRACTION)
    expect(long.warmup.suggestedS).toBeUndefined()
    expect(long.warnings.join('\n')).not.toContain('--warmup-s')
    // a 10 ms keep-alive: instances are gone between most batches all through the run; no warm-up helps
    const spread = simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 60}, keepAliveS: 0.01})
    expect(spread.coldStarts.requestRate).toBeGreaterThan(0.5)
    expect(spread.warmup.suggestedS).toBeUndefined()
    expect(spread.warnings.join('\n')).not.toContain('--warmup-s')
  })
  it('refuses a warm-up as long as the run', () => {
    expect(() => simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 10}, warmupS: 10})).toThrow(
      /covers the whole run/,
    )
  })
})

describe('comparison with the plan', () => {
  it('is like for like only for Poisson at the plan rate', () => {
    const plan = syntheticPlan({rate: 20})
    const same = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 120}})
    expect(same.prediction.comparable).toBe(true)
    expect(same.prediction.meanBatchSize.predicted).toBe(plan.predicted.meanBatchSize)
    expect(same.prediction.meanBatchSize.errorPct).toBeCloseTo(
      (Math.abs(same.batches.meanSize - plan.predicted.meanBatchSize) / plan.predicted.meanBatchSize) * 100,
      1,
    )
    expect(same.prediction.latencyAtPercentile.percentile).toBe(0.99)
    const other = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 40, durationS: 60}})
    expect(other.prediction.comparable).toBe(false)
    expect(other.prediction.note).toMatch(/predicted at 20\/s; this run used 40\/s/)
  })
  it('for a plan made without a rate: comparable at batch size 1 under any Poisson rate, not when it batches', () => {
    // what `amps plan` writes without --rate: rate 0, batch size 1
    const plan = syntheticPlan({rate: 0, batch: 1})
    const r = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 5, durationS: 60}})
    expect(r.prediction.comparable).toBe(true)
    expect(r.prediction.note).toBe(
      'the plan was made without a rate; at batch size 1 its latency and cost per request do not depend on the rate, so 5/s compares, but its cold-start probability does (the plan assumed 0.001)',
    )
    expect(r.prediction.note).not.toMatch(/0\/s/)
    expect(r.warnings.join('\n')).not.toMatch(/not like for like/)
    // with batching, the rate sets the wait and the batch sizes
    const batched = simulatePlan(syntheticPlan({rate: 0, batch: 4}), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 5, durationS: 60}})
    expect(batched.prediction.comparable).toBe(false)
    expect(batched.prediction.note).toMatch(/^the plan was made without a rate, but it batches up to 4 requests, .*this run used 5\/s$/)
    expect(batched.warnings).toContain(`prediction errors are not like for like: ${batched.prediction.note}`)
    // another arrival process is never like for like
    const bursty = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'bursty', params: burstyParams(5), durationS: 60}})
    expect(bursty.prediction.comparable).toBe(false)
    expect(bursty.prediction.note).toBe('the plan was made without a rate; this run used a bursty process')
  })
  it('reads a percentile written as 99 the same as 0.99', () => {
    const plan = syntheticPlan()
    plan.inputs.percentile = 99
    const r = simulatePlan(plan, syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 60}})
    expect(r.slo.percentile).toBe(0.99)
  })
  it('runs without a profile on the plan times, and says so', () => {
    const r = simulatePlan(syntheticPlan(), undefined, {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 60}})
    expect(r.stages.map((s) => s.serviceSource)).toEqual(['plan', 'plan'])
    expect(r.warnings[0]).toMatch(/no profile/)
    // every warm invocation takes exactly predictedMs (20 ms) → billed 20 ms
    expect(r.stages[0].billedMs).toBe(20 * (r.stages[0].invocations - r.stages[0].coldStarts) + 620 * r.stages[0].coldStarts)
  })
})
