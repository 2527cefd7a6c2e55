/**
 * The simulator's view of the platform: prices, billing rule and the latency constants of the
 * Lambda/S3 plumbing around a handler. Kept in ONE place so it can be swapped for the planner's
 * data module (src/cost/prices.ts) and billing (src/cost/model.ts) without touching the engine.
 *
 * Prices: us-east-1, first tier, no free tier (see /work/shared/lambda-facts.md).
 */
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
 * Defaults used until the planner's price module is wired in. Latency constants are placeholders
 * chosen from public figures (cold start 242 ms for a 1 KB package … 3,184 ms for 64 MB, i.e.
 * ≈ 240 ms + ≈ 46 ms/MB, third-party); override them through `SimulateOptions.platform`.
 */
export const DEFAULT_PLATFORM: PlatformModel = {
  source: 'amps simulate built-in table (us-east-1, first tier, read 2026-11)',
  durationUsdPerGbS: {x86_64: 0.0000166667, arm64: 0.0000133334},
  requestUsd: 0.2 / 1e6,
  s3PutUsd: 0.005 / 1000,
  s3GetUsd: 0.0004 / 1000,
  invokeOverheadMs: 15,
  s3PutMs: 25,
  s3GetMs: 15,
  s3MbPerS: 80,
  coldStartBaseMs: 240,
  coldStartMsPerPackageMb: 46,
}

export interface InvocationBill {
  billedMs: number
  durationUsd: number
  requestUsd: number
}

/** Lambda bills each invocation's duration (INIT included) rounded UP to the next 1 ms. */
export function billInvocation(p: PlatformModel, memoryMb: number, arch: Arch, durationMs: number): InvocationBill {
  // Guard against 12.000000000001 from float sums turning into 13 ms.
  const billedMs = Math.max(1, Math.ceil(durationMs - 1e-9))
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
