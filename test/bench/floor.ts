/**
 * The compute floor of a model: what its layer work alone would cost at the cheapest Lambda
 * price per GB-s with perfect batching. Per request:
 *
 *   floor = Σ over layers ℓ of  min over memory m ∈ M and batch k ∈ 1..K of  ms_ℓ(m, k) / k × m / 1024 / 1000 × p_min
 *
 * where ms_ℓ(m, k) is the planner's own layer time (src/cost/model.ts layerMsAt: the profile's
 * measured medians, interpolated in 1/m and linearly in k, extrapolated as the CostModel does), M
 * is every memory where that time changes slope (the CostModel's breakpoints — between two of them
 * ms·m = a·m + b is monotone, so the minimum sits on one), K is the planner's largest batch (32), and
 * p_min is the lowest first-tier duration price over architectures (arm64: $0.0000133334 per GB-s),
 * assuming arm64 computes as fast as the profiling machine. Each layer gets its own best memory
 * and batch, and nothing else is charged: no request fees, no codec or invoke overhead, no 1-ms
 * rounding, no memory floor, no latency limit. No plan can cost less.
 */
import {CostModel, layerMsAt} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE, firstTierUsdPerGbS} from '../../src/cost/prices.js'
import type {Profile} from '../../src/profile/types.js'

export interface ComputeFloor {
  usdPerRequest: number
  usdPerMillion: number
  usdPerGbS: number
  maxBatch: number
  /** Σ layers of the chosen per-layer GB-s per request */
  gbSecondsPerRequest: number
  /** memory sizes considered */
  memoriesMb: number[]
}

export function computeFloor(profile: Profile, maxBatch = 32): ComputeFloor {
  const prices = DEFAULT_PRICE_TABLE
  const usdPerGbS = Math.min(firstTierUsdPerGbS(prices, 'arm64'), firstTierUsdPerGbS(prices, 'x86_64'))
  const cm = new CostModel(profile, {arch: 'arm64', prices})
  const memories = cm.breakpoints
  let gbS = 0
  for (const t of cm.timings) {
    let best = Infinity
    for (const m of memories) {
      for (let k = 1; k <= maxBatch; k++) {
        const v = (layerMsAt(t, m, k, cm.env) / k / 1000) * (m / 1024)
        if (v < best) best = v
      }
    }
    if (Number.isFinite(best)) gbS += best
  }
  const usd = gbS * usdPerGbS
  return {usdPerRequest: usd, usdPerMillion: usd * 1e6, usdPerGbS, maxBatch, gbSecondsPerRequest: gbS, memoriesMb: memories}
}
