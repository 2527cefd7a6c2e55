import {readFileSync, readdirSync, mkdtempSync, rmSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {deployAws, INLINE_POLICY_NAME} from '../../deploy/targets/aws/index.js'
import type {DeploymentState, StageBundle} from '../../deploy/state/types.js'
import {AmpsUserError} from '../../src/errors.js'
import {ACCOUNT, FakeAws, PLAN_HASH, awsError, makeBundle, makePlan, writeSparseZip} from './aws-fake.js'

const ROLE = `arn:aws:iam::${ACCOUNT}:role/my-lambda-role`
const BASE = 'amps-tiny-a1b2c3d4'

let dir: string
let fake: FakeAws
let sleeps: number[]
const sleep = async (ms: number) => {
  sleeps.push(ms)
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-'))
  fake = new FakeAws()
  sleeps = []
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})

function bundles3(): StageBundle[] {
  return [1, 2, 3].map((i) => makeBundle(join(dir, 'bundles'), i))
}

function readState(path: string): DeploymentState {
  const {kind, ...state} = JSON.parse(readFileSync(path, 'utf8')) as DeploymentState & {kind: string}
  expect(kind).toBe('deployment')
  return state
}

function opts(extra: Record<string, unknown> = {}) {
  return {
    region: 'us-east-1',
    roleArn: ROLE,
    statePath: join(dir, 'deployment.json'),
    clients: fake.clients,
    planHash: PLAN_HASH,
    planPath: 'plan.json',
    sleep,
    random: () => 0.5,
    ...extra,
  }
}

describe('fresh deploy', () => {
  it('creates 3 functions with exact inputs, waits for Active, publishes versions, records them', async () => {
    const bundles = bundles3()
    const lines: string[] = []
    const state = await deployAws(bundles, makePlan(3), opts({log: (l: string) => lines.push(l)}))

    // GetFunction (absent) → CreateFunction → GetFunction (waiter: Active) → PublishVersion, per stage
    expect(fake.summary()).toEqual(
      [1, 2, 3].flatMap((i) => {
        const n = `${BASE}-stage-${i}`
        return [`GetFunction ${n}`, `CreateFunction ${n}`, `GetFunction ${n}`, `PublishVersion ${n}`]
      }),
    )
    const creates = fake.inputs('CreateFunction')
    expect(creates[1]).toEqual({
      FunctionName: `${BASE}-stage-2`,
      Runtime: 'nodejs22.x',
      Handler: 'index.handler',
      Role: ROLE,
      Code: {ZipFile: new Uint8Array(readFileSync(bundles[1]!.zipPath))},
      Description: 'amps stage 2 of 3: tiny (plan a1b2c3d4)',
      Timeout: 30,
      MemorySize: 1024,
      Publish: false,
      PackageType: 'Zip',
      Architectures: ['arm64'],
      EphemeralStorage: {Size: 512},
      Environment: {Variables: {AMPS_STAGE: '2', AMPS_MODEL: 'tiny'}},
      Tags: {'amps:plan-hash': PLAN_HASH, 'amps:stage': '2', 'amps:model': 'tiny'},
    })
    expect(creates.map((c) => c.MemorySize)).toEqual([512, 1024, 1536])
    expect(fake.inputs('PublishVersion')[0]).toEqual({
      FunctionName: `${BASE}-stage-1`,
      CodeSha256: bundles[0]!.codeSha256,
      Description: 'plan a1b2c3d4',
    })
    // no IAM, no S3 when a role is given, zips are small and hand-offs inline
    expect(fake.calls.filter((c) => c.service !== 'lambda')).toEqual([])

    const onDisk = readState(join(dir, 'deployment.json'))
    expect(onDisk).toEqual(state)
    expect(onDisk).toMatchObject({version: 1, target: 'aws', region: 'us-east-1', planHash: PLAN_HASH, roleArn: ROLE, roleCreatedByUs: false})
    expect(onDisk.stages.map((s) => [s.functionName, s.status, s.arn, s.version, s.createdByUs, s.codeSha256])).toEqual(
      bundles.map((b) => [b.functionName, 'active', fake.arn(b.functionName), '1', true, b.codeSha256]),
    )
    expect(onDisk.codeBucket).toBeUndefined()
    // atomic writes leave no temp files behind
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    expect(lines.some((l) => l.startsWith(`created ${BASE}-stage-1 (arm64, 512 MB`))).toBe(true)
  })

  it('writes deployment.json before each next step (stage 1 is recorded when stage 2 is created)', async () => {
    const statePath = join(dir, 'deployment.json')
    const seen: {call: string; stages: string[]}[] = []
    fake.onCall = (c) => {
      if (c.command === 'CreateFunction' || c.command === 'PublishVersion') {
        const s = existsSync(statePath) ? readState(statePath) : undefined
        seen.push({call: `${c.command} ${c.input.FunctionName.slice(-7)}`, stages: s ? s.stages.map((x) => x.status) : []})
      }
    }
    await deployAws(bundles3(), makePlan(3), opts())
    expect(seen).toEqual([
      {call: 'CreateFunction stage-1', stages: ['pending', 'pending', 'pending']},
      {call: 'PublishVersion stage-1', stages: ['created', 'pending', 'pending']},
      {call: 'CreateFunction stage-2', stages: ['active', 'pending', 'pending']},
      {call: 'PublishVersion stage-2', stages: ['active', 'created', 'pending']},
      {call: 'CreateFunction stage-3', stages: ['active', 'active', 'pending']},
      {call: 'PublishVersion stage-3', stages: ['active', 'active', 'created']},
    ])
  })
})

