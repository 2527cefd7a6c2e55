/**
 * A layer bigger than a function, deployed for real on the local target (issue 11.2): a generated
 * model whose one Dense layer holds more weights than the package limit leaves room for (the limit
 * lowered with a --prices file to the ONNX runtime + 6 MB, so the test needs an 8 MB layer, not
 * VGG16's 411 MB). Through the built CLI: plan → deploy --target local → the stage's bundle holds
 * no weights and is under the lowered limit, its weights sit in the deployment's store (the
 * hand-off directory, the local stand-in for S3) → invoke --compare equals the whole model →
 * changed and missing weights fail the next INIT with one line naming the stage and the object →
 * destroy removes the blob. The tests run in order and share one deployment.
 */
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readDeployment} from '../../deploy/state/deployment.js'
import {destroyLocal, stageHealth} from '../../deploy/targets/local/index.js'
import {ONNX_HANDLER_BYTES} from '../../src/plan/backend.js'
import type {Plan} from '../../src/plan/types.js'
import {ortRuntimeBytes} from '../../src/runtime/ort-files.js'
import type {StageSpec} from '../../src/stage/spec.js'
import {runAmps, type CliResult} from '../helpers/cli.js'
import {KerasGraph} from '../zoo/builder.js'

const MB = 1024 * 1024
const dir = mkdtempSync(join(tmpdir(), 'amps-s3w-'))
const modelDir = join(dir, 'model')
const planPath = join(dir, 'plan.json')
const out = join(dir, 'deployment.json')
const env = {AMPS_CACHE_DIR: join(dir, 'cache')}
/** the lowered unzipped package limit: the x86_64 ONNX runtime + handler + 6 MB of weights */
const LIMIT = ortRuntimeBytes('x86_64') + ONNX_HANDLER_BYTES + 6 * MB

let plan: Plan
let planned: CliResult
let deployed: CliResult

function dirBytes(d: string): number {
  return readdirSync(d, {withFileTypes: true}).reduce((a, e) => a + (e.isDirectory() ? dirBytes(join(d, e.name)) : statSync(join(d, e.name)).size), 0)
}

beforeAll(async () => {
  // conv → flatten (1,024) → fc_big (1,024 × 2,048 = 8 MB of float32) → head
  const g = new KerasGraph('bigfc')
  let x = g.input([8, 8, 16])
  x = g.conv(x, 16, 3, {padding: 'same', activation: 'relu', name: 'conv'})
  x = g.flatten(x, 'flatten')
  x = g.dense(x, 2048, {activation: 'relu', name: 'fc_big'})
  g.outputs = [g.dense(x, 10, {activation: 'softmax', name: 'head', gain: 0.1})]
  g.write(modelDir)
  writeFileSync(join(dir, 'prices.json'), JSON.stringify({limits: {unzippedPackageBytes: LIMIT}}))
  planned = await runAmps(['plan', modelDir, '--slo', '5000', '--arch', 'x86_64', '--prices', join(dir, 'prices.json'), '-o', planPath, '--json'], {env})
  if (planned.code !== 0) return
  plan = JSON.parse(readFileSync(planPath, 'utf8')) as Plan
  deployed = await runAmps(['deploy', planPath, '-o', out, '--no-prewarm', '--json'], {env, cwd: dir})
}, 240_000)

afterAll(async () => {
  if (existsSync(out)) await destroyLocal(readDeployment(out), {statePath: out}).catch(() => {})
  rmSync(dir, {recursive: true, force: true})
})

/** The stage that fetches its weights, as deployed. */
function fetchedStage() {
  const state = readDeployment(out)
  const s = state.stages.find((x) => x.weights)!
  return {state, stage: s, blobPath: fileURLToPath(s.weights!.url)}
}

