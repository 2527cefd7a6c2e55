/**
 * Which memories the profiler measures and which it derives (src/profile/derive.ts), and what a
 * derived point holds once assembleProfile turns it into times.
 */
import {describe, expect, it} from 'vitest'

import {layerSampleMs} from '../../src/profile/assemble.js'
import {derivePoint, memoryPlan} from '../../src/profile/derive.js'
import type {PointResult} from '../../src/profile/protocol.js'

describe('memoryPlan', () => {
  it('measures the largest memory up to one vCPU and every one above it; derives the rest from it', () => {
    const p = memoryPlan([3008, 512, 1769, 1024], false)
    expect(p.measure).toEqual([1769, 3008])
    expect([...p.derive]).toEqual([
      [512, 1769],
      [1024, 1769],
    ])
  })
  it('derives from the largest requested memory below one vCPU when 1,769 MB is not asked for', () => {
    const p = memoryPlan([256, 1024, 2048, 4096], false)
    expect(p.measure).toEqual([1024, 2048, 4096])
    expect([...p.derive]).toEqual([[256, 1024]])
  })
  it('measures everything when asked to (AMPS_PROFILE_EVERY_MEMORY)', () => {
    expect(memoryPlan([512, 1769], true)).toEqual({measure: [512, 1769], derive: new Map()})
  })
})

describe('derivePoint', () => {
  const ref: PointResult = {
    memoryMb: 1769,
    fraction: 1,
    batch: 2,
    layers: [{index: 1, cpuMs: [2, 3], wallMs: [2.2, 3.1]}],
    wholeWallMs: [10, 12],
    wholeCpuMs: [9, 11],
    chainWallMs: [11],
    tensorsBefore: 0,
    tensorsAfter: 0,
  }
  it('keeps the CPU samples and stretches wall-clock series by the ratio of CPU shares', () => {
    const d = derivePoint(ref, 512, 512 / 1769)
    expect(d.derivedFrom).toBe(1769)
    expect(d.layers).toBe(ref.layers)
    expect(d.wholeCpuMs).toEqual([9, 11])
    expect(d.wholeWallMs[0]).toBeCloseTo(10 * (1769 / 512), 9)
    expect(d.chainWallMs[0]).toBeCloseTo(11 * (1769 / 512), 9)
    // a one-thread sample at 512 MB: its CPU time ÷ 512/1769, as if measured under that quota
    expect(layerSampleMs(d.layers[0].cpuMs[0], d.layers[0].wallMs[0], d.fraction, 1)).toBeCloseTo(2 * (1769 / 512), 9)
  })
  it('refuses to derive a larger CPU share from a smaller one', () => {
    expect(() => derivePoint({...ref, memoryMb: 512, fraction: 512 / 1769}, 1769, 1)).toThrow(RangeError)
  })
})
