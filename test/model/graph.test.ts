import {describe, expect, it} from 'vitest'

import {computeCuts, peakActivationBytes, stageBoundary, topologicalOrder} from '../../src/model/graph.js'
import type {KerasFunctionalTopology} from '../../src/model/keras-format.js'
import {layerMacs} from '../../src/model/macs.js'
import type {LayerGraph, LayerInfo} from '../../src/model/types.js'

/** A hand-made graph: [name, inbound ids, bytes of its one output]; sizes are plain numbers. */
function graphOf(spec: [string, string[], number][], outputs: string[]): LayerGraph {
  const layers: LayerInfo[] = spec.map(([name, inbound, bytes], index) => ({
    index,
    name,
    className: inbound.length === 0 ? 'InputLayer' : 'Dense',
    inbound,
    outputs: [{id: name, shape: [null, bytes / 4], dtype: 'float32', bytesPerSample: bytes}],
    params: 0,
    weightBytes: 0,
    storedWeightBytes: 0,
    macs: 0,
    macsEstimated: false,
  }))
  const info = (id: string) => layers.find((l) => l.name === id)!.outputs[0]
  const g: LayerGraph = {
    name: 't',
    format: 'tfjs-layers',
    sha256: '',
    inputs: layers.filter((l) => l.inbound.length === 0).map((l) => l.outputs[0]),
    outputs: outputs.map(info),
    layers,
    cuts: [],
    totals: {params: 0, weightBytes: 0, storedWeightBytes: 0, macs: 0},
    warnings: [],
  }
  g.cuts = computeCuts(g)
  return g
}

// in(100) → a(200) → b(40) → c(80, consumes b and in: a residual) → d(8)
const residual = graphOf(
  [
    ['in', [], 100],
    ['a', ['in'], 200],
    ['b', ['a'], 40],
    ['c', ['b', 'in'], 80],
    ['d', ['c'], 8],
  ],
  ['d'],
)

describe('cut points', () => {
  it('list the tensors that cross each position, with summed bytes', () => {
    expect(residual.cuts.map((c) => [c.after, c.tensors.map((t) => t.id), c.bytesPerSample])).toEqual([
      [0, ['in'], 100],
      [1, ['in', 'a'], 300],
      [2, ['in', 'b'], 140],
      [3, ['c'], 80],
    ])
  })

  it('carry a model output produced early to the end', () => {
    const g = graphOf(
      [
        ['x', [], 16],
        ['aux', ['x'], 4],
        ['h', ['x'], 32],
        ['out', ['h'], 8],
      ],
      ['out', 'aux'],
    )
    expect(g.cuts.map((c) => c.tensors.map((t) => t.id))).toEqual([['x'], ['x', 'aux'], ['aux', 'h']])
    expect(stageBoundary(g, 0, 1).outputs.map((u) => u.info.id)).toEqual(['x', 'aux'])
    expect(stageBoundary(g, 2, 3).inputs.map((u) => u.info.id)).toEqual(['x'])
    expect(stageBoundary(g, 2, 3).outputs.map((u) => u.info.id)).toEqual(['out'])
  })
})

describe('peakActivationBytes', () => {
  it('whole residual graph: in + a alive while a runs, then in + b + c', () => {
    // p0 in:100 | p1 +a → 300, free nothing (in used by c) | p2 +b → 340, free a → 140 | p3 +c → 220, free b,in → 80 | p4 +d → 88
    expect(peakActivationBytes(residual, 0, 4)).toBe(340)
  })
  it('a stage counts its inputs from the start and keeps its outputs', () => {
    // stage [2..3]: inputs a(200), in(100) → 300; +b 340, free a → 140; +c 220 → peak 340
    expect(peakActivationBytes(residual, 2, 3)).toBe(340)
    // stage [3..4]: inputs in, b → 140; +c 220; free in,b → 80; +d 88
    expect(peakActivationBytes(residual, 3, 4)).toBe(220)
    // stage [1..1]: input in(100) + a(200) while a runs
    expect(peakActivationBytes(residual, 1, 1)).toBe(300)
  })
})

