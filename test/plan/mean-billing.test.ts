import {describe, expect, it} from 'vitest'

import {billedMs} from '../../src/cost/model.js'
import {planFromProfile} from '../../src/plan/index.js'
import {expectedBilledMs} from '../../src/plan/mean-billing.js'
import {quantileOf, type Spread} from '../../src/cost/spread.js'
import {simulatePlan} from '../../src/simulate/index.js'
import {syntheticProfile, seededRandom} from '../helpers/synthetic.js'

describe('expectedBilledMs: E[ceil(H)] over the piecewise-linear spread', () => {
  it('bills a fixed time at its ceiling, with the one-unit minimum', () => {
    expect(expectedBilledMs([2.3, 2.3, 2.3, 2.3, 2.3])).toBe(3)
    expect(expectedBilledMs([0, 0, 0, 0, 0])).toBe(1)
    expect(expectedBilledMs([4, 4, 4, 4, 4])).toBe(4)
  })

  it('integrates the ceiling segment by segment (hand-worked)', () => {
    // u ∈ [0, .1]: 0 → 0.4 bills 1 (0.1); [.1, .5]: 0.4 → 2: 0.6 at 1 and 1 at 2 over 1.6 ms ⇒ 0.4 · 2.6/1.6 = 0.65;
    // [.5, .9]: 2 → 3.6: 1 at 3 and 0.6 at 4 ⇒ 0.4 · 5.4/1.6 = 1.35; [.9, 1]: 3.6 → 4 bills 4 (0.4). Σ = 2.5
    expect(expectedBilledMs([0, 0.4, 2, 3.6, 4])).toBeCloseTo(2.5, 12)
    // at a 10-ms granularity: 3 → 27 ms over the middle: bills 10 up to 10, 20 on (10, 20], 30 on (20, 27]
    expect(expectedBilledMs([3, 3, 3, 27, 27], 10)).toBeCloseTo(0.5 * 10 + 0.4 * ((7 * 10 + 10 * 20 + 7 * 30) / 24) + 0.1 * 30, 12)
  })

  it('equals the mean bill of draws through the same quantile function', () => {
    const rnd = seededRandom(7)
    for (const spread of [
      [10.2, 11.7, 12.1, 14.9, 22.4],
      [0.3, 0.8, 1.4, 2.2, 3.9],
      [101.5, 101.6, 101.8, 103.2, 140],
    ] as Spread[]) {
      let sum = 0
      const n = 400_000
      for (let i = 0; i < n; i++) sum += billedMs(quantileOf(spread, rnd()))
      expect(expectedBilledMs(spread)).toBeCloseTo(sum / n, 1)
    }
  })
})

describe('the plan prices billing on the mean, as the simulator bills', () => {
  it('predicts the simulated cost per 1M within 1.5 % on a batched plan (a long run, few cold starts)', () => {
    const profile = syntheticProfile({layers: 16, seed: 5, topology: 'chain', meanLayerMs: 0.6, meanWeightBytes: 2e5})
    const plan = planFromProfile(profile, {sloMs: 200, ratePerSecond: 40, arch: 'x86_64', now: new Date('2026-12-01T00:00:00Z')})
    const sim = simulatePlan(plan, profile, {arrivals: {kind: 'poisson', ratePerSecond: 40, durationS: 900}, seed: 3})
    const initShare = sim.stages.reduce((s, st) => s + st.coldStarts, 0) / sim.stages.reduce((s, st) => s + st.invocations, 0)
    expect(initShare).toBeLessThan(0.01)
    const err = (plan.predicted.costPerMillionUsd - sim.cost.perMillionUsd) / sim.cost.perMillionUsd
    // priced on the median billed ms this plan is 2.7 % low
    expect(Math.abs(err)).toBeLessThan(0.015)
  })
})
