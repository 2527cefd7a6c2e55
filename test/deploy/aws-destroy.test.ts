import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {deployAws, describeDestroy, destroyAws} from '../../deploy/targets/aws/index.js'
import type {DeploymentState} from '../../deploy/state/types.js'
import {ACCOUNT, FakeAws, PLAN_HASH, awsError, makeBundle, makePlan, writeSparseZip} from './aws-fake.js'

const ROLE = `arn:aws:iam::${ACCOUNT}:role/my-lambda-role`
const BASE = 'amps-tiny-a1b2c3d4'

let dir: string
let fake: FakeAws
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-destroy-'))
  fake = new FakeAws()
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})

const statePath = () => join(dir, 'deployment.json')
const base = (extra: Record<string, unknown> = {}) => ({
  region: 'us-east-1',
  statePath: statePath(),
  clients: fake.clients,
  planHash: PLAN_HASH,
  sleep: async () => {},
  ...extra,
})

describe('destroy', () => {
  it('deletes only what this deployment created: not a pre-existing function, not a role it was given', async () => {
    const bundles = [1, 2, 3].map((i) => makeBundle(dir, i))
    // stage 1's function already existed (someone else's, no amps tags)
    await deployAws([bundles[0]!], makePlan(1), base({roleArn: ROLE, statePath: join(dir, 'other.json')}))
    fake.functions.get(`${BASE}-stage-1`)!.tags = {}
    const state = await deployAws(bundles, makePlan(3), base({roleArn: ROLE}))
    expect(state.stages.map((s) => s.createdByUs)).toEqual([false, true, true])
    expect(describeDestroy(state)).toEqual({
      delete: [`function ${BASE}-stage-2`, `function ${BASE}-stage-3`],
      keep: [`function ${BASE}-stage-1`, `role ${ROLE}`],
    })

    fake.resetCalls()
    const lines: string[] = []
    const after = await destroyAws(state, {statePath: statePath(), clients: fake.clients, log: (l) => lines.push(l)})
    expect(fake.summary()).toEqual([`DeleteFunction ${BASE}-stage-2`, `DeleteFunction ${BASE}-stage-3`])
    expect(fake.functions.has(`${BASE}-stage-1`)).toBe(true)
    expect(after.stages.map((s) => s.status)).toEqual(['active', 'deleted', 'deleted'])
    expect(after.roleArn).toBe(ROLE)
    expect(JSON.parse(readFileSync(statePath(), 'utf8'))).toEqual({kind: 'deployment', ...after})
    expect(lines).toContain(`kept ${BASE}-stage-1: this deployment did not create it`)
  })

  it('removes the created role (policy first), the code objects and the bucket it created', async () => {
    const big = join(dir, 'big.zip')
    writeSparseZip(big, 51 * 1024 * 1024)
    const bundles = [makeBundle(dir, 1), {...makeBundle(dir, 2), zipPath: big, zipBytes: 51 * 1024 * 1024}]
    const state = await deployAws(bundles, makePlan(2, {handoff: 's3'}), base({createRole: true}))
    const bucket = `amps-${ACCOUNT}-us-east-1`
    // a hand-off object a function wrote at run time
    fake.buckets.get(bucket)!.set(`handoff/${BASE}/req-1/stage-1.bin`, {})

    fake.resetCalls()
    const after = await destroyAws(state, {statePath: statePath(), clients: fake.clients})
    expect(fake.summary()).toEqual([
      `DeleteFunction ${BASE}-stage-1`,
      `DeleteFunction ${BASE}-stage-2`,
      `ListObjectsV2 ${bucket}`,
      `DeleteObjects ${bucket}`,
      `ListObjectsV2 ${bucket}`,
      `DeleteObjects ${bucket}`,
      `DeleteBucket ${bucket}`,
      `DeleteRolePolicy ${BASE}-exec`,
      `DeleteRole ${BASE}-exec`,
    ])
    expect(fake.inputs('ListObjectsV2').map((i) => i.Prefix)).toEqual([`code/${BASE}/`, `handoff/${BASE}/`])
    expect(fake.functions.size).toBe(0)
    expect(fake.buckets.size).toBe(0)
    expect(fake.roles.size).toBe(0)
    expect(after).toMatchObject({roleArn: undefined, codeBucket: undefined, handoff: undefined})
    expect(after.stages.every((s) => s.status === 'deleted' && s.codeS3Key === undefined)).toBe(true)

    // running it again is a no-op
    fake.resetCalls()
    await destroyAws(after, {statePath: statePath(), clients: fake.clients})
    expect(fake.calls).toEqual([])
  })

  it('keeps a bucket it did not create and a shared bucket that still holds other objects', async () => {
    const bucket = `amps-${ACCOUNT}-us-east-1`
    fake.buckets.set(bucket, new Map([['other/thing', {}]]))
    const state = await deployAws([makeBundle(dir, 1), makeBundle(dir, 2)], makePlan(2, {handoff: 's3'}), base({roleArn: ROLE}))
    expect(state.codeBucket).toEqual({bucket, prefix: `code/${BASE}`, createdByUs: false})
    fake.resetCalls()
    await destroyAws(state, {statePath: statePath(), clients: fake.clients})
    expect(fake.summary((c) => c.service === 's3')).toEqual([`ListObjectsV2 ${bucket}`, `ListObjectsV2 ${bucket}`])
    expect(fake.buckets.get(bucket)!.has('other/thing')).toBe(true)

    // created by us, but another deployment's objects are in it now
    const ours: DeploymentState = {...state, codeBucket: {...state.codeBucket!, createdByUs: true}}
    const lines: string[] = []
    await destroyAws(ours, {statePath: statePath(), clients: fake.clients, log: (l) => lines.push(l)})
    expect(fake.buckets.has(bucket)).toBe(true)
    expect(lines).toContain(`kept bucket ${bucket}: it still holds other deployments' objects`)
  })

  it('resumes an interrupted destroy: functions already gone are skipped, state is written after each deletion', async () => {
    const state = await deployAws(
      [1, 2, 3].map((i) => makeBundle(dir, i)),
      makePlan(3),
      base({roleArn: ROLE}),
    )
    fake.fail(
      'DeleteFunction',
      () => awsError('AccessDeniedException', 'not allowed'),
      1,
      (i) => i.FunctionName.endsWith('stage-2'),
    )
    const err = await destroyAws(state, {statePath: statePath(), clients: fake.clients}).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ACCESS_DENIED')
    const half = JSON.parse(readFileSync(statePath(), 'utf8')) as DeploymentState
    expect(half.stages.map((s) => s.status)).toEqual(['deleted', 'active', 'active'])
    // someone removed stage 3 by hand meanwhile
    fake.functions.delete(`${BASE}-stage-3`)
    fake.resetCalls()
    const after = await destroyAws(half, {statePath: statePath(), clients: fake.clients})
    expect(fake.summary()).toEqual([`DeleteFunction ${BASE}-stage-2`, `DeleteFunction ${BASE}-stage-3`])
    expect(after.stages.map((s) => s.status)).toEqual(['deleted', 'deleted', 'deleted'])
  })

  it('also deletes functions of an earlier plan that a re-deploy retired', async () => {
    const first = await deployAws([makeBundle(dir, 1), makeBundle(dir, 2)], makePlan(2), base({roleArn: ROLE}))
    const renamed = [makeBundle(dir, 1, {functionName: 'amps-tiny-99999999-stage-1'})]
    const second = await deployAws(renamed, makePlan(1), base({roleArn: ROLE, existing: first}))
    expect(second.stages.map((s) => s.functionName)).toEqual(['amps-tiny-99999999-stage-1'])
    expect(second.retired!.map((s) => s.functionName)).toEqual([`${BASE}-stage-1`, `${BASE}-stage-2`])
    fake.resetCalls()
    await destroyAws(second, {statePath: statePath(), clients: fake.clients})
    expect(fake.summary()).toEqual(['DeleteFunction amps-tiny-99999999-stage-1', `DeleteFunction ${BASE}-stage-1`, `DeleteFunction ${BASE}-stage-2`])
    expect(fake.functions.size).toBe(0)
  })
})
