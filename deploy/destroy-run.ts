/**
 * `amps destroy` logic: list what a deployment's destroy would stop and delete, then do it
 * (local: stage processes, their cgroups, the local runtime directory; AWS: deploy/targets/aws destroyAws).
 * deployment.json stays, with every stage marked 'deleted', so a second destroy is a no-op and an
 * interrupted one can be rerun.
 */
import {existsSync} from 'node:fs'

import {AmpsUserError} from '../src/errors.js'
import {readDeployment, writeDeployment} from './state/deployment.js'
import {describeLocal, destroyLocal} from './targets/local/index.js'
import type {DeploymentState} from './state/types.js'

export interface DestroyPreview {
  target: 'local' | 'aws'
  /** human lines: what will be stopped / deleted */
  actions: string[]
  /** what stays (resources the deployment did not create) */
  keep: string[]
  nothingToDo: boolean
}

export interface DestroyReport extends DestroyPreview {
  schemaVersion: 1
  deploymentPath: string
  destroyed: boolean
  stages: {index: number; functionName: string; pid?: number; wasRunning?: boolean; stopped?: boolean; cgroupsRemoved?: string[]}[]
}

export async function previewDestroy(state: DeploymentState): Promise<DestroyPreview> {
  if (state.target === 'local') {
    const {items, stateDir} = describeLocal(state)
    const actions: string[] = []
    for (const it of items) {
      const st = state.stages.find((s) => s.functionName === it.functionName)
      if (st?.status === 'deleted' && !it.running && it.cgroups.length === 0) continue
      actions.push(
        it.running
          ? `stop process ${it.functionName} (pid ${it.pid})`
          : `${it.functionName}: not running${it.pid ? ` (pid ${it.pid} is stale)` : ''}, nothing to stop`,
      )
      for (const cg of it.cgroups) actions.push(`delete cgroup ${cg}`)
    }
    if (stateDir && existsSync(stateDir)) actions.push(`delete directory ${stateDir} (logs, hand-off files)`)
    const live = state.stages.some((s) => s.status !== 'deleted')
    return {target: 'local', actions, keep: [], nothingToDo: !live && actions.length === 0}
  }
  const aws = await import('./targets/aws/index.js')
  const d = aws.describeDestroy(state)
  return {target: 'aws', actions: d.delete.map((x) => `delete ${x}`), keep: d.keep, nothingToDo: d.delete.length === 0}
}

export async function runDestroy(deploymentPath: string, options: {log?: (line: string) => void; profile?: string; endpointUrl?: string} = {}): Promise<DestroyReport> {
  const log = options.log ?? (() => {})
  const state = readDeployment(deploymentPath)
  const preview = await previewDestroy(state)
  const report: DestroyReport = {schemaVersion: 1, deploymentPath, destroyed: false, stages: [], ...preview}
  if (preview.nothingToDo) return report
  if (state.target === 'local') {
    const r = await destroyLocal(state, {statePath: deploymentPath, log})
    report.stages = r.stages.map((s) => ({index: s.stageIndex, functionName: s.functionName, pid: s.pid, wasRunning: s.wasRunning, stopped: s.stopped, cgroupsRemoved: s.cgroupsRemoved}))
    writeDeployment(deploymentPath, state)
  } else {
    let aws: typeof import('./targets/aws/index.js')
    try {
      aws = await import('./targets/aws/index.js')
    } catch (error) {
      throw new AmpsUserError('AWS_ERROR', `the AWS target is not available in this build: ${(error as Error).message}`)
    }
    const final = await aws.destroyAws(state, {statePath: deploymentPath, log, profile: options.profile, endpointUrl: options.endpointUrl})
    report.stages = final.stages.map((s) => ({index: s.stageIndex, functionName: s.functionName}))
  }
  report.destroyed = true
  return report
}