describe('re-deploy', () => {
  it('is idempotent: only GetFunction when code sha and configuration match', async () => {
    const bundles = bundles3()
    const first = await deployAws(bundles, makePlan(3), opts())
    fake.resetCalls()
    const second = await deployAws(bundles, makePlan(3), opts({existing: first}))
    expect(fake.summary()).toEqual(bundles.map((b) => `GetFunction ${b.functionName}`))
    expect(second.stages.map((s) => [s.status, s.version])).toEqual(first.stages.map(() => ['active', '1']))
    expect(second.createdAt).toBe(first.createdAt)
  })

  it('updates code only where the sha differs and configuration only where it differs, then publishes', async () => {
    const bundles = bundles3()
    const first = await deployAws(bundles, makePlan(3), opts())
    fake.resetCalls()
    const changed = [
      bundles[0]!,
      makeBundle(join(dir, 'bundles'), 2, {variant: 'v2'}),
      {...bundles[2]!, memoryMb: 3008, environment: {...bundles[2]!.environment, EXTRA: '1'}},
    ]
    const state = await deployAws(changed, makePlan(3), opts({existing: first}))
    const n = (i: number) => `${BASE}-stage-${i}`
    expect(fake.summary()).toEqual([
      `GetFunction ${n(1)}`,
      `GetFunction ${n(2)}`,
      `UpdateFunctionCode ${n(2)}`,
      `GetFunction ${n(2)}`,
      `PublishVersion ${n(2)}`,
      `GetFunction ${n(3)}`,
      `UpdateFunctionConfiguration ${n(3)}`,
      `GetFunction ${n(3)}`,
      `PublishVersion ${n(3)}`,
    ])
    expect(fake.inputs('UpdateFunctionCode')).toEqual([
      {FunctionName: n(2), ZipFile: new Uint8Array(readFileSync(changed[1]!.zipPath)), Architectures: ['arm64'], Publish: false},
    ])
    expect(fake.inputs('UpdateFunctionConfiguration')).toEqual([
      {
        FunctionName: n(3),
        Role: ROLE,
        Handler: 'index.handler',
        Runtime: 'nodejs22.x',
        MemorySize: 3008,
        Timeout: 30,
        EphemeralStorage: {Size: 512},
        Environment: {Variables: {AMPS_STAGE: '3', AMPS_MODEL: 'tiny', EXTRA: '1'}},
        Description: 'amps stage 3 of 3: tiny (plan a1b2c3d4)',
      },
    ])
    expect(state.stages.map((s) => s.version)).toEqual(['1', '2', '2'])
    expect(state.stages[1]!.codeSha256).toBe(changed[1]!.codeSha256)
    expect(fake.functions.get(n(3))!.config.MemorySize).toBe(3008)
  })

  it('changing only the architecture goes through UpdateFunctionCode (Architectures lives there)', async () => {
    const bundles = [makeBundle(dir, 1)]
    const first = await deployAws(bundles, makePlan(1), opts())
    fake.resetCalls()
    await deployAws([{...bundles[0]!, arch: 'x86_64'}], makePlan(1), opts({existing: first}))
    expect(fake.inputs('UpdateFunctionCode')).toEqual([
      {FunctionName: `${BASE}-stage-1`, ZipFile: new Uint8Array(readFileSync(bundles[0]!.zipPath)), Architectures: ['x86_64'], Publish: false},
    ])
    expect(fake.inputs('UpdateFunctionConfiguration')).toEqual([])
  })
})

