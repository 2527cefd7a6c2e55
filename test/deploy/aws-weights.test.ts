/**
 * A stage whose weights are fetched at INIT (plan weightsFrom 's3') on the AWS target, against the
 * AWS mocks: the blob is uploaded under the deployment's code prefix before the function that reads
 * it is created, the function's environment names it, the role may read exactly that object, a
 * re-deploy does not upload it again, the dry run lists the upload, destroy deletes it. And the
 * runtime side with a mocked S3 GetObject: the bytes are checked, and a missing object, a denied
 * read or changed bytes fail INIT with one line naming the stage and the object.
 */
import {GetObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {mockClient} from 'aws-sdk-client-mock'
import {createHash} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import type {StageBundle} from '../../deploy/state/types.js'
import {deployAws, describeDestroy, destroyAws, planAwsCalls} from '../../deploy/targets/aws/index.js'
import type {StageSpec} from '../../src/stage/spec.js'
import {fetchStageWeights, StageInitError, WEIGHTS_URL_ENV} from '../../src/stage/weights.js'
import {ACCOUNT, FakeAws, PLAN_HASH, awsError, makeBundle, makePlan} from './aws-fake.js'

const BASE = 'amps-tiny-a1b2c3d4'
const BUCKET = `amps-${ACCOUNT}-us-east-1`

let dir: string
let fake: FakeAws

const blob = new Uint8Array(300_000).map((_, i) => (i * 31 + 7) % 256)
const sha = createHash('sha256').update(blob).digest('hex')

/** Three stages; stage 2's weights are a blob beside its bundle, as deploy/bundle writes it. */
function bundles(): StageBundle[] {
  const path = join(dir, 'stage-2.weights.bin')
  writeFileSync(path, blob)
  const key = `weights/${BASE}-stage-2-${sha.slice(0, 16)}.bin`
  return [1, 2, 3].map((i) => makeBundle(dir, i, i === 2 ? {weights: {path, key, sha256: sha, bytes: blob.length}} : {}))
}

const opts = (extra: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  statePath: join(dir, 'deployment.json'),
  clients: fake.clients,
  planHash: PLAN_HASH,
  planPath: 'plan.json',
  sleep: async () => {},
  random: () => 0.5,
  createRole: true,
  ...extra,
})

const KEY = `code/${BASE}/weights/${BASE}-stage-2-${sha.slice(0, 16)}.bin`
const URL = `s3://${BUCKET}/${KEY}`

