/**
 * `amps destroy` logic: list what a deployment's destroy would stop and delete, then do it
 * (local: stage processes, their cgroups, the local runtime directory; AWS: deploy/targets/aws destroyAws).
 * deployment.json stays, with every stage marked 'deleted', so a second destroy is a no-op and an
 * interrupted one can be rerun.
 */
import {existsSync} from 'node:fs'
import {dirname} from 'node:path'

import {AmpsUserError} from '../src/errors.js'
import {readDeployment, writeDeployment} from './state/deployment.js'
import {describeLocal, destroyLocal, pidAlive} from './targets/local/index.js'
import type {DeploymentState} from './state/types.js'
import type {AwsClients} from './targets/aws/clients.js'

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
  stages: {
    index: number
    functionName: string
    pid?: number
    wasRunning?: boolean
    stopped?: boolean
    /** local: every pid signalled (the front and its environments) */
    stoppedPids?: number[]
    cgroupsRemoved?: string[]
    /** local: groups left because processes this file did not start use them */
    cgroupsLeft?: {path: string; pids: number[]}[]
  }[]
  /** local: the runtime folder removed, and one left because it is another deployment's */
  removedDir?: string
  keptDir?: string
}

export async function previewDestroy(state: DeploymentState, deploymentPath: string): Promise<DestroyPreview> {
  if (state.target === 'local') {
    const {items, stateDir, foreign} = describeLocal(state, deploymentPath)
    const actions: string[] = []
    for (const it of items) {
      const st = state.stages.find((s) => s.functionName === it.functionName)
      if (st?.status === 'deleted' && !it.running && it.cgroups.length === 0) continue
      actions.push(
        it.running
          ? `stop process ${it.functionName} (pid ${it.pid}${it.environments.length ? `, environments ${it.environments.join(', ')}` : ''})`
          : it.environments.length
            ? `stop orphaned environments of ${it.functionName} (pids ${it.environments.join(', ')})`
            : `${it.functionName}: not running${it.pid ? ` (pid ${it.pid} ${pidAlive(it.pid) ? "is not this deployment's" : 'is gone'})` : ''}, nothing to stop`,
      )
      for (const cg of it.cgroups) actions.push(`delete cgroup ${cg} (when empty)`)
      if (st?.weights && st.status !== 'deleted') actions.push(`delete ${it.functionName}'s weights ${st.weights.url}`)
    }
    if (stateDir && existsSync(stateDir)) actions.push(`delete directory ${stateDir} (logs, hand-off files)`)
    const keep = [...foreign]
    const handoffDir = state.handoff?.kind === 'dir' ? dirname(state.handoff.path) : undefined
    if (handoffDir && handoffDir !== stateDir && existsSync(handoffDir)) keep.push(`directory ${handoffDir}: not this file's folder`)
    const live = state.stages.some((s) => s.status !== 'deleted')
    return {target: 'local', actions, keep, nothingToDo: !live && actions.length === 0}
  }
  const aws = await import('./targets/aws/index.js')
  const d = aws.describeDestroy(state)
  return {target: 'aws', actions: d.delete.map((x) => `delete ${x}`), keep: d.keep, nothingToDo: d.delete.length === 0}
}

export async function runDestroy(
  deploymentPath: string,
  options: {log?: (line: string) => void; profile?: string; endpointUrl?: string; clients?: AwsClients} = {},
): Promise<DestroyReport> {
  const log = options.log ?? (() => {})
  const state = readDeployment(deploymentPath)
  const preview = await previewDestroy(state, deploymentPath)
  const report: DestroyReport = {schemaVersion: 1, deploymentPath, destroyed: false, stages: [], ...preview}
  if (preview.nothingToDo) return report
  if (state.target === 'local') {
    const r = await destroyLocal(state, {statePath: deploymentPath, log})
    report.stages = r.stages.map((s) => ({
      index: s.stageIndex,
      functionName: s.functionName,
      pid: s.pid,
      wasRunning: s.wasRunning,
      stopped: s.stopped.length > 0,
      stoppedPids: s.stopped,
      cgroupsRemoved: s.cgroupsRemoved,
      cgroupsLeft: s.cgroupsLeft,
    }))
    report.removedDir = r.removedDir
    report.keptDir = r.keptDir
    writeDeployment(deploymentPath, state)
  } else {
    let aws: typeof import('./targets/aws/index.js')
    try {
      aws = await import('./targets/aws/index.js')
    } catch (error) {
      throw new AmpsUserError('AWS_ERROR', `the AWS target is not available in this build: ${(error as Error).message}`)
    }
    const final = await aws.destroyAws(state, {
      statePath: deploymentPath,
      log,
      profile: options.profile,
      endpointUrl: options.endpointUrl,
      clients: options.clients,
    })
    report.stages = final.stages.map((s) => ({index: s.stageIndex, functionName: s.functionName}))
  }
  report.destroyed = true
  return report
}
