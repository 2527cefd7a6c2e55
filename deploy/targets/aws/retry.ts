/**
 * Retries for the AWS errors that mean "try again shortly": throttling, a function update already in
 * progress (ResourceConflictException), and IAM's eventual consistency right after CreateRole.
 * Exponential backoff with jitter; sleep and randomness are injected so tests never wait.
 */
import {errorName} from './errors.js'

export type Sleep = (ms: number) => Promise<void>

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export interface BackoffPolicy {
  /** a short label for log lines */
  reason: string
  baseMs: number
  capMs: number
  /** total attempts including the first */
  maxAttempts: number
}

/** Throttling and 5xx: the SDK already retried 3 times inside send(); these are on top. */
export const THROTTLE_POLICY: BackoffPolicy = {reason: 'throttled', baseMs: 500, capMs: 20_000, maxAttempts: 8}
/** An update is running on the function; updates take seconds. */
export const CONFLICT_POLICY: BackoffPolicy = {reason: 'update in progress', baseMs: 1_000, capMs: 20_000, maxAttempts: 10}
/** A new role takes ~10 s (sometimes more) until Lambda can assume it. */
export const ROLE_PROPAGATION_POLICY: BackoffPolicy = {reason: 'new IAM role not yet usable', baseMs: 2_000, capMs: 15_000, maxAttempts: 10}

const THROTTLE_NAMES = new Set([
  'TooManyRequestsException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ServiceException',
  'InternalError',
  'InternalFailure',
])
const CONFLICT_NAMES = new Set([
  'ResourceConflictException',
  'ResourceNotReadyException',
  'ConcurrentModification',
  'ConcurrentModificationException',
  'OperationAborted',
])

/** Lambda's message when the execution role is not assumable yet (IAM propagation) */
export function isRoleNotReady(error: unknown): boolean {
  if (errorName(error) !== 'InvalidParameterValueException') return false
  const message = (error as {message?: string}).message ?? ''
  return /cannot be assumed by Lambda/i.test(message)
}

/** Which backoff policy applies to this error, if any. */
export function retryPolicyFor(error: unknown, opts: {roleMayBeNew: boolean}): BackoffPolicy | undefined {
  const name = errorName(error)
  if (name && THROTTLE_NAMES.has(name)) return THROTTLE_POLICY
  if (name && CONFLICT_NAMES.has(name)) return CONFLICT_POLICY
  if (opts.roleMayBeNew && isRoleNotReady(error)) return ROLE_PROPAGATION_POLICY
  return undefined
}

/**
 * Delay before retry number `attempt` (1 = first retry): half of min(cap, base·2^(attempt-1)) plus a
 * uniformly random other half ("equal jitter"), so concurrent deploys spread out but never retry at 0 ms.
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

export interface RetryOptions {
  sleep: Sleep
  random: () => number
  /** true when the role was created in this run, so "cannot be assumed" is worth waiting for */
  roleMayBeNew: boolean
  log?: (line: string) => void
  /** named in log lines */
  label: string
}

/** Run `fn`, retrying errors that retryPolicyFor() classifies, up to each policy's maxAttempts. */
export async function withRetry<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const attemptsByReason = new Map<string, number>()
  for (;;) {
    try {
      return await fn()
    } catch (error) {
      const policy = retryPolicyFor(error, {roleMayBeNew: opts.roleMayBeNew})
      if (!policy) throw error
      const attempt = (attemptsByReason.get(policy.reason) ?? 0) + 1
      if (attempt >= policy.maxAttempts) throw error
      attemptsByReason.set(policy.reason, attempt)
      const delay = backoffDelayMs(policy, attempt, opts.random)
      opts.log?.(`  ${opts.label}: ${policy.reason} (${errorName(error)}), retry ${attempt} in ${(delay / 1000).toFixed(1)} s`)
      await opts.sleep(delay)
    }
  }
}
