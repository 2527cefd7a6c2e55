/**
 * deployment.json: read (validated, clear error on mismatch) and written atomically (temp file in
 * the same directory + fsync + rename) after every step, so an interrupted deploy leaves a complete
 * file that `amps deploy` can resume and `amps destroy` can clean up.
 */
import {createHash, randomBytes} from 'node:crypto'
import {mkdirSync, openSync, closeSync, writeSync, fsyncSync, renameSync, rmSync, readFileSync, existsSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

import {AmpsUserError} from '../../src/errors.js'
import type {Plan} from '../../src/plan/types.js'
import {DEPLOYMENT_VERSION, type DeploymentState, type StageDeployment} from './types.js'

/** Writes `text` to `path` atomically. Synchronous so a SIGINT handler cannot interleave writes. */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(resolve(path))
  mkdirSync(dir, {recursive: true})
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  // owner-only: deployment.json may hold the local target's token
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  try {
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, {force: true})
    throw error
  }
}

export function writeDeployment(path: string, state: DeploymentState): void {
  state.updatedAt = new Date().toISOString()
  writeFileAtomic(path, JSON.stringify(state, null, 2) + '\n')
}

export function readDeployment(path: string): DeploymentState {
  const file = resolve(path)
  if (!existsSync(file)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `deployment file ${path} does not exist`, {
      suggestions: ['Run `amps deploy <plan.json>` first (it writes deployment.json), or pass the path it wrote with --out.'],
    })
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${path} is not valid JSON: ${(error as Error).message}`)
  }
  const problems = validateDeployment(raw)
  if (problems.length > 0) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${path} is not a deployment file: ${problems.slice(0, 5).join('; ')}`, {
      suggestions: ['Pass the deployment.json that `amps deploy` wrote.'],
      details: {problems},
    })
  }
  return raw as DeploymentState
}

/** Every problem with a parsed deployment.json, as `"field": expected …, got …` lines. */
export function validateDeployment(raw: unknown): string[] {
  const p: string[] = []
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return ['expected a JSON object']
  const d = raw as Record<string, unknown>
  if (d.version !== DEPLOYMENT_VERSION) p.push(`"version": expected ${DEPLOYMENT_VERSION}, got ${JSON.stringify(d.version)}`)
  if (d.target !== 'local' && d.target !== 'aws') p.push(`"target": expected "local" or "aws", got ${JSON.stringify(d.target)}`)
  for (const k of ['region', 'planHash', 'planPath', 'modelPath', 'createdAt', 'updatedAt']) {
    if (typeof d[k] !== 'string') p.push(`"${k}": expected a string, got ${JSON.stringify(d[k])}`)
  }
  if (!Array.isArray(d.stages)) {
    p.push(`"stages": expected an array`)
    return p
  }
  d.stages.forEach((s: unknown, i: number) => {
    const st = (s ?? {}) as Record<string, unknown>
    if (typeof st.stageIndex !== 'number') p.push(`"stages[${i}].stageIndex": expected a number`)
    if (typeof st.functionName !== 'string') p.push(`"stages[${i}].functionName": expected a string`)
    if (typeof st.status !== 'string') p.push(`"stages[${i}].status": expected a string`)
    if (st.port !== undefined && !Number.isInteger(st.port)) p.push(`"stages[${i}].port": expected an integer`)
    if (st.pid !== undefined && !Number.isInteger(st.pid)) p.push(`"stages[${i}].pid": expected an integer`)
  })
  return p
}

/** Removes what `amps deploy` writes back into a plan (measured sizes) so the hash is stable. */
export function planForHash(plan: Plan): Plan {
  return {...plan, stages: plan.stages.map(({measuredPackageBytes: _m, ...s}) => s)} as Plan
}

/** sha256 (hex) of the plan as canonical JSON (keys sorted), ignoring fields deploy writes back. */
export function planHash(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(planForHash(plan))).digest('hex')
}

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map((v) => canonicalJson(v)).join(',') + ']'
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}'
  }
  return JSON.stringify(value)
}

/** The stage entry for `stageIndex`, or undefined. */
export function stageOf(state: DeploymentState, stageIndex: number): StageDeployment | undefined {
  return state.stages.find((s) => s.stageIndex === stageIndex)
}
