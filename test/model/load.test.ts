import {copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {GENERATED, type GeneratedName, writeGenerated} from '../../examples/models.js'
import {loadModel} from '../../src/model/index.js'
import type {LayerGraph, LoadedModel} from '../../src/model/types.js'
import {initTf} from '../../src/runtime/tf.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'

function specElements(model: LoadedModel): number {
  return model.artifacts.weightSpecs.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0)
}

/** Naive oracle: tensors produced at <= k and consumed at > k, or model outputs produced at <= k. */
function naiveCrossing(graph: LayerGraph, k: number): string[] {
  const outs = new Set(graph.outputs.map((t) => t.id))
  const ids: string[] = []
  for (const layer of graph.layers.slice(0, k + 1)) {
    for (const t of layer.outputs) {
      const later = graph.layers.slice(k + 1).some((l) => l.inbound.includes(t.id))
      if (later || outs.has(t.id)) ids.push(t.id)
    }
  }
  return ids
}

function checkGraphInvariants(model: LoadedModel): void {
  const g = model.graph
  // params equal the stored weights' element counts, and tfjs' own count
  expect(g.totals.params).toBe(specElements(model))
  // positions are a topological order with InputLayers first
  const pos = new Map(g.layers.map((l) => [l.name, l.index]))
  const nInputs = g.layers.filter((l) => l.className === 'InputLayer').length
  g.layers.forEach((l, i) => {
    expect(l.index).toBe(i)
    if (l.className === 'InputLayer') expect(i).toBeLessThan(nInputs)
    for (const id of l.inbound) expect(pos.get(id.split(':')[0])).toBeLessThan(i)
  })
  // every weight spec is owned by exactly one layer
  const owned = g.layers.flatMap((l) => l.weightNames ?? [])
  expect(owned.sort()).toEqual(model.artifacts.weightSpecs.map((s) => s.name).sort())
  // cuts: one per position when shapes are known, tensors as the naive oracle says, bytes summed
  expect(g.cuts.map((c) => c.after)).toEqual([...Array(g.layers.length - 1).keys()])
  for (const c of g.cuts) {
    expect(c.tensors.map((t) => t.id).sort()).toEqual(naiveCrossing(g, c.after).sort())
    expect(c.bytesPerSample).toBe(c.tensors.reduce((s, t) => s + t.bytesPerSample, 0))
    expect(c.afterLayer).toBe(g.layers[c.after].name)
  }
  for (const l of g.layers) {
    for (const t of l.outputs) expect(t.bytesPerSample).toBe((t.shape.slice(1) as number[]).reduce((a, b) => a * b, 1) * 4)
  }
  expect(g.sha256).toMatch(/^[0-9a-f]{64}$/)
}

describe('nsfwjs MobileNetV2 (real Keras model, uint8-quantized weights)', () => {
  let model: LoadedModel
  beforeAll(async () => {
    await initTf()
    model = await loadModel(nsfwjsModelDir('mobilenet_v2'))
  })

  it('has 162 layers, 2.6 M params and one cut per position', () => {
    const g = model.graph
    expect(g.layers).toHaveLength(162)
    expect(g.format).toBe('tfjs-layers')
    expect(g.name).toBe('mobilenet_v2')
    expect(g.inputs.map((t) => t.shape)).toEqual([[null, 224, 224, 3]])
    expect(g.outputs.map((t) => t.shape)).toEqual([[null, 5]])
    checkGraphInvariants(model)
    // quantized uint8: one stored byte per parameter, four at run time
    expect(g.totals.storedWeightBytes).toBe(g.totals.params)
    expect(g.totals.weightBytes).toBe(4 * g.totals.params)
  })

  it('gives two-tensor cuts inside every residual block (before each Add)', () => {
    const g = model.graph
    const adds = g.layers.filter((l) => l.className === 'Add')
    expect(adds).toHaveLength(10)
    for (const add of adds) {
      const cut = g.cuts.find((c) => c.after === add.index - 1)
      expect(cut?.tensors.map((t) => t.id).sort()).toEqual([...add.inbound].sort())
    }
    // right after an Add only its output crosses
    for (const add of adds) expect(g.cuts.find((c) => c.after === add.index)?.tensors.map((t) => t.id)).toEqual([add.name])
  })

  it('computes MACs with the exact formulas', () => {
    const byName = new Map(model.graph.layers.map((l) => [l.name, l]))
    // Conv1: 3×3×3 kernel, 32 filters, stride 2 on 225×225 (padded) → 112×112×32
    expect(byName.get('Conv1')?.macs).toBe(112 * 112 * 32 * 3 * 3 * 3)
    // expanded_conv_depthwise: 3×3 depthwise on 112×112×32
    expect(byName.get('expanded_conv_depthwise')?.macs).toBe(112 * 112 * 32 * 9)
    expect(byName.get('bn_Conv1')?.macs).toBe(112 * 112 * 32)
    const dense = model.graph.layers.filter((l) => l.className === 'Dense')
    for (const d of dense) {
      const inF = model.graph.layers.find((l) => l.name === d.inbound[0])?.outputs[0].shape.at(-1) as number
      const units = d.outputs[0].shape.at(-1) as number
      // in × units, plus one per unit when an activation is fused
      expect([inF * units, inF * units + units]).toContain(d.macs)
    }
    expect(model.graph.layers.every((l) => !l.macsEstimated)).toBe(true)
    expect(model.graph.warnings).toEqual([])
  })

  it('hashes topology + weights: same files same hash, one changed weight byte a new hash', async () => {
    const again = await loadModel(nsfwjsModelDir('mobilenet_v2'))
    expect(again.graph.sha256).toBe(model.graph.sha256)
    const dir = mkdtempSync(join(tmpdir(), 'amps-sha-'))
    const src = nsfwjsModelDir('mobilenet_v2')
    for (const f of readdirSync(src)) copyFileSync(join(src, f), join(dir, f))
    const shard = join(dir, 'group1-shard1of1.bin')
    const bytes = readFileSync(shard)
    bytes[1000] ^= 1
    writeFileSync(shard, bytes)
    const changed = await loadModel(dir)
    expect(changed.graph.sha256).not.toBe(model.graph.sha256)
  })
})

