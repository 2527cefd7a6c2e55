import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type AwsCall, deployAws, planAwsCalls} from '../../deploy/targets/aws/index.js'
import type {StageBundle} from '../../deploy/state/types.js'
import {ACCOUNT, FakeAws, PLAN_HASH, type LoggedCall, makeBundle, makePlan, writeSparseZip} from './aws-fake.js'

const ROLE = `arn:aws:iam::${ACCOUNT}:role/my-lambda-role`
const BASE = 'amps-tiny-a1b2c3d4'

let dir: string
let fake: FakeAws
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-dry-'))
  fake = new FakeAws()
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})

const opts = (extra: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  roleArn: ROLE,
  statePath: join(dir, 'deployment.json'),
  clients: fake.clients,
  planHash: PLAN_HASH,
  sleep: async () => {},
  ...extra,
})

/** The mocked calls, minus the waiters' polling GetFunctions, rendered like AwsCall. */
function realCalls(calls: LoggedCall[]): {service: string; command: string}[] {
  const out: {service: string; command: string}[] = []
  for (const c of calls) {
    const prev = out.at(-1)
    // a GetFunction right after CreateFunction/Update* is the waiter's poll
    if (c.command === 'GetFunction' && prev && /^(CreateFunction|UpdateFunction)/.test(prev.command)) {
      out.push({service: 'lambda', command: prev.command.startsWith('Create') ? 'waitUntilFunctionActiveV2' : 'waitUntilFunctionUpdatedV2'})
      continue
    }
    out.push({service: c.service, command: c.command})
  }
  return out
}

