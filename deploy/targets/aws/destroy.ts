/**
 * Remove what a deployment created, and only that: functions with createdByUs (current and retired
 * stages), the weight objects stages fetched at INIT, the objects under its code and hand-off prefixes, the bucket if it created it (and it is
 * empty then), the role if it created it. deployment.json is rewritten after every deletion, so an
 * interrupted destroy can be rerun; things already gone are skipped.
 */
import {DeleteFunctionCommand} from '@aws-sdk/client-lambda'
import {DeleteRoleCommand, DeleteRolePolicyCommand} from '@aws-sdk/client-iam'
import {DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, ListObjectsV2Command} from '@aws-sdk/client-s3'

import {AmpsUserError} from '../../../src/errors.js'
import type {DeploymentState, StageDeployment} from '../../state/types.js'
import type {AwsClients} from './clients.js'
import {errorName, isNotFound, toAmpsError} from './errors.js'
import {INLINE_POLICY_NAME, parseRoleArn} from './naming.js'
import {type Sleep, realSleep, withRetry} from './retry.js'

export interface DestroyAwsOptions {
  statePath: string
  clients?: AwsClients
  log?: (line: string) => void
  sleep?: Sleep
  random?: () => number
}

const now = () => new Date().toISOString()

export async function runDestroy(
  input: DeploymentState,
  opts: DestroyAwsOptions,
  clients: AwsClients,
  persist: (state: DeploymentState) => Promise<void>,
): Promise<DeploymentState> {
  if (input.target !== 'aws') {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${opts.statePath} describes a ${input.target} deployment, not aws`)
  }
  const state: DeploymentState = structuredClone(input)
  const log = opts.log ?? (() => {})
  const region = state.region
  const retryOpts = (label: string) => ({
    sleep: opts.sleep ?? realSleep,
    random: opts.random ?? Math.random,
    roleMayBeNew: false,
    log,
    label,
  })
  const save = async () => {
    state.updatedAt = now()
    await persist(state)
  }
  /** run one deletion; "already gone" counts as done */
  const remove = async (action: string, fn: () => Promise<unknown>): Promise<'deleted' | 'gone'> => {
    try {
      await withRetry(fn, retryOpts(action))
      return 'deleted'
    } catch (error) {
      if (isNotFound(error)) return 'gone'
      throw toAmpsError(error, {action, region, phase: 'destroy'})
    }
  }

  const stages: StageDeployment[] = [...state.stages, ...(state.retired ?? [])]
  for (const stage of stages) {
    if (stage.status === 'deleted') continue
    if (!stage.createdByUs) {
      if (stage.status !== 'pending') log(`kept ${stage.functionName}: this deployment did not create it`)
      continue
    }
    const result = await remove(`DeleteFunction ${stage.functionName}`, () =>
      clients.lambda.send(new DeleteFunctionCommand({FunctionName: stage.functionName})),
    )
    log(result === 'deleted' ? `deleted ${stage.functionName}` : `${stage.functionName} was already gone`)
    stage.status = 'deleted'
    stage.version = undefined
    stage.updatedAt = now()
    await save()
  }

  // stage weights fetched at INIT: each object by its recorded URL (also covered by the code prefix sweep below when it lies there)
  for (const stage of stages) {
    const m = stage.weights ? /^s3:\/\/([^/]+)\/(.+)$/.exec(stage.weights.url) : null
    if (!m) continue
    const [, Bucket, Key] = m
    const result = await remove(`DeleteObject ${stage.weights!.url}`, () => clients.s3.send(new DeleteObjectCommand({Bucket, Key})))
    log(
      result === 'deleted'
        ? `deleted ${stage.functionName}'s weights ${stage.weights!.url}`
        : `${stage.functionName}'s weights ${stage.weights!.url} were already gone`,
    )
    stage.weights = undefined
    await save()
  }

  const bucketInfo = state.codeBucket
  if (bucketInfo) {
    const prefixes = [bucketInfo.prefix]
    if (state.handoff?.kind === 's3' && state.handoff.bucket === bucketInfo.bucket) prefixes.push(state.handoff.prefix)
    for (const prefix of prefixes) {
      const n = await deletePrefix(clients, bucketInfo.bucket, prefix, remove, retryOpts, region)
      if (n > 0) log(`deleted ${n} object(s) under s3://${bucketInfo.bucket}/${prefix}/`)
    }
    for (const stage of stages) stage.codeS3Key = undefined
    await save()
    if (bucketInfo.createdByUs) {
      try {
        const result = await remove(`DeleteBucket ${bucketInfo.bucket}`, () => clients.s3.send(new DeleteBucketCommand({Bucket: bucketInfo.bucket})))
        log(result === 'deleted' ? `deleted bucket ${bucketInfo.bucket}` : `bucket ${bucketInfo.bucket} was already gone`)
      } catch (error) {
        // Other amps deployments in this account/region share the bucket: leave it to the last one.
        if (!(error instanceof AmpsUserError && error.details?.awsError === 'BucketNotEmpty')) throw error
        log(`kept bucket ${bucketInfo.bucket}: it still holds other deployments' objects`)
      }
    }
    state.codeBucket = undefined
    if (state.handoff?.kind === 's3') state.handoff = undefined
    await save()
  } else if (state.handoff?.kind === 's3') {
    const {bucket, prefix} = state.handoff
    const n = await deletePrefix(clients, bucket, prefix, remove, retryOpts, region)
    if (n > 0) log(`deleted ${n} object(s) under s3://${bucket}/${prefix}/`)
    state.handoff = undefined
    await save()
  }

  if (state.roleArn && state.roleCreatedByUs) {
    const parsed = parseRoleArn(state.roleArn)
    if (parsed) {
      const roleName = parsed.roleName
      await remove(`DeleteRolePolicy ${roleName}`, () => clients.iam.send(new DeleteRolePolicyCommand({RoleName: roleName, PolicyName: INLINE_POLICY_NAME})))
      const result = await remove(`DeleteRole ${roleName}`, () => clients.iam.send(new DeleteRoleCommand({RoleName: roleName})))
      log(result === 'deleted' ? `deleted role ${roleName}` : `role ${roleName} was already gone`)
    }
    state.roleArn = undefined
    state.roleCreatedByUs = undefined
    await save()
  } else if (state.roleArn) {
    log(`kept role ${state.roleArn}: this deployment did not create it`)
  }
  await save()
  return state
}