describe('large bundles go through S3', () => {
  it('creates the bucket, uploads the > 50 MB zip with its checksum, and passes S3Bucket/S3Key', async () => {
    const fake2 = new FakeAws('eu-west-1')
    try {
      const big = join(dir, 'big.zip')
      const size = 50 * 1024 * 1024 + 1
      writeSparseZip(big, size)
      const bundles = [makeBundle(dir, 1), {...makeBundle(dir, 2), zipPath: big, zipBytes: size, codeSha256: 'q83vEjRWeJA='.padEnd(44, 'A')}]
      const bucket = `amps-${ACCOUNT}-eu-west-1`
      const key = `code/${BASE}/stage-2-${Buffer.from(bundles[1]!.codeSha256, 'base64').toString('hex').slice(0, 16)}.zip`
      const state = await deployAws(bundles, makePlan(2, {region: 'eu-west-1'}), {...opts(), region: 'eu-west-1', clients: fake2.clients})
      expect(fake2.summary((c) => c.service === 's3')).toEqual([
        `HeadBucket ${bucket}`,
        `CreateBucket ${bucket}`,
        `PutBucketLifecycleConfiguration ${bucket}`,
        `PutObject ${bucket}/${key}`,
      ])
      expect(fake2.inputs('CreateBucket')).toEqual([{Bucket: bucket, CreateBucketConfiguration: {LocationConstraint: 'eu-west-1'}}])
      const put = fake2.inputs('PutObject')[0]
      expect({...put, Body: typeof put.Body.pipe}).toEqual({
        Bucket: bucket,
        Key: key,
        Body: 'function',
        ContentLength: size,
        ContentType: 'application/zip',
        ChecksumSHA256: bundles[1]!.codeSha256,
        ExpectedBucketOwner: ACCOUNT,
      })
      expect(put.Body.path).toBe(big)
      const creates = fake2.inputs('CreateFunction')
      expect(creates[0].Code.ZipFile).toBeInstanceOf(Uint8Array)
      expect(creates[1].Code).toEqual({S3Bucket: bucket, S3Key: key})
      expect(state.codeBucket).toEqual({bucket, prefix: `code/${BASE}`, createdByUs: true})
      expect(state.stages[1]).toMatchObject({status: 'active', codeS3Key: key, codeSha256: bundles[1]!.codeSha256})
      expect(state.handoff).toBeUndefined()

      // a re-deploy neither re-uploads nor touches the code
      fake2.resetCalls()
      await deployAws(bundles, makePlan(2, {region: 'eu-west-1'}), {...opts(), region: 'eu-west-1', clients: fake2.clients, existing: state})
      expect(fake2.summary()).toEqual([`HeadBucket ${bucket}`, `GetFunction ${BASE}-stage-1`, `GetFunction ${BASE}-stage-2`])
    } finally {
      fake2.restore()
    }
  })
})

