/**
 * --dry-run: run the real deploy code against an in-memory stand-in for AWS that starts out exactly
 * as deployment.json describes it, and record every command the code sends. The list is therefore
 * the exact sequence a deploy would issue if AWS matches the recorded state; no network, no writes.
 */
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  type FunctionConfiguration,
  GetFunctionCommand,
  PublishVersionCommand,
  ResourceNotFoundException,
  UpdateFunctionCodeCommand,
  type UpdateFunctionCodeCommandInput,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda'
import {CreateRoleCommand, GetRoleCommand, GetRolePolicyCommand, NoSuchEntityException, PutRolePolicyCommand} from '@aws-sdk/client-iam'
import {CreateBucketCommand, HeadBucketCommand, HeadObjectCommand, NotFound, PutObjectCommand} from '@aws-sdk/client-s3'
import type {IAMClient} from '@aws-sdk/client-iam'
import type {LambdaClient} from '@aws-sdk/client-lambda'
import type {S3Client} from '@aws-sdk/client-s3'
import {statSync} from 'node:fs'

import type {DeploymentState, StageBundle} from '../../state/types.js'
import type {AwsClients} from './clients.js'
import {configSha256, desiredConfig, functionTags} from './function-config.js'
import {INLINE_POLICY_NAME, TAG_PLAN_HASH, parseRoleArn, sha256Base64} from './naming.js'
import type {FunctionWaiters} from './waiters.js'

/** One API call the deploy would make. Byte payloads are shown as "<N bytes, sha256 …>". */
export interface AwsCall {
  service: 'lambda' | 's3' | 'iam'
  /** SDK command name without "Command", or the waiter's name */
  command: string
  input: Record<string, unknown>
}

/** "lambda CreateFunction {…json…}" */
export function formatAwsCall(call: AwsCall): string {
  return `${call.service} ${call.command} ${JSON.stringify(call.input)}`
}

/** Replace bytes and streams by a short description; everything else is kept as sent. */
export function describeInput(input: unknown): unknown {
  if (input instanceof Uint8Array) return `<${input.byteLength} bytes, sha256 ${sha256Base64(input)}>`
  if (input && typeof input === 'object' && typeof (input as {pipe?: unknown}).pipe === 'function') {
    const path = (input as {path?: unknown}).path
    if (typeof path === 'string') {
      let size = '?'
      try {
        size = String(statSync(path).size)
      } catch {
        // described without a size
      }
      return `<${size} bytes streamed from ${path}>`
    }
    return '<stream>'
  }
  if (Array.isArray(input)) return input.map((v) => describeInput(v))
  if (input && typeof input === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(input)) if (v !== undefined) out[k] = describeInput(v)
    return out
  }
  return input
}

interface SimFunction {
  config: FunctionConfiguration
  tags: Record<string, string>
  versions: number
}

const notFoundMeta = {$metadata: {httpStatusCode: 404}}
type CommandClass = abstract new (...args: never[]) => object
/** Placeholder account for a role not created yet (a dry run cannot learn it without a call). */
export const DRY_RUN_ACCOUNT = '<account-id>'

/**
 * Simulated clients + waiters seeded from `existing`. Stages recorded 'active' with the bundle's sha
 * and the desired configuration's sha are assumed to match; anything else is assumed to differ.
 */
