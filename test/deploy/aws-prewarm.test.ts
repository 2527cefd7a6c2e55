/**
 * Deploy's pre-warm against the AWS mocks: after deployAws (the fake Lambda API), prewarmDeployment
 * sends N concurrent warm-up invocations per stage through the coordinator's Lambda client, to the
 * published version deploy recorded, and records what answered. The fake's Invoke emulates
 * Lambda's pool: an invocation that arrives while every environment of the function is busy gets a
 * new environment (a cold start, Init Duration in its REPORT line).
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand, TooManyRequestsException} from '@aws-sdk/client-lambda'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {prewarmDeployment} from '../../deploy/client/prewarm.js'
import {deployAws} from '../../deploy/targets/aws/index.js'
import {isWarmUpEvent, WARMUP_KEY, WARMUP_VALUE} from '../../src/stage/warmup.js'
import {FakeAws, PLAN_HASH, makeBundle, makePlan} from './aws-fake.js'

let dir: string
let fake: FakeAws
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-prewarm-'))
  fake = new FakeAws()
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})

async function deploy3() {
  const bundles = [1, 2, 3].map((i) => makeBundle(join(dir, 'bundles'), i))
  return deployAws(bundles, makePlan(3), {
    region: 'us-east-1',
    roleArn: 'arn:aws:iam::123456789012:role/r',
    statePath: join(dir, 'deployment.json'),
    clients: fake.clients,
    planHash: PLAN_HASH,
    planPath: 'plan.json',
    sleep: async () => {},
    random: () => 0.5,
  })
}

/** Lambda's pool, per function: idle environments serve, else a new one starts (cold). */
function emulatePool(opts: {throttleFunction?: string} = {}) {
  const envs = new Map<string, {id: string; busy: boolean; served: number}[]>()
  const invokes: {FunctionName: string; Qualifier?: string; LogType?: string; event: unknown}[] = []
  let throttled = false
  fake.lambdaMock.on(InvokeCommand).callsFake(async (input) => {
    const event = JSON.parse(Buffer.from(input.Payload as Uint8Array).toString('utf8'))
    invokes.push({FunctionName: input.FunctionName, Qualifier: input.Qualifier, LogType: input.LogType, event})
    if (opts.throttleFunction && input.FunctionName.endsWith(opts.throttleFunction) && !throttled) {
      throttled = true
      throw new TooManyRequestsException({
        message: 'Rate Exceeded.',
        $metadata: {httpStatusCode: 429},
        Type: 'User',
        Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded',
      })
    }
    const pool = envs.get(input.FunctionName) ?? []
    envs.set(input.FunctionName, pool)
    let env = pool.find((e) => !e.busy)
    const cold = !env
    if (!env) pool.push((env = {id: `${input.FunctionName}#${pool.length + 1}`, busy: false, served: 0}))
    env.busy = true
    const initMs = 700 + pool.length
    if (!isWarmUpEvent(event)) throw new Error('the pre-warm sent a user event')
    const body = {warmUp: true, stage: {index: 0, name: 'x'}, envId: env.id, coldStart: env.served === 0, initMs}
    env.served++
    await new Promise((r) => setTimeout(r, Math.min(Number(event.holdMs), 50)))
    env.busy = false
    const report = `REPORT RequestId: r\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 1024 MB\tMax Memory Used: 90 MB\t${cold ? `Init Duration: ${initMs}.00 ms\t` : ''}`
    return {StatusCode: 200, Payload: Buffer.from(JSON.stringify(body)), LogResult: Buffer.from(`${report}\n`).toString('base64')}
  })
  return {envs, invokes}
}

describe('pre-warm on AWS (mocked Lambda API)', () => {
  it('starts N environments per stage with concurrent warm-ups to the published version and records their INIT', async () => {
    const state = await deploy3()
    const {envs, invokes} = emulatePool()
    const lines: string[] = []
    const done = await prewarmDeployment(state, [3, 1, 2], {clientFor: () => fake.clients.lambda, log: (l) => lines.push(l)})

    const byFn = (n: number) => invokes.filter((i) => i.FunctionName.endsWith(`stage-${n}`))
    expect([1, 2, 3].map((n) => byFn(n).length)).toEqual([3, 1, 2])
    for (const [k, st] of state.stages.entries()) {
      for (const i of byFn(k + 1)) {
        // the immutable version deploy published, with the log tail, carrying the warm-up flag and no tensors
        expect(i.Qualifier).toBe(st.version)
        expect(i.Qualifier).toBeDefined()
        expect(i.LogType).toBe('Tail')
        expect(i.event).toMatchObject({[WARMUP_KEY]: WARMUP_VALUE})
        expect(i.event).not.toHaveProperty('tensors')
      }
    }
    // concurrent warm-ups held their environments: one environment each
    expect([1, 2, 3].map((n) => envs.get(state.stages[n - 1].arn ?? state.stages[n - 1].functionName)?.length)).toEqual([3, 1, 2])
    expect(state.stages.map((s) => done.get(s.stageIndex))).toMatchObject([
      {requested: 3, warm: 3, coldStarts: 3, failed: 0},
      {requested: 1, warm: 1, coldStarts: 1, failed: 0},
      {requested: 2, warm: 2, coldStarts: 2, failed: 0},
    ])
    expect(done.get(state.stages[0].stageIndex)!.initMs).toHaveLength(3)
    expect(lines.some((l) => /3 of 3 environments warm, INIT \d+\/\d+\/\d+ ms/.test(l))).toBe(true)
  })

  it('a throttled warm-up is counted as failed with the reason, not fatal', async () => {
    const state = await deploy3()
    emulatePool({throttleFunction: 'stage-2'})
    const lines: string[] = []
    const done = await prewarmDeployment(state, [2, 2, 1], {clientFor: () => fake.clients.lambda, log: (l) => lines.push(l)})
    expect(done.get(state.stages[1].stageIndex)).toMatchObject({requested: 2, warm: 1, failed: 1, error: expect.stringMatching(/Rate Exceeded/)})
    expect(done.get(state.stages[0].stageIndex)).toMatchObject({requested: 2, warm: 2, failed: 0})
    expect(lines.find((l) => l.includes('1 of 2'))).toMatch(/1 warm-up failed: Rate Exceeded/)
  })

  it('the warm-up flag is not something a user event carries by accident', () => {
    expect(isWarmUpEvent({[WARMUP_KEY]: WARMUP_VALUE})).toBe(true)
    expect(isWarmUpEvent({[WARMUP_KEY]: true})).toBe(false)
    expect(isWarmUpEvent({warmUp: true})).toBe(false)
    expect(isWarmUpEvent({[WARMUP_KEY]: WARMUP_VALUE, tensors: []})).toBe(false)
    expect(isWarmUpEvent(`{"${WARMUP_KEY}":"${WARMUP_VALUE}"}`)).toBe(false)
    expect(isWarmUpEvent(null)).toBe(false)
  })
})
