/**
 * The simulator's view of billing: prices and the billing rule, read from the planner's price table
 * (src/cost/prices.ts, `--prices` overrides) and billed with its rounding (src/cost/model.ts
 * billedMs). Duration is priced at the first tier (as the planner optimises), without free tier.
 * Plumbing latencies (Invoke round trip, S3, cold-start platform time) enter through the stage
 * models (src/simulate/service.ts), which take them from the planner's CostModel.
 */
import {billedMs} from '../cost/billing.js'
import {DEFAULT_PRICE_TABLE, firstTierUsdPerGbS, type PriceTable, requestUsd} from '../cost/prices.js'
import type {Arch} from '../plan/types.js'

export interface PlatformModel {
  /** price-table identity, echoed in the result */
  source: string
  /** USD per GB-second of billed duration, by architecture */
  durationUsdPerGbS: Record<Arch, number>
  /** USD per invocation */
  requestUsd: number
  /** billed duration is rounded up to a multiple of this (ms) */
  billingGranularityMs: number
  /** INIT (cold start) duration is billed like handler time */
  initBilled: boolean
}

export function platformFromPriceTable(table: PriceTable): PlatformModel {
  return {
    source: `price table ${table.version}`,
    durationUsdPerGbS: {x86_64: firstTierUsdPerGbS(table, 'x86_64'), arm64: firstTierUsdPerGbS(table, 'arm64')},
    requestUsd: requestUsd(table),
    billingGranularityMs: table.lambda.billingGranularityMs.value,
    initBilled: table.lambda.initBilled.value,
  }
}

export const DEFAULT_PLATFORM: PlatformModel = platformFromPriceTable(DEFAULT_PRICE_TABLE)

export interface InvocationBill {
  billedMs: number
  durationUsd: number
  requestUsd: number
}

/**
 * One invocation: `handlerMs` of handler time plus `initMs` of billable INIT on a cold start
 * (counted only when `initBilled`, the case since 2025-08-01), rounded UP to the granularity.
 */
export function billInvocation(p: PlatformModel, memoryMb: number, arch: Arch, handlerMs: number, initMs = 0): InvocationBill {
  const billed = billedMs(handlerMs + (p.initBilled ? initMs : 0), p.billingGranularityMs)
  return {
    billedMs: billed,
    durationUsd: (billed / 1000) * (memoryMb / 1024) * p.durationUsdPerGbS[arch],
    requestUsd: p.requestUsd,
  }
}
