/**
 * The local target as Lambda runs a function, and its fault suite, on real processes: the small
 * examples/tiny-cnn model cut in 2 stages, deployed through the CLI with --concurrency 2 and a
 * 3 s Timeout. Pool (cold start reported as Init Duration, 429 past the limit), the function's
 * Timeout, kill -9 and SIGSTOP of environments and fronts, the client's deadline, the deployment's
 * token, the stage's environment and user, request-id and payload-limit confinement, destroy of a
 * copied file, destroy twice, and SIGINT during deploy. Regression tests for issue 15's failures
 * 1 (destroy of a copy), 2 (hung stage), 4 (SIGINT during deploy), 5 (hand-off escape) and 7
 * (credentials, no authentication). The tests run in order and share one deployment.
 */
import {execFileSync, spawn} from 'node:child_process'
import {chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand, type InvokeCommandOutput} from '@aws-sdk/client-lambda'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {invokeChain, localLambdaClient} from '../../deploy/client/coordinator.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {readDeployment, writeDeployment} from '../../deploy/state/deployment.js'
import type {DeploymentState, StageDeployment} from '../../deploy/state/types.js'
import {LOCAL_TOKEN_HEADER} from '../../deploy/targets/local/confine.js'
import {destroyLocal, pidAlive, processesOf, stageHealth} from '../../deploy/targets/local/index.js'
import {AmpsUserError} from '../../src/errors.js'
import {loadModel} from '../../src/model/index.js'
import {encodeTensors} from '../../src/stage/codec.js'
import {runAmps, type CliResult} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {handPlan} from './hand-plan.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-pool-'))
// world-traversable, so the environments can drop to nobody (mkdtemp makes it 0700)
chmodSync(dir, 0o755)
const planPath = join(dir, 'plan.json')
const out = join(dir, 'deployment.json')
const modelDir = join(repoRoot, 'examples', 'tiny-cnn')
const deployEnv = {AMPS_LOCAL_TIMEOUT_SEC: '3', AWS_ACCESS_KEY_ID: 'AKIADEPLOYERONLY', AWS_SECRET_ACCESS_KEY: 'deployer-secret-not-for-stages'}
let deployed: CliResult
let state: DeploymentState
const isRoot = process.getuid?.() === 0

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => boolean | Promise<boolean>, withinMs = 10_000): Promise<boolean> {
  const end = Date.now() + withinMs
  while (Date.now() < end) {
    if (await check()) return true
    await sleep(25)
  }
  return check()
}

async function environments(stage: StageDeployment) {
  return (await stageHealth(stage, state))?.amps?.environments ?? []
}

function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
}

/** Lines of `ps` naming a deployment id (what a user would look for). */
function psLines(id: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,stat,args'], {encoding: 'utf8'})
    .split('\n')
    .filter((l) => l.includes(`--amps-deployment=${id}`) && !/^\s*\d+\s+Z/.test(l))
}

async function stage1Event(): Promise<Buffer> {
  const tensors = await encodeTensors(randomInputs(state.modelInputs!, {seed: 3}))
  return Buffer.from(JSON.stringify({tensors}))
}

function invokeStage(stage: StageDeployment, payload: Buffer): Promise<InvokeCommandOutput> {
  const client = localLambdaClient(stage, state)
  return client.send(new InvokeCommand({FunctionName: stage.functionName, Payload: payload, LogType: 'Tail'})).finally(() => client.destroy())
}

const payloadOf = (o: InvokeCommandOutput) => JSON.parse(Buffer.from(o.Payload!).toString('utf8'))
const logOf = (o: InvokeCommandOutput) => Buffer.from(o.LogResult ?? '', 'base64').toString('utf8')

beforeAll(async () => {
  const model = await loadModel(modelDir)
  writeFileSync(planPath, JSON.stringify(handPlan(model, ['branch_concat'], {memoryMb: 512}), null, 2))
  deployed = await runAmps(['deploy', planPath, '--model', modelDir, '--out', out, '--concurrency', '2', '--json'], {cwd: dir, env: deployEnv})
  if (existsSync(out)) state = readDeployment(out)
}, 120_000)

