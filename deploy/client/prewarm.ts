/**
 * Deploy's pre-warm: start `counts[i]` execution environments of each stage before the first user
 * request, through the same Lambda client the coordinator uses (AWS, or the local target through
 * its endpoint override). Per stage it sends N concurrent warm-up invocations
 * (src/stage/warmup.ts): each environment answers without computing and holds itself busy for a
 * moment, so the platform starts one environment per invocation. N is bounded by the stage's
 * concurrency limit (locally: --concurrency; past it the stage would answer 429).
 *
 * The count per stage comes from warmEnvironments(plan) (src/plan/prewarm.ts): enough that a batch
 * meets a busy pool with probability ≤ 0.1 % at the plan's rate.
 */
import {InvokeCommand, type LambdaClient} from '@aws-sdk/client-lambda'

import {WARMUP_MAX_HOLD_MS, warmUpEvent, type WarmUpResult} from '../../src/stage/warmup.js'
import type {DeploymentState, StageDeployment, StagePrewarm} from '../state/types.js'
import {defaultClient} from './coordinator.js'

export interface PrewarmOptions {
  /** the Lambda client for a stage (default: the coordinator's: endpoint override for local, the region for AWS) */
  clientFor?: (stage: StageDeployment, deployment: DeploymentState) => LambdaClient
  profile?: string
  endpointUrl?: string
  /** how long each warm-up holds its environment (ms; default 250 locally, 100 on AWS) */
  holdMs?: number
  log?: (line: string) => void
}

/** Invokes every stage's warm-ups concurrently (stages in parallel too); returns one record per stage index. */
export async function prewarmDeployment(deployment: DeploymentState, counts: number[], options: PrewarmOptions = {}): Promise<Map<number, StagePrewarm>> {
  const stages = [...deployment.stages].filter((s) => s.status !== 'deleted' && s.status !== 'failed').sort((a, b) => a.stageIndex - b.stageIndex)
  const clientFor =
    options.clientFor ?? ((s: StageDeployment, d: DeploymentState) => defaultClient(s, d, {profile: options.profile, endpointUrl: options.endpointUrl}))
  const holdMs = Math.min(options.holdMs ?? (deployment.target === 'local' ? 250 : 100), WARMUP_MAX_HOLD_MS)
  const aws = deployment.target === 'aws' ? await import('../targets/aws/index.js') : undefined
  const out = new Map<number, StagePrewarm>()
  await Promise.all(
    stages.map(async (s, i) => {
      const wanted = Math.max(1, Math.floor(counts[i] ?? 1))
      const limit = s.concurrency
      const n = limit !== undefined ? Math.min(wanted, limit) : wanted
      const client = clientFor(s, deployment)
      const payload = Buffer.from(JSON.stringify(warmUpEvent(holdMs)))
      const target = aws ? aws.invokeTargetFor(s) : {FunctionName: s.functionName}
      const settled = await Promise.allSettled(
        Array.from({length: n}, async () => {
          const r = await client.send(new InvokeCommand({...target, Payload: payload, LogType: 'Tail'}))
          if (r.FunctionError) throw new Error(`${r.FunctionError}: ${r.Payload ? Buffer.from(r.Payload).toString('utf8').slice(0, 200) : ''}`)
          const body = JSON.parse(r.Payload ? Buffer.from(r.Payload).toString('utf8') : 'null') as Partial<WarmUpResult> | null
          if (!body || body.warmUp !== true || typeof body.envId !== 'string') {
            throw new Error('the stage answered a warm-up with something else (a bundle built before warm-ups existed? run amps deploy again)')
          }
          return body as WarmUpResult
        }),
      )
      if (!options.clientFor) client.destroy()
      const ok = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      const bad = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []))
      const envs = new Map<string, WarmUpResult>()
      for (const r of ok) if (!envs.has(r.envId) || r.coldStart) envs.set(r.envId, r)
      const rec: StagePrewarm = {
        requested: n,
        warm: envs.size,
        coldStarts: [...envs.values()].filter((r) => r.coldStart).length,
        initMs: [...envs.values()].map((r) => Math.round(r.initMs * 10) / 10),
        failed: bad.length,
        ...(bad.length > 0 ? {error: bad[0].message} : {}),
        ...(n < wanted ? {limitedByConcurrency: true} : {}),
        at: new Date().toISOString(),
      }
      out.set(s.stageIndex, rec)
      options.log?.(
        `${s.stageName ?? `stage-${s.stageIndex}`}: ${rec.warm} of ${n} environment${n === 1 ? '' : 's'} warm` +
          (rec.initMs.length > 0 ? `, INIT ${rec.initMs.map((x) => x.toFixed(0)).join('/')} ms` : '') +
          (rec.limitedByConcurrency ? ` (plan wants ${wanted}; its concurrency limit is ${limit})` : '') +
          (bad.length > 0 ? `; ${bad.length} warm-up${bad.length === 1 ? '' : 's'} failed: ${bad[0].message}` : ''),
      )
    }),
  )
  return out
}
