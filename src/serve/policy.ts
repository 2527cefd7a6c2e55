/**
 * Adaptive batching for `amps serve` (MLProxy-style, on BATCH's buffer): the gateway measures the
 * arrival rate over a sliding window (and how bursty it is), and re-solves the batch size B and
 * timeout T for the DEPLOYED chain, whose cuts and memories are fixed, with the planner's own
 * models: the exact batch-size distribution and wait (src/cost/batching.ts), the stage cost model
 * (src/cost/model.ts CostModel) and the spread-aware tail (src/plan chainTailInput + tail.ts
 * latencyPercentileMs). Among the (B, T) whose latency at the plan's percentile meets the SLO, it
 * keeps the cheapest per request. Pure. The controller that decides when to re-solve, from the
 * rate, the stage times and the latencies the gateway measures, is src/serve/adaptive.ts.
 */
import {batchSizeDistribution, expectedBatchSize} from '../cost/batching.js'
import {type BatchSupport, CostModel, batchSupport, type StageRange} from '../cost/model.js'
import type {PriceTable} from '../cost/prices.js'
import {chainTailInput} from '../plan/index.js'
import {meanCostPerBatchUsd} from '../plan/mean-billing.js'
import {latencyPercentileMs, tailStage, type TailStage} from '../plan/tail.js'
import type {Plan} from '../plan/types.js'
import type {Profile} from '../profile/types.js'

export interface BatchChoice {
  /** B: dispatch at this many instances */
  maxBatch: number
  /** T: dispatch this long after the batch's first instance (ms) */
  timeoutMs: number
}

/** A deployed chain as the models see it: the plan's stages at their fixed memories. */
export interface DeployedChain {
  profile: Profile
  model: CostModel
  stages: {range: StageRange; memoryMb: number}[]
  sloMs: number
  percentile: number
  /** largest B to consider (the plan's --max-batch, at least its B) */
  maxBatch: number
  /** per-(k, B) stage figures, shared by every solve (a chain with another stageScale needs its own) */
  cache: Map<string, TailStage[]>
  /**
   * Measured ÷ modelled time of stage i for a batch of k (src/serve/adaptive.ts StageCorrection):
   * scales each stage's handler time, its spread and its billed ms. Absent: the model as profiled.
   */
  stageScale?: (stage: number, k: number) => number
}

export function deployedChain(plan: Plan, profile: Profile, prices: PriceTable, sloMs = plan.inputs.sloMs): DeployedChain {
  const arch = plan.stages[0]?.arch ?? 'x86_64'
  return {
    profile,
    model: new CostModel(profile, {arch, prices}),
    stages: plan.stages.map((s) => ({range: {first: s.layers.firstIndex, last: s.layers.lastIndex}, memoryMb: s.memoryMb})),
    sloMs,
    percentile: plan.inputs.percentile,
    maxBatch: Math.max(plan.batch.size, plan.inputs.maxBatch || 1),
    cache: new Map(),
  }
}

export interface Evaluation extends BatchChoice {
  /** latency at the percentile, the worst over the rates checked (ms) */
  latencyMs: number
  /** expected cost per request at the (mean) rate, USD × 1e6 */
  costPerMillionUsd: number
  meanBatchSize: number
  meetsSlo: boolean
}

/** Latency at the percentile and cost per request of (B, T) on the chain at `rate` (requests/s). */
export function evaluatePolicy(chain: DeployedChain, choice: BatchChoice, rate: number): {latencyMs: number; costPerRequestUsd: number; meanBatchSize: number} {
  const B = choice.maxBatch
  const T = B === 1 ? 0 : choice.timeoutMs
  const policy = {ratePerSecond: rate, maxBatch: B, timeoutMs: T}
  const dist: BatchSupport = B === 1 || !(rate > 0) || T === 0 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution(policy))
  const ek = dist.ks.length === 1 && dist.ks[0] === 1 ? 1 : expectedBatchSize(policy)
  const scale = chain.stageScale
  if (scale) for (const k of B === 1 ? [1] : dist.ks) scaledStages(chain, scale, k, B)
  const latencyMs = latencyPercentileMs(chainTailInput(chain.profile, chain.model, chain.stages, dist, B, T, rate, chain.cache), chain.percentile)
  // billed as the planner bills: the mean of ceil(duration) over each stage's measured spread
  const perBatch = chain.stages.reduce(
    (s, st, i) => s + meanCostPerBatchUsd(chain.model, st.range, st.memoryMb, dist, B, scale ? (k) => scale(i, k) : undefined),
    0,
  )
  return {latencyMs, costPerRequestUsd: perBatch / ek, meanBatchSize: ek}
}

/**
 * Puts the chain's stages for a batch of k (hand-off at B) with measured ÷ modelled times into the
 * chain's cache, where chainTailInput finds them: the handler part of each stage's median latency
 * and its compute time (so its spread) are scaled; the unbilled round trip is not.
 */
