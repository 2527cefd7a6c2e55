/**
 * `amps plan --verify`: run a plan's stages before answering. The chosen stages are deployed to a
 * temporary deployment (the local runtime, same bundles and CPU/memory quotas as `amps deploy`; or
 * AWS Lambda with temporary functions), the plan's batch size is sent through the chain a few times
 * to warm every stage, then `measured` more times; each stage's median platform Duration (the
 * REPORT line of its log tail, locally the runner's figure measured the same way) is compared with
 * the plan's predictedMs. The deployment is destroyed whatever happens.
 */
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {AmpsUserError} from '../src/errors.js'
import type {Plan} from '../src/plan/types.js'
import {median} from '../src/profile/stats.js'
import {createBatchInvoker} from './client/batch-invoke.js'
import type {ChainOptions} from './client/coordinator.js'
import {randomInputs} from './client/inputs.js'
import {deployPlan, resolvePlanModel, type DeployOptions} from './deploy-plan.js'
import {runDestroy} from './destroy-run.js'
import {readDeployment} from './state/deployment.js'
import {onInterrupt} from '../src/util/interrupt.js'

/** Requests per stage by default: warm-up (not counted), then measured. */
export const VERIFY_WARM_REQUESTS = 5
export const VERIFY_MEASURED_REQUESTS = 15

export interface VerifyOptions {
  plan: Plan
  /** where the plan was written (resolves its model.source) */
  planPath: string
  target: 'local' | 'aws'
  warm?: number
  measured?: number
  /** stop sending measured requests past this (ms; at least 3 are always measured) */
  timeLimitMs?: number
  aws?: DeployOptions['aws']
  log?: (line: string) => void
  /** tests: the Lambda client per stage (AWS mocks; default: o.aws.clients.lambda when given) */
  clientFor?: ChainOptions['clientFor']
}

export interface VerifiedStage {
  index: number
  name: string
  firstIndex: number
  lastIndex: number
  memoryMb: number
  batch: number
  predictedMs: number
  /** median Duration of the measured requests (ms) */
  measuredMs: number
  /** (measured − predicted) / predicted */
  error: number
  samples: number
  durationsMs: number[]
}

export interface VerifyResult {
  target: 'local' | 'aws'
  batch: number
  warm: number
  measured: number
  stages: VerifiedStage[]
  /** what the verification itself costs on AWS (USD, plan prices; 0 locally) */
  costUsd: number
  wallMs: number
}

/**
 * What running the verification costs on AWS (USD): each stage billed for every request at its
 * predicted mean cost per batch, plus one INIT of every stage.
 */
export function verificationCostUsd(plan: Plan, requests: number): number {
  const perBatch = plan.stages.reduce((s, st) => s + (st.costPerBatchUsd ?? 0), 0)
  return perBatch * requests + (plan.predicted.initUsdPerColdStart ?? 0)
}

export async function verifyPlan(o: VerifyOptions): Promise<VerifyResult> {
  const log = o.log ?? (() => {})
  const warm = o.warm ?? VERIFY_WARM_REQUESTS
  const measured = o.measured ?? VERIFY_MEASURED_REQUESTS
  const B = o.plan.batch.size
  const t0 = performance.now()
  const costUsd = o.target === 'aws' ? verificationCostUsd(o.plan, warm + measured) : 0
  const dir = mkdtempSync(join(tmpdir(), 'amps-verify-'))
  const statePath = join(dir, 'deployment.json')
  const modelPath = resolvePlanModel(o.plan, o.planPath)
  // Ctrl-C: the temporary deployment goes too
  const unregister = onInterrupt(async () => {
    if (existsSync(statePath)) await runDestroy(statePath, {profile: o.aws?.profile, endpointUrl: o.aws?.endpointUrl, clients: o.aws?.clients}).catch(() => {})
    rmSync(dir, {recursive: true, force: true})
  })
  try {
    log(`verify: deploying ${o.plan.stages.length} stage(s) to a temporary ${o.target} deployment`)
    await deployPlan({
      planPath: o.planPath,
      modelPath,
      target: o.target,
      out: statePath,
      bundleDir: join(dir, 'bundles'),
      concurrency: 1,
      aws: o.aws,
      log: (l) => log(`  ${l}`),
    })
    const state = readDeployment(statePath)
    const clientFor = o.clientFor ?? (o.aws?.clients ? () => o.aws!.clients!.lambda : undefined)
    const invoker = createBatchInvoker(state, {...(clientFor ? {clientFor} : {}), profile: o.aws?.profile, endpointUrl: o.aws?.endpointUrl})
    const durations: number[][] = o.plan.stages.map(() => [])
    try {
      const inputs = randomInputs(state.modelInputs ?? [], {batch: B, seed: 7})
      log(`verify: ${warm} warm-up + ${measured} measured requests of batch ${B}`)
      for (let i = 0; i < warm; i++) await invoker.invoke(inputs)
      const deadline = performance.now() + (o.timeLimitMs ?? 60_000)
      for (let i = 0; i < measured; i++) {
        if (i >= 3 && performance.now() > deadline) {
          log(`verify: time limit reached after ${i} measured requests`)
          break
        }
        const r = await invoker.invoke(inputs)
        for (const t of r.stages) {
          const d = t.durationMs ?? t.handlerMs
          if (durations[t.stageIndex]) durations[t.stageIndex].push(d)
        }
      }
    } finally {
      invoker.close()
    }
    const stages = o.plan.stages.map((st, i): VerifiedStage => {
      if (durations[i].length === 0) throw new AmpsUserError('STAGE_FAILED', `verify: stage ${st.name} reported no Duration`)
      const m = median(durations[i])
      return {
        index: st.index,
        name: st.name,
        firstIndex: st.layers.firstIndex,
        lastIndex: st.layers.lastIndex,
        memoryMb: st.memoryMb,
        batch: B,
        predictedMs: st.predictedMs,
        measuredMs: m,
        error: st.predictedMs > 0 ? (m - st.predictedMs) / st.predictedMs : 0,
        samples: durations[i].length,
        durationsMs: durations[i],
      }
    })
    return {target: o.target, batch: B, warm, measured: stages[0]?.samples ?? 0, stages, costUsd, wallMs: performance.now() - t0}
  } finally {
    unregister()
    if (existsSync(statePath)) {
      const destroyed = await runDestroy(statePath, {
        log: (l) => log(`  ${l}`),
        profile: o.aws?.profile,
        endpointUrl: o.aws?.endpointUrl,
        clients: o.aws?.clients,
      }).then(
        () => true,
        (error: Error) => {
          // keep the folder, so `amps destroy` can finish the job
          log(`verify: destroying the temporary deployment failed: ${error.message}; run \`amps destroy ${statePath}\``)
          return false
        },
      )
      if (destroyed) rmSync(dir, {recursive: true, force: true})
    } else rmSync(dir, {recursive: true, force: true})
  }
}
