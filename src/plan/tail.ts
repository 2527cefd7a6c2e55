/**
 * A plan's latency at its percentile, with the stage times' measured spread.
 *
 * The solvers meet the SLO with each stage at its *median* time (the CostModel's billed ms at the
 * full batch B, plus the Invoke round trip) and the buffer wait at the percentile. That is a
 * median for the stage part: a plan without batching that sits at its SLO misses it on about half
 * of its requests. Here a request's latency is
 *
 *   W + Σ_s (latency_s + compute_s · (ρ_s(U_s) − 1))
 *
 * with W the buffer wait (exact distribution, src/cost/batching.ts), latency_s the stage's median
 * latency at B, compute_s its Σ layer ms at B, and ρ_s the stage's compute quantile ÷ its median:
 * the piecewise-linear quantile through Σ of its layers' profiled (min, p10, median, p90, max), as
 * the simulator draws it (src/simulate/service.ts computeSpread/quantileOf). W and the stages are
 * independent (one draw per stage invocation, as in the simulator). Its p-quantile is exact for
 * one random part, and otherwise estimated from a fixed-seed sample of 40,000 requests (so the same
 * plan always gets the same number); p = 100 is the sum of the parts' maxima.
 */
import {waitCdf} from '../cost/batching.js'
import type {CostModel, StageRange} from '../cost/model.js'
import type {Profile} from '../profile/types.js'
import {computeSpread, quantileOf, type Spread} from '../simulate/service.js'
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
  stages: TailStage[]
  /** Poisson rate and batching policy of the buffer (B = 1 or T = 0: no wait) */
  ratePerSecond: number
  batchSize: number
  timeoutMs: number
}

export const TAIL_SAMPLES = 40_000

/** A stage's part of the tail model, from the cost model and the profile's spreads. */
export function tailStage(model: CostModel, profile: Profile, range: StageRange, memoryMb: number, batch: number, latencyMs: number): TailStage {
  return {
    latencyMs,
    computeMs: model.computeMs(range, memoryMb, batch),
    spread: computeSpread(profile.layers.slice(range.first, range.last + 1), memoryMb, batch),
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

/** The p-th percentile (0 < p ≤ 100) of a request's latency under the tail model (ms). */
export function latencyPercentileMs(input: TailInput, percentile: number): number {
  const base = input.stages.reduce((s, st) => s + st.latencyMs, 0)
  const wait = waitQuantile(input)
  const spread = input.stages.filter((s) => s.spread[2] > 0 && s.computeMs > 0 && s.spread[4] > s.spread[0])
  const p = percentile / 100
  if (p >= 1) return base + (wait ? wait(1) : 0) + spread.reduce((s, st) => s + stageExtra(st, 1), 0)
  const parts = spread.length + (wait ? 1 : 0)
  if (parts === 0) return base
  if (parts === 1) return base + (wait ? wait(p) : stageExtra(spread[0], p))
  const rnd = seededRandom(0x5eed)
  const samples = new Float64Array(TAIL_SAMPLES)
  for (let i = 0; i < TAIL_SAMPLES; i++) {
    let x = wait ? wait(rnd()) : 0
    for (const s of spread) x += stageExtra(s, rnd())
    samples[i] = x
  }
  samples.sort()
  const at = Math.min(TAIL_SAMPLES - 1, Math.max(0, Math.ceil(p * TAIL_SAMPLES) - 1))
  return base + samples[at]
}
