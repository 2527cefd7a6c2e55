/**
 * What a local stage front (deploy/targets/local/front.ts) and its execution environments
 * (deploy/targets/local/runner.ts) say to each other over their IPC channel, and Lambda's REPORT line
 * both write. No side effects: both entry points bundle it.
 */
export interface RunnerConfig {
  functionName: string
  bundleDir: string
  /** cgroup directories to join (their cgroup.procs) */
  cgroups: string[]
  handoffDir?: string
  memoryMb: number
  timeoutSec: number
  maxPayloadBytes: number
  /** drop to this uid/gid after joining the cgroups (only when running as root) */
  user?: {uid: number; gid: number}
  /** the environment's exchange files (see Exchange), opened before dropping root */
  exchange?: Exchange
}

/** An environment's exchange files (exchange.ts): large bodies travel through them, their length in the IPC message. */
export interface Exchange {
  request: string
  result: string
}

/** `body` inline, or `bodyBytes` of it in the exchange file. */
export type ToEnv = {type: 'invoke'; id: number; body?: Uint8Array; bodyBytes?: number; tail: boolean}
export type FromEnv =
  | {type: 'ready'; pid: number; initMs: number; importMs: number; init: unknown; uid: number}
  | {type: 'error'; pid: number; error: string}
  | {type: 'result'; id: number; status: number; headers: Record<string, string>; body?: Uint8Array; bodyBytes?: number}

/**
 * Lambda's per-invocation log line. Duration runs from the start of the invocation (the event as
 * received, before it is parsed) to the serialised result; billed = rounded up to 1 ms. The first
 * invocation of an environment also reports its Init Duration (a cold start), as Lambda does.
 */
export function reportLine(requestId: string, durationMs: number, memoryMb: number, maxUsedMb: number, initMs?: number, status?: string): string {
  return (
    `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(durationMs - 1e-9))} ms\tMemory Size: ${memoryMb} MB\tMax Memory Used: ${maxUsedMb} MB\t` +
    (initMs !== undefined ? `Init Duration: ${initMs.toFixed(2)} ms\t` : '') +
    (status ? `Status: ${status}\t` : '')
  )
}
