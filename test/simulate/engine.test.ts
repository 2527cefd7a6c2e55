import {describe, expect, it} from 'vitest'

import type {Plan} from '../../src/plan/types.js'
import type {Profile, TimingPoint} from '../../src/profile/types.js'
import {formBatches} from '../../src/simulate/engine.js'
import {parseTraceCsv, simulatePlan} from '../../src/simulate/index.js'
import {DEFAULT_PRICE_TABLE, mergePriceTable} from '../../src/cost/prices.js'
import {cut, syntheticPlan, syntheticProfile} from './fixtures.js'

/** a TimingPoint with no spread */
function fixed(batch: number, ms: number): TimingPoint {
  return {memoryMb: 1769, batch, medianMs: ms, p10Ms: ms, p90Ms: ms, minMs: ms, maxMs: ms, repeats: 1, modelled: false}
}

/**
 * Layer l1 (stage 1): 10 ms for one sample, 14 ms for two. Layers l2 + l3 (stage 2): 4 + 1.3 ms
 * for one sample, 6 + 2 ms for two. Runtime init 50 ms, no codec or handler overhead.
 * `cutBytes`: bytes per sample crossing the cut between the stages.
 */
function handProfile(cutBytes = 400): Profile {
  const p = syntheticProfile()
  p.cuts[1] = cut(1, cutBytes)
  p.layers[1].timing = [fixed(1, 10), fixed(2, 14)]
  p.layers[2].timing = [fixed(1, 4), fixed(2, 6)]
  p.layers[3].timing = [fixed(1, 1.3), fixed(2, 2)]
  p.runtime = {...p.runtime, runtimeInitMs: 50, loadMsPerWeightMb: 0, invokeOverheadMs: 0, codecMsPerMb: 0}
  return p
}

function handPlan(handoff: 'inline' | 's3' = 'inline'): Plan {
  const plan = syntheticPlan({batch: 2, timeoutMs: 10, handoff})
  for (const s of plan.stages) s.memoryMb = 1769
  plan.inputs.sloMs = 333
  return plan
}

/** round prices and a 100 ms platform cold start so the arithmetic below is easy to follow */
const handPrices = mergePriceTable({
  lambda: {durationTiers: {arm64: [{upToGbSeconds: null, usdPerGbSecond: 1e-5}]}, requestUsdPerMillion: 0.2},
  s3: {putUsdPerThousand: 0.005, getUsdPerThousand: 0.0004},
  latency: {invokeRoundTripMs: 5, coldStartBaseMs: 100, coldStartMsPerPackageMb: 0, s3PutMs: 7, s3GetMs: 3, s3MbPerS: 80},
})

const TRACE = 'arrival_ms\n0\n3\n200\n350\n355\n'