afterAll(async () => {
  for (const f of [out, join(dir, 'int', 'interrupted.json')]) {
    if (existsSync(f)) await destroyLocal(readDeployment(f), {statePath: f}).catch(() => {})
  }
  rmSync(dir, {recursive: true, force: true})
})

describe('local target: a pool of execution environments per stage', () => {
  it('deploys with a concurrency limit, a deployment id and a token in an owner-only deployment.json', async () => {
    expect(deployed.stderr).not.toMatch(/probably a bug/)
    expect(deployed.code).toBe(0)
    expect(deployed.json.stages.map((s: {concurrency: number}) => s.concurrency)).toEqual([2, 2])
    expect(statSync(out).mode & 0o777).toBe(0o600)
    expect(state.deploymentId).toMatch(/^[0-9a-f]{12}$/)
    expect(state.localToken!.length).toBeGreaterThanOrEqual(32)
    const procs = processesOf(state.deploymentId!)
    expect(
      procs
        .filter((p) => p.kind === 'front')
        .map((p) => p.pid)
        .sort(),
    ).toEqual(state.stages.map((s) => s.pid).sort())
    for (const s of state.stages) {
      expect(s.concurrency).toBe(2)
      expect(s.timeoutSec).toBe(3)
      for (const cg of s.cgroups ?? []) expect(cg.endsWith(`.${state.deploymentId}`)).toBe(true)
      const envs = await environments(s)
      expect(envs).toHaveLength(1)
      expect(procs.find((p) => p.pid === envs[0].pid)).toMatchObject({kind: 'env', ppid: s.pid, functionName: s.functionName})
    }
    expect(JSON.parse(readFileSync(join(dir, '.amps', 'local', 'deployment', 'owner.json'), 'utf8')).deploymentId).toBe(state.deploymentId)
  })

  it('stages see an allow-listed environment (no deployer credentials) and run as nobody (issue 15 failure 7)', async () => {
    for (const s of state.stages) {
      const env = (await environments(s))[0]
      for (const pid of [s.pid!, env.pid]) {
        const vars = environ(pid)
        expect(
          vars.filter((v) => v.startsWith('AWS_')),
          `pid ${pid}`,
        ).toEqual([])
        expect(vars.some((v) => v.includes('deployer-secret-not-for-stages'))).toBe(false)
      }
      // the token reaches the front only
      expect(environ(env.pid).some((v) => v.includes(state.localToken!))).toBe(false)
      if (isRoot) {
        expect(env.uid).toBe(65534)
        expect(s.user).toMatch(/^nobody/)
      }
    }
  })

  it('the local Invoke API answers only requests carrying the deployment token (issue 15 failure 7)', async () => {
    const s = state.stages[0]
    const url = `http://127.0.0.1:${s.port}/2015-03-31/functions/${s.functionName}/invocations`
    const payload = await stage1Event()
    const wrong: Record<string, string>[] = [
      {},
      {[LOCAL_TOKEN_HEADER]: 'wrong-token'},
      {[LOCAL_TOKEN_HEADER]: state.localToken!.slice(0, -1) + (state.localToken!.endsWith('A') ? 'B' : 'A')},
    ]
    for (const headers of wrong) {
      const res = await fetch(url, {method: 'POST', body: new Uint8Array(payload), headers})
      expect(res.status).toBe(403)
      expect(res.headers.get('x-amzn-errortype')).toBe('AccessDeniedException')
    }
    const health = await fetch(`http://127.0.0.1:${s.port}/2015-03-31/functions/${s.functionName}`)
    expect(health.status).toBe(403)
    // the coordinator adds the token through an SDK middleware
    const ok = await runAmps(['invoke', out, '--json'], {cwd: dir})
    expect(ok.code).toBe(0)
    expect(ok.json.outputs[0].shape).toEqual([1, 10])
  })

  it("request ids are validated strictly and the payload limit is the deployment's, not the event's (issue 15 failure 5)", async () => {
    const s = state.stages[0]
    const event = JSON.parse((await stage1Event()).toString())
    for (const requestId of ['..', '.', 'a/b', '../../../../tmp/x', '']) {
      const o = await invokeStage(s, Buffer.from(JSON.stringify({...event, requestId})))
      expect(o.FunctionError, requestId).toBe('Unhandled')
      expect(payloadOf(o).errorType).toBe('PayloadInvalid')
      expect(payloadOf(o).errorMessage).toMatch(/requestId must be .*no path separators, not dots only/)
    }
    // an event asking for a 1-byte limit (to force a hand-off file) is answered inline
    const o = await invokeStage(s, Buffer.from(JSON.stringify({...event, requestId: 'ok-id', maxPayloadBytes: 1})))
    expect(o.FunctionError).toBeUndefined()
    expect(payloadOf(o).tensors.every((t: {b64?: string; ref?: string}) => typeof t.b64 === 'string' && t.ref === undefined)).toBe(true)
    expect(readdirSync((state.handoff as {path: string}).path, {recursive: true})).toEqual([])
  })

  it('a new environment (cold start, Init Duration) when all are busy; 429 past the limit; the Timeout ends a hung environment', async () => {
    const s = state.stages[0]
    const payload = await stage1Event()
    const [env1] = await environments(s)
    process.kill(env1.pid, 'SIGSTOP')
    const a = invokeStage(s, payload) // goes to env1 (idle, but stopped): hangs until the Timeout
    await until(async () => (await environments(s)).some((e) => e.pid === env1.pid && e.state === 'busy'))
    const b = await invokeStage(s, payload) // every environment busy: a second one starts (cold)
    expect(b.FunctionError).toBeUndefined()
    expect(logOf(b)).toMatch(
      /^REPORT RequestId: \S+\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 512 MB\tMax Memory Used: \d+ MB\tInit Duration: [\d.]+ ms\t/,
    )
    const c = await invokeStage(s, payload) // the second is idle now: warm
    expect(c.FunctionError).toBeUndefined()
    expect(logOf(c)).not.toMatch(/Init Duration/)
    const envs = await environments(s)
    expect(envs).toHaveLength(2)
    const env2 = envs.find((e) => e.pid !== env1.pid)!
    expect(env2.invocations).toBe(2)

    process.kill(env2.pid, 'SIGSTOP')
    const d = invokeChain(state, randomInputs(state.modelInputs!)).catch((e: unknown) => e) // env2: hangs
    await until(async () => (await environments(s)).every((e) => e.state === 'busy'))
    // both environments busy, limit 2: throttled as Lambda does
    const throttled = await invokeStage(s, payload).catch((e: unknown) => e)
    expect(throttled).toMatchObject({name: 'TooManyRequestsException', $metadata: {httpStatusCode: 429}})
    const viaCoordinator = await invokeChain(state, randomInputs(state.modelInputs!)).catch((e: unknown) => e)
    expect(viaCoordinator).toBeInstanceOf(AmpsUserError)
    expect((viaCoordinator as AmpsUserError).message).toMatch(
      /^stage-1 \(amps-tiny-cnn-\w+-stage-1\) is throttled: all 2 of its execution environments are busy \(429 TooManyRequestsException\)/,
    )
    expect((viaCoordinator as AmpsUserError).details).toMatchObject({awsError: 'TooManyRequestsException', httpStatus: 429})

    // the Timeout (3 s) ends both stopped environments; the callers get Lambda's timeout error
    const timedOut = await a
    expect(timedOut.FunctionError).toBe('Unhandled')
    expect(payloadOf(timedOut)).toMatchObject({errorType: 'Sandbox.Timedout'})
    expect(payloadOf(timedOut).errorMessage).toMatch(/Task timed out after 3\.00 seconds$/)
    expect(logOf(timedOut)).toMatch(/Status: timeout/)
    const dError = await d
    expect(dError).toBeInstanceOf(AmpsUserError)
    expect((dError as AmpsUserError).message).toMatch(/^stage-1 \(amps-tiny-cnn-\w+-stage-1\) failed: Sandbox\.Timedout: .*Task timed out after 3\.00 seconds/)
    expect(await until(() => !pidAlive(env1.pid) && !pidAlive(env2.pid))).toBe(true)
    // and a fresh environment serves the next request
    const after = await invokeChain(state, randomInputs(state.modelInputs!))
    expect(after.outputs[0].shape).toEqual([1, 10])
    expect(after.stages[0].coldStart).toBe(true)
  }, 40_000)

  it('kill -9 of an environment mid-request: the call fails naming the stage, a fresh environment serves the next', async () => {
    const s = state.stages[1]
    const envs = await environments(s)
    expect(envs.length).toBeGreaterThanOrEqual(1)
    for (const e of envs) process.kill(e.pid, 'SIGSTOP') // so the request is surely in flight when it dies
    const call = invokeChain(state, randomInputs(state.modelInputs!)).catch((e: unknown) => e)
    await until(async () => (await environments(s)).some((e) => e.state === 'busy'))
    const busy = (await environments(s)).find((e) => e.state === 'busy')!
    process.kill(busy.pid, 'SIGKILL')
    for (const e of envs) if (e.pid !== busy.pid) process.kill(e.pid, 'SIGCONT')
    const error = await call
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).message).toMatch(
      /^stage-2 \(amps-tiny-cnn-\w+-stage-2\) failed: Runtime\.ExitError: .*Runtime exited with error: signal: killed/,
    )
    const ok = await invokeChain(state, randomInputs(state.modelInputs!))
    expect(ok.outputs[0].shape).toEqual([1, 10])
    expect((await environments(s)).map((e) => e.pid)).not.toContain(busy.pid)
  }, 20_000)

  it('SIGSTOP of a stage front: invoke fails within its deadline naming the stage, not hang (issue 15 failure 2)', async () => {
    const s = state.stages[1]
    process.kill(s.pid!, 'SIGSTOP')
    try {
      const t0 = Date.now()
      const error = await invokeChain(state, randomInputs(state.modelInputs!), {deadlineMs: 1500}).catch((e: unknown) => e)
      expect(Date.now() - t0).toBeLessThan(10_000)
      expect(error).toBeInstanceOf(AmpsUserError)
      expect((error as AmpsUserError).message).toBe(
        `stage-2 (${s.functionName}, pid ${s.pid}) did not answer within 1.5 s (the call's deadline); it is hung or overloaded`,
      )
      const cli = await runAmps(['invoke', out], {cwd: dir, env: {AMPS_INVOKE_DEADLINE_MS: '1500'}, timeoutMs: 30_000})
      expect(cli.code).toBe(2)
      // (oclif wraps long messages at the terminal width)
      expect(cli.stderr.replace(/\s*\n ›\s+/g, ' ')).toMatch(/stage-2 \(amps-tiny-cnn-\w+-stage-2, pid \d+\) did not answer within 1\.5 s/)
      expect(cli.stderr).not.toMatch(/probably a bug|\n\s+at /)
    } finally {
      process.kill(s.pid!, 'SIGCONT')
    }
    const ok = await invokeChain(state, randomInputs(state.modelInputs!))
    expect(ok.outputs[0].shape).toEqual([1, 10])
  }, 40_000)

  it('destroy of a copied deployment.json with dead pids touches nothing of the live deployment (issue 15 failure 1)', async () => {
    const copy = join(dir, 'copy.json')
    copyFileSync(out, copy)
    const stale = readDeployment(copy)
    for (const s of stale.stages) s.pid = 999_999_999 % 4_194_304
    writeDeployment(copy, stale)
    const live = processesOf(state.deploymentId!).map((p) => p.pid)
    expect(live.length).toBeGreaterThanOrEqual(4)
    const r = await runAmps(['destroy', copy, '--force', '--json'], {cwd: dir})
    expect(r.code).toBe(0)
    expect(r.json.stages.every((s: {stoppedPids: number[]}) => s.stoppedPids.length === 0)).toBe(true)
    expect(r.json.removedDir).toBeUndefined()
    expect(r.json.keptDir).toBe(join(dir, '.amps', 'local', 'deployment'))
    for (const pid of live) expect(pidAlive(pid), `pid ${pid}`).toBe(true)
    expect(existsSync(join(dir, '.amps', 'local', 'deployment', 'owner.json'))).toBe(true)
    for (const s of state.stages) for (const cg of s.cgroups ?? []) expect(existsSync(cg), cg).toBe(true)
    const ok = await runAmps(['invoke', out, '--json'], {cwd: dir})
    expect(ok.code).toBe(0)
  })

  it('destroy ends every environment and says what it stopped; a second destroy is a clean no-op', async () => {
    const id = state.deploymentId!
    const before = processesOf(id)
    const r = await runAmps(['destroy', out, '--force', '--json'], {cwd: dir})
    expect(r.code).toBe(0)
    const stopped = r.json.stages.flatMap((s: {stoppedPids: number[]}) => s.stoppedPids).sort()
    expect(stopped).toEqual(before.map((p) => p.pid).sort())
    expect(await until(() => psLines(id).length === 0)).toBe(true)
    for (const s of state.stages) for (const cg of s.cgroups ?? []) expect(existsSync(cg), cg).toBe(false)
    expect(r.json.removedDir).toBe(join(dir, '.amps', 'local', 'deployment'))
    expect(existsSync(r.json.removedDir)).toBe(false)
    const again = await runAmps(['destroy', out, '--force'], {cwd: dir})
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/nothing to destroy/)
  })

  it('idle environments are reaped after the keep-alive; the next request is a cold start', async () => {
    const r = await runAmps(['deploy', planPath, '--model', modelDir, '--out', out, '--concurrency', '1', '--json'], {
      cwd: dir,
      env: {...deployEnv, AMPS_LOCAL_KEEP_ALIVE_MS: '1000'},
    })
    expect(r.code).toBe(0)
    state = readDeployment(out)
    expect(state.stages.map((s) => s.keepAliveSec)).toEqual([1, 1])
    for (const s of state.stages) expect(await until(async () => (await environments(s)).length === 0, 8000), s.functionName).toBe(true)
    const cold = await invokeChain(state, randomInputs(state.modelInputs!))
    expect(cold.stages.map((s) => s.coldStart)).toEqual([true, true])
    const r2 = await runAmps(['destroy', out, '--force'], {cwd: dir})
    expect(r2.code).toBe(0)
  }, 60_000)

  it('SIGINT during deploy stops what the run started, leaves a consistent deployment.json and exits 130 (issue 15 failure 4)', async () => {
    const file = join(dir, 'int', 'interrupted.json')
    mkdirSync(join(dir, 'int'))
    const bundles = join(dir, 'int', '.amps', 'bundles')
    type Step = {name: string; before?: () => void; ready: () => boolean}
    const steps: Step[] = [
      // stage fronts spawned (pids recorded), environments still initialising
      {name: 'starting stages', ready: () => existsSync(file) && readDeployment(file).stages.some((s) => s.status === 'pending' && s.pid)},
      // while bundling (deployment.json from the interrupted run above already exists)
      {name: 'bundling', before: () => rmSync(bundles, {recursive: true, force: true}), ready: () => existsSync(join(bundles, '.runtime'))},
    ]
    for (const step of steps) {
      step.before?.()
      const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run.js'), 'deploy', planPath, '--model', modelDir, '--out', file], {
        cwd: join(dir, 'int'),
        env: {...process.env, ...deployEnv, CI: 'true', NO_COLOR: '1'},
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (d) => (stderr += d))
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
      expect(await until(() => step.ready(), 60_000), step.name).toBe(true)
      child.kill('SIGINT')
      expect(await exited, `${step.name}: ${stderr}`).toBe(130)
      expect(existsSync(file), step.name).toBe(true)
      const after = readDeployment(file)
      expect(
        after.stages.filter((s) => s.status === 'pending'),
        step.name,
      ).toEqual([])
      for (const s of after.stages) if (s.status === 'active') expect(s.port, step.name).toBeGreaterThan(0)
      expect(await until(() => psLines(after.deploymentId!).length === 0, 5000), `${step.name}: ${psLines(after.deploymentId!).join('\n')}`).toBe(true)
      const destroyed = await runAmps(['destroy', file, '--force'], {cwd: join(dir, 'int')})
      expect(destroyed.code, step.name).toBe(0)
    }
  }, 90_000)
})