describe('AWS: a stage whose weights come from S3', () => {
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'amps-aws-weights-'))
    fake = new FakeAws()
  })
  afterEach(() => {
    fake.restore()
    rmSync(dir, {recursive: true, force: true})
  })

  it('uploads the blob before creating its function, names it in the environment and lets the role read exactly it', async () => {
    const lines: string[] = []
    const state = await deployAws(bundles(), makePlan(3), opts({log: (l: string) => lines.push(l)}))
    const puts = fake.inputs('PutObject')
    expect(puts).toHaveLength(1)
    expect(puts[0]).toMatchObject({
      Bucket: BUCKET,
      Key: KEY,
      ContentLength: blob.length,
      ChecksumSHA256: Buffer.from(sha, 'hex').toString('base64'),
      ExpectedBucketOwner: ACCOUNT,
    })
    expect(fake.buckets.get(BUCKET)?.get(KEY)?.size).toBe(blob.length)
    // the object is in place before the function that fetches it exists
    const order = fake.summary()
    expect(order.indexOf(`PutObject ${BUCKET}/${KEY}`)).toBeLessThan(order.indexOf(`CreateFunction ${BASE}-stage-2`))
    const env = fake.inputs('CreateFunction').map((c) => c.Environment.Variables)
    expect(env[1][WEIGHTS_URL_ENV]).toBe(URL)
    expect(env[0][WEIGHTS_URL_ENV]).toBeUndefined()
    expect(env[2][WEIGHTS_URL_ENV]).toBeUndefined()
    const policy = JSON.parse(fake.inputs('PutRolePolicy')[0].PolicyDocument)
    expect(policy.Statement.find((s: {Sid: string}) => s.Sid === 'ReadStageWeights')).toEqual({
      Sid: 'ReadStageWeights',
      Effect: 'Allow',
      Action: ['s3:GetObject'],
      Resource: [`arn:aws:s3:::${BUCKET}/${KEY}`],
    })
    // nothing else in the bucket is readable by the functions (no hand-off through S3 in this plan)
    expect(policy.Statement.map((s: {Sid: string}) => s.Sid)).toEqual(['WriteOwnLogs', 'ReadStageWeights'])
    expect(state.stages[1]!.weights).toEqual({url: URL, sha256: sha, bytes: blob.length})
    expect(state.stages[0]!.weights).toBeUndefined()
    expect(lines.some((l) => l.includes(`weights (${blob.length} bytes, fetched at INIT) to ${URL}`))).toBe(true)

    // the same deploy again: nothing uploaded, nothing changed
    fake.resetCalls()
    await deployAws(bundles(), makePlan(3), opts({existing: state}))
    expect(fake.inputs('PutObject')).toEqual([])
    expect(fake.summary((c) => /Update|Create|PutRolePolicy/.test(c.command))).toEqual([])

    // the object deleted out of band (by hand, a bucket rule): the next deploy puts it back
    fake.buckets.get(BUCKET)!.delete(KEY)
    fake.resetCalls()
    await deployAws(bundles(), makePlan(3), opts({existing: state}))
    expect(fake.inputs('PutObject').map((p) => p.Key)).toEqual([KEY])
    expect(fake.buckets.get(BUCKET)!.get(KEY)?.size).toBe(blob.length)
  })

  it('a missing weights blob stops the deploy before any AWS call', async () => {
    const b = bundles()
    rmSync(b[1]!.weights!.path)
    const e = await deployAws(b, makePlan(3), opts()).catch((x: unknown) => x)
    expect((e as {ampsCode?: string}).ampsCode).toBe('FILE_NOT_FOUND')
    expect((e as Error).message).toBe(`${BASE}-stage-2: its weights blob ${b[1]!.weights!.path} is missing`)
    expect(fake.calls).toEqual([])
  })

  it('a role given with --role-arn gets a note naming the object it must be able to read', async () => {
    const lines: string[] = []
    await deployAws(bundles(), makePlan(3), opts({createRole: false, roleArn: `arn:aws:iam::${ACCOUNT}:role/mine`, log: (l: string) => lines.push(l)}))
    expect(lines).toContain(
      `note: role arn:aws:iam::${ACCOUNT}:role/mine must allow s3:GetObject on arn:aws:s3:::${BUCKET}/${KEY} (stage weights fetched at INIT)`,
    )
    expect(fake.inputs('PutRolePolicy')).toEqual([])
  })

  it('the dry run lists the upload and the environment', async () => {
    const {calls} = await planAwsCalls(bundles(), makePlan(3), opts({createRole: false, roleArn: `arn:aws:iam::${ACCOUNT}:role/mine`}))
    const put = calls.find((c) => c.command === 'PutObject')
    expect(put?.input).toMatchObject({Bucket: BUCKET, Key: KEY, ContentLength: blob.length})
    const create = calls.filter((c) => c.command === 'CreateFunction')[1]
    expect((create?.input.Environment as {Variables: Record<string, string>}).Variables[WEIGHTS_URL_ENV]).toBe(URL)
  })

  it('the dry run of a deployment that holds its weights checks the object and uploads nothing', async () => {
    const state = await deployAws(bundles(), makePlan(3), opts())
    const {calls} = await planAwsCalls(bundles(), makePlan(3), opts({existing: state}))
    expect(calls.filter((c) => c.command === 'HeadObject').map((c) => c.input)).toEqual([{Bucket: BUCKET, Key: KEY, ExpectedBucketOwner: ACCOUNT}])
    expect(calls.filter((c) => c.command === 'PutObject')).toEqual([])
  })

  it('destroy deletes the weights object and says so', async () => {
    const state = await deployAws(bundles(), makePlan(3), opts())
    expect(describeDestroy(state).delete).toContain(`${BASE}-stage-2's weights ${URL}`)
    const lines: string[] = []
    fake.resetCalls()
    const after = await destroyAws(state, {statePath: join(dir, 'deployment.json'), clients: fake.clients, sleep: async () => {}, log: (l) => lines.push(l)})
    expect(fake.inputs('DeleteObject')).toEqual([{Bucket: BUCKET, Key: KEY}])
    expect(fake.buckets.get(BUCKET)?.has(KEY) ?? false).toBe(false)
    expect(lines).toContain(`deleted ${BASE}-stage-2's weights ${URL}`)
    expect(after.stages.every((s) => s.weights === undefined)).toBe(true)
  })
})

