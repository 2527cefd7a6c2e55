/**
 * The simulator's view of the platform: prices, billing rule and the latency constants of the
 * Lambda/S3 plumbing around a handler. Kept in ONE place so it can be swapped for the planner's
 * data module (src/cost/prices.ts) and billing (src/cost/model.ts) without touching the engine.
 *
 * The figures come from the planner's price table (src/cost/prices.ts, `--prices` overrides).
 */
import {DEFAULT_PRICE_TABLE, firstTierUsdPerGbS, type PriceTable, requestUsd} from '../cost/prices.js'
import type {Arch} from '../plan/types.js'

export interface PlatformModel {
  /** price-table identity, echoed in the result */
  source: string
  /** USD per GB-second of billed duration, by architecture */
  durationUsdPerGbS: Record<Arch, number>
  /** USD per invocation */
  requestUsd: number
  /** USD per S3 PUT / GET request */
  s3PutUsd: number
  s3GetUsd: number
  /** billed duration is rounded up to a multiple of this (ms) */
  billingGranularityMs: number
  /** INIT (cold start) duration is billed like handler time */
  initBilled: boolean
  /** client-side round trip of one synchronous Invoke, outside the handler (ms, not billed) */
  invokeOverheadMs: number
  /** S3 PUT / GET fixed latency (ms) and throughput (MB/s) for the S3 hand-off */
  s3PutMs: number
  s3GetMs: number
  s3MbPerS: number
  /** platform part of a cold start (sandbox + code download) added to the runtime's own init (ms) */
  coldStartBaseMs: number
  coldStartMsPerPackageMb: number
}

/**
 * The simulator's platform model read from the planner's price table (src/cost/prices.ts), so the
 * simulation and the analytic prediction use the same prices and plumbing latencies. Duration is
 * priced at the first tier (as the planner optimises), without the free tier.
 */
export function platformFromPriceTable(table: PriceTable): PlatformModel {
  const lat = table.latency
  return {
    source: `price table ${table.version}`,
    durationUsdPerGbS: {x86_64: firstTierUsdPerGbS(table, 'x86_64'), arm64: firstTierUsdPerGbS(table, 'arm64')},
    requestUsd: requestUsd(table),
    s3PutUsd: table.s3.putUsdPerThousand.value / 1000,
    s3GetUsd: table.s3.getUsdPerThousand.value / 1000,
    billingGranularityMs: table.lambda.billingGranularityMs.value,
    initBilled: table.lambda.initBilled.value,
    invokeOverheadMs: lat.invokeRoundTripMs.value,
    s3PutMs: lat.s3PutMs.value,
    s3GetMs: lat.s3GetMs.value,
    s3MbPerS: lat.s3MbPerS.value,
    coldStartBaseMs: lat.coldStartBaseMs.value,
    coldStartMsPerPackageMb: lat.coldStartMsPerPackageMb.value,
  }
}

export const DEFAULT_PLATFORM: PlatformModel = platformFromPriceTable(DEFAULT_PRICE_TABLE)

export interface InvocationBill {
  billedMs: number
  durationUsd: number
  requestUsd: number
}

/**
 * Lambda bills each invocation's duration rounded UP to the billing granularity (1 ms), INIT
 * included when `initBilled` (the case since 2025-08-01). `initMs` is the part of `durationMs`
 * that was INIT.
 */
export function billInvocation(p: PlatformModel, memoryMb: number, arch: Arch, durationMs: number, initMs = 0): InvocationBill {
  const g = p.billingGranularityMs
  const charged = p.initBilled ? durationMs : durationMs - initMs
  // Guard against 12.000000000001 from float sums turning into 13 ms.
  const billedMs = Math.max(1, Math.ceil(charged / g - 1e-9)) * g
  return {
    billedMs,
    durationUsd: (billedMs / 1000) * (memoryMb / 1024) * p.durationUsdPerGbS[arch],
    requestUsd: p.requestUsd,
  }
}

/** S3 hand-off transfer time for `bytes` (ms), PUT or GET. */
export function s3TransferMs(p: PlatformModel, op: 'put' | 'get', bytes: number): number {
  return (op === 'put' ? p.s3PutMs : p.s3GetMs) + (bytes / 1048576 / p.s3MbPerS) * 1000
}