function scaledStages(chain: DeployedChain, scale: (stage: number, k: number) => number, k: number, B: number): void {
  const key = `${k}/${B}`
  if (chain.cache.has(key)) return
  const {model, profile} = chain
  chain.cache.set(
    key,
    chain.stages.map((st, i) => {
      const f = scale(i, k)
      const handler = model.handlerMs(st.range, st.memoryMb, k, B)
      const t = tailStage(model, profile, st.range, st.memoryMb, k, model.evaluate(st.range, st.memoryMb, k, B).latencyMs + (f - 1) * handler)
      return {...t, computeMs: t.computeMs * f}
    }),
  )
}

/**
 * (B, T) on the chain: latency at the percentile, the worst over `rates` (the first is the mean
 * rate, the others a bursty stream's phase rates), cost per request at the first.
 */
export function assessPolicy(chain: DeployedChain, choice: BatchChoice, rates: number[]): Evaluation {
  let latencyMs = 0
  let head: ReturnType<typeof evaluatePolicy> | undefined
  for (const r of rates) {
    const e = evaluatePolicy(chain, choice, r)
    head ??= e
    latencyMs = Math.max(latencyMs, e.latencyMs)
  }
  return {
    ...choice,
    latencyMs,
    costPerMillionUsd: head!.costPerRequestUsd * 1e6,
    meanBatchSize: head!.meanBatchSize,
    meetsSlo: latencyMs <= chain.sloMs + 1e-6,
  }
}

export interface SolveResult {
  best: Evaluation
  /** false: nothing meets the SLO at this rate with the deployed memories (best = the fastest: no batching) */
  feasible: boolean
  evaluations: number
}

/**
 * The cheapest (B, T) meeting the SLO at the percentile at `rate`, as a generator that yields after
 * every evaluation (each samples the tail model, ~10–20 ms) so a server can interleave it with its
 * requests (solvePolicyAsync); solvePolicy runs it through. With `alsoRates` (a bursty stream's low
 * and high phase rates) the latency must hold at each of them too, while cost counts at `rate`.
 *
 * With memories fixed, batching only adds latency (a wait, and larger batches): if the chain alone
 * misses the SLO nothing does, and the answer is the unbatched chain with feasible = false. For each
 * B the timeout is bisected over integer ms for the largest T still meeting the SLO (a longer T
 * fills batches more, so it is the cheapest for that B); B runs from 2 up to λS + 4√(λS) + 2 with S the SLO (a
 * larger B almost never fills before its timeout) and stops once two B in a row were dearer than the best.
 */
export function* solvePolicySteps(chain: DeployedChain, rate: number, alsoRates: number[] = []): Generator<void, SolveResult> {
  const rates = [rate, ...alsoRates.filter((r) => r > 0 && Number.isFinite(r) && r !== rate)]
  let evaluations = 0
  const evaluate = (choice: BatchChoice): Evaluation => {
    evaluations++
    return assessPolicy(chain, choice, rates)
  }
  const unbatched = evaluate({maxBatch: 1, timeoutMs: 0})
  yield
  if (!unbatched.meetsSlo) return {best: unbatched, feasible: false, evaluations}
  let best = unbatched
  const m = (Math.max(...rates) * chain.sloMs) / 1000
  const maxB = rate > 0 ? Math.min(chain.maxBatch, Math.ceil(m + 4 * Math.sqrt(m) + 2)) : 1
  let worse = 0
  for (let B = 2; B <= maxB && worse < 2; B++) {
    let lo = 0 // T = 0 is the unbatched chain: meets the SLO
    let hi = Math.floor(chain.sloMs)
    let atLo: Evaluation | null = null
    const top = evaluate({maxBatch: B, timeoutMs: hi})
    yield
    if (top.meetsSlo) atLo = top
    else {
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2)
        const e = evaluate({maxBatch: B, timeoutMs: mid})
        yield
        if (e.meetsSlo) {
          lo = mid
          atLo = e
        } else hi = mid
      }
    }
    if (atLo && atLo.costPerMillionUsd < best.costPerMillionUsd - 1e-12) {
      best = atLo
      worse = 0
    } else worse++
  }
  return {best, feasible: true, evaluations}
}

export function solvePolicy(chain: DeployedChain, rate: number, alsoRates: number[] = []): SolveResult {
  const it = solvePolicySteps(chain, rate, alsoRates)
  for (;;) {
    const r = it.next()
    if (r.done) return r.value
  }
}

/** solvePolicy, giving the event loop a turn after every evaluation. */
export async function solvePolicyAsync(chain: DeployedChain, rate: number, alsoRates: number[] = []): Promise<SolveResult> {
  const it = solvePolicySteps(chain, rate, alsoRates)
  for (;;) {
    const r = it.next()
    if (r.done) return r.value
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
}
