/**
 * The real thing, end to end: nsfwjs MobileNetV2 cut into 3 stages between residual blocks,
 * bundled, deployed on the local target (a node process per stage behind the Lambda Invoke API),
 * invoked through the CLI and through the coordinator, broken on purpose, repaired, destroyed.
 * The tests in this file run in order and share one deployment.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand, LambdaClient} from '@aws-sdk/client-lambda'
import {PNG} from 'pngjs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createChainInvoker, invokeChain, localLambdaClient} from '../../deploy/client/coordinator.js'
import {readDeployment, writeDeployment} from '../../deploy/state/deployment.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {cpuQuotaFor} from '../../deploy/targets/local/cgroup.js'
import {destroyLocal, isStageProcess, pidAlive, stageHealth} from '../../deploy/targets/local/index.js'
import type {DeploymentState, StageDeployment} from '../../deploy/state/types.js'
import {AmpsUserError} from '../../src/errors.js'
import {extractStage, loadModel} from '../../src/model/index.js'
import type {Plan} from '../../src/plan/types.js'
import {runAmps, type CliResult} from '../helpers/cli.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'
import {writeHandPlan} from './hand-plan.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-local-'))
const planPath = join(dir, 'plan.json')
const out = join(dir, 'deployment.json')
let modelDir: string
let plan: Plan
let deployed: CliResult
const strays: ChildProcess[] = []

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function gone(pid: number, withinMs = 8000): Promise<boolean> {
  const end = Date.now() + withinMs
  while (Date.now() < end) {
    if (!pidAlive(pid)) return true // no /proc entry, or a zombie waiting for its reaper
    await sleep(50)
  }
  return !pidAlive(pid)
}

/** The SDK client for a stage, with the deployment's token (the local Invoke API requires it). */
function localClient(stage: StageDeployment): LambdaClient {
  return localLambdaClient(stage, readDeployment(out))
}

let planTextBefore = ''

beforeAll(async () => {
  modelDir = nsfwjsModelDir('mobilenet_v2')
  plan = await writeHandPlan(modelDir, planPath)
  planTextBefore = readFileSync(planPath, 'utf8')
  deployed = await runAmps(['deploy', planPath, '-o', out, '--json'], {cwd: dir})
}, 240_000)

afterAll(async () => {
  for (const p of strays) p.kill('SIGKILL')
  if (existsSync(out)) await destroyLocal(readDeployment(out), {statePath: out}).catch(() => {})
  rmSync(dir, {recursive: true, force: true})
})

