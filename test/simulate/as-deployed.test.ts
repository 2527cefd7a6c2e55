/**
 * Issue 11's simulate cases, as deployed: the plan simulated from t = 0 with every stage
 * pre-warmed the way `amps deploy` leaves it (warmEnvironments(plan)), no warm-up left out, stage
 * times drawn from the profile's measured spread, Poisson arrivals at the plan's rate, seeds 1
 * and 2. The plan's headline cost per 1M is within 3 % of the simulated cost and the simulated p99
 * meets the SLO:
 *  - `amps plan examples/tiny-cnn --slo 100 --rate 10`, simulated for 300 s (the issue measured
 *    +32 % cost and a 0.67 % cold-start rate against a predicted 0);
 *  - the tiny-cnn profile with every layer × 500 at 5 req/s, SLO 4,000 ms (the issue measured a
 *    p99 of 4,058 ms against 3,992 predicted);
 *  - a ResNet-style model (the zoo's ResNet50 at 32×32, profiled here on ONNX Runtime) in 2 stages
 *    at 20 req/s, SLO 3,000 ms, batching ≥ 8: from empty pools its first batches wait for a chain
 *    of cold starts longer than the SLO (the issue's p99 of 8.6–9.1 s), as deployed it meets it.
 * All seeded: the same numbers on every run (the ResNet profile's times vary with the machine;
 * the assertions hold for any profile, since plan and simulation read the same one).
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {pricesForBackend} from '../../src/plan/backend.js'
import {planFromProfile} from '../../src/plan/index.js'
import {warmEnvironments} from '../../src/plan/prewarm.js'
import type {Plan} from '../../src/plan/types.js'
import {profileModel, validateProfile} from '../../src/profile/index.js'
import type {Profile} from '../../src/profile/types.js'
import {simulatePlan, type SimulationResult} from '../../src/simulate/index.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {buildZooModel} from '../zoo/apps.js'

const prices = pricesForBackend(DEFAULT_PRICE_TABLE, 'onnx')

/** `amps profile examples/tiny-cnn --backend onnx`, optionally with every layer `factor` × slower (test/plan/slow-model.test.ts). */
function tinyCnn(factor = 1): Profile {
  const p = JSON.parse(readFileSync(join(repoRoot, 'test', 'fixtures', 'tiny-cnn-onnx-profile.json'), 'utf8')) as Profile
  validateProfile(p, 'tiny-cnn fixture')
  const keys = ['medianMs', 'p10Ms', 'p90Ms', 'minMs', 'maxMs'] as const
  for (const l of p.layers) for (const t of l.timing) for (const k of keys) t[k] *= factor
  for (const t of p.wholeModel) for (const k of keys) t[k] *= factor
  return p
}

function asDeployed(plan: Plan, profile: Profile, seed: number, durationS: number, warm = true): SimulationResult {
  return simulatePlan(plan, profile, {
    arrivals: {kind: 'poisson', ratePerSecond: plan.inputs.ratePerSecond, durationS},
    seed,
    warmupS: 0,
    prices,
    ...(warm ? {warmEnvironments: warmEnvironments(plan)} : {}),
  })
}

/** (predicted − simulated) / simulated of the headline cost, in %. */
const costErrPct = (plan: Plan, sim: SimulationResult): number => (plan.predicted.headline!.costPerMillionUsd / sim.cost.perMillionUsd - 1) * 100

describe('issue 11 simulate cases, as deployed (pre-warmed, first minutes counted)', () => {
  it('amps plan examples/tiny-cnn --slo 100 --rate 10: cost within 3 %, p99 ≤ SLO over 300 s', () => {
    const profile = tinyCnn()
    const plan = planFromProfile(profile, {sloMs: 100, ratePerSecond: 10, arch: 'x86_64', prices})
    for (const seed of [1, 2]) {
      const sim = asDeployed(plan, profile, seed, 300)
      expect(sim.warmup.requestsExcluded).toBe(0)
      expect(Math.abs(costErrPct(plan, sim)), `seed ${seed}`).toBeLessThanOrEqual(3)
      expect(sim.latencyMs.p99).toBeLessThanOrEqual(plan.inputs.sloMs)
      // the pool deploy pre-warms covers the traffic: the cold starts the plan predicts (none to
      // speak of) are the ones the run meets
      expect(plan.predicted.coldStartProbability).toBeLessThan(1e-3)
      expect(sim.coldStarts.requestRate).toBeLessThan(1e-3)
    }
  })

  it('tiny-cnn × 500 at 5 req/s, SLO 4,000 ms: p99 ≤ SLO from t = 0, cost within 3 %', () => {
    const profile = tinyCnn(500)
    const plan = planFromProfile(profile, {sloMs: 4000, ratePerSecond: 5, arch: 'x86_64', prices, timeLimitMs: 900_000})
    expect(plan.predicted.latencyMs).toBeLessThanOrEqual(4000)
    for (const seed of [1, 2]) {
      const sim = asDeployed(plan, profile, seed, 900)
      expect(sim.latencyMs.p99, `seed ${seed}`).toBeLessThanOrEqual(4000)
      expect(Math.abs(costErrPct(plan, sim)), `seed ${seed}`).toBeLessThanOrEqual(3)
    }
  }, 120_000)

  describe('ResNet-style, 2 stages, 20 req/s, SLO 3,000 ms: batching multiplies cold starts', () => {
    let dir: string
    let profile: Profile
    let plan: Plan
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'amps-as-deployed-'))
      buildZooModel('resnet50', 32).write(join(dir, 'resnet50'))
      profile = await profileModel(join(dir, 'resnet50'), {backend: 'onnx', quick: true, batchSizes: [1, 8], cache: false})
      plan = planFromProfile(profile, {sloMs: 3000, ratePerSecond: 20, stages: 2, arch: 'x86_64', prices})
    }, 180_000)
    afterAll(() => rmSync(dir, {recursive: true, force: true}))

    it('batches many requests whose chain cold-starts for longer than the SLO', () => {
      expect(plan.stages).toHaveLength(2)
      expect(plan.batch.size).toBeGreaterThanOrEqual(8)
      expect(plan.predicted.coldStartMs).toBeGreaterThan(plan.inputs.sloMs)
    })

    it('as deployed (pre-warmed): p99 ≤ SLO and cost within 3 % over 900 s from t = 0', () => {
      for (const seed of [1, 2]) {
        const sim = asDeployed(plan, profile, seed, 900)
        expect(sim.latencyMs.p99, `seed ${seed}`).toBeLessThanOrEqual(plan.inputs.sloMs)
        expect(Math.abs(costErrPct(plan, sim)), `seed ${seed}`).toBeLessThanOrEqual(3)
      }
    })

    it('from empty pools (deploy --no-prewarm) the first batches are cold and miss the SLO', () => {
      const cold = asDeployed(plan, profile, 1, 900, false)
      const warm = asDeployed(plan, profile, 1, 900)
      expect(cold.coldStarts.count).toBeGreaterThanOrEqual(plan.stages.length)
      // every request of a batch that meets the cold chain (longer than the SLO) misses: at least the
      // first batch, beyond what the pre-warmed run misses (whether that reaches 1 % of the run, and
      // so the p99, depends on the profile this machine measured)
      expect(cold.latencyMs.max).toBeGreaterThan(plan.inputs.sloMs)
      expect(cold.slo.misses).toBeGreaterThan(warm.slo.misses)
      expect(cold.coldStarts.requestsAffected).toBeGreaterThan(warm.coldStarts.requestsAffected)
    })
  })
})
