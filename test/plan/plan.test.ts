import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {billedMs, CostModel} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile, readPlan, validatePlan, writePlan} from '../../src/plan/index.js'
import type {Plan} from '../../src/plan/types.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {userError} from '../helpers/errors.js'

/** Re-price a plan from its stages with the layer-by-layer model (not the solver's arithmetic). */
function reprice(plan: Plan): {latency: number; perRequest: number} {
  let service = 0
  for (const s of plan.stages) service += s.latencyMs!
  const perBatch = plan.stages.reduce((sum, s) => sum + s.costPerBatchUsd!, 0)
  return {latency: (plan.predicted.waitMs ?? 0) + service, perRequest: perBatch / plan.predicted.meanBatchSize}
}

describe('planFromProfile', () => {
  const profile = syntheticProfile({layers: 24, seed: 21, topology: 'dag', meanLayerMs: 4, meanWeightBytes: 3e6})

  it('plans a valid chain covering the model that meets the SLO, cheaper than every baseline', () => {
    const plan = planFromProfile(profile, {sloMs: 400, ratePerSecond: 25, now: new Date('2026-11-23T00:00:00Z')})
    expect(() => validatePlan(plan)).not.toThrow()
    expect(plan.stages[0].layers.firstIndex).toBe(0)
    expect(plan.stages[plan.stages.length - 1].layers.lastIndex).toBe(profile.layers.length - 1)
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(400)
    expect(plan.batch.size).toBeGreaterThan(1)
    expect(plan.predicted.meanBatchSize).toBeGreaterThan(1)
    // the numbers in the plan add up, priced layer by layer
    const r = reprice(plan)
    // the percentile latency is the wait + Σ median stage latencies plus what the stages' spread adds
    expect(Number.isFinite(plan.predicted.spreadMs)).toBe(true)
    expect(r.latency + plan.predicted.spreadMs!).toBeCloseTo(plan.predicted.latencyMs, 2)
    expect(r.perRequest * 1e6).toBeCloseTo(plan.predicted.costPerMillionUsd, 9)
    expect(plan.predicted.monthlyCostUsd).toBeCloseTo(r.perRequest * 25 * 730 * 3600, 6)
    // every stage's recorded time is the definitional model's
    const model = new CostModel(profile, {arch: plan.stages[0].arch, prices: DEFAULT_PRICE_TABLE})
    for (const s of plan.stages) {
      const range = {first: s.layers.firstIndex, last: s.layers.lastIndex}
      expect(s.predictedMs).toBeCloseTo(model.handlerMs(range, s.memoryMb, plan.batch.size), 2)
      expect(s.billedMs).toBe(billedMs(model.handlerMs(range, s.memoryMb, plan.batch.size)))
      expect(s.billedMsByBatch).toHaveLength(plan.batch.size)
      expect(s.memoryMb).toBeGreaterThanOrEqual(model.requiredMemoryMb(range, plan.batch.size))
    }
    expect(plan.baselines.map((b) => b.name)).toEqual(['single-function', 'amps-inf', 'max-memory'])
    for (const b of plan.baselines) {
      if (!b.feasible) continue
      expect(b.latencyMs).toBeLessThanOrEqual(400)
      // every baseline is in the search space, so the plan is at most the search tolerance dearer
      expect(b.costRatio!).toBeGreaterThanOrEqual(1 - 1e-3)
      expect(b.costRatio).toBeCloseTo(b.costPerMillionUsd / plan.predicted.costPerMillionUsd, 12)
    }
    expect(plan.solver.method).toBe('fast')
    expect(plan.solver.optimal).toBe(true)
    expect(plan.createdAt).toBe('2026-11-23T00:00:00.000Z')
  })

  it('without a rate does not batch, and equals the AMPS-Inf baseline', () => {
    const plan = planFromProfile(profile, {sloMs: 400})
    expect(plan.batch).toEqual({size: 1, timeoutMs: 0})
    expect(plan.predicted.monthlyCostUsd).toBe(0)
    expect(plan.predicted.coldStartProbability).toBe(1)
    const ampsInf = plan.baselines.find((b) => b.name === 'amps-inf')!
    expect(ampsInf.costRatio).toBeCloseTo(1, 12)
    expect(plan.warnings!.join(' ')).toMatch(/no --rate/)
  })

  it('forces the number of stages and the architecture', () => {
    const plan = planFromProfile(profile, {sloMs: 600, stages: 3, arch: 'x86_64'})
    expect(plan.stages).toHaveLength(3)
    expect(plan.stages.every((s) => s.arch === 'x86_64')).toBe(true)
    expect(plan.inputs.stages).toBe(3)
  })

  it('splits a model whose package is over 250 MB, and says why one function cannot', () => {
    const big = syntheticProfile({layers: 12, seed: 22, meanWeightBytes: 40e6})
    expect(big.model.weightBytes).toBeGreaterThan(262_144_000)
    const plan = planFromProfile(big, {sloMs: 20_000})
    expect(plan.stages.length).toBeGreaterThan(1)
    for (const s of plan.stages) expect(s.packageBytes).toBeLessThanOrEqual(262_144_000)
    const single = plan.baselines.find((b) => b.name === 'single-function')!
    expect(single.feasible).toBe(false)
    expect(single.reason).toMatch(/package .* exceeds/)
  })

  it('reports the minimum achievable latency and the cheapest plan at it when the SLO cannot be met', () => {
    const e = userError(() => planFromProfile(profile, {sloMs: 5, ratePerSecond: 10}))
    expect(e.ampsCode).toBe('PLAN_INFEASIBLE')
    const min = e.details!.minimumLatencyMs as number
    expect(min).toBeGreaterThan(5)
    expect(e.message).toContain(min.toFixed(1))
    const cheapest = e.details!.cheapestAtMinimum as {latencyMs: number; costPerMillionUsd: number}
    expect(cheapest.latencyMs).toBeLessThanOrEqual(min + 1e-9)
    // and that latency is achievable
    const plan = planFromProfile(profile, {sloMs: min})
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(min + 1e-9)
    expect(plan.predicted.costPerMillionUsd).toBeCloseTo(cheapest.costPerMillionUsd, 9)
  })

  it('stops at its time limit with the best plan found, and says it is not proven optimal', () => {
    const big = syntheticProfile({layers: 200, seed: 5, topology: 'chain', meanLayerMs: 2})
    const quick = planFromProfile(big, {sloMs: 900, ratePerSecond: 20, timeLimitMs: 1})
    expect(quick.solver.optimal).toBe(false)
    expect(quick.warnings?.some((w) => /stopped at its time limit \(0\.0 s\)/.test(w))).toBe(true)
    expect(quick.predicted.latencyMs).toBeLessThanOrEqual(900)
    const full = planFromProfile(big, {sloMs: 900, ratePerSecond: 20})
    expect(full.solver.optimal).toBe(true)
    expect(full.predicted.costPerMillionUsd).toBeLessThanOrEqual(quick.predicted.costPerMillionUsd + 1e-12)
  })

  it('says when no chain can hold the model at all', () => {
    const huge = syntheticProfile({layers: 4, seed: 23, meanWeightBytes: 400e6})
    const e = userError(() => planFromProfile(huge, {sloMs: 60_000, maxStages: 1}))
    expect(e.ampsCode).toBe('PLAN_INFEASIBLE')
    expect(e.details!.minimumLatencyMs).toBeNull()
  })

  it.each([
    [{sloMs: -5}, /--slo/],
    [{sloMs: 100, percentile: 0}, /--percentile/],
    [{sloMs: 100, ratePerSecond: -1}, /--rate/],
    [{sloMs: 100, stages: 99}, /more than the model's 24 layers/],
    [{sloMs: 100, maxBatch: 0}, /--max-batch/],
    [{sloMs: 100, arch: 'mips' as never}, /--arch/],
  ])('rejects nonsense options %j', (options, message) => {
    const e = userError(() => planFromProfile(profile, options))
    expect(e.ampsCode).toBe('FLAG_INVALID')
    expect(e.message).toMatch(message)
  })
})

describe('plan.json on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amps-plan-'))
  const profile = syntheticProfile({layers: 8, seed: 31})
  const plan = planFromProfile(profile, {sloMs: 600, ratePerSecond: 5})

  it('round-trips through writePlan and readPlan', () => {
    const path = join(dir, 'plan.json')
    writePlan(path, plan)
    expect(readPlan(path)).toEqual(JSON.parse(JSON.stringify(plan)))
  })

  it('refuses another version with a clear message', () => {
    const path = join(dir, 'v2.json')
    writeFileSync(path, JSON.stringify({...plan, version: 2}))
    const e = userError(() => readPlan(path))
    expect(e.ampsCode).toBe('PLAN_INVALID')
    expect(e.message).toMatch(/v2\.json is plan\.json version 2; this amps reads version 1 \(the file was written by a newer amps\)/)
    expect(e.suggestions?.[0]).toMatch(/upgrade amps/)
  })

  it('accepts a recorded profile path and refuses a model.profile that is not one', () => {
    expect(() => validatePlan({...plan, model: {...plan.model, profile: '/cache/profiles/m.json'}})).not.toThrow()
    for (const profile of ['', 42]) {
      const e = userError(() => validatePlan({...plan, model: {...plan.model, profile}}))
      expect(e.message).toContain('"model.profile": expected the path of the profile.json the plan was made from')
    }
  })

  it('lists every field problem at once', () => {
    const bad = JSON.parse(JSON.stringify(plan))
    bad.stages[0].memoryMb = 20000
    bad.stages[0].handoff = 'carrier-pigeon'
    bad.batch.size = 0
    const path = join(dir, 'bad.json')
    writeFileSync(path, JSON.stringify(bad))
    const e = userError(() => readPlan(path))
    expect(e.message).toContain('"stages[0].memoryMb": expected an integer in 128–10240, got 20000')
    expect(e.message).toContain('"stages[0].handoff"')
    expect(e.message).toContain('"batch.size"')
    expect((e.details!.problems as string[]).length).toBe(3)
  })

  it('names a missing file and broken JSON', () => {
    const missing = userError(() => readPlan(join(dir, 'missing.json')))
    expect(missing.ampsCode).toBe('FILE_NOT_FOUND')
    expect(missing.message).toBe(`plan not found: ${join(dir, 'missing.json')}`)
    writeFileSync(join(dir, 'broken.json'), '{')
    expect(userError(() => readPlan(join(dir, 'broken.json'))).ampsCode).toBe('PLAN_INVALID')
  })

  it('never writes a plan it could not read back', () => {
    const broken = {...plan, stages: []} as Plan
    expect(() => writePlan(join(dir, 'never.json'), broken)).toThrow(/stages/)
    expect(() => readFileSync(join(dir, 'never.json'))).toThrow()
  })
})
