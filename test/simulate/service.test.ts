import {describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE as prices} from '../../src/cost/prices.js'
import {STAGE_TAIL_CAP, computeSpread, layerSpreadAt, meanOf, quantileOf, type Spread} from '../../src/cost/spread.js'
import {cpuSlowdown} from '../../src/cost/timing.js'
import {buildStageModels} from '../../src/simulate/service.js'
import type {TimingPoint} from '../../src/profile/types.js'
import {point, syntheticPlan, syntheticProfile} from './fixtures.js'

/** a single-threaded backend (wasm) at Lambda's 1,769 MB per vCPU */
const wasm = {fullVcpuMb: 1769, threads: 1}

describe('quantile function through min/p10/median/p90/max', () => {
  const s: Spread = [8, 9, 10, 12, 16]
  it('hits the five statistics and interpolates between them', () => {
    expect([0, 0.1, 0.5, 0.9, 1].map((u) => quantileOf(s, u))).toEqual([8, 9, 10, 12, 16])
    expect(quantileOf(s, 0.05)).toBeCloseTo(8.5, 12)
    expect(quantileOf(s, 0.3)).toBeCloseTo(9.5, 12)
    expect(quantileOf(s, 0.95)).toBeCloseTo(14, 12)
  })
  it('has the mean of the piecewise-linear distribution', () => {
    // ∫Q: 0.1·(8+9)/2 + 0.4·(9+10)/2 + 0.4·(10+12)/2 + 0.1·(12+16)/2
    expect(meanOf(s)).toBeCloseTo(0.85 + 3.8 + 4.4 + 1.4, 12)
  })
})

describe("a stage's spread from its layers'", () => {
  const at = (medianMs: number, p10Ms: number, p90Ms: number, maxMs: number): {timing: TimingPoint[]} => ({
    timing: [{memoryMb: 1769, batch: 1, medianMs, p10Ms, p90Ms, minMs: p10Ms, maxMs, repeats: 15, modelled: false}],
  })
  it("sums the layers' statistics (every layer at the same quantile)", () => {
    expect(computeSpread([at(10, 9, 12, 13), at(20, 18, 23, 25)], 1769, 1, wasm)).toEqual([27, 27, 30, 35, 38])
  })
  it("caps the slowest at median + 3·(p90 − median): the layers' slowest samples came from different runs", () => {
    // Σ max = 10 + 60 = 70, but median 30 + 3·(35 − 30) = 45
    const s = computeSpread([at(10, 9, 12, 13), at(20, 18, 23, 57)], 1769, 1, wasm)
    expect(STAGE_TAIL_CAP).toBe(3)
    expect(s[2]).toBe(30)
    expect(s[3]).toBe(35)
    expect(s[4]).toBe(45)
  })
})

describe('layer time at (memory, batch)', () => {
  // fixture layer: (fixed + perSample·k)·max(1, 1769/m), measured at 1024 and 1769 MB, k = 1, 2, 4, 8
  const layer = {timing: [1024, 1769].flatMap((m) => [1, 2, 4, 8].map((k) => point(m, k, 4, 2, 0)))}
  it('returns measured points exactly', () => {
    expect(layerSpreadAt(layer, 1769, 4, wasm)[2]).toBeCloseTo(12, 12)
    expect(layerSpreadAt(layer, 1024, 2, wasm)[2]).toBeCloseTo(8 * (1769 / 1024), 12)
  })
  it('interpolates linearly in batch size', () => {
    expect(layerSpreadAt(layer, 1769, 3, wasm)[2]).toBeCloseTo(10, 12)
    expect(layerSpreadAt(layer, 1769, 6, wasm)[2]).toBeCloseTo(16, 12)
  })
  it('interpolates linearly in 1/memory, which recovers time ∝ 1/CPU share between points', () => {
    expect(layerSpreadAt(layer, 1400, 1, wasm)[2]).toBeCloseTo(6 * (1769 / 1400), 9)
  })
  it('scales by the CPU share outside the measured memories', () => {
    expect(layerSpreadAt(layer, 512, 1, wasm)[2]).toBeCloseTo(6 * (1769 / 512), 9)
    expect(layerSpreadAt(layer, 3008, 1, wasm)[2]).toBeCloseTo(6, 12)
    expect(cpuSlowdown(3008, wasm)).toBe(1)
  })
  it("follows the cost model's CPU-share rule for a multi-threaded backend: up to `threads` vCPUs above 1,769 MB", () => {
    expect(layerSpreadAt(layer, 3538, 1, {fullVcpuMb: 1769, threads: 2})[2]).toBeCloseTo(3, 12)
    expect(layerSpreadAt(layer, 3538, 1, wasm)[2]).toBeCloseTo(6, 12)
  })
  it('extrapolates along the last slope above the largest batch, proportionally below the smallest', () => {
    expect(layerSpreadAt(layer, 1769, 16, wasm)[2]).toBeCloseTo(4 + 2 * 16, 9)
    const only4 = {timing: [point(1769, 4, 4, 2, 0)]}
    expect(layerSpreadAt(only4, 1769, 2, wasm)[2]).toBeCloseTo(6, 12)
  })
  it('gives zero for a layer without timing', () => {
    expect(layerSpreadAt({timing: []}, 1024, 3, wasm)).toEqual([0, 0, 0, 0, 0])
  })
})

