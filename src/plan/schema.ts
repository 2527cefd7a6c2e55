/**
 * plan.json: the one module that validates it. Every problem is gathered, then reported once as an
 * AmpsUserError('PLAN_INVALID') naming the file and each field (`"stages[1].memoryMb": expected …`).
 */
import {existsSync, readFileSync} from 'node:fs'

import {AmpsUserError} from '../errors.js'
import {ARCHES, LAMBDA} from '../platform/lambda.js'
import {writeFileAtomic} from '../profile/io.js'
import {PLAN_VERSION, type Plan} from './types.js'

type Check = (ok: boolean, field: string, expected: string, got?: unknown) => void

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)
const isInt = (x: unknown): x is number => isNum(x) && Number.isInteger(x)
const isStr = (x: unknown): x is string => typeof x === 'string'
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)
const isArch = (x: unknown): boolean => (ARCHES as readonly unknown[]).includes(x)

function show(x: unknown): string {
  const s = JSON.stringify(x)
  return s === undefined ? 'nothing' : s.length > 60 ? s.slice(0, 57) + '...' : s
}

/** Every problem with a parsed plan.json, as `"field": expected …, got …` lines. */
export function planProblems(raw: unknown): string[] {
  const problems: string[] = []
  const check: Check = (ok, field, expected, got) => {
    if (!ok) problems.push(`"${field}": expected ${expected}, got ${show(got)}`)
  }
  if (!isObj(raw)) return ['(root): expected a JSON object']
  if (raw.version !== PLAN_VERSION) {
    problems.push(`"version": expected ${PLAN_VERSION} (this amps writes plan version ${PLAN_VERSION}), got ${show(raw.version)}`)
    return problems
  }
  const m = raw.model
  check(isObj(m), 'model', 'an object', m)
  if (isObj(m)) {
    check(isStr(m.name), 'model.name', 'a string', m.name)
    check(isStr(m.sha256), 'model.sha256', 'a string', m.sha256)
    check(isStr(m.source), 'model.source', 'a string', m.source)
    if (m.profile !== undefined) check(isStr(m.profile) && m.profile.length > 0, 'model.profile', 'the path of the profile.json the plan was made from', m.profile)
  }
  const inp = raw.inputs
  check(isObj(inp), 'inputs', 'an object', inp)
  if (isObj(inp)) {
    check(isNum(inp.sloMs) && inp.sloMs > 0, 'inputs.sloMs', 'a number > 0', inp.sloMs)
    check(isNum(inp.percentile) && inp.percentile > 0 && inp.percentile <= 100, 'inputs.percentile', 'a number in (0, 100]', inp.percentile)
    check(isNum(inp.ratePerSecond) && inp.ratePerSecond >= 0, 'inputs.ratePerSecond', 'a number >= 0', inp.ratePerSecond)
    check(isArch(inp.arch) || inp.arch === 'auto', 'inputs.arch', '"x86_64", "arm64" or "auto"', inp.arch)
    check(isStr(inp.region), 'inputs.region', 'a string', inp.region)
    check(isStr(inp.priceTableVersion), 'inputs.priceTableVersion', 'a string', inp.priceTableVersion)
    check(isInt(inp.maxBatch) && inp.maxBatch >= 1, 'inputs.maxBatch', 'an integer >= 1', inp.maxBatch)
  }
  const b = raw.batch
  check(isObj(b), 'batch', 'an object', b)
  if (isObj(b)) {
    check(isInt(b.size) && b.size >= 1, 'batch.size', 'an integer >= 1', b.size)
    check(isNum(b.timeoutMs) && b.timeoutMs >= 0, 'batch.timeoutMs', 'a number >= 0', b.timeoutMs)
  }
  check(Array.isArray(raw.stages) && raw.stages.length > 0, 'stages', 'a non-empty array', raw.stages)
  if (Array.isArray(raw.stages)) {
    let expectFirst = 0
    raw.stages.forEach((s: unknown, i: number) => {
      const at = `stages[${i}]`
      if (!isObj(s)) return void check(false, at, 'an object', s)
      check(s.index === i, `${at}.index`, `${i}`, s.index)
      check(isStr(s.name), `${at}.name`, 'a string', s.name)
      const l = s.layers
      if (!isObj(l)) check(false, `${at}.layers`, 'an object', l)
      else {
        check(isStr(l.first) && isStr(l.last), `${at}.layers.first/last`, 'layer names', [l.first, l.last])
        check(isInt(l.firstIndex) && l.firstIndex === expectFirst, `${at}.layers.firstIndex`, `${expectFirst} (stages cover the model in order)`, l.firstIndex)
        check(isInt(l.lastIndex) && l.lastIndex >= (l.firstIndex as number), `${at}.layers.lastIndex`, 'an integer >= firstIndex', l.lastIndex)
        check(isInt(l.count) && l.count === (l.lastIndex as number) - (l.firstIndex as number) + 1, `${at}.layers.count`, 'lastIndex - firstIndex + 1', l.count)
        if (isInt(l.lastIndex)) expectFirst = l.lastIndex + 1
      }
      check(isInt(s.memoryMb) && s.memoryMb >= LAMBDA.memoryMinMb && s.memoryMb <= LAMBDA.memoryMaxMb, `${at}.memoryMb`, `an integer in ${LAMBDA.memoryMinMb}–${LAMBDA.memoryMaxMb}`, s.memoryMb)
      check(isArch(s.arch), `${at}.arch`, '"x86_64" or "arm64"', s.arch)
      for (const f of ['packageBytes', 'weightsBytes', 'predictedMs', 'inputBytes', 'outputBytes']) {
        check(isNum(s[f]) && s[f] >= 0, `${at}.${f}`, 'a number >= 0', s[f])
      }
      check(Array.isArray(s.inputTensors) && s.inputTensors.every(isStr), `${at}.inputTensors`, 'an array of tensor ids', s.inputTensors)
      check(Array.isArray(s.outputTensors) && s.outputTensors.every(isStr), `${at}.outputTensors`, 'an array of tensor ids', s.outputTensors)
      check(s.handoff === 'inline' || s.handoff === 's3', `${at}.handoff`, '"inline" or "s3"', s.handoff)
      if (s.inputHandoff !== undefined) check(s.inputHandoff === 'inline' || s.inputHandoff === 's3', `${at}.inputHandoff`, '"inline" or "s3"', s.inputHandoff)
    })
  }
  const p = raw.predicted
  check(isObj(p), 'predicted', 'an object', p)
  if (isObj(p)) {
    for (const f of ['latencyMs', 'serviceMs', 'meanBatchSize', 'costPerMillionUsd', 'monthlyCostUsd', 'coldStartMs']) {
      check(isNum(p[f]) && p[f] >= 0, `predicted.${f}`, 'a number >= 0', p[f])
    }
    check(isNum(p.coldStartProbability) && p.coldStartProbability >= 0 && p.coldStartProbability <= 1, 'predicted.coldStartProbability', 'a probability', p.coldStartProbability)
  }
  const sv = raw.solver
  check(isObj(sv), 'solver', 'an object', sv)
  if (isObj(sv)) {
    check(sv.method === 'fast' || sv.method === 'milp', 'solver.method', '"fast" or "milp"', sv.method)
    check(typeof sv.optimal === 'boolean', 'solver.optimal', 'true or false', sv.optimal)
    check(isNum(sv.solveMs) && sv.solveMs >= 0, 'solver.solveMs', 'a number >= 0', sv.solveMs)
  }
  check(Array.isArray(raw.baselines), 'baselines', 'an array', raw.baselines)
  if (Array.isArray(raw.baselines)) {
    raw.baselines.forEach((bl: unknown, i: number) => {
      const at = `baselines[${i}]`
      if (!isObj(bl)) return void check(false, at, 'an object', bl)
      check(isStr(bl.name), `${at}.name`, 'a string', bl.name)
      check(typeof bl.feasible === 'boolean', `${at}.feasible`, 'true or false', bl.feasible)
      if (bl.feasible) {
        check(isNum(bl.latencyMs), `${at}.latencyMs`, 'a number', bl.latencyMs)
        check(isNum(bl.costPerMillionUsd), `${at}.costPerMillionUsd`, 'a number', bl.costPerMillionUsd)
      }
    })
  }
  check(isStr(raw.createdAt), 'createdAt', 'an ISO date string', raw.createdAt)
  return problems
}