describe('nsfwjs InceptionV3 (real Keras model)', () => {
  it('has 318 layers, multi-tensor cuts in its Concatenate blocks', async () => {
    await initTf()
    const model = await loadModel(join(nsfwjsModelDir('inception_v3'), 'model.json'))
    const g = model.graph
    expect(g.layers).toHaveLength(318)
    expect(g.inputs.map((t) => t.shape)).toEqual([[null, 299, 299, 3]])
    checkGraphInvariants(model)
    // before each Concatenate all of its branches cross the cut
    for (const cat of g.layers.filter((l) => l.className === 'Concatenate')) {
      const cut = g.cuts.find((c) => c.after === cat.index - 1)
      for (const id of cat.inbound) expect(cut?.tensors.map((t) => t.id)).toContain(id)
    }
    expect(Math.max(...g.cuts.map((c) => c.tensors.length))).toBeGreaterThanOrEqual(4)
    // Concatenate moves data only; AveragePooling counts its window
    const pool = g.layers.find((l) => l.className === 'AveragePooling2D')
    expect(pool?.macs).toBe((pool?.outputs[0].shape.slice(1) as number[]).reduce((a, b) => a * b, 1) * 9)
  })
})

describe('generated models', () => {
  const names = Object.keys(GENERATED) as GeneratedName[]
  it.each(names)('%s loads with consistent graph facts', async (name) => {
    const dir = mkdtempSync(join(tmpdir(), `amps-gen-${name}-`))
    await writeGenerated(name, dir, {shardBytes: 1000})
    const model = await loadModel(dir)
    checkGraphInvariants(model)
    expect(model.graph.totals.storedWeightBytes).toBe(model.graph.totals.weightBytes)
  })

  it('Sequential becomes Functional with a generated InputLayer and a chain of inbound nodes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-seq-'))
    await writeGenerated('tinyMlp', dir)
    const raw = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    expect(raw.modelTopology.class_name).toBe('Sequential')
    const model = await loadModel(dir)
    const topo = model.artifacts.modelTopology as any
    expect(topo.class_name).toBe('Model')
    expect(topo.config.input_layers).toEqual([['mlp_dense_1_input', 0, 0]])
    expect(model.graph.layers.map((l) => l.inbound)).toEqual([[], ['mlp_dense_1_input'], ['mlp_dense_1'], ['mlp_dense_2'], ['mlp_dropout']])
    // Dense MACs: in × units (+ units for the fused relu)
    expect(model.graph.layers[1].macs).toBe(20 * 32 + 32)
    expect(model.graph.layers[4].macs).toBe(16 * 4 + 4)
  })

  it('a layer with several outputs names them layer, layer:1, layer:2 and estimates its MACs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-lstm-'))
    await writeGenerated('lstmStates', dir)
    const model = await loadModel(dir)
    const lstm = model.graph.layers.find((l) => l.name === 'lstm')!
    expect(lstm.outputs.map((t) => [t.id, t.shape])).toEqual([
      ['lstm', [null, 6, 4]],
      ['lstm:1', [null, 4]],
      ['lstm:2', [null, 4]],
    ])
    expect(model.graph.layers.find((l) => l.name === 'h_dense')?.inbound).toEqual(['lstm:1'])
    expect(lstm.macsEstimated).toBe(true)
    expect(model.graph.warnings.join(' ')).toMatch(/LSTM/)
  })

  it('quantized copies (uint8, uint16, float16) load with their stored sizes', async () => {
    for (const [q, bytes] of [
      ['uint8', 1],
      ['uint16', 2],
      ['float16', 2],
    ] as const) {
      const dir = mkdtempSync(join(tmpdir(), `amps-q-${q}-`))
      await writeGenerated('tinyCnn', dir, {quantize: q})
      const model = await loadModel(dir)
      expect(model.graph.totals.storedWeightBytes).toBe(bytes * model.graph.totals.params)
      expect(model.artifacts.weightSpecs.every((s) => s.quantization?.dtype === q)).toBe(true)
    }
  })
})
