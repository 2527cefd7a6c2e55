import {describe, expect, it} from 'vitest'

import {batchSizeDistribution, expectedBatchSize, waitPercentileMs} from '../../src/cost/batching.js'
import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, batchSupport} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import type {Arch} from '../../src/plan/types.js'
import {solveFast} from '../../solver/fast.js'
import {type SearchOptions, minimumLatency, searchPlan} from '../../solver/search.js'
import {syntheticProfile} from '../helpers/synthetic.js'

/** Every (arch, B, integer T) evaluated with the exact inner solver: the search's ground truth. */
function exhaustive(o: SearchOptions): {cost: number; arch: Arch; B: number; T: number; opts: Map<string, number[]>; solves: number} {
  let best = {cost: Infinity, arch: 'x86_64' as Arch, B: 1, T: 0}
  let solves = 0
  const opts = new Map<string, number[]>()
  for (const arch of ['arm64', 'x86_64'] as Arch[]) {
    const model = new CostModel(o.profile, {arch, prices: o.prices})
    for (let B = 1; B <= o.maxBatch; B++) {
      const optByT: number[] = []
      for (let T = B === 1 ? 0 : 1; T <= (B === 1 ? 0 : o.sloMs); T++) {
        const policy = {ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: T}
        const wait = B === 1 ? 0 : waitPercentileMs(policy, o.percentile)
        if (wait >= o.sloMs) continue
        const dist = B === 1 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution(policy))
        const costs = new CompiledCosts(model, B, dist)
        const inner = solveFast({costs, budgetMs: o.sloMs - wait, maxStages: o.maxStages})
        solves++
        // at a fixed budget the optimum only grows with T (batch sizes grow stochastically)
        const fixedBudget = solveFast({costs, budgetMs: o.sloMs * 0.8, maxStages: o.maxStages})
        if (fixedBudget.feasible) optByT.push(fixedBudget.costUsd)
        if (!inner.feasible) continue
        const perRequest = inner.costUsd / (B === 1 ? 1 : expectedBatchSize(policy))
        if (perRequest < best.cost) best = {cost: perRequest, arch, B, T}
      }
      opts.set(`${arch}/${B}`, optByT)
    }
  }
  return {...best, opts, solves}
}

