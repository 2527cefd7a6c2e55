import type * as tfType from '../../src/runtime/tfjs.js'
import {beforeAll, describe, expect, it} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'
import {deepChain} from '../../examples/models.js'
import {loadModelFromArtifacts, loadStageModel, runStages} from '../../src/model/index.js'
import type {CanonicalArtifacts, StageArtifacts} from '../../src/model/types.js'
import {initTf} from '../../src/runtime/tf.js'

let tf: typeof tfType

beforeAll(async () => {
  tf = (await initTf()).tf
})

describe('deep chains', () => {
  it('a 4,000-layer Dense/ReLU chain loads (worker with a large stack) and runs as stages', async () => {
    const depth = 4000
    const files = deepChain(depth)
    const model = await loadModelFromArtifacts(files, {source: 'chain', format: 'tfjs-layers', name: 'chain'})
    expect(model.graph.layers).toHaveLength(depth + 1)
    expect(model.graph.cuts).toHaveLength(depth)
    expect(model.graph.totals.params).toBe((depth / 2) * (16 + 4))
    // oracle: the same chain in float64 JavaScript
    const x = [
      [0.1, 0.5, -0.3, 0.9],
      [1, -1, 0.25, 0],
    ]
    const w = new Float32Array(files.weightData)
    let h = x.map((r) => [...r])
    let at = 0
    for (let i = 0; i < depth; i++) {
      if (i % 2 === 1) {
        h = h.map((r) => r.map((v) => Math.max(0, v)))
        continue
      }
      const k = w.subarray(at, at + 16)
      const b = w.subarray(at + 16, at + 20)
      at += 20
      h = h.map((r) => [0, 1, 2, 3].map((c) => b[c] + r.reduce((s, v, j) => s + v * k[j * 4 + c], 0)))
    }
    const cuts = [999, 1999, 2999]
    const [y] = await runStages(model, cuts, tf.tensor2d(x))
    const got = y.arraySync() as number[][]
    const scale = Math.max(...h.flat().map(Math.abs))
    for (const [i, r] of h.entries()) for (const [j, v] of r.entries()) expect(Math.abs(got[i][j] - v)).toBeLessThanOrEqual(1e-4 * scale)
  })
})

describe('stages too deep for the stack', () => {
  it('loadStageModel reports a clear error instead of a stack overflow', async () => {
    const files = deepChain(12000)
    const stage: StageArtifacts = {
      first: 0,
      last: 12000,
      firstLayer: 'chain_in',
      lastLayer: 'r11999',
      inputs: [],
      outputs: [],
      artifacts: {...files, modelTopology: files.modelTopology as CanonicalArtifacts['modelTopology']},
      weightBytes: files.weightData.byteLength,
    }
    const error = await loadStageModel(stage).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('MODEL_FORMAT_UNSUPPORTED')
    expect((error as Error).message).toMatch(/\(12001 layers\) is too deep/)
  })
})
