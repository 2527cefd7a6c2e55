/**
 * A plan's latency at its percentile, with the stage times' measured spread.
 *
 * The solvers meet the SLO with each stage at its *median* time (the CostModel's billed ms at the
 * full batch B, plus the Invoke round trip) and the buffer wait at the percentile. That is a
 * median for the stage part: a plan without batching that sits at its SLO misses it on about half
 * of its requests. Here a request's latency is
 *
 *   W + Σ_s (latency_s(K) + compute_s(K) · (ρ_s,K(U_s) − 1))
 *
 * with W the buffer wait (exact distribution, src/cost/batching.ts); K the size of the batch the
 * request rides in (size-biased: P(K = k) = k·π_k / E[batch size], π the batch-size distribution);
 * latency_s(k) the stage's median latency for a batch of k (billed ms + unbilled); compute_s(k) its
 * Σ layer ms; and ρ_s,k the stage's compute quantile ÷ its median: the piecewise-linear quantile
 * through Σ of its layers' profiled (min, p10, median, p90, max), as the simulator draws it
 * (src/cost/spread.ts computeSpread/quantileOf). W, K and the stage draws are taken as
 * independent (in truth a long wait goes with a small batch, so this errs high), one draw per stage
 * invocation as in the simulator. The p-quantile is exact for one random part, and otherwise
 * estimated from a fixed-seed sample of 40,000 requests (so a plan always gets the same number);
 * p = 100 is the largest batch's sum of maxima plus the longest wait.
 *
 * Cold starts fall into the tail as they come (TailInput.cold, chainCold): each stage's
 * invocation meets one with the probability of its pool of environments in steady state (a
 * deployment pre-warmed by deploy starts from a full pool), and then every request of its batch
 * waits INIT + first predict + the platform's part on top (as the simulator adds it). p = 100
 * leaves them out: no hard bound holds through a cold start.
 */
import {coldStartProbability, waitCdf, type BatchSupport} from '../cost/batching.js'
import {billedMs} from '../cost/billing.js'
import type {CostModel, StageRange} from '../cost/model.js'
import type {Profile} from '../profile/types.js'
import {computeSpread, quantileOf, type Spread} from '../cost/spread.js'
import {seededRandom} from '../util/random.js'

/** One stage of a chain: its median latency at B and what its spread adds around it. */
export interface TailStage {
  /** median latency at the full batch (billed ms + unbilled), as the solver counts it */
  latencyMs: number
  /** Σ layer ms at (memory, B) */
  computeMs: number
  /** Σ of the layers' (min, p10, median, p90, max) at (memory, B) */
  spread: Spread
}

export interface TailInput {
  /** the chain at each batch size a request can ride in, with that size's request probability (Σ = 1) */
  sizes: {k: number; weight: number; stages: TailStage[]}[]
  /** Poisson rate and batching policy of the buffer (B = 1 or T = 0: no wait) */
  ratePerSecond: number
  batchSize: number
  timeoutMs: number
  /** per stage of the chain: its invocations' cold-start probability and what a cold start adds (chainCold) */
  cold?: StageCold[]
}

/** A stage's cold starts as they fall on requests: every request of a batch that meets one waits for it. */
export interface StageCold {
  /** per invocation, in steady state (src/cost/batching.ts coldStartProbability) */
  probability: number
  /** the cold start's latency on top of the handler: INIT + first predict + the platform's (ms) */
  extraMs: number
}

const coldCache = new Map<string, number>()

/**
 * Each stage's cold starts under the batching policy at a Poisson rate: the stage's pool of
 * environments is fed by the batches, each busy for the stage's mean billed ms over the batch
 * sizes `dist` (what the plan records per batch size, so plan, estimate-cost and this agree), and
 * idle environments last the price table's keep-alive. Without a rate: none (the rate, and with it
 * how often a request meets a cold start, is unknown; such a plan prices INIT on every request).
 */
export function chainCold(
  model: CostModel,
  stages: {range: StageRange; memoryMb: number}[],
  dist: BatchSupport,
  B: number,
  timeoutMs: number,
  ratePerSecond: number,
): StageCold[] | undefined {
  if (!(ratePerSecond > 0)) return undefined
  const keepAliveS = model.prices.latency.keepAliveS.value
  return stages.map(({range, memoryMb}) => {
    let busyMs = 0
    for (let i = 0; i < dist.ks.length; i++) busyMs += dist.pi[i] * billedMs(model.handlerMs(range, memoryMb, dist.ks[i], B), model.granularityMs)
    const key = `${ratePerSecond}|${B}|${timeoutMs}|${busyMs}|${keepAliveS}`
    let probability = coldCache.get(key)
    if (probability === undefined) {
      probability = coldStartProbability(ratePerSecond, keepAliveS, busyMs, B > 1 ? {maxBatch: B, timeoutMs} : undefined)
      if (coldCache.size > 50_000) coldCache.clear()
      coldCache.set(key, probability)
    }
    return {probability, extraMs: model.coldStart(range, memoryMb).latencyMs}
  })
}

export const TAIL_SAMPLES = 40_000

