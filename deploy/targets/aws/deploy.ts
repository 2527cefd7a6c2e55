/**
 * Deploy stage bundles as Lambda functions, idempotently and resumably.
 *
 * Order: execution role (given, or created with --create-role) → its inline policy → the S3 bucket
 * (only when a zip is over 50 MB, the plan hands tensors over through S3 or a stage fetches its
 * weights at INIT) → each stage in order: [PutObject of its weights] → GetFunction → CreateFunction | UpdateFunctionCode / UpdateFunctionConfiguration (each skipped when
 * nothing differs) → waiter → PublishVersion. deployment.json is rewritten atomically after every
 * step that changes AWS, so a re-run skips finished stages and finishes half-done ones.
 *
 * Why publish versions: the coordinator invokes `arn:…:function:name:<version>`, an immutable
 * snapshot of code + configuration, so a chain never mixes a stage being updated with its
 * neighbours, and every deployment.json names exactly the code it ran. Versions share the
 * function's lifetime (DeleteFunction removes them); PublishVersion on an unchanged $LATEST returns
 * the existing version, so re-deploys do not pile versions up.
 */
import {
  CreateFunctionCommand,
  type CreateFunctionCommandInput,
  GetFunctionCommand,
  type GetFunctionCommandOutput,
  PublishVersionCommand,
  TagResourceCommand,
  UpdateFunctionCodeCommand,
  type UpdateFunctionCodeCommandInput,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda'
import {CreateRoleCommand, GetRoleCommand, GetRolePolicyCommand, PutRolePolicyCommand} from '@aws-sdk/client-iam'
import {
  CreateBucketCommand,
  type BucketLocationConstraint,
  type CreateBucketCommandInput,
  HeadBucketCommand,
  HeadObjectCommand,
  PutBucketLifecycleConfigurationCommand,
  PutBucketTaggingCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3'
import {createReadStream} from 'node:fs'
import {readFile} from 'node:fs/promises'

import {AmpsUserError, assert} from '../../../src/errors.js'
import {LAMBDA} from '../../../src/platform/lambda.js'
import type {Plan} from '../../../src/plan/types.js'
import {DEPLOYMENT_VERSION, type DeploymentState, type StageBundle, type StageDeployment} from '../../state/types.js'
import type {AwsClients} from './clients.js'
import {type DesiredConfig, configDifferences, configSha256, desiredConfig, functionTags} from './function-config.js'
import {errorName, httpStatus, isAwsServiceError, isNotFound, toAmpsError} from './errors.js'
import {
  INLINE_POLICY_NAME,
  LAMBDA_TRUST_POLICY,
  TAG_MODEL,
  TAG_PLAN_HASH,
  TAG_STAGE,
  canonicalJson,
  canonicalPlanHash,
  codeObjectKey,
  codePrefix,
  defaultBucketName,
  deploymentBaseName,
  executionPolicy,
  handoffPrefix,
  parseRoleArn,
  partitionForRegion,
  planNeedsS3Handoff,
  roleNameFor,
  sha256Base64,
  tagValue,
  weightsObjectKey,
  weightsObjects,
} from './naming.js'
import {type Sleep, realSleep, withRetry} from './retry.js'
import {tagList} from './tags.js'
import {writeStateAtomic} from './state.js'
import {validateBundles} from './validate.js'
import type {FunctionWaiters} from './waiters.js'
export interface DeployAwsOptions {
  region: string
  profile?: string
  /** --endpoint-url */
  endpointUrl?: string
  /** --tags: on every function, the role and the bucket amps creates */
  tags?: Record<string, string>
  /** use this execution role (its account also names the bucket) */
  roleArn?: string
  /** create a least-privilege execution role for this deployment (deleted by destroy) */
  createRole?: boolean
  /** print (via log) and return the calls a deploy would make; touches neither AWS nor statePath */
  dryRun?: boolean
  statePath: string
  /** the deployment.json read before this run (resume / update) */
  existing?: DeploymentState
  clients?: AwsClients
  log?: (line: string) => void
  /** recorded in deployment.json; default: canonicalPlanHash(plan) */
  planHash?: string
  /** recorded in deployment.json; defaults: existing's, else '' and plan.model.source */
  planPath?: string
  modelPath?: string
  /** S3 bucket for big zips and hand-offs; default amps-<account>-<region> */
  bucket?: string
  /** waiter limit per function (s), default 600 */
  maxWaitSec?: number
  /** injected in tests so retries do not wait */
  sleep?: Sleep
  random?: () => number
}
type ZipCode = {ZipFile: Uint8Array} | {S3Bucket: string; S3Key: string}

const now = () => new Date().toISOString()

/** One deploy run. Holds the state it rewrites after each step. */
export class AwsDeployer {
  readonly state: DeploymentState
  private readonly log: (line: string) => void
  private readonly sleep: Sleep
  private readonly random: () => number
  private roleMayBeNew = false
  private account?: string
  private partition: string
  private readonly baseName: string
  private readonly modelName: string
  /** where this plan's S3 hand-offs go (undefined: all inline) */
  private handoff?: {bucket: string; prefix: string}

  constructor(
    private readonly clients: AwsClients,
    private readonly waiters: FunctionWaiters,
    private readonly bundles: StageBundle[],
    private readonly plan: Plan,
    private readonly opts: DeployAwsOptions,
    private readonly persist: (state: DeploymentState) => Promise<void>,
  ) {
    this.log = opts.log ?? (() => {})
    this.sleep = opts.sleep ?? realSleep
    this.random = opts.random ?? Math.random
    this.partition = partitionForRegion(opts.region)
    const planHash = opts.planHash ?? canonicalPlanHash(plan)
    this.baseName = deploymentBaseName(bundles, planHash)
    this.modelName = plan.model.name
    this.state = initialState(bundles, plan, opts, planHash)
  }

  private async save(): Promise<void> {
    this.state.updatedAt = now()
    await this.persist(this.state)
  }

  /** send with retries (throttling, conflicts, role propagation); errors mapped to AmpsUserError */
  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, {
        sleep: this.sleep,
        random: this.random,
        roleMayBeNew: this.roleMayBeNew,
        log: this.log,
        label: action,
      })
    } catch (error) {
      throw toAmpsError(error, {action, region: this.opts.region, phase: 'deploy'})
    }
  }

  /** like call(), but "does not exist" answers undefined */
  private async read<T>(action: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await withRetry(fn, {sleep: this.sleep, random: this.random, roleMayBeNew: false, log: this.log, label: action})
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw toAmpsError(error, {action, region: this.opts.region, phase: 'deploy'})
    }
  }

  async run(): Promise<DeploymentState> {
    await validateBundles(this.bundles)
    if (this.opts.region !== this.plan.inputs.region) {
      this.log(`note: the plan was priced for ${this.plan.inputs.region}; deploying to ${this.opts.region}`)
    }
    await this.save()
    await this.ensureRole()
    const handoff = this.handoffLocation()
    const weights = this.weightsLocation()
    await this.ensureRolePolicy(handoff, weights)
    await this.ensureBucket(handoff !== undefined || weights !== undefined)
    for (const bundle of this.sortedBundles()) await this.deployStage(bundle)
    await this.save()
    return this.state
  }

  // ---- role ---------------------------------------------------------------------------------

  private async ensureRole(): Promise<void> {
    const s = this.state
    if (this.opts.roleArn) {
      const parsed = parseRoleArn(this.opts.roleArn)
      if (!parsed) {
        throw new AmpsUserError('FLAG_INVALID', `--role-arn ${this.opts.roleArn} is not an IAM role ARN`, {
          suggestions: ['Pass an ARN like arn:aws:iam::123456789012:role/my-lambda-role, or use --create-role.'],
        })
      }
      if (s.roleCreatedByUs && s.roleArn && s.roleArn !== this.opts.roleArn) {
        this.log(`warning: role ${s.roleArn} created by an earlier deploy is no longer used; delete it in IAM if unused`)
      }
      s.roleArn = this.opts.roleArn
      s.roleCreatedByUs = false
      this.account = parsed.account
      this.partition = parsed.partition
      return
    }
    if (this.opts.createRole || s.roleCreatedByUs) {
      // Keep the role an earlier deploy of this deployment.json created, even if the plan changed.
      const recorded = s.roleCreatedByUs && s.roleArn ? parseRoleArn(s.roleArn) : undefined
      const roleName = recorded?.roleName ?? roleNameFor(this.baseName)
      const found = await this.read(`GetRole ${roleName}`, () => this.clients.iam.send(new GetRoleCommand({RoleName: roleName})))
      if (found?.Role?.Arn) {
        const ours =
          (s.roleCreatedByUs === true && s.roleArn === found.Role.Arn) || (found.Role.Tags ?? []).some((t) => t.Key === TAG_PLAN_HASH && t.Value === s.planHash)
        if (!ours) {
          throw new AmpsUserError('FLAG_INVALID', `IAM role ${roleName} already exists and was not created by this deployment`, {
            suggestions: [`Use it with --role-arn ${found.Role.Arn}, or delete it first.`],
          })
        }
        s.roleArn = found.Role.Arn
        s.roleCreatedByUs = true
      } else {
        const created = await this.call(`CreateRole ${roleName}`, () =>
          this.clients.iam.send(
            new CreateRoleCommand({
              RoleName: roleName,
              AssumeRolePolicyDocument: JSON.stringify(LAMBDA_TRUST_POLICY),
              Description: `amps execution role for ${this.baseName} (created by amps deploy --create-role)`,
              Tags: [...tagList(s.tags ?? {}), {Key: TAG_PLAN_HASH, Value: s.planHash}, {Key: TAG_MODEL, Value: tagValue(this.modelName)}],
            }),
          ),
        )
        assert(created.Role?.Arn, 'CreateRole returned no ARN')
        s.roleArn = created.Role.Arn
        s.roleCreatedByUs = true
        this.roleMayBeNew = true
        this.log(`created role ${created.Role.Arn}`)
        await this.save()
      }
    } else if (!s.roleArn) {
      throw new AmpsUserError('FLAG_INVALID', 'Lambda functions need an execution role', {
        suggestions: ['Pass --create-role to let amps create a least-privilege role, or --role-arn <arn> to use yours.'],
      })
    }
    const parsed = parseRoleArn(s.roleArn!)
    assert(parsed, `not a role ARN: ${s.roleArn}`)
    this.account = parsed.account
    this.partition = parsed.partition
    // IAM is eventually consistent: a role we created (in this run or an interrupted one) may not be
    // assumable by Lambda for a few seconds. A role the user passed is not retried: fail fast.
    if (s.roleCreatedByUs) this.roleMayBeNew = true
  }

  private bucketName(): string {
    assert(this.account, 'account unknown before the role is resolved')
    return this.opts.bucket ?? this.state.codeBucket?.bucket ?? defaultBucketName(this.account, this.opts.region)
  }

  private handoffLocation(): {bucket: string; prefix: string} | undefined {
    this.handoff = resolveHandoff(this.plan, this.bucketName(), this.state.handoff, this.baseName)
    return this.handoff
  }

  /** The code prefix in the bucket: the one recorded for this bucket, else this deployment's. */
  private codePrefixFor(bucket: string): string {
    const cb = this.state.codeBucket
    return cb?.bucket === bucket ? cb.prefix : codePrefix(this.baseName)
  }

  /** The weight objects of stages that fetch their weights at INIT (undefined: none does). */
  private weightsLocation(): {bucket: string; keys: string[]} | undefined {
    if (!this.bundles.some((b) => b.weights)) return undefined
    const bucket = this.bucketName()
    return weightsObjects(this.bundles, bucket, this.codePrefixFor(bucket))
  }

  private async ensureRolePolicy(handoff: {bucket: string; prefix: string} | undefined, weights?: {bucket: string; keys: string[]}): Promise<void> {
    const s = this.state
    if (!s.roleCreatedByUs) {
      if (handoff) {
        this.log(`note: role ${s.roleArn} must allow s3:GetObject and s3:PutObject on arn:${this.partition}:s3:::${handoff.bucket}/${handoff.prefix}/*`)
      }
      if (weights) {
        this.log(
          `note: role ${s.roleArn} must allow s3:GetObject on ${weights.keys.map((k) => `arn:${this.partition}:s3:::${weights.bucket}/${k}`).join(', ')} (stage weights fetched at INIT)`,
        )
      }
      return
    }
    const roleName = parseRoleArn(s.roleArn!)!.roleName
    const want = executionPolicy({
      partition: this.partition,
      region: this.opts.region,
      account: this.account!,
      functionNames: this.sortedBundles().map((b) => b.functionName),
      handoff,
      weights,
    })
    const have = await this.read(`GetRolePolicy ${roleName}`, () =>
      this.clients.iam.send(new GetRolePolicyCommand({RoleName: roleName, PolicyName: INLINE_POLICY_NAME})),
    )
    if (have?.PolicyDocument && samePolicy(have.PolicyDocument, want)) return
    await this.call(`PutRolePolicy ${roleName}`, () =>
      this.clients.iam.send(new PutRolePolicyCommand({RoleName: roleName, PolicyName: INLINE_POLICY_NAME, PolicyDocument: JSON.stringify(want)})),
    )
    this.log(`set policy ${INLINE_POLICY_NAME} on ${roleName}`)
    await this.save()
  }

  // ---- bucket -------------------------------------------------------------------------------

  private async ensureBucket(objectsNeeded: boolean): Promise<void> {
    const s = this.state
    const big = this.bundles.filter((b) => b.zipBytes > LAMBDA.zippedDirectUploadBytes)
    if (!objectsNeeded && big.length === 0) return
    const bucket = this.bucketName()
    const owner = this.account!
    const wasOurs = s.codeBucket?.bucket === bucket && s.codeBucket.createdByUs
    let createdByUs = wasOurs
    const prefix = this.codePrefixFor(bucket)
    const exists = await this.bucketExists(bucket, owner)
    if (!exists) {
      const input: CreateBucketCommandInput = {Bucket: bucket}
      if (this.opts.region !== 'us-east-1') input.CreateBucketConfiguration = {LocationConstraint: this.opts.region as BucketLocationConstraint}
      try {
        await this.call(`CreateBucket ${bucket}`, () => this.clients.s3.send(new CreateBucketCommand(input)))
        createdByUs = true
        this.log(`created bucket ${bucket}`)
      } catch (error) {
        const name = (error as AmpsUserError).details?.awsError
        if (name === 'BucketAlreadyExists') throw bucketTaken(bucket)
        if (name !== 'BucketAlreadyOwnedByYou') throw error
      }
      // configured: false until its tags and lifecycle rule are on, so a run interrupted in between finishes them (then dropped)
      s.codeBucket = {bucket, prefix, createdByUs, ...(createdByUs ? {configured: false} : {})}
      await this.save()
    }
    const rec = s.codeBucket?.bucket === bucket ? s.codeBucket : undefined
    if (rec?.createdByUs && rec.configured === false) {
      if (s.tags && Object.keys(s.tags).length > 0) {
        await this.call(`PutBucketTagging ${bucket}`, () =>
          this.clients.s3.send(new PutBucketTaggingCommand({Bucket: bucket, ExpectedBucketOwner: owner, Tagging: {TagSet: tagList(s.tags!)}})),
        )
      }
      await this.call(`PutBucketLifecycleConfiguration ${bucket}`, () =>
        this.clients.s3.send(
          new PutBucketLifecycleConfigurationCommand({
            Bucket: bucket,
            ExpectedBucketOwner: owner,
            LifecycleConfiguration: {
              Rules: [
                {
                  ID: 'amps-expire-handoff',
                  Status: 'Enabled',
                  Filter: {Prefix: 'handoff/'},
                  Expiration: {Days: 1},
                  AbortIncompleteMultipartUpload: {DaysAfterInitiation: 1},
                },
              ],
            },
          }),
        ),
      )
      delete rec.configured // absent: configured
      await this.save()
    }
    s.codeBucket = {...rec, bucket, prefix, createdByUs}
    if (this.handoff) s.handoff = {kind: 's3', ...this.handoff}
    await this.save()
  }

  private async bucketExists(bucket: string, owner: string): Promise<boolean> {
    try {
      await withRetry(() => this.clients.s3.send(new HeadBucketCommand({Bucket: bucket, ExpectedBucketOwner: owner})), {
        sleep: this.sleep,
        random: this.random,
        roleMayBeNew: false,
        log: this.log,
        label: `HeadBucket ${bucket}`,
      })
      return true
    } catch (error) {
      if (isNotFound(error) || httpStatus(error) === 404) return false
      if (httpStatus(error) === 403 && errorName(error) !== 'AccessDenied') throw bucketTaken(bucket)
      throw toAmpsError(error, {action: `HeadBucket ${bucket}`, region: this.opts.region, phase: 'deploy'})
    }
  }

  // ---- stages -------------------------------------------------------------------------------

  private async codeFor(bundle: StageBundle, rec: StageDeployment): Promise<ZipCode> {
    if (bundle.zipBytes <= LAMBDA.zippedDirectUploadBytes) {
      const bytes = new Uint8Array(await readFile(bundle.zipPath))
      const sha = sha256Base64(bytes)
      if (sha !== bundle.codeSha256) {
        throw new AmpsUserError('FILE_INVALID', `bundle zip ${bundle.zipPath} has sha256 ${sha}, its bundle says ${bundle.codeSha256}`, {
          suggestions: ['Rerun `amps deploy`; it rebuilds the bundles.'],
        })
      }
      return {ZipFile: bytes}
    }
    const cb = this.state.codeBucket
    assert(cb, 'bucket must exist before a large upload')
    const key = codeObjectKey(cb.prefix, bundle)
    if (rec.codeS3Key !== key) {
      await this.call(`PutObject s3://${cb.bucket}/${key}`, () =>
        this.clients.s3.send(
          new PutObjectCommand({
            Bucket: cb.bucket,
            Key: key,
            Body: createReadStream(bundle.zipPath),
            ContentLength: bundle.zipBytes,
            ContentType: 'application/zip',
            ChecksumSHA256: bundle.codeSha256,
            ExpectedBucketOwner: this.account,
          }),
        ),
      )
      rec.codeS3Key = key
      rec.updatedAt = now()
      this.log(`uploaded ${bundle.functionName} code (${bundle.zipBytes} bytes) to s3://${cb.bucket}/${key}`)
      await this.save()
    }
    return {S3Bucket: cb.bucket, S3Key: key}
  }

  /**
   * Uploads a stage's fetched weights (once per content: the key carries their sha256) and returns
   * their s3:// URL for the function's AMPS_WEIGHTS_URL; undefined when the weights ship in the zip.
   */
  private async weightsFor(bundle: StageBundle, rec: StageDeployment): Promise<string | undefined> {
    const w = bundle.weights
    if (!w) {
      rec.weights = undefined
      return undefined
    }
    const cb = this.state.codeBucket
    assert(cb, 'bucket must exist before the weights upload')
    const key = weightsObjectKey(cb.prefix, bundle)!
    const url = `s3://${cb.bucket}/${key}`
    // recorded as uploaded: still there at its size? (deleted by hand or a bucket rule, every INIT would fail)
    const present =
      rec.weights?.url === url &&
      rec.weights.sha256 === w.sha256 &&
      (
        await this.read(`HeadObject ${url}`, () =>
          this.clients.s3.send(new HeadObjectCommand({Bucket: cb.bucket, Key: key, ExpectedBucketOwner: this.account})),
        )
      )?.ContentLength === w.bytes
    if (!present) {
      await this.call(`PutObject ${url}`, () =>
        this.clients.s3.send(
          new PutObjectCommand({
            Bucket: cb.bucket,
            Key: key,
            Body: createReadStream(w.path),
            ContentLength: w.bytes,
            ContentType: 'application/octet-stream',
            ChecksumSHA256: Buffer.from(w.sha256, 'hex').toString('base64'),
            ExpectedBucketOwner: this.account,
          }),
        ),
      )
      rec.weights = {url, sha256: w.sha256, bytes: w.bytes}
      rec.updatedAt = now()
      this.log(`uploaded ${bundle.functionName} weights (${w.bytes} bytes, fetched at INIT) to ${url}`)
      await this.save()
    }
    return url
  }

  private async waitFor(kind: 'active' | 'updated', functionName: string): Promise<void> {
    try {
      await (kind === 'active' ? this.waiters.active(functionName) : this.waiters.updated(functionName))
    } catch (error) {
      if (error instanceof AmpsUserError) throw error
      if (isAwsServiceError(error)) throw toAmpsError(error, {action: `waiting for ${functionName}`, region: this.opts.region})
      const live = await this.call(`GetFunction ${functionName}`, () => this.clients.lambda.send(new GetFunctionCommand({FunctionName: functionName})))
      const c = live.Configuration
      const why =
        kind === 'active'
          ? `state ${c?.State ?? '?'}${c?.StateReasonCode ? ` (${c.StateReasonCode})` : ''}: ${c?.StateReason ?? 'no reason given'}`
          : `last update ${c?.LastUpdateStatus ?? '?'}${c?.LastUpdateStatusReasonCode ? ` (${c.LastUpdateStatusReasonCode})` : ''}: ${c?.LastUpdateStatusReason ?? 'no reason given'}`
      const timedOut = errorName(error) === 'TimeoutError'
      throw new AmpsUserError(
        'AWS_ERROR',
        `${functionName} did not become ${kind === 'active' ? 'Active' : 'updated'}${timedOut ? ` within ${this.opts.maxWaitSec ?? 600} s` : ''}; ${why}`,
        {suggestions: ['Rerun the same `amps deploy`: it resumes from deployment.json.']},
      )
    }
  }

  private sortedBundles(): StageBundle[] {
    return [...this.bundles].sort((a, b) => a.stageIndex - b.stageIndex)
  }

  private stageRecord(bundle: StageBundle): StageDeployment {
    const rec = this.state.stages.find((r) => r.functionName === bundle.functionName)
    assert(rec, `no record for ${bundle.functionName}`)
    return rec
  }

  private async deployStage(bundle: StageBundle): Promise<void> {
    const rec = this.stageRecord(bundle)
    const name = bundle.functionName
    // the weights are in place before any function that fetches them is created or changed
    const weightsUrl = await this.weightsFor(bundle, rec)
    const want = desiredConfig(bundle, {
      weightsUrl,
      roleArn: this.state.roleArn!,
      handoff: this.handoff,
      modelName: this.modelName,
      planHash: this.state.planHash,
      stageCount: this.bundles.length,
      stageNumber: this.sortedBundles().indexOf(bundle) + 1,
    })
    const wantSha = configSha256(want)
    const statusBefore = rec.status
    try {
      const live = await this.read(`GetFunction ${name}`, () => this.clients.lambda.send(new GetFunctionCommand({FunctionName: name})))
      let changed = false
      if (!live?.Configuration) {
        const code = await this.codeFor(bundle, rec)
        const input: CreateFunctionCommandInput = {
          FunctionName: name,
          Runtime: want.Runtime,
          Handler: want.Handler,
          Role: want.Role,
          Code: code,
          Description: want.Description,
          Timeout: want.Timeout,
          MemorySize: want.MemorySize,
          Publish: false,
          PackageType: 'Zip',
          Architectures: want.Architectures,
          EphemeralStorage: want.EphemeralStorage,
          Environment: want.Environment,
          Tags: functionTags(bundle, this.state.planHash, this.modelName, this.state.tags),
        }
        const created = await this.call(`CreateFunction ${name}`, () => this.clients.lambda.send(new CreateFunctionCommand(input)))
        Object.assign(rec, {
          status: 'created',
          arn: created.FunctionArn,
          codeSha256: created.CodeSha256 ?? bundle.codeSha256,
          createdByUs: true,
          version: undefined,
          configSha256: wantSha,
          updatedAt: now(),
        } satisfies Partial<StageDeployment>)
        this.log(`created ${name} (${bundle.arch}, ${bundle.memoryMb} MB, ${bundle.zipBytes} bytes)`)
        await this.save()
        await this.waitFor('active', name)
        changed = true
      } else {
        changed = await this.updateStage(bundle, rec, live, want)
      }
      if (changed || !rec.version) {
        const published = await this.call(`PublishVersion ${name}`, () =>
          this.clients.lambda.send(
            new PublishVersionCommand({FunctionName: name, CodeSha256: bundle.codeSha256, Description: `plan ${this.state.planHash.slice(0, 8)}`}),
          ),
        )
        assert(published.Version, 'PublishVersion returned no version')
        if (published.State && published.State !== 'Active') {
          try {
            await this.waiters.versionActive(name, published.Version)
          } catch (error) {
            throw new AmpsUserError('AWS_ERROR', `version ${published.Version} of ${name} did not become Active: ${(error as Error).message}`, {
              suggestions: ['Rerun the same `amps deploy`: it resumes from deployment.json.'],
            })
          }
        }
        rec.version = published.Version
        this.log(`${name}: version ${published.Version}`)
      } else {
        this.log(`${name}: unchanged (version ${rec.version})`)
      }
      rec.status = 'active'
      rec.arch = bundle.arch
      rec.codeSha256 = bundle.codeSha256
      rec.configSha256 = wantSha
      rec.updatedAt = now()
      await this.save()
    } catch (error) {
      // A stage that was active and that this run had not changed yet (e.g. GetFunction was denied)
      // stays active; anything this run started is marked failed so the re-run looks at it again.
      if (!(statusBefore === 'active' && rec.status === 'active')) rec.status = 'failed'
      rec.updatedAt = now()
      await this.save()
      throw error
    }
  }

  /** Bring an existing function to the bundle's code and configuration; true when anything changed. */
  private async updateStage(bundle: StageBundle, rec: StageDeployment, live: GetFunctionCommandOutput, want: DesiredConfig): Promise<boolean> {
    const name = bundle.functionName
    const c = live.Configuration!
    rec.arn = c.FunctionArn ?? rec.arn
    // A function an interrupted run created (before deployment.json recorded it) carries our tags.
    if (!rec.createdByUs && live.Tags?.[TAG_PLAN_HASH] === this.state.planHash && live.Tags?.[TAG_STAGE] === String(bundle.stageIndex)) {
      rec.createdByUs = true
    }
    // Finish whatever a previous run (or someone else) started before changing anything.
    if (c.State === 'Pending') await this.waitFor('active', name)
    else if (c.LastUpdateStatus === 'InProgress') await this.waitFor('updated', name)

    let changed = false
    const liveArch = c.Architectures?.[0] ?? 'x86_64'
    if (c.CodeSha256 !== bundle.codeSha256 || liveArch !== bundle.arch) {
      const code = await this.codeFor(bundle, rec)
      const input: UpdateFunctionCodeCommandInput = {FunctionName: name, ...code, Architectures: want.Architectures, Publish: false}
      const out = await this.call(`UpdateFunctionCode ${name}`, () => this.clients.lambda.send(new UpdateFunctionCodeCommand(input)))
      Object.assign(rec, {status: 'updated', codeSha256: out.CodeSha256 ?? bundle.codeSha256, version: undefined, updatedAt: now()})
      this.log(`updated ${name} code${liveArch !== bundle.arch ? ` (${liveArch} → ${bundle.arch})` : ''}`)
      await this.save()
      await this.waitFor('updated', name)
      changed = true
    }
    const diffs = configDifferences(c, want)
    if (diffs.length > 0) {
      const {Architectures: _arch, ...config} = want
      await this.call(`UpdateFunctionConfiguration ${name}`, () => this.clients.lambda.send(new UpdateFunctionConfigurationCommand(config)))
      Object.assign(rec, {status: 'updated', version: undefined, updatedAt: now()})
      this.log(`updated ${name} configuration (${diffs.join(', ')})`)
      await this.save()
      await this.waitFor('updated', name)
      changed = true
    }
    if (rec.createdByUs && c.FunctionArn) {
      const tags = functionTags(bundle, this.state.planHash, this.modelName, this.state.tags)
      const stale = Object.entries(tags).some(([k, v]) => live.Tags?.[k] !== v)
      if (stale) {
        await this.call(`TagResource ${name}`, () => this.clients.lambda.send(new TagResourceCommand({Resource: c.FunctionArn, Tags: tags})))
      }
    }
    return changed
  }
}

