/**
 * The coordinator against AWS, with only the network boundary mocked (aws-sdk-client-mock): the
 * fake "functions" decode what they receive with the real codec and answer with real wire tensors.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand, type InvokeCommandOutput, LambdaClient} from '@aws-sdk/client-lambda'
import {mockClient} from 'aws-sdk-client-mock'
import {afterEach, describe, expect, it} from 'vitest'

import {checkWireTensor, decodeTensor, encodeInline, type RawTensor, type StageEvent} from '../../src/stage/codec.js'
import {invokeChain, reportFromLogTail} from '../../deploy/client/coordinator.js'
import type {DeploymentState} from '../../deploy/state/types.js'
import {AmpsUserError} from '../../src/errors.js'

const lambda = mockClient(LambdaClient)
afterEach(() => lambda.reset())

const now = new Date().toISOString()
/** stage 1: x → a, b; stage 2: b → c; stage 3: a, c → y (a skips stage 2) */
const deployment: DeploymentState = {
  version: 1,
  target: 'aws',
  region: 'eu-west-1',
  planHash: 'h',
  planPath: '/nonexistent/plan.json',
  modelPath: '/nonexistent/model',
  createdAt: now,
  updatedAt: now,
  stages: [
    {
      stageIndex: 0,
      stageName: 'stage-1',
      functionName: 'f1',
      arn: 'arn:aws:lambda:eu-west-1:1:function:f1',
      version: '3',
      status: 'active',
      createdByUs: true,
      updatedAt: now,
      inputTensors: ['x'],
      outputTensors: ['a', 'b'],
    },
    {
      stageIndex: 1,
      stageName: 'stage-2',
      functionName: 'f2',
      arn: 'arn:aws:lambda:eu-west-1:1:function:f2',
      version: '3',
      status: 'active',
      createdByUs: true,
      updatedAt: now,
      inputTensors: ['b'],
      outputTensors: ['c'],
    },
    {
      stageIndex: 2,
      stageName: 'stage-3',
      functionName: 'f3',
      arn: 'arn:aws:lambda:eu-west-1:1:function:f3',
      version: '3',
      status: 'active',
      createdByUs: true,
      updatedAt: now,
      inputTensors: ['a', 'c'],
      outputTensors: ['y'],
    },
  ],
  modelOutputs: [{id: 'y', shape: [null, 2], dtype: 'float32', bytesPerSample: 8}],
}

const metrics = {initMs: 100, coldStart: false, handlerMs: 5, decodeMs: 1, runMs: 3, encodeMs: 1, backend: 'wasm'}
const f32 = (id: string, values: number[]): RawTensor => ({id, dtype: 'float32', shape: [1, values.length], data: Float32Array.from(values)})

/** Each fake function computes something checkable from what it was sent. */
async function fakeFunction(name: string, event: StageEvent): Promise<RawTensor[]> {
  const byId = new Map<string, RawTensor>()
  for (const [i, t] of event.tensors.entries()) {
    const d = await decodeTensor(checkWireTensor(t, `tensors[${i}]`))
    byId.set(d.id, d)
  }
  const v = (id: string) => [...byId.get(id)!.data]
  if (name.endsWith('f1'))
    return [
      f32(
        'a',
        v('x').map((z) => z + 1),
      ),
      f32(
        'b',
        v('x').map((z) => z * 2),
      ),
    ]
  if (name.endsWith('f2'))
    return [
      f32(
        'c',
        v('b').map((z) => z * 10),
      ),
    ]
  return [
    f32(
      'y',
      v('a').map((z, i) => z + v('c')[i]),
    ),
  ]
}

describe('REPORT line of a log tail', () => {
  it('reads Duration and Billed Duration the way Lambda writes them', () => {
    const tail = [
      'START RequestId: 6f1c Version: $LATEST',
      'some log',
      'END RequestId: 6f1c',
      'REPORT RequestId: 6f1c\tDuration: 212.46 ms\tBilled Duration: 213 ms\tMemory Size: 1769 MB\tMax Memory Used: 301 MB\tInit Duration: 788.10 ms\t',
      '',
    ].join('\n')
    expect(reportFromLogTail(Buffer.from(tail).toString('base64'))).toEqual({durationMs: 212.46, billedDurationMs: 213})
    expect(reportFromLogTail(undefined)).toEqual({})
    expect(reportFromLogTail(Buffer.from('no report here').toString('base64'))).toEqual({})
  })
})

