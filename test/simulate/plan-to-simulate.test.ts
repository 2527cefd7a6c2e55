/**
 * plan → simulate end to end with the built CLI on the real examples/tiny-cnn model: `amps plan
 * <model dir>` profiles through the profiler's cache (a temp AMPS_CACHE_DIR here), records the cache
 * entry in plan.json, and `amps simulate` finds it and draws stage times from the measured spread.
 * Build first (`npm run build`; `npm test` does).
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {validatePlan} from '../../src/plan/schema.js'
import type {Plan} from '../../src/plan/types.js'
import {readProfile} from '../../src/profile/io.js'
import {type CliResult, runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const model = join(repoRoot, 'examples', 'tiny-cnn')
let dir: string
let cache: string
let env: Record<string, string>
let planned: {noRate: CliResult; withRate: CliResult}
let noRate: Plan
let withRate: Plan

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-plan-sim-'))
  cache = join(dir, 'cache')
  env = {AMPS_CACHE_DIR: cache}
  // one after the other: the first profiles the model, the second finds it in the cache
  const first = await runAmps(['plan', model, '--slo', '100', '-o', join(dir, 'no-rate.json'), '--json'], {env, cwd: dir})
  // (without --json, to see the note on stderr)
  const second = await runAmps(['plan', model, '--slo', '100', '--rate', '10', '-o', join(dir, 'with-rate.json')], {env, cwd: dir})
  planned = {noRate: first, withRate: second}
  expect(first.code, first.stderr).toBe(0)
  expect(second.code, second.stderr).toBe(0)
  noRate = validatePlan(JSON.parse(readFileSync(join(dir, 'no-rate.json'), 'utf8')))
  withRate = validatePlan(JSON.parse(readFileSync(join(dir, 'with-rate.json'), 'utf8')))
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps plan <model dir> → amps simulate', () => {
  it("records the profiler's cache entry as the plan's profile", () => {
    for (const plan of [noRate, withRate]) {
      expect(plan.model.source).toBe(model)
      expect(plan.model.profile?.startsWith(join(cache, 'profiles'))).toBe(true)
      expect(existsSync(plan.model.profile!)).toBe(true)
      expect(readProfile(plan.model.profile!).model.sha256).toBe(plan.model.sha256)
    }
    expect(withRate.model.profile).toBe(noRate.model.profile)
    expect(planned.withRate.stderr).toMatch(/Using the cached profile .*tiny-cnn-/)
    expect(noRate.inputs.ratePerSecond).toBe(0)
  })

  it('simulates with the recorded profile, asking for a rate only for the plan made without one', async () => {
    const [bare, given, own] = await Promise.all([
      runAmps(['simulate', 'no-rate.json', '--json'], {cwd: dir}),
      runAmps(['simulate', 'no-rate.json', '--rate', '5', '--duration', '60', '--json'], {cwd: dir}),
      runAmps(['simulate', 'with-rate.json', '--duration', '60', '--warmup-s', '20', '--json'], {cwd: dir}),
    ])
    expect(bare.code).toBe(2)
    expect(bare.json.error.code).toBe('FLAG_INVALID')
    expect(bare.json.error.message).toMatch(/^no-rate\.json was planned without a request rate .*pass --rate <requests\/s> or --trace <arrivals\.csv>$/)
    expect(bare.json.error.suggestions).toContain('amps simulate no-rate.json --rate 10')

    for (const r of [given, own]) {
      expect(r.code, r.stderr).toBe(0)
      expect(r.json.stages.map((s: any) => s.serviceSource)).toEqual(r.json.stages.map(() => 'profile'))
      expect(r.json.warnings.join('\n')).not.toMatch(/predictedMs|could not use the plan's profile/)
    }
    expect(given.json.arrivals).toMatchObject({process: 'poisson', meanRatePerSecond: 5, durationS: 60})
    expect(own.json.arrivals).toMatchObject({process: 'poisson', meanRatePerSecond: 10, durationS: 60})
    expect(own.json.prediction.comparable).toBe(true)
    // the plan made without a rate has batch size 1: its latency does not depend on the rate
    expect(noRate.batch.size).toBe(1)
    expect(given.json.prediction.comparable).toBe(true)
    expect(given.json.prediction.note).toMatch(
      /^the plan was made without a rate; .*so 5\/s compares, but its cold-start probability does \(the plan assumed a cold start on every request\)$/,
    )
    // a minute from an empty pool: over 1 % cold requests gets the warm-up advice, and only then
    for (const r of [given, own]) {
      const advice = r.json.warnings.filter((w: string) => w.includes('--warmup-s'))
      expect(advice).toHaveLength(r.json.coldStarts.requestRate > 0.01 ? 1 : 0)
      expect(r.json.warmup.suggestedS === undefined).toBe(advice.length === 0)
    }
  })

  it('falls back to predictedMs with a warning when the recorded profile is gone', async () => {
    const moved = {...withRate, model: {...withRate.model, profile: join(cache, 'profiles', 'cleared.json')}}
    writeFileSync(join(dir, 'moved.json'), JSON.stringify(moved))
    const r = await runAmps(['simulate', 'moved.json', '--duration', '30', '--json'], {cwd: dir})
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.stages.map((s: any) => s.serviceSource)).toEqual(r.json.stages.map(() => 'plan'))
    expect(r.json.warnings.join('\n')).toMatch(/could not use the plan's profile \(.*cleared\.json.*\); falling back to the plan's predictedMs/)
  })
})
