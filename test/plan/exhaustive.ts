/**
 * Exhaustive oracle for the whole planner on small profiles, from the definitions: every chain of
 * cuts (up to maxStages), every memory of the grid per stage, every batch size B and every timeout
 * T of a grid, priced by the mean billed ms (src/plan/mean-billing.ts) and held to the SLO by the
 * same spread-aware percentile (src/plan/tail.ts, cold starts folded in as chainCold gives them) as
 * `planFromProfile`. A point's percentile is
 * computed only when its cost beats the bar, which keeps this affordable.
 */
import {batchSizeDistribution, expectedBatchSize} from '../../src/cost/batching.js'
import {batchSupport, CostModel, type StageRange} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {meanCostPerBatchUsd} from '../../src/plan/mean-billing.js'
import {chainCold, latencyPercentileMs, tailStage} from '../../src/plan/tail.js'
import type {Arch} from '../../src/plan/types.js'
import type {Profile} from '../../src/profile/types.js'

export interface ExhaustiveOptions {
  sloMs: number
  percentile: number
  ratePerSecond: number
  arch: Arch
  maxBatch: number
  maxStages: number
  memoryMinMb: number
  memoryMaxMb: number
  memoryStepMb: number
  /** timeouts tried for B > 1 */
  timeoutsMs: number[]
}

export interface ExhaustivePoint {
  costPerRequestUsd: number
  latencyMs: number
  batchSize: number
  timeoutMs: number
  stages: {first: number; last: number; memoryMb: number}[]
}

/** The spread-aware percentile latency of a chain at (B, T), as planFromProfile counts it. */
export function chainLatencyMs(
  model: CostModel,
  profile: Profile,
  stages: {range: StageRange; memoryMb: number}[],
  B: number,
  T: number,
  o: Pick<ExhaustiveOptions, 'ratePerSecond' | 'percentile'>,
): number {
  const dist = B === 1 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution({ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: T}))
  const mean = dist.ks.reduce((s, k, i) => s + k * dist.pi[i], 0)
  const chainAt = (k: number) => stages.map((s) => tailStage(model, profile, s.range, s.memoryMb, k, model.evaluate(s.range, s.memoryMb, k, B).latencyMs))
  const sizes =
    B === 1
      ? [{k: 1, weight: 1, stages: chainAt(1)}]
      : dist.ks.map((k, i) => ({k, weight: (k * dist.pi[i]) / mean, stages: chainAt(k)})).filter((z) => z.weight > 1e-12)
  const timeoutMs = B === 1 ? 0 : T
  return latencyPercentileMs(
    {sizes, ratePerSecond: o.ratePerSecond, batchSize: B, timeoutMs, cold: chainCold(model, stages, dist, B, timeoutMs, o.ratePerSecond)},
    o.percentile,
  )
}

/** The cheapest feasible point cheaper than `below` (USD per request), or null. */
export function exhaustiveCheaper(profile: Profile, o: ExhaustiveOptions, below: number): ExhaustivePoint | null {
  const model = new CostModel(profile, {
    arch: o.arch,
    prices: DEFAULT_PRICE_TABLE,
    memoryMinMb: o.memoryMinMb,
    memoryMaxMb: o.memoryMaxMb,
    memoryStepMb: o.memoryStepMb,
  })
  const L = profile.layers.length
  const cuts = model.boundaries().filter((q) => q >= 0 && q < L - 1)
  const chains: StageRange[][] = []
  for (let mask = 0; mask < 1 << cuts.length; mask++) {
    const at = cuts.filter((_, i) => mask & (1 << i))
    if (at.length + 1 > o.maxStages) continue
    const ends = [...at, L - 1]
    chains.push(ends.map((e, i) => ({first: i === 0 ? 0 : ends[i - 1] + 1, last: e})))
  }
  const memories: number[] = []
  for (let m = o.memoryMinMb; m <= o.memoryMaxMb; m += o.memoryStepMb) memories.push(m)
  const timeLimit = model.prices.limits.timeoutS.value * 1000
  let best: ExhaustivePoint | null = null
  let bar = below
  for (let B = 1; B <= o.maxBatch; B++) {
    for (const T of B === 1 ? [0] : o.timeoutsMs) {
      const dist = B === 1 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution({ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: T}))
      const ek = B === 1 ? 1 : expectedBatchSize({ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: T})
      for (const chain of chains) {
        // per stage: every memory that can run it, with its cost per batch
        const options = chain.map((range) =>
          memories
            .filter((m) => m >= model.requiredMemoryMb(range, B) && model.packageFits(range) && model.handlerMs(range, m, B, B) <= timeLimit)
            .map((m) => ({m, cost: meanCostPerBatchUsd(model, range, m, dist, B)})),
        )
        if (options.some((x) => x.length === 0)) continue
        // every stage but the last enumerated; the last one's smallest feasible memory found by
        // bisection (latency is non-increasing in a stage's memory: its layer times are, and the
        // synthetic profiles' spreads scale with them), then the cheapest memory from there up
        const last = chain.length - 1
        const lastOpts = options[last]
        const suffixMin = lastOpts.map((x) => x.cost)
        for (let j = suffixMin.length - 2; j >= 0; j--) suffixMin[j] = Math.min(suffixMin[j], suffixMin[j + 1])
        const pick = new Array<number>(last).fill(0)
        for (;;) {
          const head = pick.reduce((s, j, i) => s + options[i][j].cost, 0)
          if ((head + suffixMin[0]) / ek < bar) {
            const stagesWith = (j: number) => chain.map((range, i) => ({range, memoryMb: i === last ? lastOpts[j].m : options[i][pick[i]].m}))
            const fits = (j: number): number | null => {
              const l = chainLatencyMs(model, profile, stagesWith(j), B, T, o)
              return l <= o.sloMs + 1e-6 ? l : null
            }
            let lo = 0
            let hi = lastOpts.length - 1
            if (fits(hi) !== null) {
              while (lo < hi) {
                const mid = (lo + hi) >> 1
                if (fits(mid) !== null) hi = mid
                else lo = mid + 1
              }
              let j = lo
              for (let x = lo; x < lastOpts.length; x++) if (lastOpts[x].cost < lastOpts[j].cost) j = x
              const cost = (head + lastOpts[j].cost) / ek
              if (cost < bar) {
                bar = cost
                best = {
                  costPerRequestUsd: cost,
                  latencyMs: fits(j)!,
                  batchSize: B,
                  timeoutMs: T,
                  stages: stagesWith(j).map((s) => ({...s.range, memoryMb: s.memoryMb})),
                }
              }
            }
          }
          let i = 0
          while (i < last && ++pick[i] === options[i].length) pick[i++] = 0
          if (i === last) break
        }
      }
    }
  }
  return best
}