describe('dry run', () => {
  it('makes no AWS calls, writes nothing, and lists the exact calls of a fresh deploy', async () => {
    const bundles = [1, 2].map((i) => makeBundle(dir, i))
    const lines: string[] = []
    const state = await deployAws(bundles, makePlan(2), {...opts(), dryRun: true, log: (l: string) => lines.push(l)})
    expect(fake.calls).toEqual([])
    expect(fake.lambdaMock.calls()).toEqual([])
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false)
    expect(state.stages.map((s) => s.status)).toEqual(['active', 'active'])

    const {calls} = await planAwsCalls(bundles, makePlan(2), opts())
    expect(calls.map((c) => `${c.service} ${c.command}`)).toEqual([
      'lambda GetFunction',
      'lambda CreateFunction',
      'lambda waitUntilFunctionActiveV2',
      'lambda PublishVersion',
      'lambda GetFunction',
      'lambda CreateFunction',
      'lambda waitUntilFunctionActiveV2',
      'lambda PublishVersion',
    ])
    const create = calls[1]!.input
    expect(create.Code).toEqual({ZipFile: `<${bundles[0]!.zipBytes} bytes, sha256 ${bundles[0]!.codeSha256}>`})
    expect(create.MemorySize).toBe(512)
    expect(create.Role).toBe(ROLE)
    // printed one line per call, with the zip summarised
    expect(lines[1]).toBe(`lambda CreateFunction ${JSON.stringify(create)}`)
    expect(lines.join('\n')).not.toMatch(/"0":/)
  })

  it('matches, call for call, what the real deploy then sends', async () => {
    const big = join(dir, 'big.zip')
    writeSparseZip(big, 60 * 1024 * 1024)
    const bundles: StageBundle[] = [
      makeBundle(dir, 1),
      {...makeBundle(dir, 2), zipPath: big, zipBytes: 60 * 1024 * 1024, codeSha256: Buffer.alloc(32, 7).toString('base64')},
      makeBundle(dir, 3),
    ]
    const plan = makePlan(3, {handoff: 's3'})
    const {calls} = await planAwsCalls(bundles, plan, opts())
    expect(fake.calls).toEqual([])
    await deployAws(bundles, plan, opts())
    expect(calls.map(({service, command}) => ({service, command}))).toEqual(realCalls(fake.calls))
    // and the inputs are the same (bytes and streams summarised)
    const sent = fake.calls.filter((c) => c.command === 'PutObject' || c.command === 'CreateFunction')
    const planned = calls.filter((c) => c.command === 'PutObject' || c.command === 'CreateFunction')
    expect(planned.map((c) => Object.keys(c.input).sort())).toEqual(sent.map((c) => Object.keys(c.input).sort()))
    expect(planned.find((c) => c.command === 'PutObject')!.input).toMatchObject({
      Bucket: `amps-${ACCOUNT}-us-east-1`,
      Body: `<${60 * 1024 * 1024} bytes streamed from ${big}>`,
      ContentLength: 60 * 1024 * 1024,
    })
    expect(planned[2]!.input.Environment).toEqual(sent[2]!.input.Environment)
  })

  it('after a deploy, lists only reads; after a change, the update it would make', async () => {
    const bundles = [1, 2].map((i) => makeBundle(dir, i))
    const state = await deployAws(bundles, makePlan(2), opts())
    const same = await planAwsCalls(bundles, makePlan(2), opts({existing: state}))
    expect(same.calls.map((c) => c.command)).toEqual(['GetFunction', 'GetFunction'])

    const changed = [bundles[0]!, {...bundles[1]!, memoryMb: 2048}]
    const upd = await planAwsCalls(changed, makePlan(2), opts({existing: state}))
    expect(upd.calls.map((c: AwsCall) => c.command)).toEqual([
      'GetFunction',
      'GetFunction',
      'UpdateFunctionConfiguration',
      'waitUntilFunctionUpdatedV2',
      'PublishVersion',
    ])
    expect(upd.calls[2]!.input.MemorySize).toBe(2048)

    // the real re-deploy agrees
    fake.resetCalls()
    await deployAws(changed, makePlan(2), opts({existing: state}))
    expect(upd.calls.map(({service, command}) => ({service, command}))).toEqual(realCalls(fake.calls))
    expect(JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')).stages[1].version).toBe('2')
  })

  it('with --create-role before any deploy, shows the role and policy calls with a placeholder account', async () => {
    const {roleArn: _r, ...o} = opts()
    const {calls} = await planAwsCalls([makeBundle(dir, 1)], makePlan(1), {...o, createRole: true})
    expect(calls.map((c) => `${c.service} ${c.command}`)).toEqual([
      'iam GetRole',
      'iam CreateRole',
      'iam GetRolePolicy',
      'iam PutRolePolicy',
      'lambda GetFunction',
      'lambda CreateFunction',
      'lambda waitUntilFunctionActiveV2',
      'lambda PublishVersion',
    ])
    expect(calls[5]!.input.Role).toBe(`arn:aws:iam::<account-id>:role/${BASE}-exec`)
    expect(fake.calls).toEqual([])
  })

  it('with the role and bucket already ours, a code change lists reads and code updates, call for call what the re-deploy sends', async () => {
    const big = join(dir, 'big.zip')
    writeSparseZip(big, 60 * 1024 * 1024)
    const two = makeBundle(dir, 2)
    const bigBundle = (fill: number): StageBundle => ({
      ...two,
      zipPath: big,
      zipBytes: 60 * 1024 * 1024,
      codeSha256: Buffer.alloc(32, fill).toString('base64'),
    })
    const plan = makePlan(3, {handoff: 's3'})
    const {roleArn: _r, ...o} = opts()
    // zips carry their write time: build each once, so only the stages changed below differ
    const [one, three, threeV2] = [makeBundle(dir, 1), makeBundle(dir, 3), makeBundle(dir, 3, {variant: 'v2'})]
    const state = await deployAws([one, bigBundle(7), three], plan, {...o, createRole: true})

    // stage 2 goes through S3 (bucket exists), stage 3 inline; the role and its policy are only read
    const changed = [one, bigBundle(8), threeV2]
    const upd = await planAwsCalls(changed, plan, {...o, createRole: true, existing: state})
    const commands = upd.calls.map((c) => `${c.service} ${c.command}`)
    expect(commands.filter((c) => c.startsWith('iam') || c.startsWith('s3'))).toEqual(['iam GetRole', 'iam GetRolePolicy', 's3 HeadBucket', 's3 PutObject'])
    const updates = upd.calls.filter((c) => c.command === 'UpdateFunctionCode')
    expect(updates.map((c) => c.input.FunctionName)).toEqual([`${BASE}-stage-2`, `${BASE}-stage-3`])
    expect(updates[0]!.input.S3Bucket).toBe(state.codeBucket!.bucket)
    expect(updates[1]!.input.ZipFile).toBe(`<${changed[2]!.zipBytes} bytes, sha256 ${changed[2]!.codeSha256}>`)
    expect(commands).not.toContain('lambda UpdateFunctionConfiguration')

    fake.resetCalls()
    await deployAws(changed, plan, {...o, createRole: true, existing: state})
    expect(upd.calls.map(({service, command}) => ({service, command}))).toEqual(realCalls(fake.calls))
  })
})
