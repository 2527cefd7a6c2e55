/**
 * Random small inner problems for the solver tests: chains and DAGs (multi-tensor cuts), S3
 * hand-offs, big weights (package/memory limits), 1-MB and coarse memory grids, batch-size
 * distributions, stage limits, budgets from infeasible to loose. Deterministic per seed.
 */
import {batchSizeDistribution} from '../../src/cost/batching.js'
import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, batchSupport} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {fastestChain} from '../../solver/fast.js'
import {seededRandom, syntheticProfile} from '../helpers/synthetic.js'
import type {InnerProblem} from '../../solver/types.js'

export interface Instance {
  seed: number
  problem: InnerProblem
  describe: string
}

export function randomInstance(seed: number): Instance {
  const r = seededRandom(seed * 7919 + 17)
  const L = 3 + Math.floor(r() * 5)
  const topology = r() < 0.5 ? 'chain' : 'dag'
  const bigOutputs = r() < 0.2
  const profile = syntheticProfile({
    layers: L,
    seed,
    topology,
    skipProbability: 0.6,
    meanLayerMs: 2 + r() * 30,
    meanWeightBytes: r() < 0.15 ? 60e6 : 1e6 + r() * 20e6,
    meanOutputBytes: bigOutputs ? 3e6 : 20_000 + r() * 200_000,
    threads: r() < 0.2 ? 2 : 1,
    memoryMb: r() < 0.5 ? [256, 1024, 1769, 3008] : [512, 1769],
    batchSizes: [1, 4],
  })
  const step = [1, 1, 8, 16, 64][Math.floor(r() * 5)]
  const memoryMaxMb = step === 1 ? 640 + Math.floor(r() * 600) : step === 64 ? 10240 : 3008
  const model = new CostModel(profile, {arch: r() < 0.5 ? 'x86_64' : 'arm64', prices: DEFAULT_PRICE_TABLE, memoryMinMb: 128, memoryMaxMb, memoryStepMb: step})
  const B = 1 + Math.floor(r() * 3)
  const rate = 10 + r() * 200
  const T = 2 + r() * 40
  const dist = B === 1 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution({ratePerSecond: rate, maxBatch: B, timeoutMs: T}))
  const costs = new CompiledCosts(model, B, dist)
  const N = costs.nodes.length - 1
  const exact = r() < 0.2 ? Math.min(N, 1 + Math.floor(r() * 3)) : undefined
  const maxStages = exact ?? 1 + Math.floor(r() * 4)
  const fastest = fastestChain(costs, maxStages, exact)
  // budgets: below the fastest chain (infeasible), tight, medium, loose
  const base = fastest ? fastest.latencyMs : 1000
  const kind = r()
  const budgetMs = kind < 0.1 ? base * 0.97 : kind < 0.45 ? base * (1 + r() * 0.1) : kind < 0.8 ? base * (1.1 + r()) : base * (2 + r() * 6)
  return {
    seed,
    problem: {costs, budgetMs, maxStages, exactStages: exact},
    describe: `${topology} L=${L} step=${step} max=${memoryMaxMb} B=${B} stages${exact !== undefined ? '=' : '≤'}${maxStages} budget=${budgetMs.toFixed(0)}`,
  }
}
