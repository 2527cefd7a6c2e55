/**
 * Names, ARNs and policy documents for one AWS deployment. Pure functions: no SDK, no I/O.
 */
import {createHash} from 'node:crypto'

import type {Plan} from '../../../src/plan/types.js'
import {canonicalJson, planHash} from '../../state/deployment.js'
import type {StageBundle} from '../../state/types.js'

export const INLINE_POLICY_NAME = 'amps-execution'
export const TAG_PLAN_HASH = 'amps:plan-hash'
export const TAG_STAGE = 'amps:stage'
export const TAG_MODEL = 'amps:model'

/**
 * sha256 (hex) of the plan as canonical JSON, ignoring what `amps deploy` writes back into it
 * (measured package sizes): the same hash the local target records.
 */
export function canonicalPlanHash(plan: Plan): string {
  return planHash(plan)
}

export {canonicalJson}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export function sha256Base64(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('base64')
}

/**
 * The deployment's base name: the function names without their "-stage-N" suffix (their common
 * prefix), e.g. "amps-mobilenet-1a2b3c4d". Used for the role name and the S3 prefixes.
 */
export function deploymentBaseName(bundles: StageBundle[], planHash: string): string {
  const stripped = bundles.map((b) => b.functionName.replace(/-stage-?\d+$/i, ''))
  let prefix = stripped[0] ?? ''
  for (const name of stripped.slice(1)) {
    let i = 0
    while (i < prefix.length && i < name.length && prefix[i] === name[i]) i++
    prefix = prefix.slice(0, i)
  }
  prefix = prefix.replace(/[-_.]+$/, '')
  return prefix.length >= 5 ? prefix : `amps-${planHash.slice(0, 8)}`
}

/** IAM role names: ≤ 64 chars of [\w+=,.@-]. */
export function roleNameFor(baseName: string): string {
  return (baseName.replace(/[^\w+=,.@-]/g, '-').slice(0, 59) + '-exec').slice(0, 64)
}

export function partitionForRegion(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn'
  if (region.startsWith('us-gov-')) return 'aws-us-gov'
  return 'aws'
}

export interface ParsedRoleArn {
  partition: string
  account: string
  roleName: string
}

/** arn:aws:iam::123456789012:role/path/name → parts; undefined when it is not a role ARN. */
export function parseRoleArn(arn: string): ParsedRoleArn | undefined {
  const m = /^arn:([a-z-]+):iam::([^:]+):role\/(?:.*\/)?([\w+=,.@-]+)$/.exec(arn)
  if (!m) return undefined
  return {partition: m[1]!, account: m[2]!, roleName: m[3]!}
}

/** Default S3 bucket for code zips over 50 MB and S3 hand-offs: one per account and region. */
export function defaultBucketName(account: string, region: string): string {
  return `amps-${account}-${region}`.toLowerCase().slice(0, 63)
}

export function codePrefix(baseName: string): string {
  return `code/${baseName}`
}

/** Hand-off objects live under handoff/ so one lifecycle rule on the bucket can expire them all. */
export function handoffPrefix(baseName: string): string {
  return `handoff/${baseName}`
}

/** The code object's key under the deployment's code prefix; the sha in the name makes uploads idempotent. */
export function codeObjectKey(prefix: string, bundle: StageBundle): string {
  const shaHex = Buffer.from(bundle.codeSha256, 'base64').toString('hex').slice(0, 16)
  return `${prefix}/stage-${bundle.stageIndex}-${shaHex}.zip`
}

/**
 * Where a stage's fetched weights live (StageBundle.weights): under the deployment's code prefix at
 * the bundle's content-addressed key, so destroy's sweep of the code prefix covers them too and a
 * re-deploy of the same weights finds them in place. Undefined for a stage whose weights ship in its zip.
 */
export function weightsObjectKey(prefix: string, bundle: StageBundle): string | undefined {
  return bundle.weights ? `${prefix}/${bundle.weights.key}` : undefined
}

/** The objects every stage with fetched weights reads (for the role policy), or undefined when none has any. */
export function weightsObjects(bundles: StageBundle[], bucket: string, prefix: string): {bucket: string; keys: string[]} | undefined {
  const keys = bundles.map((b) => weightsObjectKey(prefix, b)).filter((k): k is string => k !== undefined)
  return keys.length > 0 ? {bucket, keys: keys.sort()} : undefined
}

/** Tag values allow letters, digits, spaces and _ . : / = + - @ (max 256). */
export function tagValue(value: string): string {
  return value.replace(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_').slice(0, 256)
}

export const LAMBDA_TRUST_POLICY = {
  Version: '2012-10-17',
  Statement: [{Effect: 'Allow', Principal: {Service: 'lambda.amazonaws.com'}, Action: 'sts:AssumeRole'}],
}

export interface PolicyStatement {
  Sid: string
  Effect: 'Allow'
  Action: string[]
  Resource: string[]
}

export interface PolicyDocument {
  Version: '2012-10-17'
  Statement: PolicyStatement[]
}

/**
 * Least privilege for the stage functions: write their own log groups, read/write objects under
 * the hand-off prefix only (when the plan hands tensors over through S3), and read the exact weight
 * objects of stages that fetch their weights at INIT. Nothing else.
 */
export function executionPolicy(opts: {
  partition: string
  region: string
  account: string
  functionNames: string[]
  handoff?: {bucket: string; prefix: string}
  weights?: {bucket: string; keys: string[]}
}): PolicyDocument {
  const logGroups = opts.functionNames.flatMap((fn) => {
    const group = `arn:${opts.partition}:logs:${opts.region}:${opts.account}:log-group:/aws/lambda/${fn}`
    return [group, `${group}:*`]
  })
  const statements: PolicyStatement[] = [
    {
      Sid: 'WriteOwnLogs',
      Effect: 'Allow',
      Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: logGroups,
    },
  ]
  if (opts.handoff) {
    statements.push({
      Sid: 'HandOffTensors',
      Effect: 'Allow',
      Action: ['s3:GetObject', 's3:PutObject'],
      Resource: [`arn:${opts.partition}:s3:::${opts.handoff.bucket}/${opts.handoff.prefix}/*`],
    })
  }
  if (opts.weights) {
    statements.push({
      Sid: 'ReadStageWeights',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: opts.weights.keys.map((k) => `arn:${opts.partition}:s3:::${opts.weights!.bucket}/${k}`),
    })
  }
  return {Version: '2012-10-17', Statement: statements}
}

/** Does the plan hand any tensor over through S3? */
export function planNeedsS3Handoff(plan: Plan): boolean {
  return plan.stages.some((s) => s.handoff === 's3')
}