describe('outer search over (arch, B, T)', () => {
  it.each([
    [1, 400, 30],
    [2, 250, 80],
    [3, 600, 10],
  ])('with tolerance 0 finds the best of every integer timeout (seed %i, SLO %i ms, %i req/s)', (seed, sloMs, rate) => {
    const profile = syntheticProfile({layers: 5, seed, topology: 'dag', meanLayerMs: 8, batchSizes: [1, 2, 4]})
    const o: SearchOptions = {
      profile,
      prices: DEFAULT_PRICE_TABLE,
      sloMs,
      percentile: 99,
      ratePerSecond: rate,
      arch: 'auto',
      maxBatch: 4,
      maxStages: 3,
      solver: 'fast',
      tolerance: 0,
    }
    const truth = exhaustive(o)
    const found = searchPlan(o)
    expect(found.best).not.toBeNull()
    expect(found.best!.costPerRequestUsd).toBeCloseTo(truth.cost, 15)
    expect(found.best!.latencyMs).toBeLessThanOrEqual(sloMs + 1e-9)
    // the bound the search relies on: at a fixed budget the inner optimum never falls as T grows
    for (const [, optByT] of truth.opts) for (let t = 1; t < optByT.length; t++) expect(optByT[t]).toBeGreaterThanOrEqual(optByT[t - 1] * (1 - 1e-12))
    // and it did not need every timeout to get there
    expect(found.innerSolves).toBeLessThan(truth.solves / 3)
  })

  it('with the default tolerance stays within it', () => {
    const profile = syntheticProfile({layers: 6, seed: 4, topology: 'chain', meanLayerMs: 6, batchSizes: [1, 4]})
    const o: SearchOptions = {
      profile,
      prices: DEFAULT_PRICE_TABLE,
      sloMs: 300,
      percentile: 95,
      ratePerSecond: 40,
      arch: 'arm64',
      maxBatch: 6,
      maxStages: 2,
      solver: 'fast',
    }
    const exact = searchPlan({...o, tolerance: 0})
    const fast = searchPlan(o)
    expect(fast.tolerance).toBe(1e-3)
    expect(fast.best!.costPerRequestUsd).toBeLessThanOrEqual(exact.best!.costPerRequestUsd * (1 + 1e-3))
  })

  it('finds the unbatched optimum too, and nothing batches without a rate', () => {
    const profile = syntheticProfile({layers: 6, seed: 5})
    const o: SearchOptions = {
      profile,
      prices: DEFAULT_PRICE_TABLE,
      sloMs: 500,
      percentile: 99,
      ratePerSecond: 0,
      arch: 'x86_64',
      maxBatch: 8,
      maxStages: 3,
      solver: 'fast',
    }
    const r = searchPlan(o)
    expect(r.best!.batchSize).toBe(1)
    expect(r.bestUnbatched).toBe(r.best)
  })

  it('the MILP inner solver gives the same plan', () => {
    const profile = syntheticProfile({layers: 5, seed: 6, meanLayerMs: 10})
    const o: SearchOptions = {
      profile,
      prices: DEFAULT_PRICE_TABLE,
      sloMs: 350,
      percentile: 99,
      ratePerSecond: 20,
      arch: 'arm64',
      maxBatch: 3,
      maxStages: 2,
      solver: 'fast',
      memoryStepMb: 16,
    }
    const a = searchPlan(o)
    const b = searchPlan({...o, solver: 'milp'})
    expect(b.methods.has('milp')).toBe(true)
    expect(b.allOptimal).toBe(true)
    expect(b.best!.costPerRequestUsd).toBeCloseTo(a.best!.costPerRequestUsd, 15)
  })

  it('out of time, returns its best so far with a lower bound that holds for the exact optimum', () => {
    for (const seed of [1, 2, 3]) {
      const profile = syntheticProfile({layers: 6, seed, topology: 'dag', meanLayerMs: 8, batchSizes: [1, 2, 4]})
      const o: SearchOptions = {
        profile,
        prices: DEFAULT_PRICE_TABLE,
        sloMs: 300,
        percentile: 99,
        ratePerSecond: 40,
        arch: 'auto',
        maxBatch: 6,
        maxStages: 3,
        solver: 'fast',
      }
      const exact = searchPlan({...o, tolerance: 0})
      expect(exact.stopped).toBeUndefined()
      expect(exact.gap).toBe(0)
      expect(exact.lowerBoundPerRequestUsd).toBe(exact.best!.costPerRequestUsd)
      const stopped = searchPlan({...o, timeLimitMs: 0})
      expect(stopped.stopped).toBe('time-limit')
      expect(stopped.best).not.toBeNull()
      expect(stopped.best!.latencyMs).toBeLessThanOrEqual(o.sloMs + 1e-9)
      expect(stopped.best!.costPerRequestUsd).toBeGreaterThanOrEqual(exact.best!.costPerRequestUsd * (1 - 1e-12))
      expect(stopped.lowerBoundPerRequestUsd).toBeLessThanOrEqual(exact.best!.costPerRequestUsd * (1 + 1e-12))
      expect(stopped.gap!).toBeGreaterThan(0)
      expect(stopped.gap!).toBeLessThanOrEqual(1)
      // with the default tolerance and no limit: the bound is the tolerance below the plan
      const normal = searchPlan(o)
      expect(normal.stopped).toBeUndefined()
      expect(normal.lowerBoundPerRequestUsd).toBeCloseTo(normal.best!.costPerRequestUsd * (1 - normal.tolerance), 15)
      expect(normal.lowerBoundPerRequestUsd).toBeLessThanOrEqual(exact.best!.costPerRequestUsd * (1 + 1e-12))
    }
  })

  it('reports the minimum latency any chain reaches', () => {
    const profile = syntheticProfile({layers: 5, seed: 7, meanLayerMs: 10})
    const o: SearchOptions = {
      profile,
      prices: DEFAULT_PRICE_TABLE,
      sloMs: 1,
      percentile: 99,
      ratePerSecond: 10,
      arch: 'auto',
      maxBatch: 4,
      maxStages: 3,
      solver: 'fast',
    }
    expect(searchPlan(o).best).toBeNull()
    const min = minimumLatency(o)!
    expect(searchPlan({...o, sloMs: min.latencyMs}).best).not.toBeNull()
    expect(searchPlan({...o, sloMs: min.latencyMs - 0.5}).best).toBeNull()
  })
})
