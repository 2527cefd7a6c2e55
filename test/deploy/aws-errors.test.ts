import {InvokeCommand, LambdaClient, ResourceNotFoundException} from '@aws-sdk/client-lambda'
import {mockClient} from 'aws-sdk-client-mock'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {assertInvokeOk, backoffDelayMs, deployAws, destroyAws, invokeOutputError, invokeTargetFor, toAmpsError} from '../../deploy/targets/aws/index.js'
import {AmpsUserError} from '../../src/errors.js'
import {ACCOUNT, FakeAws, PLAN_HASH, awsError, makeBundle, makePlan} from './aws-fake.js'

const ROLE = `arn:aws:iam::${ACCOUNT}:role/my-lambda-role`
let dir: string
let fake: FakeAws
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-err-'))
  fake = new FakeAws()
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})
const opts = () => ({
  region: 'us-east-1',
  roleArn: ROLE,
  statePath: join(dir, 'deployment.json'),
  clients: fake.clients,
  planHash: PLAN_HASH,
  sleep: async () => {},
})

describe('AWS errors become user errors', () => {
  it('AccessDeniedException → AWS_ACCESS_DENIED suggesting AWS_PROFILE and --region', async () => {
    fake.fail('GetFunction', () => awsError('AccessDeniedException', 'User: arn:aws:iam::1:user/x is not authorized to perform: lambda:GetFunction'))
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts()).catch((e) => e)
    expect(err).toBeInstanceOf(AmpsUserError)
    expect(err.ampsCode).toBe('AWS_ACCESS_DENIED')
    expect(err.message).toContain('AWS denied GetFunction amps-tiny-a1b2c3d4-stage-1 in us-east-1')
    expect(err.suggestions.join(' ')).toMatch(/AWS_PROFILE/)
    expect(err.suggestions.join(' ')).toMatch(/--region/)
    expect(err.oclif.exit).toBe(2)
  })

  it('a denied read does not mark an already active stage as failed', async () => {
    const first = await deployAws([makeBundle(dir, 1)], makePlan(1), opts())
    fake.fail('GetFunction', () => awsError('AccessDeniedException', 'denied'))
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), {...opts(), existing: first}).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ACCESS_DENIED')
    const onDisk = JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8'))
    expect(onDisk.stages[0]).toMatchObject({status: 'active', version: '1'})
  })

  it('missing credentials (CredentialsProviderError) → AWS_ACCESS_DENIED', async () => {
    fake.fail('GetFunction', () => Object.assign(new Error('Could not load credentials from any providers'), {name: 'CredentialsProviderError'}))
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts()).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ACCESS_DENIED')
    expect(err.message).toMatch(/^no AWS credentials found/)
  })

  it('ResourceNotFoundException on invoke → AWS_NOT_FOUND "run amps deploy first"', () => {
    const e = toAmpsError(new ResourceNotFoundException({message: 'Function not found', $metadata: {httpStatusCode: 404}}), {
      action: 'Invoke',
      region: 'eu-west-1',
      functionName: 'amps-tiny-a1b2c3d4-stage-2',
      phase: 'invoke',
    }) as AmpsUserError
    expect(e.ampsCode).toBe('AWS_NOT_FOUND')
    expect(e.message).toBe('function amps-tiny-a1b2c3d4-stage-2 not found in eu-west-1; run `amps deploy` first')
  })

  it('other service errors → AWS_ERROR with the service message; non-AWS errors pass through as bugs', () => {
    const e = toAmpsError(awsError('CodeStorageExceededException', 'Code storage limit exceeded.'), {
      action: 'CreateFunction f',
      region: 'us-east-1',
    }) as AmpsUserError
    expect(e.ampsCode).toBe('AWS_ERROR')
    expect(e.message).toBe('CreateFunction f failed: CodeStorageExceededException: Code storage limit exceeded.')
    expect(e.suggestions![0]).toMatch(/code storage/i)
    const bug = new TypeError('x is undefined')
    expect(toAmpsError(bug, {action: 'a', region: 'r'})).toBe(bug)
    const net = toAmpsError(Object.assign(new Error('getaddrinfo ENOTFOUND lambda.xx-east-9.amazonaws.com'), {code: 'ENOTFOUND'}), {
      action: 'GetFunction f',
      region: 'xx-east-9',
    }) as AmpsUserError
    expect(net.ampsCode).toBe('AWS_ERROR')
    expect(net.suggestions![0]).toMatch(/--region \(now xx-east-9\)/)
  })

  it('a function that fails to become Active is reported with its StateReason', async () => {
    const name = 'amps-tiny-a1b2c3d4-stage-1'
    fake.onCall = (c) => {
      const f = fake.functions.get(name)
      if (c.command === 'GetFunction' && f) {
        f.config.State = 'Failed'
        f.config.StateReasonCode = 'InvalidZipFileException'
        f.config.StateReason = 'Could not unzip uploaded file.'
      }
    }
    const err = await deployAws([makeBundle(dir, 1)], makePlan(1), opts()).catch((e) => e)
    expect(err.ampsCode).toBe('AWS_ERROR')
    expect(err.message).toBe(`${name} did not become Active; state Failed (InvalidZipFileException): Could not unzip uploaded file.`)
  })
})