describe('a run worked out by hand (5 arrivals, B=2, T=10 ms, fixed service times)', () => {
  // Batches: {0, 3} full at 3 ms; {200} times out at 210 ms; {350, 355} full at 355 ms.
  // Cold start = 50 ms INIT (billed) + 100 ms platform (not billed). Keep-alive 100 ms. Invoke
  // round trip 5 ms.
  // Stage 1: b1 starts 8, cold, 150+14 = 164 → 172. b2 starts 215, instance idle 43 ms → warm,
  //          10 → 225. b3 starts 360, instance idle 135 ms ≥ 100 → gone, cold, 164 → 524.
  // Stage 2: b1 starts 177, cold, 150+8 = 158 → 335. b2 starts 230, b1 still busy → cold,
  //          150+5.3 = 155.3 → 385.3 (billed 156). b3 starts 529, both idle ≥ 100 ms → cold,
  //          158 → 687.
  const result = simulatePlan(handPlan(), handProfile(), {
    arrivals: {kind: 'trace', timesMs: parseTraceCsv(TRACE).timesMs},
    keepAliveS: 0.1,
    prices: handPrices,
  })

  it('forms the batches BATCH would', () => {
    expect(result.batches.count).toBe(3)
    expect(result.batches.histogram).toEqual([
      {size: 1, count: 1, fraction: 0.333333},
      {size: 2, count: 2, fraction: 0.666667},
    ])
    expect(result.batches.meanSize).toBeCloseTo(5 / 3, 6)
  })

  it('gives each request its exact latency', () => {
    // done − arrival: 335−0, 335−3, 385.3−200, 687−350, 687−355
    expect(result.latencyMs.mean).toBeCloseTo((335 + 332 + 185.3 + 337 + 332) / 5, 6)
    expect(result.latencyMs.p50).toBeCloseTo(332, 6)
    expect(result.latencyMs.p95).toBeCloseTo(337, 6)
    expect(result.latencyMs.max).toBeCloseTo(337, 6)
    expect(result.slo).toEqual({ms: 333, percentile: 0.99, misses: 2, missRate: 0.4})
  })

  it('counts cold starts and instances per stage', () => {
    expect(result.stages.map((s) => s.coldStarts)).toEqual([2, 3])
    expect(result.stages.map((s) => s.peakConcurrency)).toEqual([1, 2])
    expect(result.coldStarts).toEqual({count: 5, invocations: 6, rate: 0.833333, requestsAffected: 5, requestRate: 1})
    expect(result.stages.map((s) => s.initMs)).toEqual([150, 150])
    expect(result.stages.map((s) => s.initBilledMs)).toEqual([50, 50])
  })

  it('bills each invocation (INIT included, platform time not) rounded up to the ms, with request fees', () => {
    expect(result.stages.map((s) => s.billedMs)).toEqual([64 + 10 + 64, 58 + 56 + 58])
    const gb = 1769 / 1024
    const expected = ((138 + 172) / 1000) * gb * 1e-5 + 6 * 2e-7
    expect(result.cost.totalUsd).toBeCloseTo(expected, 12)
    expect(result.cost.requestUsd).toBeCloseTo(6 * 2e-7, 12)
    expect(result.cost.s3Usd).toBe(0)
    expect(result.cost.perMillionUsd).toBeCloseTo((expected / 5) * 1e6, 6)
  })

  it('adds S3 PUT + GET time and price when the tensors between the stages are too big to pass inline', () => {
    // 4 MiB per sample crossing the cut: a batch of 2 (8 MiB, ~11 MB as base64) exceeds the 6 MB
    // payload. PUT = 7 ms + 4 MiB·k at 80 MB/s (50 ms per sample) in stage 1; GET = 3 ms + 50 ms·k
    // in stage 2. Arrivals far apart and a long keep-alive: the same instances are warm or cold.
    const trace = Float64Array.from([0, 3, 2000, 3500, 3505])
    const opts = {arrivals: {kind: 'trace' as const, timesMs: trace}, keepAliveS: 1000, prices: handPrices}
    const inline = simulatePlan(handPlan('inline'), handProfile(400), opts)
    const s3 = simulatePlan(handPlan('s3'), handProfile(4 * 1048576), opts)
    expect(s3.stages.map((s) => s.coldStarts)).toEqual(inline.stages.map((s) => s.coldStarts))
    expect(s3.warnings.some((w) => w.includes('hands off'))).toBe(false)
    // batches of 2, 1, 2: later by (7 + 100) + (3 + 100) = 210 ms, 110 ms, 210 ms
    expect(s3.latencyMs.mean - inline.latencyMs.mean).toBeCloseTo((4 * 210 + 110) / 5, 6)
    expect(s3.latencyMs.max - inline.latencyMs.max).toBeCloseTo(210, 6)
    expect(s3.stages[0].billedMs - inline.stages[0].billedMs).toBe(107 + 57 + 107)
    expect(s3.stages[1].billedMs - inline.stages[1].billedMs).toBe(103 + 53 + 103)
    expect(s3.cost.s3Usd).toBeCloseTo(3 * (5e-6 + 4e-7), 12)
  })

  it("warns when the plan's hand-off flag disagrees with the tensor size", () => {
    const r = simulatePlan(handPlan('inline'), handProfile(4 * 1048576), {arrivals: {kind: 'trace', timesMs: Float64Array.from([0])}, prices: handPrices})
    expect(r.warnings.join('\n')).toMatch(/stage-1: the plan hands off inline, the cost model says s3 for 2 samples/)
  })
})