describe('--create-role', () => {
  it('creates a least-privilege role scoped to the functions and the hand-off prefix, and waits out IAM propagation', async () => {
    const bundles = bundles3()
    const roleName = `${BASE}-exec`
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/${roleName}`
    const bucket = `amps-${ACCOUNT}-us-east-1`
    // Lambda cannot assume a brand-new role for a few seconds
    fake.fail('CreateFunction', () => awsError('InvalidParameterValueException', 'The role defined for the function cannot be assumed by Lambda.'), 2)
    const {roleArn: _r, ...o} = opts()
    const state = await deployAws(bundles, makePlan(3, {handoff: 's3'}), {...o, createRole: true})

    expect(fake.summary((c) => c.service === 'iam')).toEqual([
      `GetRole ${roleName}`,
      `CreateRole ${roleName}`,
      `GetRolePolicy ${roleName}`,
      `PutRolePolicy ${roleName}`,
    ])
    const create = fake.inputs('CreateRole')[0]
    expect(JSON.parse(create.AssumeRolePolicyDocument)).toEqual({
      Version: '2012-10-17',
      Statement: [{Effect: 'Allow', Principal: {Service: 'lambda.amazonaws.com'}, Action: 'sts:AssumeRole'}],
    })
    expect(create.Tags).toEqual([
      {Key: 'amps:plan-hash', Value: PLAN_HASH},
      {Key: 'amps:model', Value: 'tiny'},
    ])
    const put = fake.inputs('PutRolePolicy')[0]
    expect(put.RoleName).toBe(roleName)
    expect(put.PolicyName).toBe(INLINE_POLICY_NAME)
    expect(JSON.parse(put.PolicyDocument)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'WriteOwnLogs',
          Effect: 'Allow',
          Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: [1, 2, 3].flatMap((i) => [
            `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/aws/lambda/${BASE}-stage-${i}`,
            `arn:aws:logs:us-east-1:${ACCOUNT}:log-group:/aws/lambda/${BASE}-stage-${i}:*`,
          ]),
        },
        {Sid: 'HandOffTensors', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: [`arn:aws:s3:::${bucket}/handoff/${BASE}/*`]},
      ],
    })
    // us-east-1: CreateBucket without a LocationConstraint; hand-off objects expire after a day
    expect(fake.inputs('CreateBucket')).toEqual([{Bucket: bucket}])
    expect(fake.inputs('PutBucketLifecycleConfiguration')[0].LifecycleConfiguration.Rules[0]).toMatchObject({
      Filter: {Prefix: 'handoff/'},
      Expiration: {Days: 1},
    })
    // two "cannot be assumed" failures, retried with growing backoff (equal jitter, random = 0.5)
    expect(fake.inputs('CreateFunction').length).toBe(3 + 2)
    expect(sleeps).toEqual([1500, 3000])
    const createInput = fake.inputs('CreateFunction').at(-1)
    expect(createInput.Role).toBe(roleArn)
    expect(createInput.Environment.Variables).toEqual({
      AMPS_STAGE: '3',
      AMPS_MODEL: 'tiny',
      AMPS_HANDOFF_BUCKET: bucket,
      AMPS_HANDOFF_PREFIX: `handoff/${BASE}`,
    })
    expect(state).toMatchObject({
      roleArn,
      roleCreatedByUs: true,
      handoff: {kind: 's3', bucket, prefix: `handoff/${BASE}`},
      codeBucket: {bucket, prefix: `code/${BASE}`, createdByUs: true},
    })

    // re-deploy: role and policy are read, not rewritten
    fake.resetCalls()
    await deployAws(bundles, makePlan(3, {handoff: 's3'}), {...o, createRole: true, existing: state})
    expect(fake.summary((c) => c.service !== 'lambda')).toEqual([`GetRole ${roleName}`, `GetRolePolicy ${roleName}`, `HeadBucket ${bucket}`])
  })

  it('without S3 hand-offs the policy grants logs only, and no bucket is made', async () => {
    const {roleArn: _r, ...o} = opts()
    await deployAws([makeBundle(dir, 1)], makePlan(1), {...o, createRole: true})
    const doc = JSON.parse(fake.inputs('PutRolePolicy')[0].PolicyDocument)
    expect(doc.Statement.map((s: {Sid: string}) => s.Sid)).toEqual(['WriteOwnLogs'])
    expect(fake.calls.filter((c) => c.service === 's3')).toEqual([])
  })

  it('refuses a same-named role it did not create', async () => {
    fake.roles.set(`${BASE}-exec`, {Arn: `arn:aws:iam::${ACCOUNT}:role/${BASE}-exec`, Tags: [], policies: new Map()})
    const {roleArn: _r, ...o} = opts()
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), {...o, createRole: true}).catch((e) => e)
    expect(err).toBeInstanceOf(AmpsUserError)
    expect(err.ampsCode).toBe('FLAG_INVALID')
    expect(fake.inputs('CreateFunction')).toEqual([])
  })

  it('needs a role: neither --role-arn nor --create-role is a user error before any call', async () => {
    const {roleArn: _r, ...o} = opts()
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), o).catch((e) => e)
    expect(err.ampsCode).toBe('FLAG_INVALID')
    expect(err.message).toMatch(/execution role/)
    expect(fake.calls).toEqual([])
  })
})

describe('retries', () => {
  it('retries throttling and update-in-progress conflicts with exponential backoff, then succeeds', async () => {
    const bundles = bundles3()
    const first = await deployAws(bundles, makePlan(3), opts())
    fake.resetCalls()
    fake.fail('GetFunction', () => awsError('TooManyRequestsException', 'Rate exceeded', {$metadata: {httpStatusCode: 429}}), 1)
    fake.fail('UpdateFunctionCode', () => awsError('ResourceConflictException', 'The operation cannot be performed at this time. An update is in progress'), 3)
    const changed = [makeBundle(join(dir, 'b2'), 1, {variant: 'v2'}), bundles[1]!, bundles[2]!]
    const state = await deployAws(changed, makePlan(3), opts({existing: first, random: () => 1}))
    expect(fake.summary().slice(0, 6)).toEqual([
      `GetFunction ${BASE}-stage-1`,
      `GetFunction ${BASE}-stage-1`,
      `UpdateFunctionCode ${BASE}-stage-1`,
      `UpdateFunctionCode ${BASE}-stage-1`,
      `UpdateFunctionCode ${BASE}-stage-1`,
      `UpdateFunctionCode ${BASE}-stage-1`,
    ])
    // throttle: base 500 ms; conflict: base 1 s doubling (random = 1 → the full ceiling)
    expect(sleeps).toEqual([500, 1000, 2000, 4000])
    expect(state.stages[0]).toMatchObject({status: 'active', version: '2', codeSha256: changed[0]!.codeSha256})
  })

  it('gives up after the policy limit with an AWS_ERROR and records the stage as failed', async () => {
    fake.fail('CreateFunction', () => awsError('TooManyRequestsException', 'Rate exceeded'), 100)
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts()).catch((e) => e)
    expect(err).toBeInstanceOf(AmpsUserError)
    expect(err.ampsCode).toBe('AWS_ERROR')
    expect(err.message).toContain('TooManyRequestsException')
    expect(fake.inputs('CreateFunction').length).toBe(8)
    expect(sleeps.length).toBe(7)
    expect(sleeps.every((ms, i) => ms >= Math.min(20_000, 500 * 2 ** i) / 2 && ms <= Math.min(20_000, 500 * 2 ** i))).toBe(true)
    expect(readState(join(dir, 'deployment.json')).stages[0]!.status).toBe('failed')
  })

  it('does not retry "cannot be assumed" for a role the user passed (it will not fix itself)', async () => {
    fake.fail('CreateFunction', () => awsError('InvalidParameterValueException', 'The role defined for the function cannot be assumed by Lambda.'), 1)
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts()).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ERROR')
    expect(fake.inputs('CreateFunction').length).toBe(1)
    expect(sleeps).toEqual([])
  })
})

describe('interrupted deploys resume', () => {
  it('a failure at stage 2 leaves stage 1 recorded; the re-run creates only what is missing', async () => {
    const bundles = bundles3()
    const statePath = join(dir, 'deployment.json')
    fake.fail(
      'CreateFunction',
      () => awsError('InvalidParameterValueException', 'Uploaded file must be a non-empty zip'),
      1,
      (i) => i.FunctionName.endsWith('stage-2'),
    )
    const err = await deployAws(bundles, makePlan(3), opts()).catch((e) => e)
    expect(err).toBeInstanceOf(AmpsUserError)
    expect(err.ampsCode).toBe('AWS_ERROR')
    expect(err.message).toBe(`CreateFunction ${BASE}-stage-2 failed: InvalidParameterValueException: Uploaded file must be a non-empty zip`)

    const half = readState(statePath)
    expect(half.stages.map((s) => [s.status, s.createdByUs, s.version])).toEqual([
      ['active', true, '1'],
      ['failed', false, undefined],
      ['pending', false, undefined],
    ])

    fake.resetCalls()
    const done = await deployAws(bundles, makePlan(3), opts({existing: half}))
    expect(fake.summary((c) => c.command !== 'GetFunction')).toEqual([
      `CreateFunction ${BASE}-stage-2`,
      `PublishVersion ${BASE}-stage-2`,
      `CreateFunction ${BASE}-stage-3`,
      `PublishVersion ${BASE}-stage-3`,
    ])
    expect(done.stages.map((s) => [s.status, s.version, s.createdByUs])).toEqual([
      ['active', '1', true],
      ['active', '1', true],
      ['active', '1', true],
    ])
    expect(readState(statePath)).toEqual(done)
  })

  it('finishes a half-done stage (created, not published) on re-run', async () => {
    const bundles = bundles3()
    const statePath = join(dir, 'deployment.json')
    fake.fail(
      'PublishVersion',
      () => awsError('ServiceException', 'internal'),
      8,
      (i) => i.FunctionName.endsWith('stage-2'),
    )
    const err = await deployAws(bundles, makePlan(3), opts()).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ERROR')
    const half = readState(statePath)
    expect(half.stages[1]).toMatchObject({status: 'failed', createdByUs: true, arn: fake.arn(`${BASE}-stage-2`)})
    expect(half.stages[1]!.version).toBeUndefined()

    fake.resetCalls()
    const done = await deployAws(bundles, makePlan(3), opts({existing: half}))
    expect(fake.summary((c) => c.command !== 'GetFunction')).toEqual([
      `PublishVersion ${BASE}-stage-2`,
      `CreateFunction ${BASE}-stage-3`,
      `PublishVersion ${BASE}-stage-3`,
    ])
    expect(done.stages.map((s) => [s.status, s.createdByUs, s.version])).toEqual([
      ['active', true, '1'],
      ['active', true, '1'],
      ['active', true, '1'],
    ])
  })

  it('adopts a function an interrupted run created before deployment.json recorded it (by its tags)', async () => {
    const bundles = bundles3()
    const full = await deployAws(bundles, makePlan(3), opts())
    const lost: DeploymentState = {
      ...full,
      stages: full.stages.map((s, i) =>
        i === 2 ? {stageIndex: 3, functionName: s.functionName, status: 'pending', createdByUs: false, updatedAt: s.updatedAt} : s,
      ),
    }
    fake.resetCalls()
    const done = await deployAws(bundles, makePlan(3), opts({existing: lost}))
    expect(fake.summary((c) => c.command !== 'GetFunction')).toEqual([`PublishVersion ${BASE}-stage-3`])
    expect(done.stages[2]).toMatchObject({status: 'active', createdByUs: true, version: '1', arn: fake.arn(`${BASE}-stage-3`)})
  })

  it('does not claim a same-named function it did not create (no amps tags)', async () => {
    const bundles = [makeBundle(dir, 1)]
    await deployAws(bundles, makePlan(1), opts({statePath: join(dir, 'someone-else.json')}))
    fake.functions.get(`${BASE}-stage-1`)!.tags = {}
    const state = await deployAws(bundles, makePlan(1), opts())
    expect(state.stages[0]).toMatchObject({status: 'active', createdByUs: false})
  })
})

describe('validation before any call', () => {
  it('rejects a bundle over 250 MB unzipped with BUNDLE_TOO_LARGE', async () => {
    const err = await deployAws([{...makeBundle(dir, 1), unzippedBytes: 262_144_001}], makePlan(1), opts()).catch((e) => e)
    expect(err.ampsCode).toBe('BUNDLE_TOO_LARGE')
    expect(fake.calls).toEqual([])
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false)
  })

  it('rejects out-of-range memory and a zip whose size does not match its bundle', async () => {
    const bad = await deployAws([{...makeBundle(dir, 1), memoryMb: 20_000}], makePlan(1), opts()).catch((e) => e)
    expect(bad.ampsCode).toBe('PLAN_INVALID')
    expect(bad.message).toContain('memory 20000 MB is outside 128–10240')
    const stale = await deployAws([{...makeBundle(dir, 1), zipBytes: 1}], makePlan(1), opts()).catch((e) => e)
    expect(stale.ampsCode).toBe('FILE_INVALID')
    expect(fake.calls).toEqual([])
  })

  it('refuses a deployment.json from another region', async () => {
    const first = await deployAws([makeBundle(dir, 1)], makePlan(1), opts())
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts({region: 'eu-west-1', existing: first})).catch((e) => e)
    expect(err.ampsCode).toBe('DEPLOYMENT_INVALID')
  })
})
