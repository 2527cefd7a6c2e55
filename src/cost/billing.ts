/**
 * What Lambda bills for an invocation: duration rounded up to the billing granularity, GB-seconds
 * at the architecture's (tiered) price, plus the request fee. Split out of src/cost/model.ts.
 */
import type {Arch} from '../platform/lambda.js'
import {type PriceTable, firstTierUsdPerGbS, requestUsd, tieredDurationUsd} from './prices.js'

/** Lambda bills each invocation's duration rounded UP to the granularity (1 ms), at least 1 unit. */
export function billedMs(durationMs: number, granularityMs = 1): number {
  // Guard: 12.000000000001 from float sums must bill 12, not 13.
  return Math.max(granularityMs, Math.ceil(durationMs / granularityMs - 1e-9) * granularityMs)
}

export interface LambdaCost {
  billedMs: number
  gbSeconds: number
  durationUsd: number
  requestUsd: number
  totalUsd: number
}

/**
 * Cost of `invocations` identical invocations of `durationMs` at `memoryMb` (first price tier
 * unless `tiered`, which walks the monthly tiers treating the invocations as one month).
 * Example: 1M × 100 ms × 1,024 MB on x86_64 = 100,000 GB-s = $1.666670 + $0.20 requests.
 */
export function lambdaCostUsd(args: {memoryMb: number; durationMs: number; invocations: number; arch: Arch; prices: PriceTable; tiered?: boolean}): LambdaCost {
  const {memoryMb, durationMs, invocations, arch, prices} = args
  const billed = billedMs(durationMs, prices.lambda.billingGranularityMs.value)
  const gbSeconds = (billed / 1000) * (memoryMb / 1024) * invocations
  const durationUsd = args.tiered ? tieredDurationUsd(prices, arch, gbSeconds) : gbSeconds * firstTierUsdPerGbS(prices, arch)
  const req = invocations * requestUsd(prices)
  return {billedMs: billed, gbSeconds, durationUsd, requestUsd: req, totalUsd: durationUsd + req}
}
