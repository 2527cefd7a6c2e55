import {describe, expect, it} from 'vitest'

import {
  batchSizeDistribution,
  coldStartProbability,
  expectedBatchSize,
  meanWaitMs,
  poissonPmf,
  waitCdf,
  waitPercentileLowerBound,
  waitPercentileMs,
} from '../../src/cost/batching.js'
import {seededRandom} from '../helpers/synthetic.js'

/**
 * Seeded Monte Carlo of the BATCH buffer: Poisson arrivals; a batch opens with the first arrival
 * after the previous dispatch and dispatches at B requests or T ms after its first request.
 */
function simulate(rate: number, B: number, T: number, requests: number, seed: number): {sizes: number[]; waits: number[]} {
  const rnd = seededRandom(seed)
  const gapMs = (): number => (-Math.log(1 - rnd()) / rate) * 1000
  const sizes: number[] = []
  const waits: number[] = []
  let t = 0
  let next = gapMs()
  let served = 0
  while (served < requests) {
    // open a batch at the next arrival
    const open = next
    const arrivals = [open]
    next = open + gapMs()
    while (arrivals.length < B && next <= open + T) {
      arrivals.push(next)
      next += gapMs()
    }
    const dispatch = arrivals.length === B ? arrivals[B - 1] : open + T
    for (const a of arrivals) waits.push(dispatch - a)
    sizes.push(arrivals.length)
    served += arrivals.length
    t = dispatch
  }
  void t
  return {sizes, waits}
}

describe('batch-size distribution', () => {
  it('is min(B, 1 + Poisson(λT)) exactly: hand-worked values', () => {
    // λT = 2 arrivals after the first; B = 3: P(K=1) = e^-2, P(K=2) = 2e^-2, P(K=3) = 1 - 3e^-2
    const d = batchSizeDistribution({ratePerSecond: 100, maxBatch: 3, timeoutMs: 20})
    expect(d[0]).toBeCloseTo(Math.exp(-2), 14)
    expect(d[1]).toBeCloseTo(2 * Math.exp(-2), 14)
    expect(d[2]).toBeCloseTo(1 - 3 * Math.exp(-2), 14)
    expect(expectedBatchSize({ratePerSecond: 100, maxBatch: 3, timeoutMs: 20})).toBeCloseTo(
      1 * Math.exp(-2) + 2 * 2 * Math.exp(-2) + 3 * (1 - 3 * Math.exp(-2)),
      12,
    )
  })

  it('degenerates to single requests without a rate, a timeout or a batch', () => {
    expect(batchSizeDistribution({ratePerSecond: 0, maxBatch: 8, timeoutMs: 100})[0]).toBe(1)
    expect(batchSizeDistribution({ratePerSecond: 50, maxBatch: 8, timeoutMs: 0})[0]).toBe(1)
    expect(batchSizeDistribution({ratePerSecond: 50, maxBatch: 1, timeoutMs: 100})).toEqual([1])
  })

  it('stays stable for large λT', () => {
    const pmf = poissonPmf(5000, 10)
    expect(pmf.every((p) => p >= 0 && p < 1e-300)).toBe(true)
    const d = batchSizeDistribution({ratePerSecond: 1000, maxBatch: 32, timeoutMs: 5000})
    expect(d[31]).toBeCloseTo(1, 12)
  })

  it.each([
    [20, 8, 150, 101],
    [5, 32, 400, 102],
    [200, 4, 10, 103],
    [50, 16, 120, 104],
  ])('matches a seeded Monte Carlo (λ=%d/s, B=%d, T=%d ms, seed %d)', (rate, B, T, seed) => {
    const {sizes} = simulate(rate, B, T, 300_000, seed)
    const n = sizes.length
    const exact = batchSizeDistribution({ratePerSecond: rate, maxBatch: B, timeoutMs: T})
    const counts = new Array<number>(B).fill(0)
    for (const k of sizes) counts[k - 1]++
    exact.forEach((p, i) => {
      const sd = Math.sqrt((p * (1 - p)) / n)
      expect(Math.abs(counts[i] / n - p)).toBeLessThanOrEqual(5 * sd + 1e-4)
    })
    const meanK = sizes.reduce((a, b) => a + b, 0) / n
    expect(meanK).toBeCloseTo(expectedBatchSize({ratePerSecond: rate, maxBatch: B, timeoutMs: T}), 1)
  })
})

