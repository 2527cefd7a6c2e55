/**
 * int32 model inputs on the ONNX backend (token ids, indices): the exporter declares them int32,
 * Embedding gathers them as they are (Gather on the table), any other layer reads them cast to
 * float32 as tfjs does; the codec carries int32 to the stage and the ORT engine feeds it as int32.
 * Numerics against tfjs per layer and whole, then the chain the user runs: `amps profile --backend
 * onnx` → `amps plan --backend onnx --stages 2` → `amps deploy` (local) → `amps invoke --compare`.
 */
import type * as tfType from '../../src/runtime/tfjs.js'
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readDeployment} from '../../deploy/state/deployment.js'
import {destroyLocal} from '../../deploy/targets/local/index.js'
import {saveToMemory, seedWeights, writeLayersModelDir} from '../../examples/models.js'
import {AmpsUserError} from '../../src/errors.js'
import {exportOnnx} from '../../src/model/onnx/export.js'
import type {Plan} from '../../src/plan/types.js'
import type {Profile} from '../../src/profile/types.js'
import {initTf} from '../../src/runtime/tf.js'
import {runAmps} from '../helpers/cli.js'
import {allTensors, loadedFrom, stageMaxAbsDiff} from './helpers.js'

let tf: typeof tfType
type Sym = tfType.SymbolicTensor
const dir = mkdtempSync(join(tmpdir(), 'amps-onnx-int32-'))
const env = {AMPS_CACHE_DIR: join(dir, 'cache')}

beforeAll(async () => {
  tf = (await initTf()).tf
})

afterAll(async () => {
  const out = join(dir, 'deployment.json')
  if (existsSync(out)) await destroyLocal(readDeployment(out), {statePath: out}).catch(() => {})
  rmSync(dir, {recursive: true, force: true})
})

/** Token ids [8] (int32, vocabulary 12) → Embedding(12, 6) → pooled, plus a Dense reading the ids themselves → 3 classes. */
function tokenModel(pool: 'avg' | 'max' | 'flatten'): tfType.LayersModel {
  const ids = tf.input({shape: [8], dtype: 'int32', name: 'ids'})
  const e = tf.layers.embedding({inputDim: 12, outputDim: 6, name: 'embed'}).apply(ids) as Sym
  const pooled = (
    pool === 'avg'
      ? tf.layers.globalAveragePooling1d({name: 'pool'})
      : pool === 'max'
        ? tf.layers.globalMaxPooling1d({name: 'pool'})
        : tf.layers.flatten({name: 'pool'})
  ).apply(e) as Sym
  const h = tf.layers.dense({units: 5, activation: 'relu', name: 'hidden'}).apply(pooled) as Sym
  const direct = tf.layers.dense({units: 5, name: 'direct'}).apply(ids) as Sym
  const y = tf.layers.dense({units: 3, activation: 'softmax', name: 'head'}).apply(tf.layers.add({name: 'mix'}).apply([h, direct]) as Sym) as Sym
  const m = tf.model({inputs: ids, outputs: y, name: `tokens_${pool}`})
  seedWeights(tf, m, 11)
  return m
}

