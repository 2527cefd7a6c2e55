/**
 * `amps simulate` end to end: the built CLI on a synthetic plan + profile in a temp dir.
 * Build first (`npx tsc -p .`; `npm test` does). The CLI runs are started together in beforeAll
 * (each is a separate process) and the tests read their results.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {type CliResult, runAmps} from '../helpers/cli.js'
import {syntheticPlan, syntheticProfile} from './fixtures.js'

let dir: string
let runs: Record<'main' | 'trace' | 'bare' | 'human' | 'tooBig' | 'badTrace' | 'missing' | 'noRate' | 'noRateGiven' | 'noRateTrace' | 'noRateHuman', CliResult>

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-simulate-'))
  const plan = syntheticPlan({rate: 20})
  plan.model.profile = 'profile.json' // relative to the plan's folder
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan))
  writeFileSync(join(dir, 'profile.json'), JSON.stringify(syntheticProfile()))
  writeFileSync(join(dir, 'bare-plan.json'), JSON.stringify(syntheticPlan({rate: 20})))
  // what `amps plan` writes without --rate: rate 0, no batching
  writeFileSync(join(dir, 'no-rate.json'), JSON.stringify({...plan, inputs: {...plan.inputs, ratePerSecond: 0}, batch: {size: 1, timeoutMs: 0}}))
  writeFileSync(join(dir, 'arrivals.csv'), 'arrival_ms\n0\n3\n200\n350\n355\n')
  writeFileSync(join(dir, 'bad.csv'), 'time_s\n0.5\n1,2\n')
  const planPath = join(dir, 'plan.json')
  const noRate = join(dir, 'no-rate.json')
  const [main, trace, bare, human, tooBig, badTrace, missing, noRateRun, noRateGiven, noRateTrace, noRateHuman] = await Promise.all([
    runAmps(['simulate', planPath, '--duration', '120', '--seed', '5', '--warmup-s', '10', '--json'], {cwd: tmpdir()}),
    runAmps(['simulate', planPath, '--trace', join(dir, 'arrivals.csv'), '--json']),
    runAmps(['simulate', join(dir, 'bare-plan.json'), '--duration', '30', '--arrivals', 'bursty', '--json']),
    runAmps(['simulate', planPath, '--duration', '30']),
    runAmps(['simulate', planPath, '--rate', '1000', '--duration', '10000', '--json']),
    runAmps(['simulate', planPath, '--trace', join(dir, 'bad.csv'), '--json']),
    runAmps(['simulate', join(dir, 'nope.json')]),
    runAmps(['simulate', noRate, '--json']),
    runAmps(['simulate', noRate, '--rate', '5', '--duration', '60', '--json']),
    runAmps(['simulate', noRate, '--trace', join(dir, 'arrivals.csv'), '--json']),
    runAmps(['simulate', noRate, '--rate', '5', '--duration', '60']),
  ])
  runs = {main, trace, bare, human, tooBig, badTrace, missing, noRate: noRateRun, noRateGiven, noRateTrace, noRateHuman}
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps simulate', () => {
  it("simulates the plan's rate with the profile the plan records", () => {
    const {code, stderr, json: r} = runs.main
    expect(code, stderr).toBe(0)
    expect(r.schemaVersion).toBe(1)
    expect(r.arrivals).toMatchObject({process: 'poisson', meanRatePerSecond: 20, durationS: 120})
    expect(r.arrivals.requests).toBeGreaterThan(2000)
    expect(r.arrivals.requests).toBeLessThan(2800)
    expect(r.stages.map((s: any) => s.serviceSource)).toEqual(['profile', 'profile'])
    expect(r.prediction.comparable).toBe(true)
    expect(r.latencyMs.p50).toBeLessThanOrEqual(r.latencyMs.p95)
    expect(r.latencyMs.p95).toBeLessThanOrEqual(r.latencyMs.p99)
    expect(r.latencyMs.p99).toBeLessThanOrEqual(r.latencyMs.max)
    // the warm-up's requests are simulated but not counted
    expect(r.warmup.seconds).toBe(10)
    expect(r.warmup.requestsExcluded).toBeGreaterThan(100)
    const counted = r.batches.histogram.reduce((a: number, h: any) => a + h.count * h.size, 0)
    expect(counted + r.warmup.requestsExcluded).toBe(r.arrivals.requests)
    expect(r.batches.histogram[0].analytic).toBeGreaterThan(0)
    expect(r.cost.perMillionUsd).toBeGreaterThan(0)
  })

  it('replays a trace', () => {
    const {code, stderr, json} = runs.trace
    expect(code, stderr).toBe(0)
    // B = 4, T = 50 ms: {0, 3}, {200}, {350, 355}
    expect(json.arrivals).toMatchObject({process: 'trace', requests: 5, durationS: 0.355})
    expect(json.batches.count).toBe(3)
    expect(json.prediction.comparable).toBe(false)
  })

  it("falls back to the plan's predictedMs when there is no profile, with a warning", () => {
    const {code, stderr, json} = runs.bare
    expect(code, stderr).toBe(0)
    expect(json.stages.map((s: any) => s.serviceSource)).toEqual(['plan', 'plan'])
    expect(json.arrivals.process).toBe('bursty')
    expect(json.warnings.join('\n')).toMatch(/falling back to the plan's predictedMs/)
  })

  it('prints tables without --json', () => {
    const {code, stderr, stdout} = runs.human
    expect(code, stderr).toBe(0)
    expect(stdout).toMatch(/Versus the plan's analytic prediction/)
    expect(stdout).toMatch(/stage-2\s+1769 MB arm64/)
  })

  it('refuses a run over the request limit and says how long it may be', () => {
    const {json} = runs.tooBig
    expect(json.error).toMatchObject({code: 'FLAG_INVALID', suggestions: expect.arrayContaining(['use --duration 5000 or less'])})
    expect(json.error.message).toMatch(/about 10,000,000 requests, more than the limit of 5,000,000/)
  })

  it('reports a malformed trace and a missing plan as user errors', () => {
    expect(runs.badTrace.json.error).toMatchObject({code: 'FILE_INVALID'})
    expect(runs.badTrace.json.error.message).toMatch(/line 3: expected one column/)
    expect(runs.missing.code).toBe(2)
    expect(runs.missing.stderr).toMatch(/plan not found/)
  })

  it('asks for --rate or --trace when the plan was made without a rate, and simulates with either', () => {
    const {code, json} = runs.noRate
    expect(code).toBe(2)
    expect(json.error.code).toBe('FLAG_INVALID')
    expect(json.error.message).toMatch(/no-rate\.json was planned without a request rate .*pass --rate <requests\/s> or --trace <arrivals\.csv>/)
    expect(runs.noRateGiven.code, runs.noRateGiven.stderr).toBe(0)
    expect(runs.noRateGiven.json.arrivals).toMatchObject({process: 'poisson', meanRatePerSecond: 5, durationS: 60})
    expect(runs.noRateGiven.json.batches.histogram.map((h: any) => h.size)).toEqual([1])
    expect(runs.noRateTrace.code, runs.noRateTrace.stderr).toBe(0)
    expect(runs.noRateTrace.json.arrivals).toMatchObject({process: 'trace', requests: 5})
  })

  it('compares a batch-size-1 plan made without a rate at the given rate, and says why', () => {
    const r = runs.noRateGiven.json
    expect(r.prediction.comparable).toBe(true)
    expect(r.prediction.note).toMatch(/^the plan was made without a rate; at batch size 1 .* so 5\/s compares/)
    expect(r.warnings.join('\n')).not.toMatch(/not like for like|0\/s/)
    expect(runs.noRateTrace.json.prediction).toMatchObject({comparable: false, note: 'the plan was made without a rate; this run used a trace'})
  })

  it('prints the same note and warnings without --json (the warm-up advice when the short run has one)', () => {
    const {code, stderr, stdout} = runs.noRateHuman
    expect(code, stderr).toBe(0)
    const json = runs.noRateGiven.json // same flags and seed: the same result
    expect(stdout).toContain(`Versus the plan's analytic prediction (${json.prediction.note}):`)
    const flat = (text: string) => text.replace(/\n ›/g, ' ').replace(/\s+/g, ' ')
    for (const w of json.warnings) expect(flat(stderr)).toContain(`Warning: ${flat(w)}`)
    // 60 s from an empty pool at 5/s: the advice is there exactly when over 1 % of the requests were cold
    const advice = json.warnings.filter((w: string) => w.includes('--warmup-s'))
    expect(advice).toHaveLength(json.coldStarts.requestRate > 0.01 ? 1 : 0)
    expect(json.warmup.suggestedS === undefined).toBe(advice.length === 0)
  })
})
