/**
 * Client-side orchestration of a deployed chain: call stage 1, then 2, … with
 * @aws-sdk/client-lambda InvokeCommand — against AWS, or against the local target through an
 * endpoint override (http://127.0.0.1:<port>, dummy credentials). Same code path for both.
 *
 * Tensors are kept in a pool by id; each stage gets exactly the ids it consumes (so a tensor that
 * skips a stage still reaches the stage that needs it). Payloads stay under Lambda's 6 MB: tensors
 * that would not fit travel by reference through the deployment's hand-off store (dir or S3).
 */
import {randomBytes} from 'node:crypto'

import {InvokeCommand, LambdaClient, type InvokeCommandOutput} from '@aws-sdk/client-lambda'

import {AmpsUserError, assert} from '../../src/errors.js'
import {LAMBDA} from '../../src/platform/lambda.js'
import {assertInvokeOk} from '../targets/aws/errors.js'
import {type AwsConnection, sdkClientConfig} from '../targets/aws/config.js'
import {
  PAYLOAD_HEADROOM_BYTES,
  PayloadInvalidError,
  checkWireTensor,
  decodeTensor,
  encodeTensors,
  isRef,
  safeKey,
  type RawTensor,
  type StageEvent,
  type StageResult,
  type TensorStore,
  type WireTensor,
} from '../../src/stage/codec.js'
import {bodyText, jsonBody, parseJsonBody} from '../../src/stage/json-body.js'
import {memoryLimitBytes, oomKills} from '../targets/local/cgroup.js'
import {LOCAL_TOKEN_HEADER} from '../targets/local/confine.js'
import {storeFor} from '../../src/stage/store.js'
import type {DeploymentState, StageDeployment} from '../state/types.js'

export interface ChainOptions {
  /** the Lambda client for a stage (default: endpoint override for local, the region for AWS) */
  clientFor?: (stage: StageDeployment, deployment: DeploymentState) => LambdaClient
  /** hand-off store (default: from deployment.handoff) */
  store?: TensorStore
  /** payload limit each way (default 6,291,456 B); tests lower it to force references */
  maxPayloadBytes?: number
  /** keep hand-off objects after the call (default: deleted) */
  keepRefs?: boolean
  /** AWS: named profile for the default Lambda and S3 clients */
  profile?: string
  /** AWS: --endpoint-url for the default Lambda and S3 clients */
  endpointUrl?: string
  /**
   * deadline of one stage call (ms): past it the call is abandoned with an error naming the stage.
   * Default: the stage's Timeout + 5 s (the platform answers a timed-out function itself by then;
   * a stage that does not is hung), or 905 s (Lambda's longest Timeout) when it is not recorded.
   */
  deadlineMs?: number
}

/** Margin past a stage's Timeout before the client gives up on it (the platform's own timeout answer comes first). */
export const DEADLINE_MARGIN_MS = 5_000

/** The per-call deadline for `stage` (ms). */
export function stageDeadlineMs(stage: StageDeployment, override?: number): number {
  if (override !== undefined) return override
  const env = Number(process.env.AMPS_INVOKE_DEADLINE_MS)
  if (Number.isFinite(env) && env > 0) return env
  return (stage.timeoutSec ?? 900) * 1000 + DEADLINE_MARGIN_MS
}

/**
 * The @aws-sdk/client-lambda client for a local stage: endpoint override to its front on
 * 127.0.0.1, dummy credentials, one attempt, and a middleware adding the deployment's token header
 * (the local Invoke API refuses requests without it).
 */
export function localLambdaClient(stage: StageDeployment, deployment: Pick<DeploymentState, 'localToken'>): LambdaClient {
  // the SDK's "upgrade to Node 22" advisory is about AWS support, irrelevant for 127.0.0.1
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  assert(stage.port || stage.arn, `local stage ${stage.functionName} has no port`)
  const client = new LambdaClient({
    region: 'us-east-1',
    endpoint: stage.arn?.startsWith('http') ? stage.arn : `http://127.0.0.1:${stage.port}`,
    credentials: {accessKeyId: 'amps-local', secretAccessKey: 'amps-local'},
    maxAttempts: 1,
    // the local front checks the deployment's token, not SigV4: skip hashing every payload to sign it
    signer: {sign: async (request) => request},
  })
  const token = deployment.localToken
  if (token) {
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as {headers?: Record<string, string>}
        if (request.headers) request.headers[LOCAL_TOKEN_HEADER] = token
        return next(args)
      },
      {step: 'build', name: 'ampsLocalToken'},
    )
  }
  return client
}

