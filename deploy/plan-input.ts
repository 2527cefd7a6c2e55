/**
 * Reading plan.json for deploy/invoke.
 *
 * TODO(wire-up): replace with src/plan readPlan() (the schema owner) once it lands; the checks here
 * cover only the fields deploy and invoke read.
 */
import {existsSync, readFileSync} from 'node:fs'

import {AmpsUserError} from '../src/errors.js'
import {PLAN_VERSION, type Plan} from '../src/plan/types.js'

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)
const isInt = (x: unknown): x is number => Number.isInteger(x)

export function readPlanForDeploy(path: string): Plan {
  if (!existsSync(path)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `plan not found: ${path}`, {suggestions: ['Run `amps plan <model>` to write plan.json.']})
  }
  let raw: any
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('PLAN_INVALID', `plan ${path} is not valid JSON: ${(error as Error).message}`)
  }
  const p: string[] = []
  const check = (ok: unknown, field: string, expected: string) => {
    if (!ok) p.push(`"${field}": expected ${expected}`)
  }
  check(raw && typeof raw === 'object' && !Array.isArray(raw), '(root)', 'an object')
  if (p.length === 0) {
    check(raw.version === PLAN_VERSION, 'version', String(PLAN_VERSION))
    check(typeof raw.model?.name === 'string', 'model.name', 'a string')
    check(typeof raw.model?.sha256 === 'string', 'model.sha256', 'a string')
    check(typeof raw.model?.source === 'string', 'model.source', 'a string (the model path)')
    check(isInt(raw.batch?.size) && raw.batch.size >= 1, 'batch.size', 'an integer >= 1')
    check(Array.isArray(raw.stages) && raw.stages.length > 0, 'stages', 'a non-empty array')
    if (Array.isArray(raw.stages)) {
      raw.stages.forEach((s: any, i: number) => {
        const at = `stages[${i}]`
        check(isInt(s?.index), `${at}.index`, 'an integer')
        check(typeof s?.name === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(s.name), `${at}.name`, 'a short name like "stage-1"')
        check(isInt(s?.memoryMb) && s.memoryMb >= 128 && s.memoryMb <= 10240, `${at}.memoryMb`, 'an integer in 128–10240')
        check(s?.arch === 'x86_64' || s?.arch === 'arm64', `${at}.arch`, '"x86_64" or "arm64"')
        check(isNum(s?.predictedMs) && s.predictedMs >= 0, `${at}.predictedMs`, 'a number >= 0')
        check(typeof s?.layers?.first === 'string' && typeof s?.layers?.last === 'string', `${at}.layers.first/last`, 'layer names')
        check(isInt(s?.layers?.firstIndex) && isInt(s?.layers?.lastIndex) && s.layers.firstIndex <= s.layers.lastIndex, `${at}.layers`, 'firstIndex <= lastIndex')
      })
    }
  }
  if (p.length > 0) {
    throw new AmpsUserError('PLAN_INVALID', `${path} is not a valid plan: ${p.slice(0, 6).join('; ')}`, {
      suggestions: ['Re-run `amps plan` to write a fresh plan.json.'],
      details: {problems: p},
    })
  }
  return raw as Plan
}
