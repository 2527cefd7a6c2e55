/**
 * deployment.json: read (validated, clear error on mismatch) and written atomically (temp file in
 * the same directory + fsync + rename) after every step, so an interrupted deploy leaves a complete
 * file that `amps deploy` can resume and `amps destroy` can clean up.
 */
import {createHash} from 'node:crypto'

import {writeFileAtomic} from '../../src/files/atomic.js'
import {defineFormat, readAs, writeAs} from '../../src/files/format.js'
import {list, num, obj, oneOf, problemsOf, str} from '../../src/files/zod.js'
import type {Plan} from '../../src/plan/types.js'
import {DEPLOYMENT_VERSION, type DeploymentState, type StageDeployment} from './types.js'

/** The one atomic writer (temp file + fsync + rename), from the src/files kit. */
export {writeFileAtomic}

const stageSchema = obj({
  stageIndex: num({min: 0, int: true}),
  functionName: str(),
  status: oneOf(['pending', 'created', 'updated', 'active', 'failed', 'deleted']),
  port: num({min: 0, max: 65535, int: true}).optional(),
  pid: num({min: 1, int: true}).optional(),
})

export const deploymentSchema = obj({
  version: num({int: true}),
  target: oneOf(['local', 'aws']),
  region: str(),
  planHash: str(),
  planPath: str(),
  modelPath: str(),
  createdAt: str(),
  updatedAt: str(),
  stages: list(stageSchema),
})

export const deploymentFormat = defineFormat<DeploymentState>({
  kind: 'deployment',
  version: DEPLOYMENT_VERSION,
  schema: deploymentSchema,
  code: 'DEPLOYMENT_INVALID',
  remake: 'pass the deployment.json that `amps deploy <plan.json> -o {file}` wrote',
  // owner-only: a local deployment.json holds the local Invoke API's token
  fileMode: 0o600,
})

export function writeDeployment(path: string, state: DeploymentState): void {
  state.updatedAt = new Date().toISOString()
  writeAs(deploymentFormat, path, state)
}

export function readDeployment(path: string): DeploymentState {
  return readAs(deploymentFormat, path)
}

/** Every problem with a parsed deployment.json, as `"field": expected …, got …` lines. */
export function validateDeployment(raw: unknown): string[] {
  return problemsOf(deploymentSchema, raw)
}

/** Removes what `amps deploy` writes back into a plan (measured sizes) so the hash is stable. */
export function planForHash(plan: Plan): Plan {
  return {...plan, stages: plan.stages.map(({measuredPackageBytes: _m, ...s}) => s)} as Plan
}

/** sha256 (hex) of the plan as canonical JSON (keys sorted), ignoring fields deploy writes back. */
export function planHash(plan: Plan): string {
  return createHash('sha256')
    .update(canonicalJson(planForHash(plan)))
    .digest('hex')
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