describe('formBatches', () => {
  const times = (xs: number[]) => Float64Array.from(xs)
  it('dispatches at the B-th arrival or at first + T, whichever is first', () => {
    const b = formBatches(times([0, 1, 2, 3, 50, 70]), 3, 10)
    expect([...b.start]).toEqual([0, 3, 4, 5, 6])
    expect([...b.dispatchMs]).toEqual([2, 13, 60, 80])
  })
  it('puts an arrival exactly at first + T into the next batch', () => {
    const b = formBatches(times([0, 10, 15]), 4, 10)
    expect([...b.start]).toEqual([0, 1, 3])
    expect([...b.dispatchMs]).toEqual([10, 20])
  })
  it('with T = 0 or B = 1 sends every request alone, immediately', () => {
    expect([...formBatches(times([0, 0.5, 1]), 4, 0).dispatchMs]).toEqual([0, 0.5, 1])
    expect([...formBatches(times([0, 0.5, 1]), 1, 100).dispatchMs]).toEqual([0, 0.5, 1])
  })
})

describe('service times follow the profile spread', () => {
  it('reproduces the median, p95 and mean of the quantile function (one sample per batch, all warm)', () => {
    // B = 1, one arrival every 2 s (longer than a cold start), keep-alive 1 h: each latency is the handler.
    const plan = syntheticPlan({batch: 1, timeoutMs: 0})
    plan.stages = [plan.stages[0]]
    plan.stages[0].memoryMb = 1769
    plan.stages[0].layers = {first: 'l0', last: 'l1', firstIndex: 0, lastIndex: 1, count: 2}
    const profile = syntheticProfile({spread: 0.2})
    profile.runtime = {...profile.runtime, invokeOverheadMs: 0, codecMsPerMb: 0}
    const n = 20000
    const timesMs = new Float64Array(n).map((_, i) => i * 2000)
    const r = simulatePlan(plan, profile, {
      arrivals: {kind: 'trace', timesMs},
      keepAliveS: 3600,
      prices: mergePriceTable({latency: {invokeRoundTripMs: 0}}),
      seed: 3,
    })
    expect(r.coldStarts.count).toBe(1)
    // l1 at 1769 MB, batch 1: median 6 ms; p10 = 0.9·6, p90 = 1.2·6, min 0.8·6, max 1.6·6
    expect(r.latencyMs.p50).toBeGreaterThan(6 * 0.985)
    expect(r.latencyMs.p50).toBeLessThan(6 * 1.015)
    // p95 is halfway between p90 (1.2·6) and max (1.6·6) on the quantile function: 1.4·6
    expect(r.latencyMs.p95).toBeGreaterThan(6 * 1.4 * 0.98)
    expect(r.latencyMs.p95).toBeLessThan(6 * 1.4 * 1.02)
    // mean of the piecewise-linear distribution: 0.05(0.8+0.9) + 0.2(0.9+1) + 0.2(1+1.2) + 0.05(1.2+1.6) = 1.045
    const warmMean = (r.latencyMs.mean * n - r.latencyMs.max) / (n - 1)
    expect(warmMean / 6).toBeGreaterThan(1.045 - 0.01)
    expect(warmMean / 6).toBeLessThan(1.045 + 0.01)
  })
})

describe('bounds', () => {
  it('refuses a run larger than maxRequests', () => {
    expect(() =>
      simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 1000, durationS: 100}, maxRequests: 50_000}),
    ).toThrow(/about 100,000 requests, more than the limit of 50,000/)
  })
  it('uses the built-in price table when none is given', () => {
    const r = simulatePlan(syntheticPlan(), syntheticProfile(), {arrivals: {kind: 'poisson', ratePerSecond: 20, durationS: 10}})
    expect(r.prices).toEqual({version: DEFAULT_PRICE_TABLE.version, invokeRoundTripMs: DEFAULT_PRICE_TABLE.latency.invokeRoundTripMs.value})
  })
})