describe('wait of a request in its batch', () => {
  it.each([
    [20, 8, 150, 201],
    [100, 4, 30, 202],
    [8, 32, 500, 203],
  ])('CDF and percentiles match a seeded Monte Carlo (λ=%d/s, B=%d, T=%d ms, seed %d)', (rate, B, T, seed) => {
    const policy = {ratePerSecond: rate, maxBatch: B, timeoutMs: T}
    const {waits} = simulate(rate, B, T, 300_000, seed)
    const n = waits.length
    for (const f of [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999]) {
      const w = f * T
      const empirical = waits.filter((x) => x <= w + 1e-9).length / n
      expect(Math.abs(empirical - waitCdf(policy, w))).toBeLessThan(0.01)
    }
    const sorted = [...waits].sort((a, b) => a - b)
    for (const p of [50, 90, 99]) {
      const q = waitPercentileMs(policy, p)
      expect(waitCdf(policy, q)).toBeGreaterThanOrEqual(p / 100 - 1e-9)
      const empiricalQ = sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)]
      expect(Math.abs(q - empiricalQ)).toBeLessThan(0.03 * T + 1)
    }
    const meanEmp = waits.reduce((a, b) => a + b, 0) / n
    expect(meanWaitMs(policy)).toBeCloseTo(meanEmp, 0)
  })

  it('has atoms at 0 (the request that fills a batch) and at T (first request of a timed-out batch)', () => {
    const policy = {ratePerSecond: 20, maxBatch: 4, timeoutMs: 100}
    expect(waitCdf(policy, 0)).toBeGreaterThan(0)
    expect(waitCdf(policy, 100 * (1 - 1e-12))).toBeLessThan(1)
    expect(waitCdf(policy, 100)).toBe(1)
  })

  it('p100 is the hard bound T; no batching means no wait', () => {
    expect(waitPercentileMs({ratePerSecond: 20, maxBatch: 4, timeoutMs: 100}, 100)).toBe(100)
    expect(waitPercentileMs({ratePerSecond: 20, maxBatch: 1, timeoutMs: 100}, 99)).toBe(0)
    expect(waitPercentileMs({ratePerSecond: 0, maxBatch: 4, timeoutMs: 100}, 99)).toBe(0)
  })

  it('the percentile is not monotone in the timeout: a longer timeout fills more batches', () => {
    // B = 2 at 10 req/s: from T = 414 to 415 ms the p99 wait falls (more batches fill, each with a request that waits 0)
    const at = (T: number): number => waitPercentileMs({ratePerSecond: 10, maxBatch: 2, timeoutMs: T}, 99)
    expect(at(415)).toBeLessThan(at(414))
  })

  it.each([
    [10, 2, 300, 500],
    [30, 8, 1, 400],
    [5, 32, 100, 120],
    [200, 4, 3, 9],
  ])('has a valid lower bound over a range of timeouts (λ=%d/s, B=%d, T in [%d, %d])', (rate, B, t1, t2) => {
    for (const p of [50, 95, 99, 100]) {
      const lb = waitPercentileLowerBound(rate, B, t1, t2, p)
      let min = Infinity
      for (let T = t1; T <= t2; T++) min = Math.min(min, waitPercentileMs({ratePerSecond: rate, maxBatch: B, timeoutMs: T}, p))
      expect(lb).toBeLessThanOrEqual(min + 1e-9)
      // and it is not trivially 0 when the wait is substantial
      if (min > 0.5 * t1 && t2 - t1 < 0.1 * t1) expect(lb).toBeGreaterThan(0.5 * min)
    }
  })

  it('rejects nonsense', () => {
    expect(() => waitPercentileMs({ratePerSecond: 1, maxBatch: 2, timeoutMs: 10}, 0)).toThrow(/percentile/)
    expect(() => batchSizeDistribution({ratePerSecond: -1, maxBatch: 2, timeoutMs: 10})).toThrow(/rate/)
    expect(() => batchSizeDistribution({ratePerSecond: 1, maxBatch: 0, timeoutMs: 10})).toThrow(/batch size/)
  })
})

describe('cold starts', () => {
  it('are certain without traffic and vanish at high rates', () => {
    expect(coldStartProbability(0, 300)).toBe(1)
    expect(coldStartProbability(1 / 600, 300)).toBeCloseTo(Math.exp(-0.5), 12)
    expect(coldStartProbability(10, 300)).toBe(0)
  })
})