describe('invoke helpers', () => {
  it('maps FunctionError + payload to STAGE_FAILED with the errorMessage', async () => {
    const lambda = new LambdaClient({region: 'us-east-1', credentials: {accessKeyId: 'a', secretAccessKey: 'b'}})
    const mock = mockClient(lambda)
    mock.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: new TextEncoder().encode(
        JSON.stringify({errorType: 'Error', errorMessage: 'input tensor has shape [1,3] but stage expects [1,224,224,3]', trace: []}),
      ) as never,
    })
    const out = await lambda.send(new InvokeCommand({FunctionName: 'f', Qualifier: '3', Payload: new Uint8Array([1])}))
    const err = invokeOutputError(out, {functionName: 'amps-tiny-a1b2c3d4-stage-2', stageIndex: 2})!
    expect(err).toBeInstanceOf(AmpsUserError)
    expect(err.ampsCode).toBe('STAGE_FAILED')
    expect(err.message).toBe('stage 2 (amps-tiny-a1b2c3d4-stage-2) failed: Error: input tensor has shape [1,3] but stage expects [1,224,224,3]')
    expect(err.details).toMatchObject({functionError: 'Unhandled', errorType: 'Error'})
    expect(() => assertInvokeOk(out, {functionName: 'x', stageIndex: 2})).toThrow(AmpsUserError)
    expect(invokeOutputError({StatusCode: 200, Payload: new Uint8Array([123, 125])}, {functionName: 'x', stageIndex: 1})).toBeUndefined()
    mock.restore()
  })

  it('recognises timeouts and out-of-memory, and survives non-JSON payloads', () => {
    const timeout = invokeOutputError(
      {FunctionError: 'Unhandled', Payload: new TextEncoder().encode('{"errorMessage":"2026-11-01T00:00:00.000Z abc Task timed out after 30.03 seconds"}')},
      {functionName: 'f', stageIndex: 1},
    )!
    expect(timeout.suggestions![0]).toMatch(/timeout/)
    const raw = invokeOutputError({FunctionError: 'Unhandled', Payload: new TextEncoder().encode('not json')}, {functionName: 'f', stageIndex: 1})!
    expect(raw.message).toBe('stage 1 (f) failed: not json')
  })

  it('is the one mapping for both targets: the label names the stage, a local log path replaces the CloudWatch hint', () => {
    const payload = new TextEncoder().encode(JSON.stringify({errorType: 'PayloadInvalid', errorMessage: 'tensor "x": shape [1,2]'}))
    const local = invokeOutputError(
      {FunctionError: 'Unhandled', Payload: payload, StatusCode: 200},
      {functionName: 'amps-m-stage-3', stageIndex: 3, label: 'stage-3', logPath: '/tmp/x/stage-3.log'},
    )!
    expect(local.message).toBe('stage-3 (amps-m-stage-3) failed: PayloadInvalid: tensor "x": shape [1,2]')
    expect(local.suggestions![0]).toMatch(/expected inputs/)
    expect(local.suggestions!.at(-1)).toBe('Its log: /tmp/x/stage-3.log')
    expect(local.details).toMatchObject({stageIndex: 3, functionName: 'amps-m-stage-3', functionError: 'Unhandled', errorType: 'PayloadInvalid'})
    const aws = invokeOutputError({FunctionError: 'Handled', Payload: new Uint8Array()}, {functionName: 'f', stageIndex: 1})!
    expect(aws.message).toBe('stage 1 (f) failed: no error message in the payload')
    expect(aws.suggestions).toEqual(["Read the function's log: aws logs tail /aws/lambda/f --since 10m"])
  })

  it('invokeTargetFor points at the published version', () => {
    expect(
      invokeTargetFor({
        stageIndex: 1,
        functionName: 'f',
        arn: 'arn:aws:lambda:us-east-1:1:function:f',
        version: '4',
        status: 'active',
        createdByUs: true,
        updatedAt: '',
      }),
    ).toEqual({
      FunctionName: 'arn:aws:lambda:us-east-1:1:function:f',
      Qualifier: '4',
    })
  })
})

describe('destroy errors', () => {
  it('refuses a local deployment', async () => {
    const err = await destroyAws(
      {version: 1, target: 'local', region: 'local', planHash: 'x', planPath: '', modelPath: '', createdAt: '', updatedAt: '', stages: []},
      {statePath: join(dir, 'd.json'), clients: fake.clients},
    ).catch((e) => e)
    expect(err.ampsCode).toBe('DEPLOYMENT_INVALID')
  })
})

describe('backoff', () => {
  it('grows exponentially up to the cap, jittered within [ceiling/2, ceiling]', () => {
    const policy = {reason: 't', baseMs: 100, capMs: 1000, maxAttempts: 10}
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(policy, a, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000])
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelayMs(policy, a, () => 0))).toEqual([50, 100, 200, 400, 500, 500])
  })
})