describe('int32 inputs exported to ONNX', () => {
  it.each(['avg', 'max', 'flatten'] as const)(
    'Embedding → %s pooling → Dense, and a Dense on the ids: whole model and every layer alone within 1e-4 of tfjs',
    async (pool) => {
      const loaded = await loadedFrom(tokenModel(pool))
      expect(loaded.graph.inputs[0].dtype).toBe('int32')
      const ids = tf.randomUniform([3, 8], 0, 12, 'int32', 5)
      const tensors = await allTensors(loaded, [ids])
      const L = loaded.graph.layers.length
      for (let p = 1; p < L; p++) {
        const d = await stageMaxAbsDiff(loaded, p, p, tensors)
        expect(d, loaded.graph.layers[p].name).toBeLessThanOrEqual(1e-4)
      }
      expect(await stageMaxAbsDiff(loaded, 0, L - 1, tensors)).toBeLessThanOrEqual(1e-4)
      // the graph declares the ids int32 (TensorProto INT32 = 6) and gathers them
      const exp = await exportOnnx(loaded)
      const {onnx} = (await import('onnx-proto')).default as typeof import('onnx-proto')
      const g = onnx.ModelProto.decode(exp.bytes).graph!
      expect(g.input![0].type!.tensorType!.elemType).toBe(6)
      expect(g.node!.some((n) => n.opType === 'Gather')).toBe(true)
    },
  )

  it('a stage input that also leaves the stage (the ids read again after the cut) is passed through, not defined twice', async () => {
    const loaded = await loadedFrom(tokenModel('avg'))
    const tensors = await allTensors(loaded, [tf.randomUniform([2, 8], 0, 12, 'int32', 9)])
    const hidden = loaded.graph.layers.findIndex((l) => l.name === 'hidden')
    // [0..hidden] gives out `hidden` and `ids` (the Dense 'direct' reads the ids in the next stage)
    expect((await exportOnnx(loaded, 0, hidden)).outputs.sort()).toEqual(['hidden', 'ids'])
    expect(await stageMaxAbsDiff(loaded, 0, hidden, tensors)).toBeLessThanOrEqual(1e-6)
  })

  it('a bool input is refused in one line naming the tensor, with the --backend wasm hint', async () => {
    const loaded = await loadedFrom(tokenModel('avg'))
    loaded.graph.inputs[0].dtype = 'bool'
    const error = await exportOnnx(loaded).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AmpsUserError)
    const e = error as AmpsUserError
    expect(e.code).toBe('MODEL_UNSUPPORTED_LAYER')
    expect(e.message).toBe('tensor ids is bool; the ONNX backend takes float32 and int32 tensors only')
    expect(e.suggestions?.join(' ')).toContain('--backend wasm')
  })
})

describe('int32 inputs end to end on ORT stages (local target)', () => {
  it('profile --backend onnx, plan 2 stages, deploy, invoke --compare', async () => {
    const modelDir = writeLayersModelDir(join(dir, 'tokens'), await saveToMemory(tokenModel('avg')))
    const prof = join(dir, 'profile.json')
    const p = await runAmps(['profile', modelDir, '--backend', 'onnx', '--quick', '-o', prof, '--json'], {cwd: dir, env})
    expect(p.code, p.stderr).toBe(0)
    const profile = JSON.parse(readFileSync(prof, 'utf8')) as Profile
    expect(profile.environment.backend).toBe('onnx')
    expect(profile.inputs[0].dtype).toBe('int32')
    expect(profile.layers.find((l) => l.name === 'embed')!.timing.length).toBeGreaterThan(0)

    const planPath = join(dir, 'plan.json')
    const r = await runAmps(['plan', prof, '--slo', '5000', '--backend', 'onnx', '--stages', '2', '-o', planPath, '--json'], {cwd: dir, env})
    expect(r.code, r.stderr).toBe(0)
    const plan = JSON.parse(readFileSync(planPath, 'utf8')) as Plan
    expect(plan.stages.map((s) => s.backend)).toEqual(['onnx', 'onnx'])
    expect(plan.stages[0].inputTensors).toEqual(['ids'])

    const out = join(dir, 'deployment.json')
    const d = await runAmps(['deploy', planPath, '-o', out, '--json'], {cwd: dir, env})
    expect(d.stderr).not.toMatch(/probably a bug/)
    expect(d.code, d.stderr).toBe(0)
    const inv = await runAmps(['invoke', out, '--input', 'random', '--compare', '--json'], {cwd: dir, env})
    expect(inv.code, inv.stderr).toBe(0)
    expect(inv.json.maxAbsOutput).toBeGreaterThan(0)
    expect(inv.json.maxAbsDiff).toBeLessThanOrEqual(1e-4)
  }, 240_000)
})
