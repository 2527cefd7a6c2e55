/**
 * The batched entry point to a deployed chain, for `amps serve`: many callers' rows go through the
 * chain as ONE invocation per stage (the rows stacked along the batch axis), and each caller gets
 * exactly its own rows of the outputs back. It runs through the same coordinator as `amps invoke`
 * (createChainInvoker), with one addition: a stage that answers 429 / TooManyRequestsException
 * (Lambda's throttling, or the local target's concurrency limit) is retried with exponential
 * backoff and jitter, that stage alone, before the error reaches the caller.
 */
import type {LambdaClient} from '@aws-sdk/client-lambda'

import type {RawTensor} from '../../src/stage/codec.js'
import type {AwsConnection} from '../targets/aws/config.js'
import {createChainInvoker, defaultClient, type ChainInvoker, type ChainOptions, type ChainResult} from './coordinator.js'
import type {DeploymentState, StageDeployment} from '../state/types.js'

/** One row: the model's inputs for ONE instance, without the batch axis (shape = the input's shape minus its first dim). */
export type Row = RawTensor[]

export interface ThrottleRetry {
  /** attempts in all, the first included (default 6) */
  maxAttempts?: number
  /** first backoff (ms, default 20); doubles per attempt, full jitter, capped at maxDelayMs */
  baseDelayMs?: number
  maxDelayMs?: number
  /** called on every retried throttle (metrics) */
  onThrottle?: (stage: StageDeployment, attempt: number, delayMs: number) => void
}

/** True for Lambda's throttling answers: TooManyRequestsException or any HTTP 429. */
export function isThrottle(error: unknown): boolean {
  const e = error as {name?: string; $metadata?: {httpStatusCode?: number}; Reason?: string}
  return e?.name === 'TooManyRequestsException' || e?.name === 'ThrottlingException' || e?.$metadata?.httpStatusCode === 429
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * A Lambda client for a stage (the coordinator's own default) that retries throttling only: a
 * dead stage (connection refused) or a function error still fails at once.
 */
export function throttleRetryingClient(
  stage: StageDeployment,
  deployment: DeploymentState,
  retry: ThrottleRetry = {},
  connection: AwsConnection = {},
): LambdaClient {
  const client = defaultClient(stage, deployment, connection)
  const maxAttempts = retry.maxAttempts ?? 6
  const base = retry.baseDelayMs ?? 20
  const cap = retry.maxDelayMs ?? 2000
  client.middlewareStack.add(
    (next) => async (args) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await next(args)
        } catch (error) {
          if (!isThrottle(error) || attempt >= maxAttempts) throw error
          const delay = Math.random() * Math.min(cap, base * 2 ** (attempt - 1))
          retry.onThrottle?.(stage, attempt, delay)
          await sleep(delay)
        }
      }
    },
    {step: 'initialize', name: 'ampsThrottleRetry'},
  )
  return client
}

/** An invoker for batches of rows (see module docs). */
export function createBatchInvoker(
  deployment: DeploymentState,
  options: ChainOptions & {retry?: ThrottleRetry} = {},
): ChainInvoker & {invokeRows(rows: Row[]): Promise<{rows: Row[]; result: ChainResult}>} {
  const {retry, ...chain} = options
  const invoker = createChainInvoker(deployment, {
    clientFor: (s, d) => throttleRetryingClient(s, d, retry, {profile: chain.profile, endpointUrl: chain.endpointUrl}),
    ...chain,
  })
  return {
    ...invoker,
    async invokeRows(rows: Row[]) {
      const result = await invoker.invoke(stackRows(rows))
      return {rows: splitRows(result.outputs, rows.length), result}
    },
  }
}

/** Stacks rows into batch tensors: n rows of shape s → one tensor of shape [n, ...s] per input. */
export function stackRows(rows: Row[]): RawTensor[] {
  if (rows.length === 0) throw new RangeError('no rows to stack')
  return rows[0].map((first, j) => {
    const size = first.data.length
    const data = first.dtype === 'int32' ? new Int32Array(size * rows.length) : new Float32Array(size * rows.length)
    rows.forEach((row, i) => {
      const t = row[j]
      if (t.id !== first.id || t.data.length !== size || t.dtype !== first.dtype)
        throw new RangeError(`row ${i} tensor ${j} (${t.id}) does not match row 0's ${first.id}`)
      data.set(t.data, i * size)
    })
    return {id: first.id, dtype: first.dtype, shape: [rows.length, ...first.shape], data}
  })
}

/** Splits batch outputs ([n, ...s] each) back into n rows. */
export function splitRows(outputs: RawTensor[], n: number): Row[] {
  const rows: Row[] = Array.from({length: n}, () => [])
  for (const t of outputs) {
    if (t.shape[0] !== n) throw new RangeError(`output ${t.id} has ${t.shape[0]} rows for a batch of ${n}`)
    const size = t.data.length / n
    for (let i = 0; i < n; i++) rows[i].push({id: t.id, dtype: t.dtype, shape: t.shape.slice(1), data: t.data.slice(i * size, (i + 1) * size)})
  }
  return rows
}