export function simulatedAws(opts: {
  existing?: DeploymentState
  bundles: StageBundle[]
  region: string
  modelName: string
  planHash: string
  partition: string
  /** the hand-off location the deploy will use (from resolveHandoff) */
  handoff?: {bucket: string; prefix: string}
  /** the inline policy assumed to be on a role recorded as ours (the one the deploy wants) */
  rolePolicy?: unknown
}): {clients: AwsClients; waiters: FunctionWaiters; calls: AwsCall[]} {
  const calls: AwsCall[] = []
  const functions = new Map<string, SimFunction>()
  const roles = new Map<string, {Arn: string; policy?: string}>()
  const buckets = new Set<string>()
  const existing = opts.existing

  if (existing?.roleArn && existing.roleCreatedByUs) {
    const parsed = parseRoleArn(existing.roleArn)
    if (parsed) roles.set(parsed.roleName, {Arn: existing.roleArn, policy: opts.rolePolicy ? JSON.stringify(opts.rolePolicy) : undefined})
  }
  if (existing?.codeBucket) buckets.add(existing.codeBucket.bucket)
  // fetched weights deployment.json records as uploaded, by s3:// URL, with their size
  const objects = new Map((existing?.stages ?? []).flatMap((r) => (r.weights && r.status !== 'deleted' ? [[r.weights.url, r.weights.bytes] as const] : [])))
  const handoff = opts.handoff
  const sorted = [...opts.bundles].sort((a, b) => a.stageIndex - b.stageIndex)
  for (const rec of existing?.stages ?? []) {
    if (!rec.arn || rec.status === 'deleted' || rec.status === 'pending') continue
    const bundle = opts.bundles.find((b) => b.functionName === rec.functionName)
    const want =
      bundle && existing?.roleArn
        ? desiredConfig(bundle, {
            roleArn: existing.roleArn,
            handoff,
            modelName: opts.modelName,
            planHash: opts.planHash,
            stageCount: opts.bundles.length,
            stageNumber: sorted.indexOf(bundle) + 1,
            weightsUrl: bundle.weights ? rec.weights?.url : undefined,
          })
        : undefined
    const known = want !== undefined && rec.configSha256 === configSha256(want)
    const config: FunctionConfiguration = known
      ? {...want, FunctionArn: rec.arn, CodeSha256: rec.codeSha256, State: 'Active', LastUpdateStatus: 'Successful'}
      : {
          FunctionName: rec.functionName,
          FunctionArn: rec.arn,
          CodeSha256: rec.codeSha256,
          Architectures: rec.arch ? [rec.arch] : undefined,
          State: 'Active',
          LastUpdateStatus: 'Successful',
        }
    const tags: Record<string, string> = rec.createdByUs && bundle ? functionTags(bundle, existing!.planHash, opts.modelName, existing!.tags) : {}
    functions.set(rec.functionName, {config, tags, versions: Number(rec.version ?? 0) || 0})
  }

  /**
   * A stand-in client: records every command it is sent (before answering, so a failing call is
   * listed too), then answers with the handler for the command's class, or {} when there is none.
   */
  // One table for every SDK command: each handler reads the fields of its own command's input, which
  // the AWS SDK types per command class, so the table's input type is `any`.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const recordingClient = (service: AwsCall['service'], handlers: [CommandClass, (input: any) => unknown][]) => ({
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    async send(command: {constructor: {name: string}; input: any}): Promise<unknown> {
      calls.push({service, command: command.constructor.name.replace(/Command$/, ''), input: describeInput(command.input) as Record<string, unknown>})
      const handler = handlers.find(([type]) => command instanceof type)?.[1]
      return handler ? handler(command.input) : {}
    },
  })

  const lambda = recordingClient('lambda', [
    [
      GetFunctionCommand,
      (input) => {
        const fn = functions.get(input.FunctionName)
        if (!fn) throw new ResourceNotFoundException({message: `Function not found: ${input.FunctionName}`, ...notFoundMeta})
        return {Configuration: fn.config, Tags: fn.tags}
      },
    ],
    [
      CreateFunctionCommand,
      (i: CreateFunctionCommandInput) => {
        const arn = `arn:${opts.partition}:lambda:${opts.region}:${accountOf(i.Role)}:function:${i.FunctionName}`
        const code = codeSha(i.Code ?? {}, opts.bundles, i.FunctionName!)
        const {Code: _code, Tags, Publish: _p, PackageType: _t, ...rest} = i
        const config = {...rest, FunctionArn: arn, CodeSha256: code, State: 'Active', LastUpdateStatus: 'Successful'} as FunctionConfiguration
        functions.set(i.FunctionName!, {config, tags: Tags ?? {}, versions: 0})
        return config
      },
    ],
    [
      UpdateFunctionCodeCommand,
      (i: UpdateFunctionCodeCommandInput) => {
        const fn = functions.get(i.FunctionName!)!
        fn.config = {...fn.config, CodeSha256: codeSha(i, opts.bundles, i.FunctionName!), Architectures: i.Architectures}
        return fn.config
      },
    ],
    [
      UpdateFunctionConfigurationCommand,
      (input) => {
        const fn = functions.get(input.FunctionName)!
        fn.config = {...fn.config, ...input}
        return fn.config
      },
    ],
    [
      PublishVersionCommand,
      (input) => {
        const fn = functions.get(input.FunctionName)!
        fn.versions += 1
        return {Version: String(fn.versions), State: 'Active'}
      },
    ],
  ])

  const iam = recordingClient('iam', [
    [
      GetRoleCommand,
      (input) => {
        const role = roles.get(input.RoleName)
        if (!role) throw new NoSuchEntityException({message: `The role with name ${input.RoleName} cannot be found.`, ...notFoundMeta})
        return {Role: {Arn: role.Arn, RoleName: input.RoleName, Tags: [{Key: TAG_PLAN_HASH, Value: opts.planHash}]}}
      },
    ],
    [
      CreateRoleCommand,
      (input) => {
        const arn = `arn:${opts.partition}:iam::${DRY_RUN_ACCOUNT}:role/${input.RoleName}`
        roles.set(input.RoleName, {Arn: arn})
        return {Role: {Arn: arn, RoleName: input.RoleName}}
      },
    ],
    [
      GetRolePolicyCommand,
      (input) => {
        const role = roles.get(input.RoleName)
        if (!role?.policy || input.PolicyName !== INLINE_POLICY_NAME) {
          throw new NoSuchEntityException({message: 'policy not found', ...notFoundMeta})
        }
        return {PolicyDocument: encodeURIComponent(role.policy)}
      },
    ],
    [
      PutRolePolicyCommand,
      (input) => {
        const role = roles.get(input.RoleName)
        if (role) role.policy = input.PolicyDocument
        return {}
      },
    ],
  ])

  const s3 = recordingClient('s3', [
    [
      HeadBucketCommand,
      (input) => {
        if (!buckets.has(input.Bucket)) throw new NotFound({message: 'Not Found', ...notFoundMeta})
        return {}
      },
    ],
    [
      HeadObjectCommand,
      (input) => {
        const size = objects.get(`s3://${input.Bucket}/${input.Key}`)
        if (size === undefined) throw new NotFound({message: 'Not Found', ...notFoundMeta})
        return {ContentLength: size}
      },
    ],
    [
      CreateBucketCommand,
      (input) => {
        buckets.add(input.Bucket)
        return {}
      },
    ],
    [
      PutObjectCommand,
      (input) => {
        // never read the (possibly huge) body in a dry run; the stream is closed unread
        const body = input.Body as {destroy?: () => void} | undefined
        body?.destroy?.()
        return {}
      },
    ],
  ])

  const waiters: FunctionWaiters = {
    active: async (FunctionName) => {
      calls.push({service: 'lambda', command: 'waitUntilFunctionActiveV2', input: {FunctionName}})
    },
    updated: async (FunctionName) => {
      calls.push({service: 'lambda', command: 'waitUntilFunctionUpdatedV2', input: {FunctionName}})
    },
    versionActive: async (FunctionName, Qualifier) => {
      calls.push({service: 'lambda', command: 'waitUntilPublishedVersionActive', input: {FunctionName, Qualifier}})
    },
  }

  return {
    clients: {lambda: lambda as unknown as LambdaClient, s3: s3 as unknown as S3Client, iam: iam as unknown as IAMClient},
    waiters,
    calls,
  }
}

function accountOf(roleArn: string | undefined): string {
  return (roleArn && parseRoleArn(roleArn)?.account) || DRY_RUN_ACCOUNT
}

function codeSha(code: {ZipFile?: Uint8Array; S3Key?: string}, bundles: StageBundle[], functionName: string): string | undefined {
  if (code.ZipFile) return sha256Base64(code.ZipFile)
  return bundles.find((b) => b.functionName === functionName)?.codeSha256
}