describe('coordinator on AWS (network mocked)', () => {
  it('calls stages in order with their published versions and passes tensors by id', async () => {
    const seen: {name: string; qualifier?: string; ids: string[]}[] = []
    lambda.on(InvokeCommand).callsFake(async (input) => {
      const event = JSON.parse(Buffer.from(input.Payload).toString()) as StageEvent
      seen.push({name: input.FunctionName, qualifier: input.Qualifier, ids: event.tensors.map((t) => t.id)})
      const out = await fakeFunction(input.FunctionName, event)
      return {StatusCode: 200, Payload: Buffer.from(JSON.stringify({stage: {index: 0, name: 's'}, tensors: out.map(encodeInline), metrics}))}
    })
    const r = await invokeChain(deployment, [f32('x', [1, 2])])
    expect(seen).toEqual([
      {name: 'arn:aws:lambda:eu-west-1:1:function:f1', qualifier: '3', ids: ['x']},
      {name: 'arn:aws:lambda:eu-west-1:1:function:f2', qualifier: '3', ids: ['b']},
      {name: 'arn:aws:lambda:eu-west-1:1:function:f3', qualifier: '3', ids: ['a', 'c']},
    ])
    // a = x + 1 = [2, 3]; c = 2x·10 = [20, 40]; y = a + c
    expect(r.outputs.map((t) => [t.id, [...t.data]])).toEqual([['y', [22, 43]]])
    expect(r.stages.map((s) => s.stageName)).toEqual(['stage-1', 'stage-2', 'stage-3'])
    expect(r.stages.every((s) => s.measuredMs >= 0 && s.handlerMs === 5)).toBe(true)
  })

  it('a function error (HTTP 200 + FunctionError) becomes STAGE_FAILED naming the stage', async () => {
    lambda
      .on(InvokeCommand, {FunctionName: 'arn:aws:lambda:eu-west-1:1:function:f1'})
      .callsFake(async (input) => {
        const out = await fakeFunction('f1', JSON.parse(Buffer.from(input.Payload).toString()))
        return {StatusCode: 200, Payload: Buffer.from(JSON.stringify({stage: {index: 0, name: 's'}, tensors: out.map(encodeInline), metrics}))}
      })
      .on(InvokeCommand, {FunctionName: 'arn:aws:lambda:eu-west-1:1:function:f2'})
      .resolves({
        StatusCode: 200,
        FunctionError: 'Unhandled',
        // the SDK wraps payloads in a blob adapter; the coordinator only reads the bytes
        Payload: Buffer.from(
          JSON.stringify({errorType: 'Runtime.OutOfMemory', errorMessage: 'Runtime exited with error: signal: killed'}),
        ) as unknown as InvokeCommandOutput['Payload'],
      })
    const error = await invokeChain(deployment, [f32('x', [1, 2])]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('STAGE_FAILED')
    expect((error as AmpsUserError).message).toBe('stage-2 (f2) failed: Runtime.OutOfMemory: Runtime exited with error: signal: killed')
    expect((error as AmpsUserError).suggestions?.[0]).toMatch(/more memory/)
    expect(lambda.commandCalls(InvokeCommand)).toHaveLength(2)
  })

  it('a missing function is AWS_NOT_FOUND with the fix', async () => {
    const notFound = Object.assign(new Error('Function not found: arn:aws:lambda:eu-west-1:1:function:f1:3'), {
      name: 'ResourceNotFoundException',
      $fault: 'client',
      $metadata: {httpStatusCode: 404},
    })
    lambda.on(InvokeCommand).rejects(notFound)
    const error = await invokeChain(deployment, [f32('x', [1, 2])]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('AWS_NOT_FOUND')
    expect((error as AmpsUserError).message).toMatch(/function f1 not found in eu-west-1; run `amps deploy` first/)
  })

  it('refuses a deployment whose stages are not all deployed', async () => {
    const half = {...deployment, stages: deployment.stages.map((s, i) => (i === 1 ? {...s, status: 'pending' as const} : s))}
    await expect(invokeChain(half, [f32('x', [1])])).rejects.toThrow(/stage-2 \(f2\) is pending; run `amps deploy` again/)
  })
})

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const port = (srv.address() as {port: number}).port
  await new Promise<void>((r) => srv.close(() => r()))
  return port
}

describe('coordinator on the local target, stage process gone', () => {
  const cg = mkdtempSync(join(tmpdir(), 'amps-fake-cgroup-'))
  afterEach(() => rmSync(cg, {recursive: true, force: true}))

  async function localDeployment(): Promise<DeploymentState> {
    const port = await closedPort()
    return {
      ...deployment,
      target: 'local',
      region: 'local',
      stages: [{...deployment.stages[0], arn: `http://127.0.0.1:${port}`, port, pid: 4242, cgroups: [join(cg, 'memory', 'g')], logPath: '/tmp/x.log'}],
      modelOutputs: undefined,
    } as DeploymentState
  }

  it('connection refused → "<stage> (pid …) is not running; run `amps deploy` again"', async () => {
    lambda.restore()
    try {
      const error = await invokeChain(await localDeployment(), [f32('x', [1])]).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AmpsUserError)
      expect((error as AmpsUserError).ampsCode).toBe('LOCAL_RUNTIME_ERROR')
      expect((error as AmpsUserError).message).toBe('stage-1 (pid 4242) is not running; run `amps deploy` again')
    } finally {
      lambda.reset()
    }
  })

  it('a process the kernel OOM-killed (its memory group counts an oom_kill) is named as such', async () => {
    lambda.restore()
    try {
      const mem = join(cg, 'memory', 'g')
      mkdirSync(mem, {recursive: true})
      writeFileSync(join(mem, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 1\n')
      writeFileSync(join(mem, 'memory.limit_in_bytes'), String(512 * 1048576))
      const error = await invokeChain(await localDeployment(), [f32('x', [1])]).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AmpsUserError)
      expect((error as AmpsUserError).ampsCode).toBe('STAGE_FAILED')
      expect((error as AmpsUserError).message).toBe(
        'stage-1 (pid 4242) was killed for running out of memory (512 MB); re-plan it with more memory, then run `amps deploy` again',
      )
    } finally {
      lambda.reset()
    }
  })
})
