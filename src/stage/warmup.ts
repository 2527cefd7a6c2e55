/**
 * The warm-up event `amps deploy` sends to start a stage's execution environments before the first
 * user request (deploy/client/prewarm.ts). A stage answers it without decoding or computing
 * anything and does not count it as a served request: the environment's INIT is paid, its first
 * user request is warm.
 *
 * The flag is a key no user event carries (user events are `{tensors: [...]}`; a warm-up event
 * must have no `tensors`) holding a fixed protocol string, so a user payload cannot trigger it by
 * accident. The handler holds the environment for `holdMs` (capped) so N concurrent warm-ups keep N
 * environments busy at once and the platform starts N of them, the way Lambda warmers do.
 */
export const WARMUP_KEY = '__amps_warm_up__'
export const WARMUP_VALUE = 'amps-warm-up/1'
/** The longest a warm-up may hold its environment (ms). */
export const WARMUP_MAX_HOLD_MS = 5_000

export interface WarmUpEvent {
  [WARMUP_KEY]: typeof WARMUP_VALUE
  /** keep the environment busy this long before answering (ms, ≤ WARMUP_MAX_HOLD_MS) */
  holdMs?: number
}

export interface WarmUpResult {
  warmUp: true
  stage: {index: number; name: string}
  /** random id of the execution environment that answered (to count distinct environments) */
  envId: string
  /** this environment had served nothing before (its INIT was paid by this warm-up) */
  coldStart: boolean
  initMs: number
}

export function warmUpEvent(holdMs = 0): WarmUpEvent {
  return {[WARMUP_KEY]: WARMUP_VALUE, holdMs}
}

/** Cheap test: an object with the flag key set to the protocol string and no tensors. */
export function isWarmUpEvent(event: unknown): event is WarmUpEvent {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return false
  const e = event as Record<string, unknown>
  return e[WARMUP_KEY] === WARMUP_VALUE && !('tensors' in e)
}

/** holdMs from the event, clamped to [0, WARMUP_MAX_HOLD_MS]. */
export function warmUpHoldMs(event: WarmUpEvent): number {
  const h = Number(event.holdMs)
  return Number.isFinite(h) && h > 0 ? Math.min(h, WARMUP_MAX_HOLD_MS) : 0
}
