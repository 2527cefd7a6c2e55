/**
 * A small in-memory AWS (Lambda, IAM, S3) behind aws-sdk-client-mock, for the AWS target's tests.
 * Only the network boundary is fake: every command the deploy code sends goes through the real SDK
 * client objects' send(), which aws-sdk-client-mock replaces with these handlers. The SDK waiters
 * run for real against it. Faults (throttling, conflicts, IAM propagation) are injected per command.
 */
import {
  CreateRoleCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  EntityAlreadyExistsException,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  NoSuchEntityException,
  PutRolePolicyCommand,
} from '@aws-sdk/client-iam'
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  type FunctionConfiguration,
  GetFunctionCommand,
  InvalidParameterValueException,
  InvokeCommand,
  LambdaClient,
  PublishVersionCommand,
  ResourceConflictException,
  ResourceNotFoundException,
  TagResourceCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda'
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import {mockClient} from 'aws-sdk-client-mock'
import {zipSync, strToU8} from 'fflate'
import {createHash} from 'node:crypto'
import {closeSync, mkdirSync, openSync, ftruncateSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import type {AwsClients} from '../../deploy/targets/aws/index.js'
import type {StageBundle} from '../../deploy/state/types.js'
import type {Plan} from '../../src/plan/types.js'

export const ACCOUNT = '123456789012'
const meta404 = {$metadata: {httpStatusCode: 404}}

export interface LoggedCall {
  service: 'lambda' | 'iam' | 's3'
  command: string
  input: any
}

interface FakeFunction {
  config: FunctionConfiguration
  tags: Record<string, string>
  versions: string[]
  /** $LATEST changed since the last PublishVersion */
  dirty: boolean
}

type Fault = {error: () => Error; times: number; when?: (input: any) => boolean}

export class FakeAws {
  readonly clients: AwsClients
  readonly lambdaMock
  readonly s3Mock
  readonly iamMock
  readonly calls: LoggedCall[] = []
  readonly functions = new Map<string, FakeFunction>()
  readonly roles = new Map<string, {Arn: string; Tags: {Key: string; Value: string}[]; policies: Map<string, string>}>()
  readonly buckets = new Map<string, Map<string, {sha?: string; size?: number}>>()
  /** per bucket: its tags and lifecycle rules, as last put */
  readonly bucketConfig = new Map<string, {tags?: {Key: string; Value: string}[]; lifecycle?: unknown}>()
  private readonly faults = new Map<string, Fault[]>()
  /** run before each call is answered (e.g. to snapshot deployment.json) */
  onCall?: (call: LoggedCall) => void
  /**
   * Invoke: the function's stand-in code (a test's): the parsed event in, the result object and
   * the Duration to report out. The answer carries a log tail ending in Lambda's REPORT line.
   */
  invokeHandler?: (functionName: string, event: any, config: FunctionConfiguration) => {result: unknown; durationMs: number}

  constructor(readonly region = 'us-east-1') {
    const config = {region, credentials: {accessKeyId: 'AKIDTEST', secretAccessKey: 'test'}}
    this.clients = {lambda: new LambdaClient(config), s3: new S3Client(config), iam: new IAMClient(config)}
    this.lambdaMock = mockClient(this.clients.lambda)
    this.s3Mock = mockClient(this.clients.s3)
    this.iamMock = mockClient(this.clients.iam)
    this.installLambda()
    this.installIam()
    this.installS3()
  }

  restore(): void {
    this.lambdaMock.restore()
    this.s3Mock.restore()
    this.iamMock.restore()
  }

  /** The next `times` calls of `command` (matching `when`) throw `error()`. */
  fail(command: string, error: () => Error, times = 1, when?: (input: any) => boolean): void {
    const list = this.faults.get(command) ?? []
    list.push({error, times, when})
    this.faults.set(command, list)
  }

  /** Calls as "Command target" strings, in order, e.g. "CreateFunction amps-m-stage-1". */
  summary(filter?: (c: LoggedCall) => boolean): string[] {
    return this.calls.filter((c) => !filter || filter(c)).map((c) => `${c.command} ${target(c.input)}`.trim())
  }

  inputs(command: string): any[] {
    return this.calls.filter((c) => c.command === command).map((c) => c.input)
  }

  resetCalls(): void {
    this.calls.length = 0
  }

  private handle<T>(service: LoggedCall['service'], command: string, input: any, fn: () => T): T {
    const call = {service, command, input}
    this.calls.push(call)
    this.onCall?.(call)
    const list = this.faults.get(command) ?? []
    const fault = list.find((f) => f.times > 0 && (!f.when || f.when(input)))
    if (fault) {
      fault.times -= 1
      throw fault.error()
    }
    return fn()
  }

  private fn(name: string): FakeFunction {
    const f = this.functions.get(name)
    if (!f) throw new ResourceNotFoundException({message: `Function not found: ${this.arn(name)}`, ...meta404})
    return f
  }

  arn(name: string): string {
    return `arn:aws:lambda:${this.region}:${ACCOUNT}:function:${name}`
  }

  private codeSha(code: {ZipFile?: Uint8Array; S3Bucket?: string; S3Key?: string}): string {
    if (code.ZipFile) return createHash('sha256').update(code.ZipFile).digest('base64')
    const obj = this.buckets.get(code.S3Bucket ?? '')?.get(code.S3Key ?? '')
    if (!obj?.sha) {
      throw new InvalidParameterValueException({message: 'Error occurred while GetObject. S3 Error Code: NoSuchKey.', $metadata: {}})
    }
    return obj.sha
  }

  private installLambda(): void {
    const m = this.lambdaMock
    m.on(InvokeCommand).callsFake((input) =>
      this.handle('lambda', 'Invoke', input, () => {
        const name = String(input.FunctionName)
          .replace(/^arn:[^:]+:lambda:[^:]+:\d+:function:/, '')
          .split(':')[0]
        const f = this.fn(name)
        if (!this.invokeHandler) throw new Error('FakeAws: Invoke needs fake.invokeHandler')
        const event = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'))
        const {result, durationMs} = this.invokeHandler(name, event, f.config)
        const id = createHash('sha256').update(String(this.calls.length)).digest('hex').slice(0, 36)
        const tail = `START RequestId: ${id} Version: ${input.Qualifier ?? '$LATEST'}\nEND RequestId: ${id}\nREPORT RequestId: ${id}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.ceil(durationMs)} ms\tMemory Size: ${f.config.MemorySize} MB\tMax Memory Used: 90 MB\t\n`
        return {
          StatusCode: 200,
          ExecutedVersion: input.Qualifier ?? '$LATEST',
          Payload: new TextEncoder().encode(JSON.stringify(result)),
          LogResult: Buffer.from(tail).toString('base64'),
        }
      }),
    )
    m.on(GetFunctionCommand).callsFake((input) =>
      this.handle('lambda', 'GetFunction', input, () => {
        const f = this.fn(input.FunctionName)
        return {Configuration: structuredClone(f.config), Tags: {...f.tags}}
      }),
    )
    m.on(CreateFunctionCommand).callsFake((input) =>
      this.handle('lambda', 'CreateFunction', input, () => {
        if (this.functions.has(input.FunctionName)) {
          throw new ResourceConflictException({message: `Function already exist: ${input.FunctionName}`, $metadata: {}})
        }
        const {Code, Tags, Publish: _p, ...rest} = input
        const config: FunctionConfiguration = {
          ...rest,
          FunctionArn: this.arn(input.FunctionName),
          CodeSha256: this.codeSha(Code),
          Version: '$LATEST',
          State: 'Active',
          LastUpdateStatus: 'Successful',
        }
        this.functions.set(input.FunctionName, {config, tags: {...Tags}, versions: [], dirty: true})
        return structuredClone(config)
      }),
    )
    m.on(UpdateFunctionCodeCommand).callsFake((input) =>
      this.handle('lambda', 'UpdateFunctionCode', input, () => {
        const f = this.fn(input.FunctionName)
        f.config.CodeSha256 = this.codeSha(input)
        if (input.Architectures) f.config.Architectures = input.Architectures
        f.dirty = true
        return structuredClone(f.config)
      }),
    )
    m.on(UpdateFunctionConfigurationCommand).callsFake((input) =>
      this.handle('lambda', 'UpdateFunctionConfiguration', input, () => {
        const f = this.fn(input.FunctionName)
        f.config = {...f.config, ...input}
        f.dirty = true
        return structuredClone(f.config)
      }),
    )
    m.on(PublishVersionCommand).callsFake((input) =>
      this.handle('lambda', 'PublishVersion', input, () => {
        const f = this.fn(input.FunctionName)
        if (input.CodeSha256 && input.CodeSha256 !== f.config.CodeSha256) {
          throw new InvalidParameterValueException({message: 'CodeSha256 does not match', $metadata: {}})
        }
        if (f.dirty || f.versions.length === 0) {
          f.versions.push(String(f.versions.length + 1))
          f.dirty = false
        }
        const v = f.versions.at(-1)!
        return {...structuredClone(f.config), Version: v, FunctionArn: `${f.config.FunctionArn}:${v}`, State: 'Active'}
      }),
    )
    m.on(TagResourceCommand).callsFake((input) =>
      this.handle('lambda', 'TagResource', input, () => {
        const name = String(input.Resource).split(':').at(-1)!
        Object.assign(this.fn(name).tags, input.Tags)
        return {}
      }),
    )
    m.on(DeleteFunctionCommand).callsFake((input) =>
      this.handle('lambda', 'DeleteFunction', input, () => {
        this.fn(input.FunctionName)
        this.functions.delete(input.FunctionName)
        return {}
      }),
    )
  }

  private installIam(): void {
    const m = this.iamMock
    const role = (name: string) => {
      const r = this.roles.get(name)
      if (!r) throw new NoSuchEntityException({message: `The role with name ${name} cannot be found.`, ...meta404})
      return r
    }
    m.on(GetRoleCommand).callsFake((input) =>
      this.handle('iam', 'GetRole', input, () => {
        const r = role(input.RoleName)
        return {Role: {RoleName: input.RoleName, Arn: r.Arn, Tags: r.Tags}}
      }),
    )
    m.on(CreateRoleCommand).callsFake((input) =>
      this.handle('iam', 'CreateRole', input, () => {
        if (this.roles.has(input.RoleName)) throw new EntityAlreadyExistsException({message: 'exists', $metadata: {}})
        const Arn = `arn:aws:iam::${ACCOUNT}:role/${input.RoleName}`
        this.roles.set(input.RoleName, {Arn, Tags: input.Tags ?? [], policies: new Map()})
        return {Role: {RoleName: input.RoleName, Arn}}
      }),
    )
    m.on(GetRolePolicyCommand).callsFake((input) =>
      this.handle('iam', 'GetRolePolicy', input, () => {
        const doc = role(input.RoleName).policies.get(input.PolicyName)
        if (!doc) throw new NoSuchEntityException({message: 'policy not found', ...meta404})
        // IAM returns the document URL-encoded
        return {RoleName: input.RoleName, PolicyName: input.PolicyName, PolicyDocument: encodeURIComponent(doc)}
      }),
    )
    m.on(PutRolePolicyCommand).callsFake((input) =>
      this.handle('iam', 'PutRolePolicy', input, () => {
        role(input.RoleName).policies.set(input.PolicyName, input.PolicyDocument)
        return {}
      }),
    )
    m.on(DeleteRolePolicyCommand).callsFake((input) =>
      this.handle('iam', 'DeleteRolePolicy', input, () => {
        const r = role(input.RoleName)
        if (!r.policies.delete(input.PolicyName)) throw new NoSuchEntityException({message: 'policy not found', ...meta404})
        return {}
      }),
    )
    m.on(DeleteRoleCommand).callsFake((input) =>
      this.handle('iam', 'DeleteRole', input, () => {
        const r = role(input.RoleName)
        if (r.policies.size > 0) {
          throw Object.assign(new Error('Cannot delete entity, must delete policies first.'), {name: 'DeleteConflict', $metadata: {httpStatusCode: 409}})
        }
        this.roles.delete(input.RoleName)
        return {}
      }),
    )
  }

  private installS3(): void {
    const m = this.s3Mock
    const bucket = (name: string) => {
      const b = this.buckets.get(name)
      if (!b) throw new NotFound({message: 'Not Found', ...meta404})
      return b
    }
    m.on(HeadBucketCommand).callsFake((input) => this.handle('s3', 'HeadBucket', input, () => (bucket(input.Bucket), {})))
    m.on(CreateBucketCommand).callsFake((input) =>
      this.handle('s3', 'CreateBucket', input, () => {
        this.buckets.set(input.Bucket, new Map())
        return {Location: `/${input.Bucket}`}
      }),
    )
    m.on(PutBucketLifecycleConfigurationCommand).callsFake((input) =>
      this.handle('s3', 'PutBucketLifecycleConfiguration', input, () => {
        bucket(input.Bucket)
        this.bucketConfig.set(input.Bucket, {...this.bucketConfig.get(input.Bucket), lifecycle: input.LifecycleConfiguration})
        return {}
      }),
    )
    m.on(PutBucketTaggingCommand).callsFake((input) =>
      this.handle('s3', 'PutBucketTagging', input, () => {
        bucket(input.Bucket)
        this.bucketConfig.set(input.Bucket, {...this.bucketConfig.get(input.Bucket), tags: input.Tagging.TagSet})
        return {}
      }),
    )
    m.on(PutObjectCommand).callsFake((input) =>
      this.handle('s3', 'PutObject', input, () => {
        // the body is not read (the 50+ MB test zip is a sparse file); sizes and checksums are what count
        // (a stream destroyed before it opened may still report its open failing once the test's
        // folder is gone: swallow that, it is not the code under test)
        input.Body?.on?.('error', () => {})
        input.Body?.destroy?.()
        bucket(input.Bucket).set(input.Key, {sha: input.ChecksumSHA256, size: input.ContentLength})
        return {}
      }),
    )
    m.on(HeadObjectCommand).callsFake((input) =>
      this.handle('s3', 'HeadObject', input, () => {
        const o = bucket(input.Bucket).get(input.Key)
        if (!o) throw new NotFound({message: 'Not Found', ...meta404})
        return {ContentLength: o.size}
      }),
    )
    m.on(ListObjectsV2Command).callsFake((input) =>
      this.handle('s3', 'ListObjectsV2', input, () => {
        const keys = [...bucket(input.Bucket).keys()].filter((k) => k.startsWith(input.Prefix ?? '')).sort()
        return {Contents: keys.map((Key) => ({Key})), IsTruncated: false, KeyCount: keys.length}
      }),
    )
    m.on(DeleteObjectCommand).callsFake((input) =>
      this.handle('s3', 'DeleteObject', input, () => {
        bucket(input.Bucket).delete(input.Key)
        return {}
      }),
    )
    m.on(DeleteObjectsCommand).callsFake((input) =>
      this.handle('s3', 'DeleteObjects', input, () => {
        const b = bucket(input.Bucket)
        for (const o of input.Delete.Objects) b.delete(o.Key)
        return {Errors: []}
      }),
    )
    m.on(DeleteBucketCommand).callsFake((input) =>
      this.handle('s3', 'DeleteBucket', input, () => {
        const b = bucket(input.Bucket)
        if (b.size > 0) {
          throw Object.assign(new Error('The bucket you tried to delete is not empty'), {
            name: 'BucketNotEmpty',
            $fault: 'client',
            $metadata: {httpStatusCode: 409},
          })
        }
        this.buckets.delete(input.Bucket)
        this.bucketConfig.delete(input.Bucket)
        return {}
      }),
    )
  }
}

function target(input: any): string {
  return input?.FunctionName ?? input?.Resource ?? input?.RoleName ?? (input?.Key ? `${input.Bucket}/${input.Key}` : (input?.Bucket ?? ''))
}

// ---- fixtures -----------------------------------------------------------------------------------

export const PLAN_HASH = 'a1b2c3d4e5f60718293a4b5c6d7e8f9011223344556677889900aabbccddeeff'

/** A real small zip (fflate) with a handler file and a per-stage weights blob. */
export function writeSmallZip(path: string, stage: number, variant = 'v1'): {bytes: number; sha: string} {
  const zip = zipSync({
    'index.mjs': strToU8(`export const handler = async (event) => ({stage: ${stage}, variant: '${variant}', event})\n`),
    [`stage-${stage}/weights.bin`]: new Uint8Array(2048).map((_, i) => (i * (stage + 7)) % 251),
  })
  writeFileSync(path, zip)
  return {bytes: zip.byteLength, sha: createHash('sha256').update(zip).digest('base64')}
}

/** A sparse file of `bytes` (no real content): only its size matters to the S3 path. */
export function writeSparseZip(path: string, bytes: number): void {
  const fd = openSync(path, 'w')
  try {
    ftruncateSync(fd, bytes)
  } finally {
    closeSync(fd)
  }
}

export function makeBundle(dir: string, stage: number, over: Partial<StageBundle> & {variant?: string} = {}): StageBundle {
  mkdirSync(dir, {recursive: true})
  const zipPath = join(dir, `stage-${stage}-${over.variant ?? 'v1'}.zip`)
  const {bytes, sha} = writeSmallZip(zipPath, stage, over.variant)
  const {variant: _v, ...rest} = over
  return {
    stageIndex: stage,
    functionName: `amps-tiny-a1b2c3d4-stage-${stage}`,
    dir: join(dir, `stage-${stage}`),
    zipPath,
    zipBytes: bytes,
    unzippedBytes: 4096,
    codeSha256: sha,
    memoryMb: 512 * stage,
    arch: 'arm64',
    timeoutSec: 30,
    ephemeralStorageMb: 512,
    handler: 'index.handler',
    runtime: 'nodejs22.x',
    environment: {AMPS_STAGE: String(stage), AMPS_MODEL: 'tiny'},
    ...rest,
  }
}

export function makePlan(stages: number, opts: {handoff?: 'inline' | 's3'; region?: string} = {}): Plan {
  return {
    version: 1,
    model: {name: 'tiny', sha256: 'f'.repeat(64), source: 'models/tiny/model.json'},
    inputs: {
      sloMs: 500,
      percentile: 0.99,
      ratePerSecond: 10,
      arch: 'arm64',
      region: opts.region ?? 'us-east-1',
      priceTableVersion: '2026-11',
      maxBatch: 4,
    },
    batch: {size: 1, timeoutMs: 0},
    stages: Array.from({length: stages}, (_, i) => ({
      index: i + 1,
      name: `stage-${i + 1}`,
      layers: {first: `l${i * 2}`, last: `l${i * 2 + 1}`, firstIndex: i * 2, lastIndex: i * 2 + 1, count: 2},
      memoryMb: 512 * (i + 1),
      arch: 'arm64' as const,
      packageBytes: 4096,
      weightsBytes: 2048,
      predictedMs: 20,
      inputBytes: 1000,
      outputBytes: 1000,
      inputTensors: [`t${i}`],
      outputTensors: [`t${i + 1}`],
      handoff: i < stages - 1 ? (opts.handoff ?? 'inline') : 'inline',
    })),
    predicted: {
      latencyMs: 100,
      serviceMs: 60,
      meanBatchSize: 1,
      costPerMillionUsd: 1,
      monthlyCostUsd: 1,
      coldStartMs: 500,
      coldStartProbability: 0.01,
    },
    solver: {method: 'fast', optimal: true, solveMs: 1},
    baselines: [],
    createdAt: '2026-11-01T00:00:00.000Z',
  }
}

export function awsError(name: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), {name, $fault: 'client', $metadata: {httpStatusCode: 400}, ...extra})
}
