/**
 * The bundle of a stage whose weights are fetched at INIT (plan weightsFrom 's3'), on both
 * backends: it carries its graph and stage.json but no weight bytes, the blob beside it holds them
 * (content-addressed key, sha256, length), and the bundle's own handler, run as a process with
 * AMPS_WEIGHTS_URL pointing at the blob, answers exactly what the same stage bundled with its
 * weights answers. Without the URL, INIT fails naming the stage and the object.
 */
import {spawnSync} from 'node:child_process'
import {createHash} from 'node:crypto'
import {existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {buildBundles} from '../../deploy/bundle/bundle.js'
import type {StageBundle} from '../../deploy/state/types.js'
import {extractStage, loadModel} from '../../src/model/index.js'
import type {LoadedModel} from '../../src/model/types.js'
import type {StageBackend, StageSpec} from '../../src/stage/spec.js'
import {WEIGHTS_URL_ENV} from '../../src/stage/weights.js'
import {exportPlan} from '../../src/export/index.js'
import {AmpsUserError} from '../../src/errors.js'
import {KerasGraph} from '../zoo/builder.js'
import {handPlan} from './hand-plan.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-fetched-bundle-'))
let model: LoadedModel

beforeAll(async () => {
  const g = new KerasGraph('fetched')
  let x = g.input([4, 4, 8])
  x = g.conv(x, 8, 3, {padding: 'same', activation: 'relu', name: 'conv'})
  x = g.flatten(x, 'flatten')
  x = g.dense(x, 256, {activation: 'relu', name: 'fc_big'})
  g.outputs = [g.dense(x, 10, {activation: 'softmax', name: 'head', gain: 0.1})]
  g.write(join(dir, 'model'))
  model = await loadModel(join(dir, 'model'))
}, 60_000)

afterAll(() => rmSync(dir, {recursive: true, force: true}))

/** Runs the bundle's index.mjs as Lambda would (a fresh node process, INIT at import) on one event. */
function runBundle(bundleDir: string, event: object, env: Record<string, string>): {code: number | null; stdout: string; stderr: string} {
  const script = `const m = await import(${JSON.stringify(pathToFileURL(join(bundleDir, 'index.mjs')).href)}); process.stdout.write(JSON.stringify(await m.handler(${JSON.stringify(event)})))`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: {PATH: process.env.PATH ?? '', HOME: '/tmp', ...env},
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60_000,
  })
  return {code: r.status, stdout: r.stdout.split('\n').at(-1) ?? '', stderr: r.stderr}
}

describe.each(['wasm', 'onnx'] as StageBackend[])('%s: a stage bundled without its weights', (backend) => {
  let plain: StageBundle
  let fetched: StageBundle

  beforeAll(async () => {
    const build = async (weightsFrom: 's3' | undefined, out: string) => {
      const plan = handPlan(model, ['flatten', 'fc_big'])
      for (const s of plan.stages) s.backend = backend
      plan.stages[1]!.initMs = 900
      if (weightsFrom) plan.stages[1]!.weightsFrom = weightsFrom
      return (await buildBundles(plan, model, {outDir: join(dir, out), extract: extractStage})).bundles[1]!
    }
    plain = await build(undefined, `${backend}-plain`)
    fetched = await build('s3', `${backend}-fetched`)
  }, 120_000)

  it('carries no weight bytes; the blob beside it does, named by its content', () => {
    const files = readdirSync(fetched.dir).sort()
    expect(files).not.toContain('weights.bin')
    const w = fetched.weights!
    expect(w.path).toBe(`${fetched.dir}.weights.bin`)
    const blob = readFileSync(w.path)
    expect(blob.length).toBe(w.bytes)
    expect(createHash('sha256').update(blob).digest('hex')).toBe(w.sha256)
    expect(w.key).toBe(`weights/${fetched.functionName}-${w.sha256.slice(0, 16)}.bin`)
    // Dense 1,024 → 256: 263,168 float32 weights (ONNX external data is 64-byte aligned)
    expect(w.bytes).toBeGreaterThanOrEqual((128 * 256 + 256) * 4)
    expect(w.bytes).toBeLessThan((128 * 256 + 256) * 4 + 4096)
    expect(fetched.unzippedBytes).toBeLessThan(plain.unzippedBytes - (128 * 256 * 4) / 2)
    const spec = JSON.parse(readFileSync(join(fetched.dir, 'stage.json'), 'utf8')) as StageSpec
    expect(spec.weights).toEqual({key: w.key, sha256: w.sha256, bytes: w.bytes, location: 'weights.bin'})
    expect(plain.weights).toBeUndefined()
    // its timeout also covers an INIT that Lambda re-runs inside the first invocation (twice the planned INIT)
    expect(fetched.timeoutSec).toBe(plain.timeoutSec + Math.ceil((2 * 900) / 1000))
    expect(statSync(join(fetched.dir, backend === 'onnx' ? 'model.onnx' : 'model.json')).size).toBeLessThan(64 * 1024)
  })

  it('its handler fetches them at INIT and answers exactly what the stage with its weights answers', () => {
    const input = new Float32Array(128).map((_, i) => Math.sin(i) * 0.5)
    const event = {tensors: [{id: 'flatten', dtype: 'float32', shape: [1, 128], b64: Buffer.from(input.buffer).toString('base64')}]}
    const a = runBundle(plain.dir, event, {})
    const b = runBundle(fetched.dir, event, {[WEIGHTS_URL_ENV]: pathToFileURL(fetched.weights!.path).href})
    expect(a.code, a.stderr).toBe(0)
    expect(b.code, b.stderr).toBe(0)
    const out = (r: {stdout: string}) => (JSON.parse(r.stdout) as {tensors: {id: string; b64: string}[]}).tensors
    expect(out(b)).toEqual(out(a))
    expect(out(a)[0]!.id).toBe('fc_big')
  })

  it('without the URL, INIT fails naming the stage and the object', () => {
    const r = runBundle(fetched.dir, {tensors: []}, {})
    expect(r.code).not.toBe(0)
    // node prints the (minified) class and the error's name: "Xy [StageInitError]: stage-2: …"
    expect(r.stderr).toContain(`[StageInitError]: stage-2: weights ${fetched.weights!.key} are fetched at INIT but ${WEIGHTS_URL_ENV} is not set`)
  })
})

describe('export', () => {
  it('refuses a plan with a stage whose weights are fetched at INIT, naming it and pointing at amps deploy', async () => {
    const plan = handPlan(model, ['flatten', 'fc_big'])
    plan.stages[1]!.weightsFrom = 's3'
    const planPath = join(dir, 'export-plan.json')
    writeFileSync(planPath, JSON.stringify(plan))
    for (const format of ['sam', 'terraform'] as const) {
      const e = await exportPlan({planPath, format, outPath: join(dir, `out-${format}.json`), modelPath: join(dir, 'model')}).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(AmpsUserError)
      expect((e as AmpsUserError).ampsCode).toBe('PLAN_INVALID')
      expect((e as AmpsUserError).message).toBe(
        `stage-2 fetches its weights from S3 at INIT, which ${format === 'sam' ? 'SAM' : 'Terraform'} export does not carry yet`,
      )
      expect(existsSync(join(dir, `out-${format}.json`))).toBe(false)
    }
  })
})