export interface StageTiming {
  stageIndex: number
  stageName: string
  functionName: string
  /** round trip seen by the coordinator (ms) */
  measuredMs: number
  /** handler time reported by the stage (ms) */
  handlerMs: number
  /**
   * the platform's own Duration / Billed Duration of the invocation, from the REPORT line of its
   * log tail (LogType Tail): on AWS Lambda's figures; locally the runner's, measured the same way
   * (event parse + handler + result serialisation). Absent when the platform sent no log tail.
   */
  durationMs?: number
  billedDurationMs?: number
  runMs: number
  decodeMs: number
  encodeMs: number
  /** init of the environment that answered (ms) */
  initMs: number
  coldStart: boolean
  requestBytes: number
  responseBytes: number
  /** tensors passed by reference into this stage */
  refsIn: number
}

export interface ChainResult {
  requestId: string
  /** the model's outputs (deployment.modelOutputs; else the last stage's outputs) */
  outputs: RawTensor[]
  stages: StageTiming[]
  totalMs: number
}

export interface ChainInvoker {
  invoke(inputs: RawTensor[]): Promise<ChainResult>
  close(): void
}

const NOT_RUNNING_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED'])

export function defaultClient(stage: StageDeployment, deployment: DeploymentState, connection: AwsConnection = {}): LambdaClient {
  if (deployment.target === 'local') return localLambdaClient(stage, deployment)
  return new LambdaClient(sdkClientConfig(deployment.region, connection))
}

function stageLabel(s: StageDeployment): string {
  return s.stageName ?? `stage-${s.stageIndex}`
}

type AwsModule = typeof import('../targets/aws/index.js')