/** A stage cold-start probability below this is left out of the tail (it cannot move a percentile the model resolves). */
export const COLD_NEGLIGIBLE = 1e-7

/** Float slack when a latency is compared with the SLO (ms). */
export const SLO_TOLERANCE_MS = 1e-6

/** Whether a latency at the SLO's percentile meets the SLO: the one place the planner and estimate-cost compare them. */
export function meetsSlo(latencyMs: number, sloMs: number): boolean {
  return latencyMs <= sloMs + SLO_TOLERANCE_MS
}

/** A stage's part of the tail model, from the cost model and the profile's spreads. */
export function tailStage(model: CostModel, profile: Profile, range: StageRange, memoryMb: number, batch: number, latencyMs: number): TailStage {
  return {
    latencyMs,
    computeMs: model.computeMs(range, memoryMb, batch),
    spread: computeSpread(profile.layers.slice(range.first, range.last + 1), memoryMb, batch, model.env),
  }
}

/** Extra ms of a stage at quantile u over its median (negative below the median). */
function stageExtra(s: TailStage, u: number): number {
  const med = s.spread[2]
  if (!(med > 0) || !(s.computeMs > 0)) return 0
  return s.computeMs * (quantileOf(s.spread, u) / med - 1)
}

/** Quantile function of the buffer wait, from its exact CDF tabulated on a grid of [0, T]. */
function waitQuantile(input: TailInput): ((u: number) => number) | null {
  const {ratePerSecond, batchSize: B, timeoutMs: T} = input
  if (B <= 1 || !(T > 0) || !(ratePerSecond > 0)) return null
  const policy = {ratePerSecond, maxBatch: B, timeoutMs: T}
  const G = 2000
  const w = new Float64Array(G + 1)
  const cdf = new Float64Array(G + 1)
  for (let j = 0; j < G; j++) {
    w[j] = (T * j) / G
    cdf[j] = waitCdf(policy, w[j])
  }
  // the atom at T: everything left over
  w[G] = T
  cdf[G] = 1
  return (u: number) => {
    if (u <= cdf[0]) return 0
    let lo = 0
    let hi = G
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (cdf[mid] >= u) hi = mid
      else lo = mid
    }
    // cdf[lo] < u ≤ cdf[hi]; between grid points the CDF is taken as linear, except into the atom at T
    if (hi === G) return cdf[G - 1] < u ? T : w[G - 1]
    const f = (u - cdf[lo]) / (cdf[hi] - cdf[lo] || 1)
    return w[lo] + f * (w[hi] - w[lo])
  }
}

/** A chain without batching: every request alone in its batch. */
export function unbatched(stages: TailStage[]): TailInput {
  return {sizes: [{k: 1, weight: 1, stages}], ratePerSecond: 0, batchSize: 1, timeoutMs: 0}
}

const hasSpread = (s: TailStage): boolean => s.spread[2] > 0 && s.computeMs > 0 && s.spread[4] > s.spread[0]

/** The p-th percentile (0 < p ≤ 100) of a request's latency under the tail model (ms). */
export function latencyPercentileMs(input: TailInput, percentile: number): number {
  const sizes = input.sizes.filter((z) => z.weight > 0)
  if (sizes.length === 0) throw new RangeError('the tail model needs at least one batch size with a weight > 0')
  const wait = waitQuantile(input)
  const base = sizes.map((z) => z.stages.reduce((s, st) => s + st.latencyMs, 0))
  const spread = sizes.map((z) => z.stages.filter(hasSpread))
  const cold = (input.cold ?? []).filter((c) => c.probability > COLD_NEGLIGIBLE && c.extraMs > 0)
  const p = percentile / 100
  if (p >= 1) return Math.max(...sizes.map((_, i) => base[i] + spread[i].reduce((s, st) => s + stageExtra(st, 1), 0))) + (wait ? wait(1) : 0)
  if (sizes.length === 1 && cold.length === 0) {
    const parts = spread[0].length + (wait ? 1 : 0)
    if (parts === 0) return base[0]
    if (parts === 1) return base[0] + (wait ? wait(p) : stageExtra(spread[0][0], p))
  }
  const total = sizes.reduce((s, z) => s + z.weight, 0)
  const cumulative: number[] = []
  sizes.reduce((c, z) => (cumulative.push((c + z.weight) / total), c + z.weight), 0)
  const rnd = seededRandom(0x5eed)
  // cold starts from their own stream, so a chain without them samples exactly as before
  const coldRnd = seededRandom(0xc01d)
  const samples = new Float64Array(TAIL_SAMPLES)
  for (let i = 0; i < TAIL_SAMPLES; i++) {
    const u = rnd()
    let z = 0
    while (z < sizes.length - 1 && cumulative[z] < u) z++
    let x = base[z] + (wait ? wait(rnd()) : 0)
    for (const s of spread[z]) x += stageExtra(s, rnd())
    for (const c of cold) if (coldRnd() < c.probability) x += c.extraMs
    samples[i] = x
  }
  samples.sort()
  const at = Math.min(TAIL_SAMPLES - 1, Math.max(0, Math.ceil(p * TAIL_SAMPLES) - 1))
  return samples[at]
}