describe('stage models', () => {
  const lat = prices.latency
  it("takes the median from the planner's cost model: layers + codec + handler overhead, INIT", () => {
    const plan = syntheticPlan({batch: 4})
    const {models, warnings} = buildStageModels(plan, syntheticProfile({spread: 0}), {prices})
    const [s1, s2] = models
    expect(warnings).toEqual([])
    // stage 2 at 1769 MB, batch 2: l2 (6 + 3·2) + l3 (2 + 1·2) = 16 ms; codec: (400 in + 400 out)·2 B
    // at 2 ms/MB; handler overhead 1 ms
    const codec = ((800 * 2) / 1048576) * 2
    expect(s2.handlerSpread[2]).toEqual(new Array(5).fill(s2.handlerSpread[2][2]))
    expect(s2.handlerSpread[2][2]).toBeCloseTo(16 + codec + 1, 9)
    // stage 1 at 1024 MB, batch 1: l1 (4 + 2)·1769/1024, codec slowed by the same CPU share
    expect(s1.handlerSpread[1][2]).toBeCloseTo(6 * (1769 / 1024) + (800 / 1048576) * 2 * (1769 / 1024) + 1, 9)
    // outside the handler: the Invoke round trip
    expect(s1.unbilledMs[3]).toBe(lat.invokeRoundTripMs.value)
    // INIT billed: (300 ms runtime + 10 ms/MB × weights)·CPU share; latency adds the platform part
    const init = (300 + (10 * 8000) / 1048576) * (1769 / 1024)
    expect(s1.initBilledMs).toBeCloseTo(init, 9)
    const pkgMb = (prices.packaging.runtimeBytes.value + 8000) / 1048576
    expect(s1.initLatencyMs).toBeCloseTo(init + lat.coldStartBaseMs.value + lat.coldStartMsPerPackageMb.value * pkgMb, 9)
    expect(s1.source).toBe('profile')
    expect(s1.handlerSpread).toHaveLength(5)
    expect(s1.s3UsdPerBatch).toBe(0)
  })
  it('spreads the compute part around that median by the profile', () => {
    const plan = syntheticPlan({batch: 4})
    const flat = buildStageModels(plan, syntheticProfile({spread: 0}), {prices}).models[1]
    const wide = buildStageModels(plan, syntheticProfile({spread: 0.2}), {prices}).models[1]
    // fixture spread 0.2: min 0.8, p10 0.9, median 1, p90 1.2, max 1.6 × the median of every layer
    const compute = 6 + 3 * 4 + 2 + 1 * 4
    const median = flat.handlerSpread[4][2]
    expect(wide.handlerSpread[4][2]).toBeCloseTo(median, 9)
    const factors = [0.8, 0.9, 1, 1.2, 1.6]
    factors.forEach((f, q) => expect(wide.handlerSpread[4][q]).toBeCloseTo(median + compute * (f - 1), 9))
  })
  it("falls back to the plan's predictedMs without a profile", () => {
    const plan = syntheticPlan({batch: 4})
    const {models} = buildStageModels(plan, undefined, {prices})
    expect(models[0].source).toBe('plan')
    expect(models[0].handlerSpread[1]).toEqual([20, 20, 20, 20, 20])
    expect(models[0].initLatencyMs).toBe(plan.predicted.coldStartMs)
    expect(models[0].unbilledMs[2]).toBe(lat.invokeRoundTripMs.value)
  })
  it('rejects a plan whose layers do not match the profile', () => {
    const plan = syntheticPlan()
    plan.stages[1].layers.last = 'other'
    expect(() => buildStageModels(plan, syntheticProfile(), {prices})).toThrow(/the plan says layers l2..other/)
    plan.stages[1].layers.lastIndex = 9
    expect(() => buildStageModels(plan, syntheticProfile(), {prices})).toThrow(/layer position 4 is not in the profile/)
  })
  it('rejects a stage boundary that is not a cut of the profile', () => {
    const profile = syntheticProfile()
    profile.cuts = profile.cuts.filter((c) => c.after !== 1)
    expect(() => buildStageModels(syntheticPlan(), profile, {prices})).toThrow(/stage stage-1: no valid cut after layer position 1/)
  })
})
