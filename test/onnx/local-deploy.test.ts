/**
 * ONNX stages end to end on the local target: a hand-written plan with every stage on the 'onnx'
 * backend (tiny CNN in 3 stages, nsfwjs MobileNetV2 in 2), built into bundles that carry model.onnx
 * and only the x64 ORT library, deployed as limited processes, invoked with --compare against the
 * whole tfjs model.
 */
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {readDeployment} from '../../deploy/state/deployment.js'
import {destroyLocal} from '../../deploy/targets/local/index.js'
import {writeGenerated} from '../../examples/models.js'
import {loadModel} from '../../src/model/index.js'
import type {Plan} from '../../src/plan/types.js'
import type {StageSpec} from '../../src/stage/spec.js'
import {handPlan} from '../deploy/hand-plan.js'
import {runAmps} from '../helpers/cli.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'

const dirs: {dir: string; out: string}[] = []

afterAll(async () => {
  for (const {dir, out} of dirs) {
    if (existsSync(out)) await destroyLocal(readDeployment(out), {statePath: out}).catch(() => {})
    rmSync(dir, {recursive: true, force: true})
  }
})

async function deployOnnx(modelDir: string, cuts: string[], memoryMb: number): Promise<{dir: string; out: string; plan: Plan}> {
  const dir = mkdtempSync(join(tmpdir(), 'amps-onnx-'))
  const out = join(dir, 'deployment.json')
  dirs.push({dir, out})
  const plan = handPlan(await loadModel(modelDir), cuts, {memoryMb})
  for (const s of plan.stages) s.backend = 'onnx'
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan, null, 2))
  const r = await runAmps(['deploy', join(dir, 'plan.json'), '--out', out, '--json'], {cwd: dir})
  expect(r.stderr).not.toMatch(/probably a bug/)
  expect(r.code, r.stderr).toBe(0)
  return {dir, out, plan}
}

async function compare(dir: string, out: string): Promise<void> {
  const r = await runAmps(['invoke', out, '--input', 'random', '--compare', '--json'], {cwd: dir})
  expect(r.code, r.stderr).toBe(0)
  expect(r.json.maxAbsOutput).toBeGreaterThan(0)
  expect(r.json.maxAbsDiff).toBeLessThanOrEqual(1e-4)
}

describe('ONNX stages on the local target', () => {
  it('tiny CNN in 3 ONNX stages: bundles carry model.onnx + the x64 ORT library only; invoke --compare passes', async () => {
    const modelDir = await writeGenerated('tinyCnn', mkdtempSync(join(tmpdir(), 'amps-onnx-model-')))
    const {dir, out, plan} = await deployOnnx(modelDir, ['res_relu', 'sep_conv'], 2048)
    const state = readDeployment(out)
    for (const s of state.stages) {
      const bundle = join(dir, '.amps', 'bundles', s.functionName)
      expect(readdirSync(bundle).sort()).toEqual(['index.mjs', 'model.onnx', 'node_modules', 'stage.json'])
      expect(readdirSync(join(bundle, 'node_modules/onnxruntime-node/bin/napi-v6/linux'))).toEqual(['x64'])
      expect(readdirSync(join(bundle, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64')).sort()).toEqual([
        'libonnxruntime.so.1',
        'onnxruntime_binding.node',
      ])
      const spec = JSON.parse(readFileSync(join(bundle, 'stage.json'), 'utf8')) as StageSpec
      expect(spec.backend).toBe('onnx')
      expect(spec.threads).toBe(2) // 2,048 MB → ceil(2048 / 1769) vCPUs
      expect(s.initMs).toBeGreaterThan(0)
    }
    expect(plan.stages).toHaveLength(3)
    await compare(dir, out)
  }, 240_000)

  it('MobileNetV2 in 2 ONNX stages: invoke --compare passes', async () => {
    const {dir, out} = await deployOnnx(nsfwjsModelDir('mobilenet_v2'), ['block_8_add'], 1024)
    await compare(dir, out)
  }, 240_000)
})
