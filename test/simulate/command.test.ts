/**
 * `amps simulate` end to end: the built CLI on a synthetic plan + profile in a temp dir.
 * Build first (`npx tsc -p .`; `npm test` does).
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {runAmps} from '../helpers/cli.js'
import {syntheticPlan, syntheticProfile} from './fixtures.js'

let dir: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-simulate-'))
  const plan = syntheticPlan({rate: 20})
  plan.model.profile = 'profile.json' // relative to the plan's folder
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(syntheticProfile()))
  const bare = syntheticPlan({rate: 20})
  writeFileSync(join(dir, 'bare-plan.json'), JSON.stringify(bare))
  writeFileSync(join(dir, 'arrivals.csv'), 'arrival_ms\n0\n3\n200\n350\n355\n')
  writeFileSync(join(dir, 'bad.csv'), 'time_s\n0.5\n1,2\n')
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps simulate', () => {
  it("simulates the plan's rate with the profile the plan records, reproducibly", async () => {
    const args = ['simulate', join(dir, 'plan.json'), '--duration', '120', '--seed', '5', '--json']
    const first = await runAmps(args, {cwd: tmpdir()})
    expect(first.code, first.stderr).toBe(0)
    const r = first.json
    expect(r.schemaVersion).toBe(1)
    expect(r.arrivals).toMatchObject({process: 'poisson', meanRatePerSecond: 20, durationS: 120})
    expect(r.arrivals.requests).toBeGreaterThan(2000)
    expect(r.arrivals.requests).toBeLessThan(2800)
    expect(r.stages.map((s: any) => s.serviceSource)).toEqual(['profile', 'profile'])
    expect(r.prediction.comparable).toBe(true)
    expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p95)
    expect(r.latencyMs.p95).toBeLessThanOrEqual(r.latencyMs.p99)
    expect(r.latencyMs.p99).toBeLessThanOrEqual(r.latencyMs.max)
    expect(r.batches.histogram.reduce((a: number, h: any) => a + h.count * h.size, 0)).toBe(r.arrivals.requests)
    expect(r.cost.perMillionUsd).toBeGreaterThan(0)
    const again = await runAmps(args, {cwd: tmpdir()})
    expect(again.stdout).toBe(first.stdout)
  })

  it('replays a trace', async () => {
    const res = await runAmps(['simulate', join(dir, 'plan.json'), '--trace', join(dir, 'arrivals.csv'), '--json'])
    expect(res.code, res.stderr).toBe(0)
    // B = 4, T = 50 ms: {0, 3}, {200}, {350, 355}
    expect(res.json.arrivals).toMatchObject({process: 'trace', requests: 5, durationS: 0.355})
    expect(res.json.batches.count).toBe(3)
    expect(res.json.prediction.comparable).toBe(false)
  })

  it("falls back to the plan's predictedMs when there is no profile, with a warning", async () => {
    const res = await runAmps(['simulate', join(dir, 'bare-plan.json'), '--duration', '30', '--arrivals', 'bursty', '--json'])
    expect(res.code, res.stderr).toBe(0)
    expect(res.json.stages.map((s: any) => s.serviceSource)).toEqual(['plan', 'plan'])
    expect(res.json.arrivals.process).toBe('bursty')
    expect(res.json.warnings.join('\n')).toMatch(/falling back to the plan's predictedMs/)
  })

  it('prints tables without --json', async () => {
    const res = await runAmps(['simulate', join(dir, 'plan.json'), '--duration', '30'])
    expect(res.code, res.stderr).toBe(0)
    expect(res.stdout).toMatch(/Versus the plan's analytic prediction/)
    expect(res.stdout).toMatch(/stage-2\s+1769 MB arm64/)
  })

  it('refuses a run over the request limit and says how long it may be', async () => {
    const args = ['simulate', join(dir, 'plan.json'), '--rate', '1000', '--duration', '10000']
    expect((await runAmps(args)).code).toBe(2)
    const res = await runAmps([...args, '--json'])
    expect(res.json.error).toMatchObject({code: 'FLAG_INVALID', suggestions: expect.arrayContaining(['use --duration 5000 or less'])})
    expect(res.json.error.message).toMatch(/about 10,000,000 requests, more than the limit of 5,000,000/)
  })

  it('reports a malformed trace and a missing plan as user errors', async () => {
    const bad = await runAmps(['simulate', join(dir, 'plan.json'), '--trace', join(dir, 'bad.csv'), '--json'])
    expect(bad.json.error).toMatchObject({code: 'FILE_INVALID'})
    expect(bad.json.error.message).toMatch(/line 3: expected one column/)
    const missing = await runAmps(['simulate', join(dir, 'nope.json')])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/plan not found/)
  })
})
