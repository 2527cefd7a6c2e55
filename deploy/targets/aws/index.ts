/**
 * The AWS target: deploy stage bundles as Lambda functions, list the calls a deploy would make
 * (--dry-run), destroy what a deployment created, and turn invoke results into user errors.
 *
 *   deployAws(bundles, plan, {region, roleArn | createRole, statePath, existing?})  → DeploymentState
 *   planAwsCalls(bundles, plan, sameOptions)                                        → {calls, state}
 *   destroyAws(state, {statePath})                                                  → DeploymentState
 *   describeDestroy(state)                                                          → what destroy deletes / keeps
 *   invokeTargetFor(stage), invokeOutputError(output, stage), toAmpsError(err, ctx) → for the coordinator
 *   (the coordinator imports assertInvokeOk from ./errors.js directly: one FunctionError mapping for both targets)
 */
import {AmpsUserError} from '../../../src/errors.js'
import type {Plan} from '../../../src/plan/types.js'
import type {DeploymentState, StageBundle, StageDeployment} from '../../state/types.js'
import {createAwsClients, destroyAwsClients} from './clients.js'
import type {AwsConnection} from './config.js'
import {type DeployAwsOptions, resolveHandoff, runDeploy} from './deploy.js'
import {type DestroyAwsOptions, runDestroy} from './destroy.js'
import {type AwsCall, formatAwsCall, simulatedAws} from './dry-run.js'
import {
  canonicalPlanHash,
  codePrefix,
  defaultBucketName,
  deploymentBaseName,
  executionPolicy,
  parseRoleArn,
  partitionForRegion,
  weightsObjects,
} from './naming.js'
import {writeStateAtomic} from './state.js'
import {sdkWaiters} from './waiters.js'

export type {AwsClients} from './clients.js'
export {createAwsClients, destroyAwsClients} from './clients.js'
export {type AwsConnection, resolveRegion, sdkClientConfig} from './config.js'
export {parseTags} from './tags.js'
export type {DeployAwsOptions} from './deploy.js'
export type {DesiredConfig} from './function-config.js'
export {HANDOFF_BUCKET_ENV, HANDOFF_PREFIX_ENV, configDifferences, desiredConfig} from './function-config.js'
export {validateBundles} from './validate.js'
export type {FunctionWaiters} from './waiters.js'
export type {DestroyAwsOptions} from './destroy.js'
export type {AwsCall} from './dry-run.js'
export {DRY_RUN_ACCOUNT, describeInput, formatAwsCall} from './dry-run.js'
export type {AwsErrorContext, InvokeResultLike, InvokedStage} from './errors.js'
export {assertInvokeOk, invokeOutputError, toAmpsError} from './errors.js'
export {INLINE_POLICY_NAME, LAMBDA_TRUST_POLICY, canonicalPlanHash, defaultBucketName, executionPolicy} from './naming.js'
export {backoffDelayMs, retryPolicyFor, withRetry} from './retry.js'
export type {BackoffPolicy, Sleep} from './retry.js'
export {writeStateAtomic} from './state.js'

/**
 * Create or update one Lambda function per stage (see deploy.ts for the order of calls), rewriting
 * opts.statePath atomically after every step. Resumes from opts.existing. With dryRun, logs the
 * calls (one formatAwsCall line each) and returns the state a deploy would reach, writing nothing.
 * Errors are AmpsUserErrors (AWS_ACCESS_DENIED, AWS_ERROR, FLAG_INVALID, BUNDLE_TOO_LARGE, …).
 */
export async function deployAws(bundles: StageBundle[], plan: Plan, opts: DeployAwsOptions): Promise<DeploymentState> {
  if (opts.dryRun) {
    const {calls, state} = await planAwsCalls(bundles, plan, opts)
    for (const call of calls) opts.log?.(formatAwsCall(call))
    return state
  }
  const clients = opts.clients ?? createAwsClients({region: opts.region, profile: opts.profile, endpointUrl: opts.endpointUrl})
  try {
    return await runDeploy(bundles, plan, opts, clients, sdkWaiters(clients, opts.maxWaitSec ?? 600))
  } finally {
    if (!opts.clients) destroyAwsClients(clients)
  }
}

/**
 * The exact API calls `deployAws` would make if AWS is as opts.existing records it (nothing
 * deployed when absent): the real deploy code run against an in-memory AWS. No network, no files
 * written. ZipFile appears as "<N bytes, sha256 …>", PutObject bodies as "<N bytes streamed from …>",
 * waiters as waitUntil… entries. A role not created yet has the account "<account-id>".
 */
