/**
 * Reading plan.json / profile.json / a trace for `amps simulate`. The one module under
 * src/simulate that touches the file system. Plans are read by src/plan's readPlan and profiles by
 * src/profile's readProfile (each the schema owner); this adds only what simulating needs.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'

import {AmpsUserError} from '../errors.js'
import {resolveRecordedPath} from '../files/paths.js'
import {readPlan} from '../plan/schema.js'
import type {Plan} from '../plan/types.js'
import {applyCorrections} from '../profile/corrections.js'
import {readProfile} from '../profile/io.js'
import type {Profile} from '../profile/types.js'
import {parseTraceCsv, type ParsedTrace, TraceFormatError, type TraceUnit} from './arrivals.js'

/** Read and validate plan.json (FILE_NOT_FOUND / PLAN_INVALID). */
export function readPlanForSimulation(path: string): Plan {
  return readPlan(path)
}

/**
 * The rate to simulate when neither --rate nor --trace is given: the plan's own. A plan made without
 * `--rate` records 0 requests/s (nothing to batch), so the user has to say what traffic to simulate.
 */
export function planRateForSimulation(plan: Plan, planPath: string): number {
  if (plan.inputs.ratePerSecond > 0) return plan.inputs.ratePerSecond
  throw new AmpsUserError(
    'FLAG_INVALID',
    `${planPath} was planned without a request rate (\`amps plan\` without --rate), so there is no traffic to simulate: pass --rate <requests/s> or --trace <arrivals.csv>`,
    {
      suggestions: [
        `amps simulate ${planPath} --rate 10`,
        `amps simulate ${planPath} --trace arrivals.csv (one column of arrival times)`,
        'or plan with `amps plan <model> --slo <ms> --rate <requests/s>`, which also lets amps batch requests',
      ],
    },
  )
}

/** Reads and validates a profile through src/profile (the schema owner). */
export function readProfileForSimulation(path: string): {profile: Profile; warnings: string[]} {
  // the stage times `amps plan --verify` measured, as the planner used them
  return {profile: applyCorrections(readProfile(path)), warnings: []}
}

/** Where the plan says its profile is (the one resolver of recorded paths: beside the plan, then cwd). */
export function profilePathFromPlan(plan: Plan, planPath: string): string | undefined {
  const p = plan.model.profile
  return p ? resolveRecordedPath(p, planPath) : undefined
}

export function readTraceFile(path: string, options: {unit?: TraceUnit; maxRows?: number}): ParsedTrace {
  if (!existsSync(path) || !statSync(path).isFile()) {
    throw new AmpsUserError('FILE_NOT_FOUND', `trace not found: ${path}`, {suggestions: ['pass a CSV with one column of arrival timestamps']})
  }
  try {
    return parseTraceCsv(readFileSync(path, 'utf8'), options)
  } catch (error) {
    if (error instanceof TraceFormatError) {
      throw new AmpsUserError('FILE_INVALID', `trace ${path}: ${error.message}`, {
        suggestions: ['a trace is one column of arrival times, optionally with a header such as "time_ms" or "time_s"'],
      })
    }
    throw error
  }
}
