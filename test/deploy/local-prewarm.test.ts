/**
 * Deploy's pre-warm on the local target, real processes: examples/tiny-cnn cut in 2 stages, a plan
 * whose rate needs 3 and 2 warm environments (warmEnvironments), deployed with --concurrency 2.
 * After deploy each stage has 2 environments up, deployment.json and the output say so, and the
 * first 2 concurrent requests of each stage meet warm environments: no Init Duration in their
 * REPORT lines, coldStart false through the coordinator.
 */
import {chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand} from '@aws-sdk/client-lambda'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {invokeChain, localLambdaClient} from '../../deploy/client/coordinator.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {readDeployment} from '../../deploy/state/deployment.js'
import type {DeploymentState} from '../../deploy/state/types.js'
import {destroyLocal, stageHealth} from '../../deploy/targets/local/index.js'
import {loadModel} from '../../src/model/index.js'
import {warmEnvironments} from '../../src/plan/prewarm.js'
import {encodeTensors} from '../../src/stage/codec.js'
import {runAmps, type CliResult} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {handPlan} from './hand-plan.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-prewarm-'))
chmodSync(dir, 0o755)
const planPath = join(dir, 'plan.json')
const out = join(dir, 'deployment.json')
const modelDir = join(repoRoot, 'examples', 'tiny-cnn')
let deployed: CliResult
let state: DeploymentState

beforeAll(async () => {
  const model = await loadModel(modelDir)
  const plan = handPlan(model, ['branch_concat'], {memoryMb: 512})
  // at 1 request/s: 0.2 and 0.1 environments busy on average → 3 and 2 for P(overflow) ≤ 0.1 %
  plan.stages[0].predictedMs = 200
  plan.stages[1].predictedMs = 100
  expect(warmEnvironments(plan)).toEqual([3, 2])
  writeFileSync(planPath, JSON.stringify(plan, null, 2))
  deployed = await runAmps(['deploy', planPath, '--model', modelDir, '-o', out, '--concurrency', '2', '--json'], {cwd: dir})
  if (existsSync(out)) state = readDeployment(out)
}, 120_000)

afterAll(async () => {
  if (existsSync(out)) await destroyLocal(readDeployment(out), {statePath: out}).catch(() => {})
  rmSync(dir, {recursive: true, force: true})
})

describe('amps deploy pre-warms each stage (local target)', () => {
  it("starts the plan's warm environments per stage, bounded by --concurrency, and records them", async () => {
    expect(deployed.stderr).not.toMatch(/probably a bug/)
    expect(deployed.code).toBe(0)
    expect(deployed.stderr).toMatch(/stage-1: 2 of 2 environments warm, INIT \d+\/\d+ ms \(plan wants 3; its concurrency limit is 2\)/)
    expect(deployed.stderr).toMatch(/stage-2: 2 of 2 environments warm, INIT \d+\/\d+ ms\n/)
    expect(deployed.json.stages.map((s: {prewarm: unknown}) => s.prewarm)).toMatchObject([
      {requested: 2, warm: 2, failed: 0, limitedByConcurrency: true},
      {requested: 2, warm: 2, failed: 0},
    ])
    const onDisk = JSON.parse(readFileSync(out, 'utf8'))
    for (const s of onDisk.stages) {
      expect(s.prewarm).toMatchObject({requested: 2, warm: 2})
      expect(s.prewarm.initMs).toHaveLength(2)
      for (const ms of s.prewarm.initMs) expect(ms).toBeGreaterThan(0)
    }
    for (const s of state.stages) {
      const envs = (await stageHealth(s, state))?.amps?.environments ?? []
      expect(envs.filter((e: {state: string}) => e.state === 'idle')).toHaveLength(2)
    }
  })

  it('the first 2 concurrent requests of a stage meet warm environments (no Init Duration, coldStart false)', async () => {
    const s = state.stages[0]
    const payload = Buffer.from(JSON.stringify({tensors: await encodeTensors(randomInputs(state.modelInputs!, {seed: 1}))}))
    const client = localLambdaClient(s, state)
    try {
      const both = await Promise.all([1, 2].map(() => client.send(new InvokeCommand({FunctionName: s.functionName, Payload: payload, LogType: 'Tail'}))))
      for (const o of both) {
        expect(o.FunctionError).toBeUndefined()
        const log = Buffer.from(o.LogResult ?? '', 'base64').toString('utf8')
        expect(log).toMatch(/^REPORT RequestId: /)
        expect(log).not.toMatch(/Init Duration/)
        const body = JSON.parse(Buffer.from(o.Payload!).toString('utf8'))
        expect(body.metrics.coldStart).toBe(false)
        expect(body.tensors.length).toBeGreaterThan(0)
      }
    } finally {
      client.destroy()
    }
    const chains = await Promise.all([1, 2].map((k) => invokeChain(state, randomInputs(state.modelInputs!, {seed: k}))))
    for (const c of chains) {
      expect(c.outputs[0].shape).toEqual([1, 10])
      expect(c.stages.map((t) => t.coldStart)).toEqual([false, false])
    }
    // still 2 environments per stage: nobody had to start one
    for (const st of state.stages) expect(((await stageHealth(st, state))?.amps?.environments ?? []).length).toBe(2)
  }, 60_000)
})
