import {describe, expect, it} from 'vitest'

import {quotaFreeLayerSamples} from '../../src/profile/ort-quota.js'

describe('ORT layer times below one vCPU (quotaFreeLayerSamples)', () => {
  it('drops the throttle gaps a node was charged and scales the layers to the run’s CPU time', () => {
    // three layers of 1, 2 and 0.5 ms of work; the quota's 7 ms gap lands in a different node most
    // runs (in layer 1 every run: it is the longest)
    const samples = new Map<number, number[]>([
      [0, [1, 1, 8, 1, 1, 1, 8, 1, 1, 1]],
      [1, [9, 9, 2, 9, 9, 2, 9, 9, 2, 9].map((x, i) => (i === 0 ? 2 : x))],
      [2, [0.5, 7.5, 0.5, 0.5, 0.5, 0.5, 0.5, 7.5, 0.5, 0.5]],
    ])
    // the plain session's CPU per run: 3.5 ms of work + 0.35 ms of ORT's own (10 %)
    const wholeCpu = [3.85, 3.9, 3.8, 3.85, 3.86]
    quotaFreeLayerSamples(samples, wholeCpu)
    const got = [0, 1, 2].map((p) => samples.get(p)!)
    // every sample of a layer is its share of the median run's CPU
    for (const s of got) expect(new Set(s).size).toBe(1)
    const [a, b, c] = got.map((s) => s[0])
    expect(a + b + c).toBeCloseTo(3.85, 9)
    expect(a / c).toBeCloseTo(2, 9)
    expect(b / c).toBeCloseTo(4, 9)
    // the raw medians would have been 1 + 9 + 0.5 = 10.5 ms: 2.7 × the work
  })

  it('leaves the samples alone without a CPU measurement', () => {
    const samples = new Map<number, number[]>([[0, [1, 2, 3]]])
    quotaFreeLayerSamples(samples, [])
    expect(samples.get(0)).toEqual([1, 2, 3])
  })
})

describe('ORT layer times below one vCPU: nodes longer than the quota', () => {
  it('takes off the gaps a node longer than the quota cannot avoid (10 ms period, 2.9 ms quota)', () => {
    const quota = {periodMs: 10, quotaMs: 2.9}
    // layer 0: 1 ms of work, gap-free in most runs; layer 1: 5 ms of work, always one 7.1 ms gap
    // (W = 10 + (5 − 2.9) = 12.1 with the period's whole quota at its start), two in some runs
    const samples = new Map<number, number[]>([
      [0, [1, 1, 1, 8.1, 1, 1, 1, 1, 8.1, 1]],
      [1, [12.1, 12.1, 19.2, 12.1, 12.1, 12.1, 19.2, 12.1, 12.1, 12.1]],
    ])
    quotaFreeLayerSamples(samples, [6, 6, 6], quota)
    const [a, b] = [samples.get(0)![0], samples.get(1)![0]]
    expect(a + b).toBeCloseTo(6, 9)
    expect(b / a).toBeCloseTo(5, 9)
  })
})