/** Ends the stage's environments, so the next request starts a fresh one (a cold start: INIT runs again). */
async function endEnvironments(): Promise<void> {
  const {state, stage} = fetchedStage()
  for (const e of (await stageHealth(stage, state))?.amps?.environments ?? []) process.kill(e.pid, 'SIGKILL')
  for (let i = 0; i < 100 && ((await stageHealth(stage, state))?.amps?.environments ?? []).some((e) => e.state !== 'dead'); i++) {
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('a layer bigger than the package limit: weights from the store, fetched at INIT (local target)', () => {
  it('plans the big layer as its own stage whose weights come from S3', () => {
    expect(planned.code, planned.stderr).toBe(0)
    const fetched = plan.stages.filter((s) => s.weightsFrom === 's3')
    expect(fetched.map((s) => s.layers.first)).toEqual(['fc_big'])
    expect(fetched[0]!.layers.count).toBe(1)
    expect(fetched[0]!.weightsBytes).toBe((1024 * 2048 + 2048) * 4)
  })

  it('deploys a bundle without its weights, under the lowered limit, and puts the weights in the store', () => {
    expect(deployed.code, deployed.stderr).toBe(0)
    const stage = plan.stages.find((s) => s.weightsFrom === 's3')!
    const report = deployed.json.stages.find((s: {name: string}) => s.name === stage.name)
    const bundleDir = join(dir, '.amps', 'bundles', report.functionName)
    const files = readdirSync(bundleDir).sort()
    expect(files).toEqual(['index.mjs', 'model.onnx', 'node_modules', 'stage.json'])
    // the graph only: a few hundred bytes where the weights would be 8 MB
    expect(statSync(join(bundleDir, 'model.onnx')).size).toBeLessThan(64 * 1024)
    expect(report.unzippedBytes).toBe(dirBytes(bundleDir))
    expect(report.unzippedBytes).toBeLessThan(LIMIT)
    // with its weights it would not have fitted
    expect(report.unzippedBytes + stage.weightsBytes).toBeGreaterThan(LIMIT)
    const spec = JSON.parse(readFileSync(join(bundleDir, 'stage.json'), 'utf8')) as StageSpec
    expect(spec.weights).toMatchObject({key: report.weights.key, sha256: report.weights.sha256, bytes: report.weights.bytes, location: 'weights.bin'})
    // the blob: every weight of the layer (ONNX external data, 64-byte aligned), in the store under its key
    expect(report.weights.bytes).toBeGreaterThanOrEqual(stage.weightsBytes)
    expect(report.weights.bytes).toBeLessThan(stage.weightsBytes + 4096)
    const {blobPath, stage: deployedStage} = fetchedStage()
    expect(blobPath.endsWith(report.weights.key)).toBe(true)
    expect(blobPath.startsWith(join(dir, '.amps', 'local', 'deployment', 'handoff') + '/')).toBe(true)
    expect(createHash('sha256').update(readFileSync(blobPath)).digest('hex')).toBe(spec.weights!.sha256)
    expect(deployedStage.status).toBe('active')
    // every other stage carries its weights in its own package
    for (const s of deployed.json.stages) if (s.name !== stage.name) expect(s.weights).toBeUndefined()
  })

  it('invoke --compare: the chain equals the whole model', async () => {
    const inv = await runAmps(['invoke', out, '--input', 'random', '--compare', '--json'], {env, cwd: dir})
    expect(inv.code, inv.stderr).toBe(0)
    expect(inv.json.maxAbsOutput).toBeGreaterThan(0)
    expect(inv.json.maxAbsDiff).toBeLessThanOrEqual(1e-5 * inv.json.maxAbsOutput)
  }, 120_000)

  it('changed weights fail the next INIT in one line naming the stage and the object; so do missing ones', async () => {
    const {stage, blobPath} = fetchedStage()
    const bytes = readFileSync(blobPath)
    bytes[100] ^= 0xff
    writeFileSync(blobPath, bytes)
    await endEnvironments()
    const tampered = await runAmps(['invoke', out, '--input', 'random', '--json'], {env, cwd: dir})
    expect(tampered.code).not.toBe(0)
    const line = (s: string) =>
      s.split('\n').find((l) => l.includes(`${stage.stageName}: weights `) || l.includes(`${stage.stageName}: cannot fetch weights `)) ?? s
    expect(line(tampered.stderr)).toMatch(
      new RegExp(`${stage.stageName}: weights file://\\S+${stage.weights!.url.split('/').pop()} have sha256 [0-9a-f]{16}…, stage.json expects`),
    )

    rmSync(blobPath)
    await endEnvironments()
    const missing = await runAmps(['invoke', out, '--input', 'random', '--json'], {env, cwd: dir})
    expect(missing.code).not.toBe(0)
    expect(line(missing.stderr)).toMatch(
      new RegExp(`${stage.stageName}: cannot fetch weights file://\\S+${stage.weights!.url.split('/').pop()}: missing object \\(ENOENT; deploy again`),
    )
  }, 120_000)

  it('destroy removes the weights', async () => {
    const {blobPath} = fetchedStage()
    // put them back first, so there is something to remove
    writeFileSync(blobPath, readFileSync(join(dir, '.amps', 'bundles', `${fetchedStage().stage.functionName}.weights.bin`)))
    const d = await runAmps(['destroy', out, '--force', '--json'], {env, cwd: dir})
    expect(d.code, d.stderr).toBe(0)
    expect(d.stderr).toContain(`removed its weights ${blobPath}`)
    expect(existsSync(blobPath)).toBe(false)
  }, 60_000)
})