/** Validate a parsed plan; throws one AmpsUserError listing every problem. */
export function validatePlan(raw: unknown, file = 'plan.json'): Plan {
  const problems = planProblems(raw)
  if (problems.length > 0) {
    throw new AmpsUserError('PLAN_INVALID', `${file} is not a valid amps plan: ${problems.join('; ')}`, {
      suggestions: ['re-create it with `amps plan <model|profile.json> --slo <ms> -o ' + file + '`'],
      details: {file, problems},
    })
  }
  return raw as Plan
}

/**
 * Read and validate plan.json: the one place a plan on disk is checked. Commands that need more
 * (deploy: a model path and function-name-safe stage names; simulate: a request rate) add their own
 * checks on top of the Plan this returns.
 */
export function readPlan(path: string): Plan {
  if (!existsSync(path)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `plan not found: ${path}`, {
      suggestions: ['create one with `amps plan <model|profile.json> --slo <ms> -o ' + path + '`'],
    })
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('PLAN_INVALID', `${path} is not valid JSON (${(error as Error).message})`, {
      suggestions: ['re-create it with `amps plan`'],
    })
  }
  return validatePlan(raw, path)
}

/** Write plan.json atomically (validated first: never write what readPlan would refuse). */
export function writePlan(path: string, plan: Plan): void {
  validatePlan(plan, path)
  writeFileAtomic(path, JSON.stringify(plan, null, 2) + '\n')
}