export async function planAwsCalls(bundles: StageBundle[], plan: Plan, opts: DeployAwsOptions): Promise<{calls: AwsCall[]; state: DeploymentState}> {
  const existing = opts.existing
  const planHash = opts.planHash ?? canonicalPlanHash(plan)
  const baseName = deploymentBaseName(bundles, planHash)
  const knownRole = opts.roleArn ?? existing?.roleArn
  const parsed = knownRole ? parseRoleArn(knownRole) : undefined
  const partition = parsed?.partition ?? partitionForRegion(opts.region)
  const bucket = parsed ? (opts.bucket ?? existing?.codeBucket?.bucket ?? defaultBucketName(parsed.account, opts.region)) : undefined
  const handoff = bucket ? resolveHandoff(plan, bucket, existing?.handoff, baseName) : undefined
  const weights =
    bucket && bundles.some((b) => b.weights)
      ? weightsObjects(bundles, bucket, existing?.codeBucket?.bucket === bucket ? existing.codeBucket.prefix : codePrefix(baseName))
      : undefined
  const rolePolicy =
    parsed && !opts.roleArn && existing?.roleCreatedByUs
      ? executionPolicy({
          partition,
          region: opts.region,
          account: parsed.account,
          functionNames: [...bundles].sort((a, b) => a.stageIndex - b.stageIndex).map((b) => b.functionName),
          handoff,
          weights,
        })
      : undefined
  const sim = simulatedAws({existing, bundles, region: opts.region, modelName: plan.model.name, planHash, partition, handoff, rolePolicy})
  const state = await runDeploy(
    bundles,
    plan,
    // the deployer's own progress lines ("created …") would be false in a dry run: the calls are the output
    {...opts, planHash, dryRun: false, clients: sim.clients, sleep: async () => {}, log: undefined},
    sim.clients,
    sim.waiters,
    async () => {},
  )
  return {calls: sim.calls, state}
}

/**
 * Delete what the deployment created (createdByUs functions, incl. retired ones; its S3 code and
 * hand-off objects; the bucket and role when it created them), rewriting opts.statePath after each
 * deletion. Returns the final state (stages 'deleted'; role/bucket fields cleared). Things already
 * gone are skipped, so an interrupted destroy can be rerun.
 */
export async function destroyAws(state: DeploymentState, opts: DestroyAwsOptions & AwsConnection): Promise<DeploymentState> {
  const clients = opts.clients ?? createAwsClients({region: state.region, profile: opts.profile, endpointUrl: opts.endpointUrl})
  try {
    return await runDestroy(state, opts, clients, (s) => writeStateAtomic(opts.statePath, s))
  } finally {
    if (!opts.clients) destroyAwsClients(clients)
  }
}

/** What destroyAws would delete and keep, for the confirmation prompt (no calls). */
export function describeDestroy(state: DeploymentState): {delete: string[]; keep: string[]} {
  const del: string[] = []
  const keep: string[] = []
  for (const s of [...state.stages, ...(state.retired ?? [])]) {
    if (s.status === 'deleted' || (s.status === 'pending' && !s.createdByUs)) continue
    ;(s.createdByUs ? del : keep).push(`function ${s.functionName}`)
  }
  for (const s of [...state.stages, ...(state.retired ?? [])]) if (s.weights) del.push(`${s.functionName}'s weights ${s.weights.url}`)
  if (state.codeBucket) {
    del.push(`objects under s3://${state.codeBucket.bucket}/${state.codeBucket.prefix}/`)
    if (state.handoff?.kind === 's3') del.push(`objects under s3://${state.handoff.bucket}/${state.handoff.prefix}/`)
    ;(state.codeBucket.createdByUs ? del : keep).push(`bucket ${state.codeBucket.bucket}${state.codeBucket.createdByUs ? ' (if empty)' : ''}`)
  }
  if (state.roleArn) (state.roleCreatedByUs ? del : keep).push(`role ${state.roleArn}`)
  return {delete: del, keep}
}

/** Invoke the published version recorded by deploy (immutable), or $LATEST when none is recorded. */
export function invokeTargetFor(stage: StageDeployment): {FunctionName: string; Qualifier?: string} {
  if (stage.status === 'deleted') {
    throw new AmpsUserError('AWS_NOT_FOUND', `function ${stage.functionName} was destroyed; run \`amps deploy\` first`)
  }
  return stage.version ? {FunctionName: stage.arn ?? stage.functionName, Qualifier: stage.version} : {FunctionName: stage.arn ?? stage.functionName}
}
