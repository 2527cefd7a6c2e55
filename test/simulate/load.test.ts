/**
 * Reading a plan for `amps simulate`: validated by src/plan/schema.ts; a plan made without --rate is
 * valid and only the rate to simulate is asked for.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {planFromProfile} from '../../src/plan/index.js'
import {planRateForSimulation, profilePathFromPlan, readPlanForSimulation} from '../../src/simulate/load.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {syntheticPlan} from './fixtures.js'
import {userError} from '../helpers/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-simulate-load-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('readPlanForSimulation', () => {
  it('accepts a plan made without --rate, and asks for the rate only when it is needed', () => {
    const noRate = planFromProfile(syntheticProfile({layers: 12, seed: 3, meanLayerMs: 4, meanWeightBytes: 1e6}), {sloMs: 500})
    expect(noRate.inputs.ratePerSecond).toBe(0)
    const path = join(dir, 'no-rate.json')
    writeFileSync(path, JSON.stringify(noRate))
    const plan = readPlanForSimulation(path)
    const e = userError(() => planRateForSimulation(plan, 'no-rate.json'))
    expect(e.ampsCode).toBe('FLAG_INVALID')
    expect(e.message).toMatch(/no-rate\.json was planned without a request rate .*pass --rate <requests\/s> or --trace <arrivals\.csv>/)
    expect(e.suggestions).toContain('amps simulate no-rate.json --rate 10')
  })

  it("uses the plan's own rate when it has one", () => {
    expect(planRateForSimulation(syntheticPlan({rate: 12.5}), 'plan.json')).toBe(12.5)
  })

  it('refuses what the plan schema refuses, naming every field', () => {
    const bad = syntheticPlan() as any
    bad.stages[1].layers.firstIndex = 3 // leaves a gap after stage 1
    bad.predicted.coldStartProbability = 2
    const path = join(dir, 'bad.json')
    writeFileSync(path, JSON.stringify(bad))
    const e = userError(() => readPlanForSimulation(path))
    expect(e.ampsCode).toBe('PLAN_INVALID')
    expect(e.message).toContain('"stages[1].layers.firstIndex": expected 2 (stages cover the model in order), got 3')
    expect(e.message).toContain('"predicted.coldStartProbability": expected a probability, got 2')
  })

  it('finds the profile the plan records: absolute, or beside the plan', () => {
    const plan = syntheticPlan()
    expect(profilePathFromPlan(plan, join(dir, 'plan.json'))).toBeUndefined()
    plan.model.profile = '/abs/cache/profiles/m.json'
    expect(profilePathFromPlan(plan, join(dir, 'plan.json'))).toBe('/abs/cache/profiles/m.json')
    writeFileSync(join(dir, 'profile.json'), '{}')
    plan.model.profile = 'profile.json'
    expect(profilePathFromPlan(plan, join(dir, 'plan.json'))).toBe(join(dir, 'profile.json'))
  })
})
