/**
 * `amps simulate` starts from the deployment `amps deploy` leaves (each stage pre-warmed with
 * warmEnvironments(plan) idle environments); --cold starts from empty pools. The built CLI on a
 * synthetic plan + profile (build first: `npx tsc -p .`).
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {warmEnvironments} from '../../src/plan/prewarm.js'
import {type CliResult, runAmps} from '../helpers/cli.js'
import {syntheticPlan, syntheticProfile} from './fixtures.js'

let dir: string
let warm: CliResult
let cold: CliResult
let human: CliResult
let both: CliResult
const plan = syntheticPlan({rate: 20})

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-simulate-prewarm-'))
  plan.model.profile = 'profile.json'
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(syntheticProfile()))
  const p = join(dir, 'plan.json')
  ;[warm, cold, human, both] = await Promise.all([
    runAmps(['simulate', p, '--duration', '60', '--json']),
    runAmps(['simulate', p, '--duration', '60', '--cold', '--json']),
    runAmps(['simulate', p, '--duration', '60', '--cold']),
    runAmps(['simulate', p, '--cold', '--prewarm']),
  ])
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps simulate: pre-warmed by default, --cold for empty pools', () => {
  it('starts each stage with the environments deploy pre-warms, and fewer cold starts than an empty start', () => {
    expect(warm.code).toBe(0)
    expect(cold.code).toBe(0)
    const expected = warmEnvironments(plan)
    expect(expected.every((n) => n >= 1)).toBe(true)
    expect(warm.json.warmEnvironments).toEqual(expected)
    expect(cold.json.warmEnvironments).toEqual(expected.map(() => 0))
    // same seed, same arrivals: the empty start pays at least one cold start per stage, the pre-warmed one fewer
    expect(cold.json.coldStarts.count).toBeGreaterThanOrEqual(plan.stages.length)
    expect(warm.json.coldStarts.count).toBeLessThan(cold.json.coldStarts.count)
    expect(warm.json.arrivals.requests).toBe(cold.json.arrivals.requests)
  })

  it('says how the run started, and refuses --cold with --prewarm', () => {
    expect(human.stdout).toMatch(/cold start \(no warm environment\)/)
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/--cold|--prewarm/)
  })
})
