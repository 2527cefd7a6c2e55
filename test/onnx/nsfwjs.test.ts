/**
 * ONNX export numerics on real models: every stage of nsfwjs MobileNetV2 at three cut sets and of
 * InceptionV3 at two, plus each whole model, ORT vs tfjs max abs ≤ 1e-4 (batch 1, seeded inputs).
 */
import {describe, expect, it} from 'vitest'

import {loadModel, stageRanges} from '../../src/model/index.js'
import type {LoadedModel} from '../../src/model/types.js'
import {nsfwjsModelJson} from '../helpers/nsfwjs.js'
import {allTensors, randomInputs, stageMaxAbsDiff} from './helpers.js'

/** Cut sets spread over the valid cuts: fractions of the cut list. */
function cutSets(model: LoadedModel, sets: number[][]): number[][] {
  const cuts = model.graph.cuts
  return sets.map((fr) => fr.map((f) => cuts[Math.min(cuts.length - 1, Math.floor(f * cuts.length))].after))
}

async function checkModel(name: 'mobilenet_v2' | 'inception_v3', sets: number[][]): Promise<void> {
  const model = await loadModel(nsfwjsModelJson(name))
  const tensors = await allTensors(model, await randomInputs(model, 1, 11))
  const L = model.graph.layers.length
  expect(await stageMaxAbsDiff(model, 0, L - 1, tensors)).toBeLessThanOrEqual(1e-4)
  for (const cuts of cutSets(model, sets)) {
    for (const r of stageRanges(L, cuts)) {
      const d = await stageMaxAbsDiff(model, r.first, r.last, tensors)
      expect(d, `${name} stage [${r.first}..${r.last}] of cuts ${JSON.stringify(cuts)}`).toBeLessThanOrEqual(1e-4)
    }
  }
}

describe('ONNX export of nsfwjs models (ORT vs tfjs, max abs ≤ 1e-4)', () => {
  it('MobileNetV2: whole model and every stage of three cut sets', async () => {
    await checkModel('mobilenet_v2', [[0.5], [0.1, 0.45, 0.8], [0.02, 0.3, 0.6, 0.97]])
  }, 120_000)
  it('InceptionV3: whole model and every stage of two cut sets', async () => {
    await checkModel('inception_v3', [[0.5], [0.2, 0.7]])
  }, 180_000)
})