describe('runtime: fetching the weights from S3 at INIT (mocked GetObject)', () => {
  // every S3Client the runtime makes (src/stage/store.ts S3Store) answers from the mock
  let s3: ReturnType<typeof mockClient>
  // what Lambda sets in every function's environment (the runtime's S3 client reads it)
  const saved = {region: process.env.AWS_REGION}
  beforeAll(() => {
    s3 = mockClient(S3Client)
    process.env.AWS_REGION = 'us-east-1'
  })
  afterEach(() => s3.reset())
  afterAll(() => {
    s3.restore()
    if (saved.region === undefined) delete process.env.AWS_REGION
    else process.env.AWS_REGION = saved.region
  })
  const spec = {name: 'stage-2', weights: {key: 'weights/x.bin', sha256: sha, bytes: blob.length, location: 'weights.bin'}} as StageSpec
  const env = {[WEIGHTS_URL_ENV]: URL}
  // the SDK's streaming body, as far as the runtime reads it
  const body = (bytes: Uint8Array) => ({Body: {transformToByteArray: async () => new Uint8Array(bytes)}})

  it('reads the object at the URL and checks it', async () => {
    s3.on(GetObjectCommand, {Bucket: BUCKET, Key: KEY}).resolves(body(blob) as never)
    expect(Buffer.from(await fetchStageWeights(spec, env)).equals(Buffer.from(blob))).toBe(true)
  })

  it('streams the object into one buffer of its ContentLength (not chunks + a concatenated copy)', async () => {
    const chunked = (bytes: Uint8Array, length: number) => ({
      ContentLength: length,
      Body: {
        async *[Symbol.asyncIterator]() {
          for (let at = 0; at < bytes.length; at += 65_536) yield bytes.subarray(at, at + 65_536)
        },
        transformToByteArray: async () => {
          throw new Error('the whole body was buffered twice')
        },
      },
    })
    s3.on(GetObjectCommand).resolves(chunked(blob, blob.length) as never)
    expect(Buffer.from(await fetchStageWeights(spec, env)).equals(Buffer.from(blob))).toBe(true)
    s3.reset()
    s3.on(GetObjectCommand).resolves(chunked(blob.subarray(0, 100_000), blob.length) as never)
    await expect(fetchStageWeights(spec, env)).rejects.toThrow(`stage-2: cannot fetch weights ${URL}: reference ${URL} ended after 100000 of its 300000 bytes`)
  })

  it('a missing object, a denied read and changed bytes each fail with one line naming the stage and the object', async () => {
    const fails = async (): Promise<string> => {
      const e = await fetchStageWeights(spec, env).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(StageInitError)
      const m = (e as Error).message
      expect(m).not.toContain('\n')
      expect(m.startsWith(`stage-2: `)).toBe(true)
      expect(m).toContain(URL)
      return m
    }
    s3.on(GetObjectCommand).rejects(awsError('NoSuchKey', 'The specified key does not exist.', {$metadata: {httpStatusCode: 404}}))
    expect(await fails()).toMatch(/missing object \(NoSuchKey; deploy again to put it back\)/)
    s3.reset()
    s3.on(GetObjectCommand).rejects(awsError('AccessDenied', 'Access Denied', {$metadata: {httpStatusCode: 403}}))
    expect(await fails()).toMatch(/access denied \(AccessDenied\): the function's role needs s3:GetObject/)
    s3.reset()
    const changed = blob.slice()
    changed[1000] ^= 0xff
    s3.on(GetObjectCommand).resolves(body(changed) as never)
    expect(await fails()).toMatch(/have sha256 [0-9a-f]{16}…, stage.json expects [0-9a-f]{16}…/)
    s3.reset()
    s3.on(GetObjectCommand).resolves(body(blob.subarray(0, 1000)) as never)
    expect(await fails()).toMatch(/are 1000 bytes, stage.json expects 300000/)
  })
})
