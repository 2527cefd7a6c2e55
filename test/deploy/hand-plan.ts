/**
 * A plan.json written by hand (not by the planner) for deploy tests: the model's layer order cut
 * after the given positions, every stage at one memory size. Predicted numbers are rough
 * placeholders derived from MACs so the invoke table has something to show; tests never assert them.
 */
import {writeFileSync} from 'node:fs'

import {loadModel} from '../../src/model/index.js'
import type {LoadedModel} from '../../src/model/types.js'
import {PLAN_VERSION, type Plan, type PlanStage} from '../../src/plan/types.js'

/** MobileNetV2 (nsfwjs) cut between residual blocks: after block_5_add and after block_12_add. */
export const MOBILENET_V2_CUTS = ['block_5_add', 'block_12_add']

export function handPlan(model: LoadedModel, cutAfterLayers: string[], opts: {memoryMb?: number; batch?: number} = {}): Plan {
  const g = model.graph
  const cuts = cutAfterLayers.map((name) => {
    const i = g.layers.findIndex((l) => l.name === name)
    if (i < 0) throw new Error(`no layer ${name}`)
    if (!g.cuts.some((c) => c.after === i)) throw new Error(`${name} (${i}) is not a valid cut`)
    return i
  })
  const memoryMb = opts.memoryMb ?? 1024
  const batch = opts.batch ?? 1
  const bounds = [-1, ...cuts, g.layers.length - 1]
  const stages: PlanStage[] = []
  for (let k = 0; k + 1 < bounds.length; k++) {
    const first = bounds[k] + 1
    const last = bounds[k + 1]
    const layers = g.layers.slice(first, last + 1)
    const macs = layers.reduce((a, l) => a + l.macs, 0)
    const weights = layers.reduce((a, l) => a + l.weightBytes, 0)
    const inCut = g.cuts.find((c) => c.after === first - 1)
    const outCut = g.cuts.find((c) => c.after === last)
    stages.push({
      index: k,
      name: `stage-${k + 1}`,
      layers: {first: layers[0].name, last: layers.at(-1)!.name, firstIndex: first, lastIndex: last, count: layers.length},
      memoryMb,
      arch: 'x86_64',
      packageBytes: 2_000_000 + weights,
      weightsBytes: weights,
      predictedMs: (((macs * batch) / 1e9 / (memoryMb / 1769)) * 1000) / 2,
      inputBytes: (inCut?.bytesPerSample ?? g.inputs.reduce((a, t) => a + t.bytesPerSample, 0)) * batch,
      outputBytes: (outCut?.bytesPerSample ?? g.outputs.reduce((a, t) => a + t.bytesPerSample, 0)) * batch,
      inputTensors: inCut ? inCut.tensors.map((t) => t.id) : g.inputs.map((t) => t.id),
      outputTensors: outCut ? outCut.tensors.map((t) => t.id) : g.outputs.map((t) => t.id),
      handoff: 'inline',
    })
  }
  const serviceMs = stages.reduce((a, s) => a + s.predictedMs, 0)
  return {
    version: PLAN_VERSION,
    model: {name: g.name, sha256: g.sha256, source: model.source},
    inputs: {sloMs: 1000, percentile: 95, ratePerSecond: 1, arch: 'x86_64', region: 'us-east-1', priceTableVersion: 'hand-written', maxBatch: batch},
    batch: {size: batch, timeoutMs: 0},
    stages,
    predicted: {latencyMs: serviceMs, serviceMs, meanBatchSize: batch, costPerMillionUsd: 0, monthlyCostUsd: 0, coldStartMs: 0, coldStartProbability: 0},
    solver: {method: 'fast', optimal: false, solveMs: 0},
    baselines: [],
    createdAt: new Date().toISOString(),
  }
}

export async function writeHandPlan(
  modelDir: string,
  path: string,
  cutAfterLayers = MOBILENET_V2_CUTS,
  opts: {memoryMb?: number; batch?: number} = {},
): Promise<Plan> {
  const model = await loadModel(modelDir)
  const plan = handPlan(model, cutAfterLayers, opts)
  writeFileSync(path, JSON.stringify(plan, null, 2) + '\n')
  return plan
}