async function deletePrefix(
  clients: AwsClients,
  bucket: string,
  prefix: string,
  remove: (action: string, fn: () => Promise<unknown>) => Promise<'deleted' | 'gone'>,
  retryOpts: (label: string) => Parameters<typeof withRetry>[1],
  region: string,
): Promise<number> {
  let deleted = 0
  let token: string | undefined
  do {
    let page
    try {
      page = await withRetry(
        () => clients.s3.send(new ListObjectsV2Command({Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken: token})),
        retryOpts(`ListObjectsV2 s3://${bucket}/${prefix}/`),
      )
    } catch (error) {
      if (isNotFound(error) || errorName(error) === 'NoSuchBucket') return deleted
      throw toAmpsError(error, {action: `ListObjectsV2 s3://${bucket}/${prefix}/`, region, phase: 'destroy'})
    }
    const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => typeof k === 'string')
    if (keys.length > 0) {
      await remove(`DeleteObjects s3://${bucket}/${prefix}/`, async () => {
        const out = await clients.s3.send(new DeleteObjectsCommand({Bucket: bucket, Delete: {Objects: keys.map((Key) => ({Key})), Quiet: true}}))
        const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
        if (failed.length > 0) {
          throw Object.assign(new Error(`${failed[0]!.Key}: ${failed[0]!.Message ?? failed[0]!.Code}`), {
            name: failed[0]!.Code ?? 'DeleteObjectsError',
            $metadata: {},
          })
        }
      })
      deleted += keys.length
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return deleted
}
