import {Errors} from '@oclif/core'

/** Stable machine-readable codes for every mistake a user can make. */
export type AmpsErrorCode =
  | 'CONFIG_INVALID'
  | 'FLAG_INVALID'
  | 'FILE_NOT_FOUND'
  | 'FILE_INVALID'
  | 'FILE_NOT_WRITABLE'
  | 'MODEL_FORMAT_UNSUPPORTED'
  | 'MODEL_UNSUPPORTED_LAYER'
  | 'MODEL_WEIGHTS_INVALID'
  | 'PROFILE_INVALID'
  | 'PLAN_INVALID'
  | 'PLAN_INFEASIBLE'
  | 'DEPLOYMENT_INVALID'
  | 'BUNDLE_TOO_LARGE'
  | 'STAGE_FAILED'
  | 'PAYLOAD_INVALID'
  | 'AWS_ACCESS_DENIED'
  | 'AWS_NOT_FOUND'
  | 'AWS_ERROR'
  | 'LOCAL_RUNTIME_ERROR'

/**
 * The user did something we can explain: exits 2, prints the message and the suggestions,
 * never a stack. Anything that is not an AmpsUserError is a bug in amps (exit 1).
 */
export class AmpsUserError extends Errors.CLIError {
  readonly ampsCode: AmpsErrorCode
  /** Structured details kept for --json output (e.g. the minimum achievable latency). */
  readonly details?: Record<string, unknown>

  constructor(code: AmpsErrorCode, message: string, options: {suggestions?: string[]; details?: Record<string, unknown>; exit?: number} = {}) {
    super(message, {code, exit: options.exit ?? 2, suggestions: options.suggestions})
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'AmpsUserError'
    this.ampsCode = code
    this.details = options.details
  }
}

/** Bad input to a pure function (solver, cost model): like tfjs-layers' ValueError. */
export class InvalidProblemError extends Error {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'InvalidProblemError'
  }
}

/** A broken invariant: always a bug. */
export class AssertionError extends Error {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'AssertionError'
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}

export function isAmpsUserError(error: unknown): error is AmpsUserError {
  return error instanceof AmpsUserError
}
