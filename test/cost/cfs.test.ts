import {describe, expect, it} from 'vitest'

import {CostModel, cfsWallMs, cfsWallMsExact} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {syntheticProfile} from '../helpers/synthetic.js'

const prices = DEFAULT_PRICE_TABLE

describe('CFS period effect (cfsWallMs)', () => {
  // 256 MB on the local target: 10 ms period, quota 1.447 ms
  const f = 256 / 1769
  const P = 10
  const q = P * f

  it('runs work that fits in one period’s quota at full speed', () => {
    expect(cfsWallMs(0.5, f, P)).toBe(0.5)
    expect(cfsWallMs(q, f, P)).toBeCloseTo(q, 12)
    expect(cfsWallMsExact(q * 0.99, f, P)).toBeCloseTo(q * 0.99, 12)
  })

  it('pays a throttle gap of P − q per quota used up, never the last one (exact step function)', () => {
    // 2.5 quotas: two full throttled periods, then half a quota
    expect(cfsWallMsExact(2.5 * q, f, P)).toBeCloseTo(2 * P + 0.5 * q, 9)
    // exactly 3 quotas: the third runs to its end without a gap after it
    expect(cfsWallMsExact(3 * q, f, P)).toBeCloseTo(2 * P + q, 9)
  })

  it('is the step function averaged over a quota of work above q, between it and the fluid model', () => {
    for (const k of [2, 5, 20]) {
      // mean of the exact time over w in (kq, (k+1)q]
      let sum = 0
      const n = 1000
      for (let i = 1; i <= n; i++) sum += cfsWallMsExact(k * q + (i / n) * q, f, P)
      const wMid = k * q + q / 2
      expect(cfsWallMs(wMid, f, P)).toBeCloseTo(sum / n, 1)
      expect(cfsWallMs(wMid, f, P)).toBeLessThan(wMid / f)
    }
    // long work approaches the fluid w/f: the saving is bounded by (P − q)/2
    expect(wMidFluidGap(1000 * q)).toBeCloseTo((P - q) / 2, 9)
    function wMidFluidGap(w: number): number {
      return w / f - cfsWallMs(w, f, P)
    }
  })

  it('is never above the fluid time and never rises with memory', () => {
    for (const w of [0.1, 1, 2, 5, 13, 50, 400]) {
      let prev = Infinity
      for (let m = 128; m <= 1769; m += 64) {
        const t = cfsWallMs(w, m / 1769, P)
        expect(t).toBeLessThanOrEqual((w * 1769) / m + 1e-9)
        expect(t).toBeGreaterThanOrEqual(w - 1e-9)
        expect(t).toBeLessThanOrEqual(prev + 1e-9)
        prev = t
      }
    }
    expect(cfsWallMs(7, 1.5, P)).toBe(7)
  })

  it('changes a short stage’s handler time at low memory and leaves the fluid model alone without a period', () => {
    const p = syntheticProfile({layers: 4, seed: 3, memoryMb: [1769], batchSizes: [1], meanLayerMs: 0.2})
    const fluid = new CostModel(p, {arch: 'x86_64', prices})
    const aware = new CostModel(p, {arch: 'x86_64', prices, cfsPeriodMs: P})
    const r = {first: 0, last: 3}
    const overhead = p.runtime.invokeOverheadMs
    const fluidQuota = fluid.handlerMs(r, 256, 1) - overhead
    const fullSpeed = fluid.handlerMs(r, 1769, 1) - overhead
    expect(fluidQuota).toBeCloseTo(fullSpeed * (1769 / 256), 6)
    // the whole stage is under one quota at 256 MB: it runs at full speed
    expect(fullSpeed).toBeLessThan(q)
    expect(aware.handlerMs(r, 256, 1) - overhead).toBeCloseTo(fullSpeed, 6)
    // at and above one vCPU the period changes nothing
    expect(aware.handlerMs(r, 1769, 1)).toBeCloseTo(fluid.handlerMs(r, 1769, 1), 9)
    // a period per memory size (the local target's stretched period below 177 MB)
    const stretched = new CostModel(p, {arch: 'x86_64', prices, cfsPeriodMs: (m) => Math.max(P, 1769 / m)})
    expect(stretched.cfsPeriodMs?.(128)).toBeCloseTo(1769 / 128, 9)
  })

  it('uses a measured quota curve in place of the period model when given one', () => {
    const p = syntheticProfile({layers: 4, seed: 3, memoryMb: [1769], batchSizes: [1], meanLayerMs: 0.2})
    const seen: [number, number][] = []
    const curve = (cpuMs: number, memoryMb: number) => {
      seen.push([cpuMs, memoryMb])
      return cpuMs * 1.25
    }
    const measured = new CostModel(p, {arch: 'x86_64', prices, cfsPeriodMs: P, quotaWallMs: curve})
    const fluid = new CostModel(p, {arch: 'x86_64', prices})
    const r = {first: 0, last: 3}
    const overhead = p.runtime.invokeOverheadMs
    const fullSpeed = fluid.handlerMs(r, 1769, 1) - overhead
    expect(measured.handlerMs(r, 512, 1) - overhead).toBeCloseTo(fullSpeed * 1.25, 6)
    expect(seen.at(-1)![1]).toBe(512)
    expect(seen.at(-1)![0]).toBeCloseTo(fullSpeed, 6)
    // from one vCPU on there is no quota to consult
    const calls = seen.length
    expect(measured.handlerMs(r, 3008, 1)).toBeCloseTo(fluid.handlerMs(r, 3008, 1), 9)
    expect(seen.length).toBe(calls)
  })
})
