/**
 * The local target's exchange files (deploy/targets/local/exchange.ts): large bodies between a
 * stage's front and its environment go through a pair of files on /dev/shm instead of the IPC
 * channel. Real processes: a chain of two echo stages (test/bench/echo-stage.ts: decode + encode
 * through the stage codec) deployed with deployLocal, once with the exchange and once with
 * AMPS_LOCAL_EXCHANGE=ipc; megabyte tensors must come back bit-exact either way, the files must
 * belong to their environment and go with it, and the Invoke API's errors stay what they were.
 */
import {existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {InvokeCommand} from '@aws-sdk/client-lambda'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {invokeChain, localLambdaClient} from '../../deploy/client/coordinator.js'
import {bundleEntry} from '../../deploy/bundle/bundle.js'
import type {DeploymentState, StageBundle} from '../../deploy/state/types.js'
import {EXCHANGE_ROOT, exchangeDir} from '../../deploy/targets/local/exchange.js'
import {deployLocal, destroyLocal, processesOf} from '../../deploy/targets/local/index.js'
import type {Plan} from '../../src/plan/types.js'
import type {RawTensor} from '../../src/stage/codec.js'
import {echoStageBundle} from '../helpers/echo-bundle.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const root = mkdtempSync(join(tmpdir(), 'amps-exchange-'))
const deployments: {state: DeploymentState; statePath: string}[] = []
const hasTmpfs = existsSync(EXCHANGE_ROOT)

async function deployEcho(name: string, env: Record<string, string> = {}): Promise<{state: DeploymentState; statePath: string}> {
  const dir = join(root, name)
  mkdirSync(dir, {recursive: true})
  const bundles: StageBundle[] = []
  for (let i = 0; i < 2; i++) {
    const bundleDir = join(dir, `echo-${i}`)
    mkdirSync(bundleDir, {recursive: true})
    await bundleEntry(join(repoRoot, 'test', 'bench', 'echo-stage.ts'), join(bundleDir, 'index.mjs'))
    bundles.push(echoStageBundle(i, {dir: bundleDir, functionName: `amps-exchange-test-${name}-${i + 1}`, memoryMb: 512, timeoutSec: 30}))
  }
  const statePath = join(dir, 'deployment.json')
  const saved = {...process.env}
  Object.assign(process.env, env)
  try {
    const {state} = await deployLocal({} as Plan, bundles, {statePath, planPath: statePath, modelPath: dir, planHash: name, concurrency: 1})
    deployments.push({state, statePath})
    return {state, statePath}
  } finally {
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
  }
}

function tensor(bytes: number, seed: number): RawTensor {
  const n = bytes / 4
  return {id: 't0', dtype: 'float32', shape: [1, n], data: Float32Array.from({length: n}, (_, i) => Math.sin(i * seed) * 1e3)}
}

function forChain(state: DeploymentState, t: RawTensor): DeploymentState {
  const n = t.shape[1]
  return {
    ...state,
    modelInputs: [{id: 't0', shape: [null, n], dtype: 'float32', bytesPerSample: n * 4}],
    modelOutputs: [{id: 't2', shape: [null, n], dtype: 'float32', bytesPerSample: n * 4}],
  } as DeploymentState
}

async function roundTrip(state: DeploymentState, bytes: number, seed: number): Promise<void> {
  const input = tensor(bytes, seed)
  const r = await invokeChain(forChain(state, input), [input])
  expect(r.outputs[0].shape).toEqual(input.shape)
  expect(Buffer.from(r.outputs[0].data.buffer, r.outputs[0].data.byteOffset, r.outputs[0].data.byteLength).equals(Buffer.from(input.data.buffer))).toBe(true)
  // inline both ways (under Lambda's 6 MB), no hand-off file
  expect(r.stages.every((s) => s.refsIn === 0 && s.requestBytes > bytes)).toBe(true)
}

let exchanged: {state: DeploymentState; statePath: string}
let inline: {state: DeploymentState; statePath: string}

beforeAll(async () => {
  exchanged = await deployEcho('shm')
  inline = await deployEcho('ipc', {AMPS_LOCAL_EXCHANGE: 'ipc'})
}, 120_000)

afterAll(async () => {
  for (const d of deployments) await destroyLocal(d.state, {statePath: d.statePath}).catch(() => {})
  rmSync(root, {recursive: true, force: true})
})

describe.skipIf(!hasTmpfs)('local target: large bodies through exchange files on /dev/shm', () => {
  it('1 MB and 4 MB tensors pass a 2-stage chain bit-exactly; each environment has its own owner-only pair of files', async () => {
    await roundTrip(exchanged.state, 1_048_576, 1)
    await roundTrip(exchanged.state, 4_194_304, 2)
    await roundTrip(exchanged.state, 4096, 3) // a small one goes inline in the IPC message
    const dir = exchangeDir(exchanged.state.deploymentId!)!
    const names = readdirSync(dir).sort()
    expect(names).toEqual(exchanged.state.stages.flatMap((s) => [`${s.functionName}.env-1.request`, `${s.functionName}.env-1.result`]).sort())
    for (const f of names) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600)
    // the 4 MB request (5.6 MB of base64 in JSON) went through each stage's request file
    for (const f of names.filter((x) => x.endsWith('.request'))) expect(statSync(join(dir, f)).size).toBeGreaterThan(5_500_000)
  })

  it('with AMPS_LOCAL_EXCHANGE=ipc the same bodies go inline over IPC, as bit-exact', async () => {
    expect(existsSync(exchangeDir(inline.state.deploymentId!)!)).toBe(false)
    await roundTrip(inline.state, 1_048_576, 4)
    await roundTrip(inline.state, 4_194_304, 5)
  })

  it("the Invoke API's answers stay: 400 for a large body that is not JSON, 413 past the payload limit", async () => {
    const s = exchanged.state.stages[0]
    const client = localLambdaClient(s, exchanged.state)
    try {
      const notJson = client.send(new InvokeCommand({FunctionName: s.functionName, Payload: Buffer.alloc(300_000, 0x7b)}))
      await expect(notJson).rejects.toMatchObject({name: 'InvalidRequestContentException', message: 'Could not parse request body into json'})
      const tooLarge = client.send(new InvokeCommand({FunctionName: s.functionName, Payload: Buffer.alloc(6_291_457, 0x20)}))
      await expect(tooLarge).rejects.toMatchObject({name: 'RequestTooLargeException'})
    } finally {
      client.destroy()
    }
    await roundTrip(exchanged.state, 1_048_576, 6) // and the environment still serves
  })

  it('an environment killed with -9 takes its files with it; the next one gets its own pair', async () => {
    const s = exchanged.state.stages[1]
    const env = processesOf(exchanged.state.deploymentId!).find((p) => p.kind === 'env' && p.functionName === s.functionName)!
    process.kill(env.pid, 'SIGKILL')
    const dir = exchangeDir(exchanged.state.deploymentId!)!
    const gone = Date.now() + 5000
    while (readdirSync(dir).some((f) => f.startsWith(`${s.functionName}.env-1.`)) && Date.now() < gone) await new Promise((r) => setTimeout(r, 25))
    expect(readdirSync(dir).filter((f) => f.startsWith(s.functionName))).toEqual([])
    await roundTrip(exchanged.state, 1_048_576, 7)
    expect(
      readdirSync(dir)
        .filter((f) => f.startsWith(s.functionName))
        .sort(),
    ).toEqual([`${s.functionName}.env-2.request`, `${s.functionName}.env-2.result`])
  })

  it('destroy removes the deployment’s exchange folder', async () => {
    const dir = exchangeDir(exchanged.state.deploymentId!)!
    expect(existsSync(dir)).toBe(true)
    await destroyLocal(exchanged.state, {statePath: exchanged.statePath})
    expect(existsSync(dir)).toBe(false)
  })
})
