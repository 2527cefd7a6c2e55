/**
 * Reading plan.json / profile.json / a trace for `amps simulate`. The one module under
 * src/simulate that touches the file system.
 *
 * Profiles are read by src/profile's readProfile (full schema). TODO(wire-up): replace
 * readPlanForSimulation with src/plan readPlan() once it lands; its checks only cover the fields
 * the simulator reads.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'
import {dirname, isAbsolute, resolve} from 'node:path'

import {AmpsUserError} from '../errors.js'
import {PLAN_VERSION, type Plan} from '../plan/types.js'
import {readProfile} from '../profile/io.js'
import type {Profile} from '../profile/types.js'
import {parseTraceCsv, type ParsedTrace, TraceFormatError, type TraceUnit} from './arrivals.js'

function readJson(path: string, what: string, code: 'PLAN_INVALID'): unknown {
  if (!existsSync(path)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `${what} not found: ${path}`, {
      suggestions: ['run `amps plan <model>` to write plan.json'],
    })
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError(code, `${what} ${path} is not valid JSON: ${(error as Error).message}`)
  }
}

type Check = (ok: unknown, field: string, expected: string) => void

function checker(problems: string[]): Check {
  return (ok, field, expected) => {
    if (!ok) problems.push(`"${field}": expected ${expected}`)
  }
}

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)

export function readPlanForSimulation(path: string): Plan {
  const raw = readJson(path, 'plan', 'PLAN_INVALID') as any
  const problems: string[] = []
  const check = checker(problems)
  check(raw && typeof raw === 'object', '(root)', 'an object')
  if (problems.length === 0) {
    check(raw.version === PLAN_VERSION, 'version', `${PLAN_VERSION}`)
    check(isNum(raw.batch?.size) && Number.isInteger(raw.batch.size) && raw.batch.size >= 1, 'batch.size', 'an integer >= 1')
    check(isNum(raw.batch?.timeoutMs) && raw.batch.timeoutMs >= 0, 'batch.timeoutMs', 'a number >= 0')
    check(isNum(raw.inputs?.sloMs) && raw.inputs.sloMs > 0, 'inputs.sloMs', 'a number > 0')
    check(isNum(raw.inputs?.percentile) && raw.inputs.percentile > 0 && raw.inputs.percentile <= 100, 'inputs.percentile', 'a number in (0, 100]')
    check(isNum(raw.inputs?.ratePerSecond) && raw.inputs.ratePerSecond > 0, 'inputs.ratePerSecond', 'a number > 0')
    for (const f of ['latencyMs', 'costPerMillionUsd', 'meanBatchSize', 'coldStartMs', 'coldStartProbability']) {
      check(isNum(raw.predicted?.[f]), `predicted.${f}`, 'a number')
    }
    check(Array.isArray(raw.stages) && raw.stages.length > 0, 'stages', 'a non-empty array')
    if (Array.isArray(raw.stages)) {
      raw.stages.forEach((s: any, i: number) => {
        const at = `stages[${i}]`
        check(isNum(s?.memoryMb) && s.memoryMb >= 128 && s.memoryMb <= 10240, `${at}.memoryMb`, '128–10240')
        check(s?.arch === 'x86_64' || s?.arch === 'arm64', `${at}.arch`, '"x86_64" or "arm64"')
        check(isNum(s?.predictedMs) && s.predictedMs >= 0, `${at}.predictedMs`, 'a number >= 0')
        check(s?.handoff === 'inline' || s?.handoff === 's3', `${at}.handoff`, '"inline" or "s3"')
        check(isNum(s?.inputBytes) && isNum(s?.outputBytes), `${at}.inputBytes/outputBytes`, 'numbers')
        check(isNum(s?.weightsBytes) && isNum(s?.packageBytes), `${at}.weightsBytes/packageBytes`, 'numbers')
        check(
          isNum(s?.layers?.firstIndex) && isNum(s?.layers?.lastIndex) && s.layers.firstIndex <= s.layers.lastIndex,
          `${at}.layers`,
          'firstIndex <= lastIndex',
        )
      })
    }
  }
  if (problems.length > 0) {
    throw new AmpsUserError('PLAN_INVALID', `plan ${path} is not a valid amps plan: ${problems.join('; ')}`, {
      suggestions: ['re-create it with `amps plan`'],
    })
  }
  return raw as Plan
}

/** Reads and validates a profile through src/profile (the schema owner). */
export function readProfileForSimulation(path: string): {profile: Profile; warnings: string[]} {
  return {profile: readProfile(path), warnings: []}
}

/** Where the plan says its profile is: absolute, else relative to the plan's folder, else to cwd. */
export function profilePathFromPlan(plan: Plan, planPath: string): string | undefined {
  const p = plan.model.profile
  if (!p) return undefined
  if (isAbsolute(p)) return p
  const besidePlan = resolve(dirname(planPath), p)
  if (existsSync(besidePlan)) return besidePlan
  return resolve(p)
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