/** Turns a transport/SDK error from invoking `stage` into an AmpsUserError when the user can act on it. */
function invokeError(error: unknown, stage: StageDeployment, deployment: DeploymentState, aws: AwsModule | undefined, deadlineMs?: number): unknown {
  if (error instanceof AmpsUserError) return error
  const e = error as {code?: string; name?: string; message?: string; cause?: {code?: string}}
  // only when the deadline fired: the SDK also names ECONNRESET/EPIPE "TimeoutError"
  if (deadlineMs !== undefined) {
    return new AmpsUserError(
      'STAGE_FAILED',
      `${stageLabel(stage)} (${stage.functionName}${stage.pid ? `, pid ${stage.pid}` : ''}) did not answer within ${(deadlineMs / 1000).toFixed(1)} s (the call's deadline); it is hung or overloaded`,
      {
        suggestions: [
          deployment.target === 'local'
            ? `amps deploy ${deployment.planPath} restarts a stage that does not answer${stage.logPath ? `; its log is ${stage.logPath}` : ''}`
            : `Check the function's logs: aws logs tail /aws/lambda/${stage.functionName}`,
        ],
        details: {stageIndex: stage.stageIndex, functionName: stage.functionName, pid: stage.pid, deadlineMs},
      },
    )
  }
  if (deployment.target === 'local' && e.name === 'TooManyRequestsException') {
    return new AmpsUserError(
      'STAGE_FAILED',
      `${stageLabel(stage)} (${stage.functionName}) is throttled: all ${stage.concurrency ?? ''} of its execution environments are busy (429 TooManyRequestsException)`.replace(
        'all  of',
        'all',
      ),
      {
        suggestions: ['Retry after a moment, or redeploy with a larger `amps deploy --concurrency N`.'],
        details: {stageIndex: stage.stageIndex, functionName: stage.functionName, awsError: 'TooManyRequestsException', httpStatus: 429, retryable: true},
      },
    )
  }
  if (deployment.target === 'local' && e.name === 'AccessDeniedException') {
    return new AmpsUserError('DEPLOYMENT_INVALID', `${stageLabel(stage)} (${stage.functionName}) refused the request: ${e.message}`, {
      suggestions: ['Invoke through the deployment.json `amps deploy` wrote (it holds the token the local stages require).'],
      details: {stageIndex: stage.stageIndex, functionName: stage.functionName, awsError: e.name, httpStatus: 403},
    })
  }
  const code = e.code ?? e.cause?.code ?? (/socket hang up/i.test(e.message ?? '') ? 'ECONNRESET' : undefined)
  if (deployment.target === 'local' && code && NOT_RUNNING_CODES.has(code)) {
    const mem = stage.cgroups?.find((c) => c.includes('/memory/'))
    const kills = mem ? oomKills(mem) : undefined
    if (kills && kills > 0) {
      const limit = memoryLimitBytes(mem!) ?? stage.limits?.memoryLimitBytes
      const mb = limit ? Math.round(limit / 1048576) : undefined
      return new AmpsUserError(
        'STAGE_FAILED',
        `${stageLabel(stage)} (pid ${stage.pid ?? '?'}) was killed for running out of memory${mb ? ` (${mb} MB)` : ''}; re-plan it with more memory, then run \`amps deploy\` again`,
        {
          suggestions: [`amps deploy ${deployment.planPath} restarts it${stage.logPath ? `; its log is ${stage.logPath}` : ''}`],
          details: {stageIndex: stage.stageIndex, functionName: stage.functionName, pid: stage.pid, oomKills: kills},
        },
      )
    }
    return new AmpsUserError('LOCAL_RUNTIME_ERROR', `${stageLabel(stage)} (pid ${stage.pid ?? '?'}) is not running; run \`amps deploy\` again`, {
      suggestions: [`amps deploy ${deployment.planPath} restarts stages that died${stage.logPath ? `; its log is ${stage.logPath}` : ''}`],
      details: {stageIndex: stage.stageIndex, functionName: stage.functionName, pid: stage.pid, port: stage.port, networkError: code},
    })
  }
  if (e.name === 'RequestTooLargeException') {
    return new AmpsUserError('STAGE_FAILED', `${stageLabel(stage)} (${stage.functionName}) refused the request: ${e.message}`, {
      suggestions: ['Hand-offs over 6 MB must go by reference: deploy with a hand-off store.'],
      details: {stageIndex: stage.stageIndex, functionName: stage.functionName, awsError: e.name},
    })
  }
  if (aws) {
    return aws.toAmpsError(error, {action: `Invoke ${stage.functionName}`, region: deployment.region, functionName: stage.functionName, phase: 'invoke'})
  }
  return error
}

function parseResult(out: InvokeCommandOutput, stage: StageDeployment): StageResult {
  const body = out.Payload ? Buffer.from(out.Payload.buffer, out.Payload.byteOffset, out.Payload.byteLength) : Buffer.alloc(0)
  let parsed: unknown
  try {
    parsed = parseJsonBody(body)
  } catch {
    throw new AmpsUserError('STAGE_FAILED', `${stageLabel(stage)} (${stage.functionName}) answered something that is not JSON: ${bodyText(body).slice(0, 200)}`)
  }
  const r = parsed as Partial<StageResult>
  if (!r || !Array.isArray(r.tensors) || !r.metrics) {
    throw new AmpsUserError('STAGE_FAILED', `${stageLabel(stage)} (${stage.functionName}) answered without tensors/metrics; is it an amps stage bundle?`)
  }
  try {
    // structure and sizes only: the base64 alphabet is checked where the bytes are decoded (the next stage, or decodeTensor)
    r.tensors = r.tensors.map((t, i) => checkWireTensor(t, `${stageLabel(stage)} result tensors[${i}]`, {scanBase64: false}))
  } catch (error) {
    throw new AmpsUserError('STAGE_FAILED', `${stageLabel(stage)} (${stage.functionName}) answered a malformed tensor: ${(error as Error).message}`)
  }
  return r as StageResult
}

