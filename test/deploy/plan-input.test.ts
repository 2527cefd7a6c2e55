/**
 * readPlanForDeploy: plan.json validated by src/plan/schema.ts (the one schema owner), plus only what
 * deploying adds (a model path, function-name-safe stage names). Real plans from the planner.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, describe, expect, it} from 'vitest'

import {deployProblems, readPlanForDeploy} from '../../deploy/state/plan-input.js'
import {planFromProfile} from '../../src/plan/index.js'
import {readPlan} from '../../src/plan/schema.js'
import type {Plan} from '../../src/plan/types.js'
import {readPlanForSimulation} from '../../src/simulate/load.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {userError} from '../helpers/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-plan-input-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const plan = planFromProfile(syntheticProfile({layers: 16, seed: 7, topology: 'chain', meanLayerMs: 5, meanWeightBytes: 2e6}), {sloMs: 500, ratePerSecond: 10})

let n = 0
function write(p: unknown): string {
  const path = join(dir, `plan-${n++}.json`)
  writeFileSync(path, typeof p === 'string' ? p : JSON.stringify(p))
  return path
}

function copy(): Plan {
  return JSON.parse(JSON.stringify(plan))
}

describe('readPlanForDeploy', () => {
  it('reads a plan written by the planner', () => {
    expect(readPlanForDeploy(write(plan))).toEqual(copy())
  })

  it('names a missing plan and broken JSON with the codes deploy raised before', () => {
    const missing = userError(() => readPlanForDeploy(join(dir, 'nope.json')))
    expect(missing.ampsCode).toBe('FILE_NOT_FOUND')
    expect(missing.message).toBe(`plan not found: ${join(dir, 'nope.json')}`)
    const broken = userError(() => readPlanForDeploy(write('{"version": 1,')))
    expect(broken.ampsCode).toBe('PLAN_INVALID')
    expect(broken.message).toMatch(/is not valid JSON/)
  })

  it('checks the whole schema, not only the fields deploy reads', () => {
    const bad = copy() as any
    delete bad.predicted
    bad.stages[0].handoff = 'carrier-pigeon'
    const e = userError(() => readPlanForDeploy(write(bad)))
    expect(e.ampsCode).toBe('PLAN_INVALID')
    expect(e.message).toContain('"predicted": missing')
    expect(e.message).toContain('"stages[0].handoff": expected "inline" or "s3"')
  })

  it('gives the same verdict as readPlan and readPlanForSimulation on an invalid plan', () => {
    const bad = copy() as any
    bad.stages[0].memoryMb = 64
    bad.batch.size = 0
    const path = write(bad)
    const messages = [readPlan, readPlanForDeploy, readPlanForSimulation].map((read) => {
      const e = userError(() => read(path))
      expect(e.ampsCode).toBe('PLAN_INVALID')
      return e.message
    })
    expect(new Set(messages).size).toBe(1)
    expect(messages[0]).toContain('"stages[0].memoryMb": expected an integer in 128–10240, got 64')
  })

  it('adds the deploy-only checks on top: a stage name fit for a function name, a model path', () => {
    const badName = copy()
    badName.stages[0].name = 'stage one!'
    const e = userError(() => readPlanForDeploy(write(badName)))
    expect(e.ampsCode).toBe('PLAN_INVALID')
    expect(e.message).toMatch(/cannot be deployed: "stages\[0\]\.name": expected a short name like "stage-1"/)
    // a valid plan for the schema: estimate-cost and simulate still read it
    expect(() => readPlan(write(badName))).not.toThrow()

    const noSource = copy()
    noSource.model.source = ''
    const path = write(noSource)
    expect(userError(() => readPlanForDeploy(path)).message).toMatch(/"model\.source": expected the model's path/)
    // --model stands in for it
    expect(readPlanForDeploy(path, {modelPath: '/some/model.json'}).model.source).toBe('')
    expect(deployProblems(noSource, {modelPath: '/some/model.json'})).toEqual([])
  })
})