describe('local target with MobileNetV2 in 3 stages', () => {
  it('deploys every stage as its own limited process and measures the bundles', async () => {
    expect(deployed.stderr).not.toMatch(/probably a bug/)
    expect(deployed.code).toBe(0)
    const report = deployed.json
    expect(report.stages).toHaveLength(3)
    // the plan given is never rewritten: measured sizes go to deployment.json
    expect(readFileSync(planPath, 'utf8')).toBe(planTextBefore)
    const measured = readDeployment(out)
    const model = await loadModel(modelDir)
    let weightsTotal = 0
    for (const [i, s] of report.stages.entries()) {
      const bundleDir = join(dir, '.amps', 'bundles', s.functionName)
      const files = readdirSync(bundleDir).sort()
      expect(files).toEqual(['index.mjs', 'model.json', 'stage.json', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm', 'weights.bin'])
      expect(s.unzippedBytes).toBe(files.reduce((a: number, f: string) => a + statSync(join(bundleDir, f)).size, 0))
      expect(s.zipBytes).toBe(statSync(`${bundleDir}.zip`).size)
      expect(s.zipBytes).toBeLessThan(s.unzippedBytes)
      expect(s.unzippedBytes).toBeLessThan(report.limits.unzippedMaxBytes)
      expect(measured.stages.find((m) => m.functionName === s.functionName)?.unzippedBytes).toBe(s.unzippedBytes)
      // only this stage's weights travel with it
      const st = plan.stages[i]
      const artifacts = extractStage(model, st.layers.firstIndex, st.layers.lastIndex)
      expect(statSync(join(bundleDir, 'weights.bin')).size).toBe(artifacts.storedWeightBytes)
      weightsTotal += statSync(join(bundleDir, 'weights.bin')).size
    }
    expect(weightsTotal).toBe(
      readdirSync(modelDir)
        .filter((f) => f.endsWith('.bin'))
        .reduce((a, f) => a + statSync(join(modelDir, f)).size, 0),
    )

    const state = readDeployment(out)
    expect(state.target).toBe('local')
    expect(new Set(state.stages.map((s) => s.port)).size).toBe(3)
    for (const s of state.stages) {
      expect(s.status).toBe('active')
      expect(isStageProcess(s.pid, s.functionName, s.logPath)).toBe(true)
      expect(s.initMs).toBeGreaterThan(0)
      // the front started one environment at deploy and the pre-warm as many as it warmed (each has
      // its own limited groups inside the stage's)
      const envs = (await stageHealth(s, state))!.amps!.environments!
      expect(s.prewarm?.warm).toBeGreaterThanOrEqual(1)
      expect(envs).toHaveLength(Math.max(1, s.prewarm!.warm))
      if (s.limits?.memory === 'cgroup') {
        const mem = envs[0].cgroups.find((c) => c.includes('/memory/'))!
        expect(mem.startsWith(s.cgroups!.find((c) => c.includes('/memory/'))! + '/')).toBe(true)
        expect(Number(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8'))).toBe(1024 * 1024 * 1024)
        expect(readFileSync(join(mem, 'cgroup.procs'), 'utf8').split('\n')).toContain(String(envs[0].pid))
      }
      if (s.limits?.cpu === 'cgroup') {
        const cpu = envs[0].cgroups.find((c) => c.includes('/cpu/'))!
        const q = cpuQuotaFor(1024)
        expect(Number(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8'))).toBe(q.quotaUs)
        expect(Number(readFileSync(join(cpu, 'cpu.cfs_period_us'), 'utf8'))).toBe(q.periodUs)
      }
    }
  })

  it("invoke --compare: the chain gives the whole model's output (max abs diff ≤ 1e-5 × max |output|)", async () => {
    const r = await runAmps(['invoke', out, '--input', 'random', '--compare', '--repeat', '2', '--json'], {cwd: dir})
    expect(r.stderr).not.toMatch(/probably a bug/)
    expect(r.code).toBe(0)
    const j = r.json
    expect(j.maxAbsOutput).toBeGreaterThan(0)
    expect(j.maxAbsDiff).toBeLessThanOrEqual(1e-5 * j.maxAbsOutput)
    expect(j.outputs[0].shape).toEqual([1, 5])
    expect(j.outputs[0].top5[0]).toHaveLength(5)
    expect(j.stages.map((s: {name: string}) => s.name)).toEqual(['stage-1', 'stage-2', 'stage-3'])
    for (const [i, s] of j.stages.entries()) {
      expect(s.measuredMs).toBeGreaterThan(0)
      expect(s.handlerMs).toBeGreaterThan(0)
      expect(s.measuredMs).toBeGreaterThanOrEqual(s.handlerMs)
      // the platform's Duration (REPORT line, as Lambda bills it) wraps the handler and sits inside the round trip
      expect(s.durationMs).toBeGreaterThanOrEqual(s.handlerMs)
      expect(s.durationMs).toBeLessThanOrEqual(s.measuredMs)
      expect(s.predictedMs).toBe(plan.stages[i].predictedMs)
    }
    // and every stage logged Lambda's REPORT line for each request
    const state = JSON.parse(readFileSync(out, 'utf8')) as {stages: {logPath: string}[]}
    for (const st of state.stages) {
      const reports = readFileSync(st.logPath, 'utf8')
        .split('\n')
        .filter((l) => /^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 1024 MB\tMax Memory Used: \d+ MB/.test(l))
      expect(reports.length).toBeGreaterThanOrEqual(2)
    }
  })

  it('invoke with a PNG: decoded and resized to the 224×224 input', async () => {
    const png = new PNG({width: 61, height: 47})
    for (let y = 0; y < 47; y++) {
      for (let x = 0; x < 61; x++) png.data.set([(x * 4) % 256, (y * 5) % 256, ((x + y) * 3) % 256, 255], (y * 61 + x) * 4)
    }
    writeFileSync(join(dir, 'img.png'), PNG.sync.write(png))
    const r = await runAmps(['invoke', out, '--input', join(dir, 'img.png'), '--json'], {cwd: dir})
    expect(r.code).toBe(0)
    expect(r.json.input.tensors[0].shape).toEqual([1, 224, 224, 3])
    const top = r.json.outputs[0].top5[0]
    expect(top.map((t: {index: number}) => t.index).sort()).toEqual([0, 1, 2, 3, 4])
    expect(top.reduce((a: number, t: {score: number}) => a + t.score, 0)).toBeCloseTo(1, 4) // softmax over 5 classes
  })

  it('the real handler rejects malformed payloads with a clear error', async () => {
    const state = readDeployment(out)
    const stage2 = state.stages[1]
    expect(stage2.inputTensors).toEqual(['block_5_add'])
    const client = localClient(stage2)
    const call = async (event: unknown) => {
      const res = await client.send(new InvokeCommand({FunctionName: stage2.functionName, Payload: Buffer.from(JSON.stringify(event))}))
      return {functionError: res.FunctionError, body: JSON.parse(Buffer.from(res.Payload!).toString())}
    }
    const bytes = (n: number) => Buffer.alloc(n).toString('base64')
    try {
      const ok = await call({tensors: [{id: 'block_5_add', dtype: 'float32', shape: [1, 28, 28, 32], b64: bytes(28 * 28 * 32 * 4)}]})
      expect(ok.functionError).toBeUndefined()
      expect(ok.body.tensors.map((t: {id: string; shape: number[]}) => [t.id, t.shape])).toEqual([['block_12_add', [1, 14, 14, 96]]])

      const cases: [string, unknown, RegExp][] = [
        [
          'wrong dtype',
          {tensors: [{id: 'block_5_add', dtype: 'int32', shape: [1, 28, 28, 32], b64: bytes(28 * 28 * 32 * 4)}]},
          /dtype int32, expected float32/,
        ],
        [
          'wrong shape',
          {tensors: [{id: 'block_5_add', dtype: 'float32', shape: [1, 28, 28, 16], b64: bytes(28 * 28 * 16 * 4)}]},
          /shape \[1,28,28,16\], expected \[batch, 28, 28, 32\]/,
        ],
        [
          'wrong byte length',
          {tensors: [{id: 'block_5_add', dtype: 'float32', shape: [1, 28, 28, 32], b64: bytes(1000)}]},
          /1000 bytes of data but float32 shape \[1,28,28,32\] needs 100352 bytes/,
        ],
        ['missing tensor', {tensors: []}, /expects tensor "block_5_add"; missing "block_5_add"/],
        [
          'unknown tensor',
          {
            tensors: [
              {id: 'block_5_add', dtype: 'float32', shape: [1, 28, 28, 32], b64: bytes(100352)},
              {id: 'input_1', dtype: 'float32', shape: [1], b64: bytes(4)},
            ],
          },
          /does not take "input_1"/,
        ],
        ['number arrays', {tensors: [{id: 'block_5_add', dtype: 'float32', shape: [1, 2], data: [1, 2]}]}, /not JSON arrays/],
        ['no tensors at all', {hello: 'world'}, /event\.tensors must be an array/],
      ]
      for (const [name, event, message] of cases) {
        const r = await call(event)
        expect(r.functionError, name).toBe('Unhandled')
        expect(r.body.errorType, name).toBe('PayloadInvalid')
        expect(r.body.errorMessage, name).toMatch(message)
      }
      // a body that is not JSON is refused by the API itself, as Lambda does
      await expect(client.send(new InvokeCommand({FunctionName: stage2.functionName, Payload: Buffer.from('{nope')}))).rejects.toMatchObject({
        name: 'InvalidRequestContentException',
      })
      // the stage is still healthy afterwards
      expect(isStageProcess(stage2.pid, stage2.functionName, stage2.logPath)).toBe(true)
    } finally {
      client.destroy()
    }

    // through the coordinator, a function error becomes STAGE_FAILED naming the stage
    const wrong = randomInputs([{id: 'input_1', shape: [null, 112, 112, 3], dtype: 'float32', bytesPerSample: 0}])
    const error = await invokeChain(state, wrong).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('STAGE_FAILED')
    expect((error as AmpsUserError).message).toMatch(
      /^stage-1 \(amps-.*-stage-1\) failed: PayloadInvalid: tensor "input_1": shape \[1,112,112,3\], expected \[batch, 224, 224, 3\]/,
    )
  })

  it('hand-offs over the payload limit travel by reference and give the same result', async () => {
    const state = readDeployment(out)
    const inputs = randomInputs(state.modelInputs!, {seed: 7})
    const inline = await invokeChain(state, inputs)
    expect(inline.stages.map((s) => s.refsIn)).toEqual([0, 0, 0])
    const byRef = await invokeChain(state, inputs, {maxPayloadBytes: 120_000})
    // 602 KB input and the 100 KB block_5_add (134 KB as base64) exceed 120 KB; block_12_add (75 KB) does not
    expect(byRef.stages.map((s) => s.refsIn)).toEqual([1, 1, 0])
    expect(byRef.stages.every((s) => s.requestBytes < 120_000)).toBe(true)
    expect(Buffer.from(byRef.outputs[0].data.buffer).equals(Buffer.from(inline.outputs[0].data.buffer))).toBe(true)
    const handoff = (state.handoff as {path: string}).path
    const leftovers = readdirSync(handoff, {recursive: true}).filter((f) => String(f).endsWith('.bin'))
    expect(leftovers).toEqual([])
  })

  it('a stage killed mid-request gives a clear error, and deploy repairs it', async () => {
    const state = readDeployment(out)
    const victim = state.stages[1]
    const invoker = createChainInvoker(state, {
      clientFor: (s) => {
        const c = localClient(s)
        if (s.stageIndex === victim.stageIndex) {
          const send = c.send.bind(c) as (cmd: InvokeCommand) => Promise<unknown>
          ;(c as unknown as {send: unknown}).send = (cmd: InvokeCommand) => {
            setTimeout(() => process.kill(victim.pid!, 'SIGKILL'), 10) // while stage 2 computes
            return send(cmd)
          }
        }
        return c
      },
    })
    let error: unknown
    try {
      await invoker.invoke(randomInputs(state.modelInputs!))
    } catch (e) {
      error = e
    } finally {
      invoker.close()
    }
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).message).toBe(`stage-2 (pid ${victim.pid}) is not running; run \`amps deploy\` again`)
    expect(await gone(victim.pid!)).toBe(true)

    // the CLI says the same (connection refused now)
    const failed = await runAmps(['invoke', out], {cwd: dir})
    expect(failed.code).toBe(2)
    expect(failed.stderr).toMatch(/stage-2 \(pid \d+\) is not running; run `amps deploy` again/)
    expect(failed.stderr).not.toMatch(/probably a bug|\n\s+at /)

    const repaired = await runAmps(['deploy', planPath, '--out', out, '--json'], {cwd: dir})
    expect(repaired.code).toBe(0)
    expect(repaired.json.stages.map((s: {action: string}) => s.action)).toEqual(['kept', 'restarted', 'kept'])
    const after = readDeployment(out)
    expect(after.stages[0].pid).toBe(state.stages[0].pid)
    expect(after.stages[2].pid).toBe(state.stages[2].pid)
    expect(after.stages[1].pid).not.toBe(victim.pid)

    const ok = await runAmps(['invoke', out, '--json'], {cwd: dir})
    expect(ok.code).toBe(0)
    expect(ok.json.outputs[0].shape).toEqual([1, 5])
  })

  it('destroy refuses to run unattended without --force, then stops every process with it', async () => {
    const state = readDeployment(out)
    const refused = await runAmps(['destroy', out], {cwd: dir})
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(/needs --force/)
    expect(refused.stderr).toMatch(/^Hint: /m)
    expect(refused.stdout).toMatch(/stop process amps-.*-stage-1 \(pid \d+, environments \d+(, \d+)*\)/)
    const refusedJson = await runAmps(['destroy', out, '--json'], {cwd: dir})
    expect(refusedJson.code).toBe(2)
    expect(refusedJson.json.error.code).toBe('FLAG_INVALID')
    for (const s of state.stages) expect(isStageProcess(s.pid, s.functionName, s.logPath)).toBe(true)

    const r = await runAmps(['destroy', out, '--force', '--json'], {cwd: dir})
    expect(r.code).toBe(0)
    expect(r.json.stages.map((s: {wasRunning: boolean}) => s.wasRunning)).toEqual([true, true, true])
    for (const s of state.stages) {
      expect(await gone(s.pid!), `pid ${s.pid}`).toBe(true)
      for (const cg of s.cgroups ?? []) expect(existsSync(cg), cg).toBe(false)
    }
    const after = readDeployment(out)
    expect(after.stages.map((s) => s.status)).toEqual(['deleted', 'deleted', 'deleted'])
    expect(existsSync(join(dir, '.amps', 'local', 'deployment'))).toBe(false)

    const invoke = await runAmps(['invoke', out, '--json'], {cwd: dir})
    expect(invoke.code).toBe(2)
    expect(invoke.json.error.code).toBe('DEPLOYMENT_INVALID')
    expect(invoke.json.error.message).toMatch(/no stages to invoke/)
  })

  it('stale pids from a crashed run are neither signalled nor trusted', async () => {
    // a crashed run: deployment.json still says "active" with pids that are dead or reused by
    // an unrelated process
    const unrelated = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)'], {stdio: 'ignore'})
    strays.push(unrelated)
    const crashed: DeploymentState = readDeployment(out)
    for (const s of crashed.stages) s.status = 'active'
    crashed.stages[0].pid = unrelated.pid
    writeDeployment(out, crashed)

    const destroyed = await runAmps(['destroy', out, '--force', '--json'], {cwd: dir})
    expect(destroyed.code).toBe(0)
    expect(destroyed.json.stages.map((s: {wasRunning: boolean}) => s.wasRunning)).toEqual([false, false, false])
    expect(pidAlive(unrelated.pid!)).toBe(true)

    writeDeployment(out, crashed)
    const redeployed = await runAmps(['deploy', planPath, '--out', out, '--json'], {cwd: dir})
    expect(redeployed.code).toBe(0)
    expect(redeployed.json.stages.map((s: {action: string}) => s.action)).toEqual(['restarted', 'restarted', 'restarted'])
    expect(pidAlive(unrelated.pid!)).toBe(true)
    const state = readDeployment(out)
    for (const s of state.stages) expect(isStageProcess(s.pid, s.functionName, s.logPath)).toBe(true)
    await destroyLocal(state, {statePath: out})
    for (const s of state.stages) expect(await gone(s.pid!)).toBe(true)
    expect(pidAlive(unrelated.pid!)).toBe(true)
  })

  it('--dry-run builds and measures the bundles but starts nothing and writes nothing', async () => {
    const before = readFileSync(planPath, 'utf8')
    const other = join(dir, 'dry.json')
    const r = await runAmps(['deploy', planPath, '--out', other, '--dry-run', '--json'], {cwd: dir})
    expect(r.code).toBe(0)
    expect(r.json.dryRun).toBe(true)
    expect(r.json.stages.every((s: {unzippedBytes: number; pid?: number}) => s.unzippedBytes > 0 && s.pid === undefined)).toBe(true)
    expect(existsSync(other)).toBe(false)
    expect(readFileSync(planPath, 'utf8')).toBe(before)
  })
})