/** Duration and Billed Duration from the REPORT line of a base64 log tail (Lambda's format), if any. */
export function reportFromLogTail(logResult: string | undefined): {durationMs?: number; billedDurationMs?: number} {
  if (!logResult) return {}
  const text = Buffer.from(logResult, 'base64').toString('utf8')
  const line = text
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('REPORT '))
  if (!line) return {}
  const duration = /\tDuration: ([\d.]+) ms/.exec(line)
  const billed = /Billed Duration: (\d+) ms/.exec(line)
  return {...(duration ? {durationMs: Number(duration[1])} : {}), ...(billed ? {billedDurationMs: Number(billed[1])} : {})}
}

/**
 * Moves the largest inline tensors of `event` to the store until it fits `limit`; returns the
 * request body (serialised once when it fits, which is the common case).
 */
async function fitEvent(event: StageEvent, limit: number, store: TensorStore | undefined, keyPrefix: string, created: string[]): Promise<Buffer> {
  for (;;) {
    const body = jsonBody(event)!
    if (body.length <= limit - PAYLOAD_HEADROOM_BYTES) return body
    let best = -1
    for (const [i, t] of event.tensors.entries()) {
      if (!isRef(t) && (best < 0 || t.b64.length > (event.tensors[best] as {b64: string}).b64.length)) best = i
    }
    const t = best < 0 ? undefined : event.tensors[best]
    if (!t || isRef(t)) return body
    if (!store) {
      throw new AmpsUserError('PAYLOAD_INVALID', `tensor "${t.id}" does not fit in a ${limit} B request and the deployment has no hand-off store`, {
        suggestions: ['Redeploy with a hand-off store (S3 bucket on AWS; local deployments always have one).'],
      })
    }
    const bytes = Buffer.from(t.b64, 'base64')
    const ref = await store.put(`${keyPrefix}/${safeKey(t.id)}.bin`, bytes)
    created.push(ref)
    event.tensors[best] = {id: t.id, dtype: t.dtype, shape: t.shape, ref, bytes: bytes.length}
  }
}

/**
 * Creates an invoker for a deployment. Reuse it for repeated calls (connections stay open), then
 * close() it.
 */
