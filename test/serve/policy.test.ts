/**
 * Adaptive batching's choice (src/serve/policy.ts) on the planner's own models: for a chain the
 * planner made at one rate, the controller re-solves B and T for fixed memories. At the plan's own
 * rate it finds the plan's cost (or cheaper), it always meets the SLO percentile when it says so,
 * no (B, T) on a brute-force grid is cheaper and still meets it, it batches more as the rate rises,
 * and it says "infeasible" (falling back to no batching) when the deployed chain cannot meet the SLO.
 */
import {describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import {deployedChain, evaluatePolicy, solvePolicy} from '../../src/serve/policy.js'
import {syntheticProfile} from '../simulate/fixtures.js'

const profile = syntheticProfile()
const plan = planFromProfile(profile, {sloMs: 120, ratePerSecond: 20, arch: 'arm64', maxBatch: 8, timeLimitMs: 60_000})
const chain = deployedChain(plan, profile, DEFAULT_PRICE_TABLE)

describe('adaptive batch policy (pure)', () => {
  it("at the plan's own rate it meets the SLO and costs no more than the plan's B and T", () => {
    const r = solvePolicy(chain, plan.inputs.ratePerSecond)
    expect(r.feasible).toBe(true)
    expect(r.best.latencyMs).toBeLessThanOrEqual(plan.inputs.sloMs + 1e-6)
    const fixed = evaluatePolicy(chain, {maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs}, plan.inputs.ratePerSecond)
    expect(fixed.latencyMs).toBeLessThanOrEqual(plan.inputs.sloMs + 1e-6)
    expect(r.best.costPerMillionUsd).toBeLessThanOrEqual(fixed.costPerRequestUsd * 1e6 * (1 + 1e-9))
    // and the plan's own figure is the same model's
    expect(fixed.costPerRequestUsd * 1e6).toBeCloseTo(plan.predicted.costPerMillionUsd, 9)
  })

  it('no (B, T) on a brute-force grid meets the SLO more cheaply', () => {
    for (const rate of [5, 40]) {
      const r = solvePolicy(chain, rate)
      for (let B = 1; B <= chain.maxBatch; B++) {
        for (let T = B === 1 ? 0 : 6; T <= (B === 1 ? 0 : 114); T += 12) {
          const e = evaluatePolicy(chain, {maxBatch: B, timeoutMs: T}, rate)
          if (e.latencyMs <= chain.sloMs)
            expect(e.costPerRequestUsd * 1e6, `B ${B} T ${T} at ${rate} req/s`).toBeGreaterThanOrEqual(r.best.costPerMillionUsd * (1 - 1e-3))
        }
      }
    }
  })

  it('batches more as the rate rises; the choice for a low rate kept at a high one misses the SLO or costs more', () => {
    const low = solvePolicy(chain, 2).best
    const high = solvePolicy(chain, 100).best
    expect(high.meanBatchSize).toBeGreaterThan(low.meanBatchSize)
    expect(high.costPerMillionUsd).toBeLessThan(low.costPerMillionUsd)
    const lowAtHigh = evaluatePolicy(chain, low, 100)
    const missesOrDearer = lowAtHigh.latencyMs > chain.sloMs || lowAtHigh.costPerRequestUsd * 1e6 >= high.costPerMillionUsd * (1 - 1e-9)
    expect(missesOrDearer, JSON.stringify({low, high, lowAtHigh})).toBe(true)
  })

  it('a bursty stream is held to the SLO at its low and high phase rates too', () => {
    const r = solvePolicy(chain, 20, [2, 60])
    for (const rate of [2, 20, 60]) expect(evaluatePolicy(chain, r.best, rate).latencyMs).toBeLessThanOrEqual(chain.sloMs + 1e-6)
  })

  it('says so when nothing meets the SLO with the deployed memories, and falls back to no batching', () => {
    const tight = {...chain, sloMs: 5, cache: new Map()}
    const r = solvePolicy(tight, 20)
    expect(r.feasible).toBe(false)
    expect(r.best.maxBatch).toBe(1)
    expect(r.best.latencyMs).toBeGreaterThan(5)
  })
})
