/**
 * `amps plan --verify` end to end on examples/tiny-cnn: a real --quick profile, one stage's layer
 * timings deliberately made 0.3× too fast in profile.json, a real local deployment of the plan
 * (stage processes under cgroup quotas, torn down after), and a second plan that reuses the saved
 * correction without --verify. Plus the correction's exactness on the cost model.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {correctionFor, predictedStageMs} from '../../src/plan/calibrate.js'
import {applyCorrections, layerFactors} from '../../src/profile/corrections.js'
import {readProfile} from '../../src/profile/io.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-verify-test-'))
const env = {AMPS_CACHE_DIR: join(dir, 'cache')}
const profilePath = join(dir, 'profile.json')
const PLAN = ['--slo', '100', '--rate', '10', '--max-stages', '1']

beforeAll(async () => {
  // wasm: tiny-cnn's layers are most of its stage time there; on onnx its few ms are mostly the
  // runtime's fixed cost, which a layer-time error of 0.3× barely moves
  const r = await runAmps(['profile', join(repoRoot, 'examples', 'tiny-cnn'), '--quick', '--backend', 'wasm', '-o', profilePath, '--json'], {env})
  expect(r.code, r.stderr).toBe(0)
  // mis-profile: every layer of the (single) stage 0.3× as slow as measured
  const raw = JSON.parse(readFileSync(profilePath, 'utf8'))
  for (const l of raw.layers) for (const t of l.timing) for (const k of ['medianMs', 'p10Ms', 'p90Ms', 'minMs', 'maxMs']) t[k] *= 0.3
  writeFileSync(profilePath, JSON.stringify(raw))
}, 120_000)

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps plan --verify (local)', () => {
  it('flags the mis-profiled stage, re-solves, saves the correction, and a later plan reuses it', async () => {
    const planPath = join(dir, 'plan.json')
    const r = await runAmps(['plan', profilePath, ...PLAN, '--verify', '--verify-requests', '5', '-o', planPath, '--json'], {env, timeoutMs: 180_000})
    expect(r.code, r.stderr).toBe(0)
    const plan = r.json
    const v = plan.verification
    expect(v.target).toBe('local')
    expect(v.stages).toHaveLength(1)
    const [s] = v.stages
    expect(s.samples).toBe(5)
    // the layers were made 0.3× too fast: the stage measures far slower than predicted
    expect(s.measuredMs).toBeGreaterThan(s.predictedMs * 1.1)
    expect(v.resolved).toBe(true)
    // the re-solved plan is not the mis-profiled one
    const changed =
      v.previous.costPerMillionUsd !== plan.predicted.costPerMillionUsd ||
      v.previous.memoriesMb.join() !== plan.stages.map((x: {memoryMb: number}) => x.memoryMb).join() ||
      v.previous.batch.size !== plan.batch.size
    expect(changed).toBe(true)
    expect(plan.predicted.costPerMillionUsd).toBeGreaterThan(v.previous.costPerMillionUsd)
    expect(JSON.parse(readFileSync(planPath, 'utf8')).verification.resolved).toBe(true)

    // the correction is in profile.json, valid, and scales the stage's layers up
    const saved = readProfile(profilePath)
    expect(saved.corrections).toHaveLength(1)
    const c = saved.corrections![0]
    expect(c).toMatchObject({firstIndex: 0, lastIndex: saved.layers.length - 1, target: 'local', batch: v.batch, samples: 5})
    expect(c.factor).toBeGreaterThan(1.1)
    expect(c.measuredMs).toBeCloseTo(s.measuredMs, 2)

    // a plan from the same profile without --verify reuses it: the same plan as the verified one
    const again = await runAmps(['plan', profilePath, ...PLAN, '-o', join(dir, 'plan2.json'), '--json'], {env, timeoutMs: 120_000})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toMatch(/Applying 1 measured stage correction/)
    expect(again.json.verification).toBeUndefined()
    expect(again.json.stages.map((x: {memoryMb: number}) => x.memoryMb)).toEqual(plan.stages.map((x: {memoryMb: number}) => x.memoryMb))
    expect(again.json.batch).toEqual(plan.batch)
    expect(again.json.predicted.costPerMillionUsd).toBe(plan.predicted.costPerMillionUsd)
  }, 240_000)

  it('a correction makes the cost model predict exactly what was measured, and corrections compose', () => {
    const profile = readProfile(profilePath)
    const base = {...profile, corrections: []}
    const last = base.layers.length - 1
    const stage = {layers: {firstIndex: 0, lastIndex: last, first: '', last: '', count: last + 1}, memoryMb: 1024, arch: 'x86_64'} as never
    const before = predictedStageMs(base, stage, 2, DEFAULT_PRICE_TABLE)
    const c = correctionFor(base, stage, 2, before * 2.5, {prices: DEFAULT_PRICE_TABLE, target: 'local', samples: 9})
    const corrected = applyCorrections(base, [c])
    expect(predictedStageMs(corrected, stage, 2, DEFAULT_PRICE_TABLE)).toBeCloseTo(before * 2.5, 1)
    // fixed overheads do not scale, so the layer factor exceeds the ratio
    expect(c.factor).toBeGreaterThanOrEqual(2.5 - 1e-6)
    // a second verification measured on the corrected profile multiplies onto the first
    const c2 = {...c, firstIndex: 0, lastIndex: 0, factor: 2}
    expect(layerFactors(base, [c, c2])[0]).toBeCloseTo(c.factor * 2, 9)
    expect(layerFactors(base, [c, c2])[last]).toBeCloseTo(c.factor, 9)
    expect(base.layers[0].timing[0].medianMs).toBe(profile.layers[0].timing[0].medianMs) // input not changed
  })
})
