import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import type * as tfType from '../../src/runtime/tfjs.js'
import {beforeAll, describe, expect, it} from 'vitest'

import {GENERATED, type GeneratedName, seededRandom, writeGenerated} from '../../examples/models.js'
import {extractStage, extractStages, loadModel, runStages, stageRanges} from '../../src/model/index.js'
import type {LoadedModel} from '../../src/model/types.js'
import {initTf} from '../../src/runtime/tf.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'

let tf: typeof tfType

beforeAll(async () => {
  tf = (await initTf()).tf
})

/** k distinct sorted cut positions drawn from a seeded PRNG. */
function randomCuts(layers: number, k: number, seed: number): number[] {
  const rand = seededRandom(seed)
  const set = new Set<number>()
  while (set.size < Math.min(k, layers - 1)) set.add(Math.floor(rand() * (layers - 1)))
  return [...set].sort((a, b) => a - b)
}

function inputsFor(model: LoadedModel, batch: number, seed: number): tfType.Tensor[] {
  return model.graph.inputs.map((t, i) => tf.randomUniform([batch, ...(t.shape.slice(1) as number[])], 0, 1, 'float32', seed + i))
}

async function wholeOutputs(model: LoadedModel, xs: tfType.Tensor[]): Promise<tfType.Tensor[]> {
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  const y = m.predict(xs.length === 1 ? xs[0] : xs)
  m.dispose()
  return Array.isArray(y) ? y : [y]
}

/** max |staged − whole| ≤ 1e-5 × max |whole| for every output */
function expectClose(staged: tfType.Tensor[], whole: tfType.Tensor[]): void {
  expect(staged).toHaveLength(whole.length)
  whole.forEach((w, i) => {
    expect(staged[i].shape).toEqual(w.shape)
    const diff = tf.max(tf.abs(tf.sub(staged[i], w))).dataSync()[0]
    const scale = tf.max(tf.abs(w)).dataSync()[0]
    expect(diff).toBeLessThanOrEqual(1e-5 * scale)
  })
}

function checkStageWeights(model: LoadedModel, cuts: number[]): void {
  const stages = extractStages(model, cuts)
  // stage weights are exactly the range's weights, and the stages partition the model's weights
  const all: string[] = []
  for (const s of stages) {
    const names = s.artifacts.weightSpecs.map((w) => w.name)
    const owned = model.graph.layers.slice(s.first, s.last + 1).flatMap((l) => l.weightNames ?? [])
    expect(names.sort()).toEqual(owned.sort())
    expect(s.storedWeightBytes).toBe((s.artifacts.weightData as ArrayBuffer).byteLength)
    expect(s.weightBytes).toBe(model.graph.layers.slice(s.first, s.last + 1).reduce((t, l) => t + l.weightBytes, 0))
    all.push(...names)
  }
  expect(all.sort()).toEqual(model.artifacts.weightSpecs.map((w) => w.name).sort())
  // each stage's inputs are tensors earlier stages (or the caller) provide
  const available = new Set(model.graph.inputs.map((t) => t.id))
  for (const s of stages) {
    for (const t of s.inputs) expect(available.has(t.id)).toBe(true)
    for (const t of s.outputs) available.add(t.id)
  }
  for (const t of model.graph.outputs) expect(available.has(t.id)).toBe(true)
}

describe('stageRanges', () => {
  it('turns cuts into contiguous ranges and rejects bad cut lists', () => {
    expect(stageRanges(10, [2, 5])).toEqual([
      {first: 0, last: 2},
      {first: 3, last: 5},
      {first: 6, last: 9},
    ])
    expect(stageRanges(10, [])).toEqual([{first: 0, last: 9}])
    expect(() => stageRanges(10, [5, 2])).toThrow(/increasing/)
    expect(() => stageRanges(10, [9])).toThrow(/0\.\.8/)
  })
})

describe('stages of nsfwjs models equal the whole model', () => {
  it.each([
    ['mobilenet_v2', 11, 2, [1, 3, 6]],
    ['inception_v3', 12, 1, [2, 6]],
  ] as const)('%s, random cut sets (seed %i, batch %i, cut counts %j)', async (name, seed, batch, counts) => {
    const model = await loadModel(nsfwjsModelDir(name))
    const xs = inputsFor(model, batch, seed)
    const whole = await wholeOutputs(model, xs)
    const L = model.graph.layers.length
    for (const [i, k] of counts.entries()) {
      const cuts = randomCuts(L, k, seed * 100 + i)
      checkStageWeights(model, cuts)
      expectClose(await runStages(model, cuts, xs), whole)
    }
  })

  it('a MobileNetV2 stage cut inside a residual block takes two tensors and keeps uint8 weights', async () => {
    const model = await loadModel(nsfwjsModelDir('mobilenet_v2'))
    const add = model.graph.layers.find((l) => l.name === 'block_2_add')!
    const stage = extractStage(model, add.index, model.graph.layers.length - 1)
    expect(stage.inputs.map((t) => t.id).sort()).toEqual([...add.inbound].sort())
    expect(stage.artifacts.weightSpecs.every((w) => w.quantization?.dtype === 'uint8')).toBe(true)
    const topo = stage.artifacts.modelTopology as any
    expect(topo.config.input_layers).toHaveLength(2)
    expect(topo.config.layers.filter((l: any) => l.class_name === 'InputLayer')).toHaveLength(2)
  })
})

describe('stages of generated models equal the whole model', () => {
  const names = Object.keys(GENERATED) as GeneratedName[]
  it.each(names)('%s: every single cut and random cut sets', async (name) => {
    const dir = mkdtempSync(join(tmpdir(), `amps-stage-${name}-`))
    await writeGenerated(name, dir, {quantize: name === 'tinyCnn' ? 'float16' : undefined})
    const model = await loadModel(dir)
    const xs = inputsFor(model, 3, 7)
    const whole = await wholeOutputs(model, xs)
    const L = model.graph.layers.length
    const cutSets = [...Array(L - 1).keys()].map((k) => [k])
    for (let i = 0; i < 4; i++) cutSets.push(randomCuts(L, 2 + i, 1000 + i))
    cutSets.push([...Array(L - 1).keys()]) // one layer per stage
    for (const cuts of cutSets) {
      checkStageWeights(model, cuts)
      expectClose(await runStages(model, cuts, xs), whole)
    }
  })

  it('a stage holding a mid-graph model output returns it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-two-heads-'))
    await writeGenerated('twoHeads', dir)
    const model = await loadModel(dir)
    const aux = model.graph.layers.find((l) => l.name === 'aux_out')!
    const stage = extractStage(model, 0, aux.index)
    expect(stage.outputs.map((t) => t.id)).toContain('aux_out')
  })
})