/** Where S3 hand-offs go: undefined when every hand-off is inline; else the recorded prefix or a new one. */
export function resolveHandoff(
  plan: Plan,
  bucket: string,
  recorded: DeploymentState['handoff'],
  baseName: string,
): {bucket: string; prefix: string} | undefined {
  if (!planNeedsS3Handoff(plan)) return undefined
  const prefix = recorded?.kind === 's3' && recorded.bucket === bucket ? recorded.prefix : handoffPrefix(baseName)
  return {bucket, prefix}
}

function bucketTaken(bucket: string): AmpsUserError {
  return new AmpsUserError('AWS_ERROR', `S3 bucket ${bucket} exists but belongs to another account`, {
    suggestions: ['Pass --bucket <a bucket you own in this region> for code uploads and hand-offs.'],
  })
}

/** IAM returns the inline policy URL-encoded. */
function samePolicy(encoded: string, want: unknown): boolean {
  try {
    return canonicalJson(JSON.parse(decodeURIComponent(encoded))) === canonicalJson(want)
  } catch {
    return false
  }
}

function initialState(bundles: StageBundle[], plan: Plan, opts: DeployAwsOptions, planHash: string): DeploymentState {
  const existing = opts.existing
  const t = now()
  if (existing) {
    if (existing.target !== 'aws') {
      throw new AmpsUserError('DEPLOYMENT_INVALID', `${opts.statePath} describes a ${existing.target} deployment, not aws`, {
        suggestions: ['Run `amps destroy` for it first, or pass a different --out path.'],
      })
    }
    if (existing.region !== opts.region) {
      throw new AmpsUserError('DEPLOYMENT_INVALID', `${opts.statePath} is deployed in ${existing.region}, not ${opts.region}`, {
        suggestions: [`Pass --region ${existing.region}, or run \`amps destroy\` first.`],
      })
    }
  }
  const byName = new Map((existing?.stages ?? []).map((s) => [s.functionName, s]))
  const sorted = [...bundles].sort((a, b) => a.stageIndex - b.stageIndex)
  const stages: StageDeployment[] = sorted.map((b) => {
    const prev = byName.get(b.functionName)
    if (prev && prev.status !== 'deleted') return {...prev, stageIndex: b.stageIndex}
    return {stageIndex: b.stageIndex, functionName: b.functionName, status: 'pending', createdByUs: false, updatedAt: t}
  })
  const names = new Set(sorted.map((b) => b.functionName))
  const retired = [...(existing?.retired ?? []), ...(existing?.stages ?? []).filter((s) => !names.has(s.functionName) && s.status !== 'deleted')].filter(
    (s) => s.status !== 'deleted' && !names.has(s.functionName),
  )
  const state: DeploymentState = {
    version: DEPLOYMENT_VERSION,
    target: 'aws',
    region: opts.region,
    planHash,
    planPath: opts.planPath ?? existing?.planPath ?? '',
    modelPath: opts.modelPath ?? existing?.modelPath ?? plan.model.source,
    createdAt: existing?.createdAt ?? t,
    updatedAt: t,
    stages,
  }
  if (existing?.roleArn) {
    state.roleArn = existing.roleArn
    state.roleCreatedByUs = existing.roleCreatedByUs
  }
  if (existing?.codeBucket) state.codeBucket = existing.codeBucket
  const tags = opts.tags ?? existing?.tags
  if (tags && Object.keys(tags).length > 0) state.tags = tags
  if (existing?.handoff) state.handoff = existing.handoff
  if (existing?.initMs) state.initMs = existing.initMs
  if (retired.length > 0) state.retired = retired
  return state
}

/** Real deploy against AWS; see DeployAwsOptions. */
export async function runDeploy(
  bundles: StageBundle[],
  plan: Plan,
  opts: DeployAwsOptions,
  clients: AwsClients,
  waiters: FunctionWaiters,
  persist: (state: DeploymentState) => Promise<void> = (state) => writeStateAtomic(opts.statePath, state),
): Promise<DeploymentState> {
  const deployer = new AwsDeployer(clients, waiters, bundles, plan, opts, persist)
  return deployer.run()
}