export function createChainInvoker(deployment: DeploymentState, options: ChainOptions = {}): ChainInvoker {
  const stages = [...deployment.stages].filter((s) => s.status !== 'deleted').sort((a, b) => a.stageIndex - b.stageIndex)
  if (stages.length === 0) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', 'the deployment has no stages to invoke', {suggestions: ['Run `amps deploy <plan.json>` first.']})
  }
  const notReady = stages.find((s) => s.status === 'failed' || s.status === 'pending')
  if (notReady) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${stageLabel(notReady)} (${notReady.functionName}) is ${notReady.status}; run \`amps deploy\` again`, {
      suggestions: [`amps deploy ${deployment.planPath}`],
    })
  }
  for (const s of stages) {
    if (!s.inputTensors || !s.outputTensors) {
      throw new AmpsUserError('DEPLOYMENT_INVALID', `${stageLabel(s)} has no inputTensors/outputTensors in the deployment file; run \`amps deploy\` again`)
    }
  }
  const clientFor =
    options.clientFor ?? ((s: StageDeployment, d: DeploymentState) => defaultClient(s, d, {profile: options.profile, endpointUrl: options.endpointUrl}))
  const clients = new Map<number, LambdaClient>()
  const s3Config = deployment.target === 'aws' ? {...sdkClientConfig(deployment.region, options), ...(options.endpointUrl ? {forcePathStyle: true} : {})} : {}
  const store = options.store ?? storeFor(deployment.handoff, s3Config)
  const limit = options.maxPayloadBytes ?? LAMBDA.syncPayloadBytes
  const client = (s: StageDeployment) => {
    let c = clients.get(s.stageIndex)
    if (!c) {
      c = clientFor(s, deployment)
      clients.set(s.stageIndex, c)
    }
    return c
  }

  // the AWS helpers (and their IAM/S3 clients) load only for AWS deployments
  let awsModule: Promise<AwsModule> | undefined
  async function invoke(inputs: RawTensor[]): Promise<ChainResult> {
    const aws = deployment.target === 'aws' ? await (awsModule ??= import('../targets/aws/index.js')) : undefined
    const requestId = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
    const created: string[] = []
    const pool = new Map<string, WireTensor>()
    const t0 = performance.now()
    const timings: StageTiming[] = []
    try {
      let encoded: WireTensor[]
      try {
        encoded = await encodeTensors(inputs, {limit, store, keyPrefix: `${requestId}/input`})
      } catch (error) {
        if (error instanceof PayloadInvalidError) throw new AmpsUserError('PAYLOAD_INVALID', error.message)
        throw error
      }
      for (const t of encoded) {
        pool.set(t.id, t)
        if (isRef(t)) created.push(t.ref)
      }
      for (const s of stages) {
        const missing = s.inputTensors!.filter((id) => !pool.has(id))
        if (missing.length > 0) {
          throw new AmpsUserError(
            'PAYLOAD_INVALID',
            `${stageLabel(s)} needs tensor${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} that neither the input nor an earlier stage provides`,
            {suggestions: [`The model's input tensor is "${stages[0].inputTensors!.join('", "')}".`]},
          )
        }
        const event: StageEvent = {tensors: s.inputTensors!.map((id) => pool.get(id)!), handoff: deployment.handoff, requestId}
        const payload = await fitEvent(event, limit, store, `${requestId}/to-${stageLabel(s)}`, created)
        const s0 = performance.now()
        let out: InvokeCommandOutput
        const deadlineMs = stageDeadlineMs(s, options.deadlineMs)
        const deadline = AbortSignal.timeout(deadlineMs)
        try {
          const target = aws ? aws.invokeTargetFor(s) : {FunctionName: s.functionName}
          out = await client(s).send(new InvokeCommand({...target, Payload: payload, LogType: 'Tail'}), {abortSignal: deadline})
        } catch (error) {
          throw invokeError(error, s, deployment, aws, deadline.aborted ? deadlineMs : undefined)
        }
        const measuredMs = performance.now() - s0
        assertInvokeOk(out, {functionName: s.functionName, stageIndex: s.stageIndex, label: stageLabel(s), logPath: s.logPath})
        const result = parseResult(out, s)
        for (const t of result.tensors) {
          pool.set(t.id, t)
          if (isRef(t)) created.push(t.ref)
        }
        const m = result.metrics
        const report = reportFromLogTail(out.LogResult)
        timings.push({
          stageIndex: s.stageIndex,
          stageName: stageLabel(s),
          functionName: s.functionName,
          measuredMs,
          handlerMs: m.handlerMs,
          ...report,
          runMs: m.runMs,
          decodeMs: m.decodeMs,
          encodeMs: m.encodeMs,
          initMs: m.initMs,
          coldStart: m.coldStart,
          requestBytes: payload.length,
          responseBytes: out.Payload?.length ?? 0,
          refsIn: event.tensors.filter(isRef).length,
        })
      }
      const outputIds = deployment.modelOutputs?.map((t) => t.id) ?? stages.at(-1)!.outputTensors!
      const outputs = await Promise.all(
        outputIds.map((id) => {
          const t = pool.get(id)
          if (!t) throw new AmpsUserError('STAGE_FAILED', `no stage returned the model output "${id}"`)
          return decodeTensor(t, store)
        }),
      )
      return {requestId, outputs, stages: timings, totalMs: performance.now() - t0}
    } finally {
      if (!options.keepRefs && store) await Promise.allSettled([...new Set(created)].map((r) => store.delete(r)))
    }
  }

  return {
    invoke,
    close() {
      for (const c of clients.values()) c.destroy()
      clients.clear()
    },
  }
}

/** Invokes the chain once: stage 1 … n in order, tensors passed by id, ms measured per stage. */
export async function invokeChain(deployment: DeploymentState, inputs: RawTensor[], options: ChainOptions = {}): Promise<ChainResult> {
  const invoker = createChainInvoker(deployment, options)
  try {
    return await invoker.invoke(inputs)
  } finally {
    invoker.close()
  }
}
