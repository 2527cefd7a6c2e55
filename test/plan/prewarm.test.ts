import {describe, expect, it} from 'vitest'

import {planFromProfile} from '../../src/plan/index.js'
import {poissonQuantileCount, warmEnvironments} from '../../src/plan/prewarm.js'
import {simulatePlan} from '../../src/simulate/index.js'
import {syntheticProfile} from '../helpers/synthetic.js'

describe('pre-warmed environments per stage', () => {
  it('takes the smallest pool a Poisson number of busy batches overflows with probability ≤ 0.1 %', () => {
    // Poisson(1): P(X ≤ 4) = 0.99634, P(X ≤ 5) = 0.99941
    expect(poissonQuantileCount(1)).toBe(5)
    // Poisson(0.01): P(X > 1) = 4.97e-5
    expect(poissonQuantileCount(0.01)).toBe(1)
    expect(poissonQuantileCount(0)).toBe(1)
    // Poisson(20): P(X ≤ 34) = 0.99851, P(X ≤ 35) = 0.99920
    expect(poissonQuantileCount(20)).toBe(35)
  })

  it('a deployment pre-warmed that way meets no cold start and costs what the plan predicts', () => {
    const profile = syntheticProfile({layers: 12, seed: 8, topology: 'chain', meanLayerMs: 1, meanWeightBytes: 2e5})
    const plan = planFromProfile(profile, {sloMs: 150, ratePerSecond: 10, arch: 'x86_64', now: new Date('2026-12-01T00:00:00Z')})
    const warm = warmEnvironments(plan)
    expect(warm).toHaveLength(plan.stages.length)
    const run = (w?: number[]) =>
      simulatePlan(plan, profile, {arrivals: {kind: 'poisson', ratePerSecond: 10, durationS: 300}, seed: 1, ...(w ? {warmEnvironments: w} : {})})
    // a fresh deployment's first batches are cold, and their INIT is billed
    const fresh = run()
    expect(fresh.coldStarts.count).toBeGreaterThan(0)
    const warmRun = run(warm)
    expect(warmRun.coldStarts.count).toBe(0)
    expect(warmRun.prediction.coldStartProbability.simulated).toBe(0)
    expect(Math.abs(warmRun.prediction.costPerMillionUsd.errorPct!)).toBeLessThan(3)
    expect(warmRun.cost.perMillionUsd).toBeLessThan(fresh.cost.perMillionUsd)
  })
})
