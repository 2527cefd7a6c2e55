/**
 * What billing costs on average when a stage's handler time varies from one invocation to the next.
 *
 * Lambda bills every invocation's duration rounded up to the granularity (1 ms). With the stage's
 * handler time H random, the mean billed time is E[ceil(H)], not ceil(median H): the median
 * understates it by the skew of H (mean − median) and by up to one granularity (E[ceil(H)] ≈
 * E[H] + g/2 for a spread wider than g). The simulator draws H through the piecewise-linear
 * quantile function Q through (0, min), (0.1, p10), (0.5, median), (0.9, p90), (1, max)
 * (src/simulate/service.ts quantileOf) with
 *
 *   Q_H(u) = max(0, handlerMs + computeMs · (Q_compute(u) / median_compute − 1)),
 *
 * the handler's median from the CostModel and the compute part's spread from the profile. So
 *
 *   E[ceil_g(H)] = ∫₀¹ ceil_g(Q_H(u)) du = Σ over the four segments of (Δu / (b − a)) ∫_a^b ceil_g(x) dx
 *
 * exactly, with ∫₀^x ceil_g(t) dt = g²·n(n+1)/2 + g·(n+1)·(x − g·n), n = floor(x/g); a flat
 * segment (a = b) contributes Δu · ceil_g(a). Billing's minimum of one unit applies (x ≤ g bills g).
 * Pure functions, no I/O.
 */
import type {Profile} from '../profile/types.js'
import {computeSpread, type Spread} from '../cost/spread.js'
import {billedMs, type BatchSupport, type CostModel, type StageRange} from '../cost/model.js'

const AT = [0, 0.1, 0.5, 0.9, 1]

/** ∫₀^x ceil_g(t) dt for x ≥ 0 (ceil_g(t) = g·⌈t/g⌉; the minimum of one unit is applied by the caller). */
function ceilIntegral(x: number, g: number): number {
  if (!(x > 0)) return 0
  // a float sum a hair above a whole unit bills that unit (as billedMs's guard)
  const n = Math.max(0, Math.ceil(x / g - 1e-9) - 1)
  return (g * g * n * (n + 1)) / 2 + g * (n + 1) * (x - g * n)
}

/** ∫_a^b of billedMs(t) dt (0 ≤ a ≤ b): ceil_g with the one-unit minimum (every t ≤ g bills g). */
function billedIntegral(a: number, b: number, g: number): number {
  const below = Math.max(0, Math.min(b, g) - a) * g
  const from = Math.max(a, g)
  return below + (b > from ? ceilIntegral(b, g) - ceilIntegral(from, g) : 0)
}

/**
 * E[billedMs(H)] for H with the piecewise-linear quantile function through the five statistics
 * (exact; see module docs).
 */
export function expectedBilledMs(spread: Spread, granularityMs = 1): number {
  let e = 0
  for (let i = 1; i < 5; i++) {
    const du = AT[i] - AT[i - 1]
    const a = Math.max(0, spread[i - 1])
    const b = Math.max(a, spread[i])
    if (b - a <= 1e-12 * Math.max(1, Math.abs(a))) e += du * billedMs(Math.max(a, b), granularityMs)
    else e += (du / (b - a)) * billedIntegral(a, b, granularityMs)
  }
  return e
}

/**
 * The handler-time spread of one invocation of the stage with a batch of k, as the simulator draws
 * it (src/simulate/service.ts buildStageModels): the CostModel's handler median, the profile's
 * compute spread around it.
 */
export function handlerSpread(model: CostModel, profile: Profile, range: StageRange, memoryMb: number, k: number, handoffBatch: number): Spread {
  const handler = model.handlerMs(range, memoryMb, k, handoffBatch)
  const compute = model.computeMs(range, memoryMb, k)
  const shape = computeSpread(profile.layers.slice(range.first, range.last + 1), memoryMb, k, model.env)
  if (!(shape[2] > 0)) return [handler, handler, handler, handler, handler]
  return shape.map((x) => Math.max(0, handler + compute * (x / shape[2] - 1))) as Spread
}

/** Mean billed ms of one invocation with a batch of k (spread-aware). */
export function meanBilledMs(model: CostModel, range: StageRange, memoryMb: number, k: number, handoffBatch: number): number {
  return expectedBilledMs(handlerSpread(model, model.profile, range, memoryMb, k, handoffBatch), model.granularityMs)
}

/**
 * Expected cost per batch of the stage (USD) when batch sizes follow `dist`, billed on the mean of
 * ceil(handler time) over the stage's measured spread: what the simulator's bill converges to.
 */
export function meanCostPerBatchUsd(
  model: CostModel,
  range: StageRange,
  memoryMb: number,
  dist: BatchSupport,
  handoffBatch: number,
  /** measured ÷ modelled stage time for a batch of k (amps serve's online correction; default 1) */
  scale?: (k: number) => number,
): number {
  let dur = 0
  for (let i = 0; i < dist.ks.length; i++) {
    if (dist.pi[i] > 0) dur += dist.pi[i] * meanBilledMs(model, range, memoryMb, dist.ks[i], handoffBatch) * (scale ? scale(dist.ks[i]) : 1)
  }
  return model.usdPerMbMs * memoryMb * dur + model.requestUsd + model.s3RequestUsd(range, handoffBatch)
}
