import {describe, expect, it} from 'vitest'

import {SECONDS_PER_MONTH, alwaysOnAlternative, estimateCost, perRequestUsdAt} from '../../src/plan/estimate.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {PLAN_VERSION, type Plan, type PlanStage} from '../../src/plan/types.js'

const prices = DEFAULT_PRICE_TABLE
const X86 = 0.0000166667

function stage(over: Partial<PlanStage> = {}): PlanStage {
  return {
    index: 0,
    name: 'stage-1',
    layers: {first: 'a', last: 'b', firstIndex: 0, lastIndex: 1, count: 2},
    memoryMb: 1024,
    arch: 'x86_64',
    packageBytes: 20e6,
    weightsBytes: 8e6,
    predictedMs: 99.5,
    inputBytes: 1000,
    outputBytes: 40,
    inputTensors: ['a'],
    outputTensors: ['b'],
    handoff: 'inline',
    billedMs: 100,
    initMs: 0,
    billedMsByBatch: [100],
    ...over,
  }
}

function plan(over: Partial<Plan> = {}, stages: PlanStage[] = [stage()]): Plan {
  return {
    version: PLAN_VERSION,
    model: {name: 'hand', sha256: 'x', source: 'hand'},
    inputs: {
      sloMs: 500,
      percentile: 99,
      ratePerSecond: 1e6 / SECONDS_PER_MONTH,
      arch: 'x86_64',
      region: 'us-east-1',
      priceTableVersion: prices.version,
      maxBatch: 1,
    },
    batch: {size: 1, timeoutMs: 0},
    stages,
    predicted: {
      latencyMs: 115,
      serviceMs: 115,
      meanBatchSize: 1,
      costPerMillionUsd: 1.86667,
      monthlyCostUsd: 1.86667,
      coldStartMs: 500,
      coldStartProbability: 0,
      fullCpuMsPerRequest: 60,
      wholeModelMemoryMb: 300,
    },
    solver: {method: 'fast', optimal: true, solveMs: 1},
    baselines: [{name: 'amps-inf', description: '', feasible: true, latencyMs: 115, costPerMillionUsd: 3}],
    createdAt: '2026-11-23T00:00:00.000Z',
    ...over,
  }
}