describe('topologicalOrder', () => {
  it('puts InputLayers first and otherwise follows config order among ready layers', () => {
    const topo: KerasFunctionalTopology = {
      class_name: 'Model',
      config: {
        name: 'm',
        layers: [
          {
            name: 'late',
            class_name: 'Add',
            config: {},
            inbound_nodes: [
              [
                ['b1', 0, 0],
                ['a1', 0, 0],
              ],
            ],
          },
          {name: 'b1', class_name: 'Dense', config: {}, inbound_nodes: [[['in2', 0, 0]]]},
          {name: 'in1', class_name: 'InputLayer', config: {}, inbound_nodes: []},
          {name: 'a1', class_name: 'Dense', config: {}, inbound_nodes: [[['in1', 0, 0]]]},
          {name: 'in2', class_name: 'InputLayer', config: {}, inbound_nodes: []},
        ],
        input_layers: [
          ['in1', 0, 0],
          ['in2', 0, 0],
        ],
        output_layers: [['late', 0, 0]],
      },
    }
    expect(topologicalOrder(topo).map((l) => l.name)).toEqual(['in1', 'in2', 'b1', 'a1', 'late'])
  })
})

describe('layerMacs', () => {
  const cl = (className: string, config: Record<string, unknown>, inputShapes: (number | null)[][], outputShapes: (number | null)[][]) =>
    layerMacs({className, config, inputShapes, outputShapes})

  it.each([
    ['Conv2D 3×3, 8→16, 10×10 out', cl('Conv2D', {kernel_size: [3, 3]}, [[null, 12, 12, 8]], [[null, 10, 10, 16]]), 10 * 10 * 16 * 9 * 8],
    ['Conv2D with relu', cl('Conv2D', {kernel_size: [1, 1], activation: 'relu'}, [[null, 4, 4, 2]], [[null, 4, 4, 3]]), 4 * 4 * 3 * 2 + 48],
    [
      'Conv2D channels_first',
      cl('Conv2D', {kernel_size: [3, 3], data_format: 'channels_first'}, [[null, 8, 12, 12]], [[null, 16, 10, 10]]),
      10 * 10 * 16 * 9 * 8,
    ],
    ['DepthwiseConv2D ×2', cl('DepthwiseConv2D', {kernel_size: [3, 3], depth_multiplier: 2}, [[null, 8, 8, 4]], [[null, 8, 8, 8]]), 8 * 8 * 8 * 9],
    ['SeparableConv2D', cl('SeparableConv2D', {kernel_size: [3, 3], depth_multiplier: 1}, [[null, 8, 8, 4]], [[null, 8, 8, 6]]), 64 * 4 * 9 + 64 * 6 * 4],
    ['Dense on a sequence', cl('Dense', {units: 5}, [[null, 7, 3]], [[null, 7, 5]]), 7 * 3 * 5],
    ['BatchNormalization', cl('BatchNormalization', {}, [[null, 4, 4, 3]], [[null, 4, 4, 3]]), 48],
    ['MaxPooling2D 2×2', cl('MaxPooling2D', {pool_size: [2, 2]}, [[null, 8, 8, 3]], [[null, 4, 4, 3]]), 48 * 4],
    ['GlobalAveragePooling2D', cl('GlobalAveragePooling2D', {}, [[null, 8, 8, 3]], [[null, 3]]), 192],
    [
      'Add of three',
      cl(
        'Add',
        {},
        [
          [null, 5],
          [null, 5],
          [null, 5],
        ],
        [[null, 5]],
      ),
      10,
    ],
    [
      'Concatenate',
      cl(
        'Concatenate',
        {},
        [
          [null, 5],
          [null, 5],
        ],
        [[null, 10]],
      ),
      0,
    ],
    ['ZeroPadding2D', cl('ZeroPadding2D', {}, [[null, 4, 4, 1]], [[null, 6, 6, 1]]), 0],
    ['ReLU', cl('ReLU', {}, [[null, 9]], [[null, 9]]), 9],
  ])('%s', (_name, result, expected) => {
    expect(result).toEqual({macs: expected, estimated: false})
  })

  it('estimates unknown classes from the output size', () => {
    expect(cl('LSTM', {}, [[null, 10, 4]], [[null, 8]])).toEqual({macs: 8, estimated: true})
  })
})