describe('monthly estimate', () => {
  it('1M requests × 100 ms × 1,024 MB: 100,000 GB-s, $1.666670 + $0.20', () => {
    const e = estimateCost(plan(), {prices})
    expect(e.requestsPerMonth).toBeCloseTo(1e6, 6)
    expect(e.stages[0].invocationsPerMonth).toBeCloseTo(1e6, 6)
    expect(e.stages[0].gbSeconds).toBeCloseTo(100_000, 6)
    expect(e.totals.durationUsd).toBeCloseTo(1.66667, 8)
    expect(e.totals.requestsUsd).toBeCloseTo(0.2, 10)
    expect(e.totals.totalUsd).toBeCloseTo(1.86667, 8)
    expect(e.totals.perMillionUsd).toBeCloseTo(1.86667, 8)
  })

  it('the free tier takes 1M requests and 400,000 GB-s off', () => {
    const e = estimateCost(plan(), {prices, requestsPerMonth: 5e6, freeTier: true})
    // 500,000 GB-s − 400,000 free = 100,000 × price; 5M − 1M requests
    expect(e.totals.durationUsd).toBeCloseTo(100_000 * X86, 8)
    expect(e.totals.requestsUsd).toBeCloseTo(0.8, 10)
    expect(e.totals.freeTierUsd).toBeCloseTo(400_000 * X86 + 0.2, 8)
  })

  it('prices INIT on cold starts and S3 hand-offs per batch', () => {
    const p = plan({}, [stage({initMs: 250.4, handoff: 's3'})])
    const rate = 1 / 600
    const e = estimateCost(p, {prices, ratePerSecond: rate})
    // the stage's pool (src/cost/batching.ts coldStartProbability): N busy ~ Poisson(ρ = rate · h),
    // an invocation finding j busy is cold with probability exp(−rate · P(N ≥ j) · (keep-alive + h));
    // j = 0 is the gap longer than the 300 s keep-alive, j ≥ 1 the rare overlap (terms beyond 2 < 1e-12)
    const h = e.stages[0].meanBilledMs / 1000
    const rho = rate * h
    const pi = [Math.exp(-rho), rho * Math.exp(-rho), ((rho * rho) / 2) * Math.exp(-rho)]
    const atLeast = [1, 1 - pi[0], 1 - pi[0] - pi[1]]
    const coldP = pi.reduce((sum, q, j) => sum + q * Math.exp(-rate * atLeast[j] * (300 + h)), 0)
    expect(coldP).toBeCloseTo(Math.exp(-rate * 300), 3)
    const invocations = rate * SECONDS_PER_MONTH
    expect(e.stages[0].coldStartsPerMonth).toBeCloseTo(invocations * coldP, 6)
    expect(e.stages[0].initGbSeconds).toBeCloseTo((invocations * coldP * 251) / 1000, 6)
    expect(e.stages[0].initUsd).toBeCloseTo(((invocations * coldP * 251) / 1000) * X86, 9)
    expect(e.stages[0].s3Usd).toBeCloseTo((invocations * (0.005 + 0.0004)) / 1000, 12)
    expect(e.stages[0].tmpUsd).toBe(0)
  })

  it('walks the price tiers at very high volume', () => {
    const e = estimateCost(plan({}, [stage({billedMsByBatch: [1000], memoryMb: 10240})]), {prices, requestsPerMonth: 1e9})
    // 1e9 × 1 s × 10 GB = 1e10 GB-s: 6e9 at tier 1, 4e9 at tier 2
    expect(e.totals.gbSeconds).toBeCloseTo(1e10, 0)
    expect(e.totals.durationUsd).toBeCloseTo(6e9 * X86 + 4e9 * 0.000015, 0)
  })

  it('averages billed ms over the batch sizes the rate produces', () => {
    const p = plan({batch: {size: 2, timeoutMs: 50}, inputs: {...plan().inputs, ratePerSecond: 20, maxBatch: 2}}, [stage({billedMsByBatch: [100, 150]})])
    // λT = 1: P(K=1) = e^-1, P(K=2) = 1 − e^-1
    const p1 = Math.exp(-1)
    const perBatch = 1024 * (p1 * 100 + (1 - p1) * 150) * (X86 / 1024 / 1000) + 0.2e-6
    const ek = p1 + 2 * (1 - p1)
    expect(perRequestUsdAt(p, prices, 20)).toBeCloseTo(perBatch / ek, 15)
    const e = estimateCost(p, {prices})
    expect(e.meanBatchSize).toBeCloseTo(ek, 12)
    expect(e.stages[0].meanBilledMs).toBeCloseTo(p1 * 100 + (1 - p1) * 150, 9)
  })

  it('shows where batching pays across rates', () => {
    const p = plan({batch: {size: 8, timeoutMs: 100}, inputs: {...plan().inputs, ratePerSecond: 10, maxBatch: 8}}, [
      stage({billedMsByBatch: [100, 130, 160, 190, 220, 250, 280, 310]}),
    ])
    const unbatched = perRequestUsdAt(plan({}, [stage({billedMsByBatch: [100]})]), prices, 10) * 1e6
    p.baselines = [{name: 'amps-inf', description: '', feasible: true, latencyMs: 115, costPerMillionUsd: unbatched}]
    const e = estimateCost(p, {prices})
    expect(e.rates.map((r) => r.multiplier)).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10])
    // batched cost per request falls as the rate fills batches
    for (let i = 1; i < e.rates.length; i++) expect(e.rates[i].batchedPerMillionUsd).toBeLessThan(e.rates[i - 1].batchedPerMillionUsd)
    const from = e.batchingPaysFromRatePerSecond!
    expect(from).toBeGreaterThan(0)
    expect(perRequestUsdAt(p, prices, from) * 1e6).toBeLessThan(unbatched)
    if (from > e.rates[0].ratePerSecond) expect(perRequestUsdAt(p, prices, from * 0.99) * 1e6).toBeGreaterThanOrEqual(unbatched)
  })

  it('sizes the always-on alternative by memory and throughput', () => {
    // 60 ms per request per vCPU, 70 % utilisation: a 2-vCPU instance serves 23.3 req/s
    const ao = alwaysOnAlternative(plan(), prices, 50)
    expect(ao.feasible).toBe(true)
    expect(ao.instance).toBe('ml.t3.medium')
    expect(ao.count).toBe(3)
    expect(ao.monthlyUsd).toBeCloseTo(3 * 0.05 * 730, 9)
    const big = alwaysOnAlternative(plan({predicted: {...plan().predicted, wholeModelMemoryMb: 8000}}), prices, 1)
    expect(big.instance).toBe('ml.m5.xlarge')
    expect(alwaysOnAlternative(plan({predicted: {...plan().predicted, wholeModelMemoryMb: 20000}}), prices, 1).feasible).toBe(false)
  })
})
