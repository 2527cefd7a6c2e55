/**
 * The headline cost of a plan is what the user will pay: INIT charges are included (and said to be)
 * whenever the expected INIT adds more than HEADLINE_INIT_SHARE (0.1 %) to the warm cost: always for
 * a plan made without a rate (a cold start on every request), never when cold starts are rare. Issue 13 item 4: a plan without
 * a rate showed $0.30/1M while its INIT charges were $21.40/1M.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {HEADLINE_INIT_SHARE, headlineCost} from '../../src/plan/headline.js'
import {planFromProfile} from '../../src/plan/index.js'
import {renderPlan} from '../../src/plan/render.js'
import {usd} from '../../src/util/format.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const profile = syntheticProfile({layers: 16, seed: 5, topology: 'chain', meanLayerMs: 3, meanWeightBytes: 2e6})
const costLine = (text: string) => text.split('\n').find((l) => l.startsWith('Cost: '))!

describe('headline cost per 1M', () => {
  it('a plan made without a rate: INIT included at 100 % cold-start probability, and said so', () => {
    const plan = planFromProfile(profile, {sloMs: 2000, ratePerSecond: 0})
    const p = plan.predicted
    expect(p.coldStartProbability).toBe(1)
    expect(p.initPerMillionUsd).toBeGreaterThan(0)
    const h = headlineCost(plan)
    expect(h.includesInit).toBe(true)
    expect(h.costPerMillionUsd).toBeCloseTo(p.costPerMillionUsd + p.initPerMillionUsd!, 12)
    expect(p.headline).toEqual({costPerMillionUsd: h.costPerMillionUsd, monthlyCostUsd: h.monthlyCostUsd, includesInit: true})
    const line = costLine(renderPlan(plan))
    expect(
      line.startsWith(
        `Cost: ${usd(h.costPerMillionUsd)} per 1M requests (INIT included: ${usd(p.initPerMillionUsd!)} per 1M at a 100 % cold-start probability, no rate given; ${usd(p.costPerMillionUsd)} when every invocation is warm`,
      ),
    ).toBe(true)
  })

  it('a busy plan: cold starts are rare, the headline is the warm cost and says INIT is left out', () => {
    const plan = planFromProfile(profile, {sloMs: 2000, ratePerSecond: 20})
    const p = plan.predicted
    expect(p.initPerMillionUsd!).toBeLessThanOrEqual(HEADLINE_INIT_SHARE * p.costPerMillionUsd)
    const h = headlineCost(plan)
    expect(h.includesInit).toBe(false)
    expect(h.costPerMillionUsd).toBe(p.costPerMillionUsd)
    expect(h.monthlyCostUsd).toBe(p.monthlyCostUsd)
    const text = renderPlan(plan)
    expect(costLine(text)).toBe(
      `Cost: ${usd(p.costPerMillionUsd)} per 1M requests, ${usd(p.monthlyCostUsd)} per month at 20.00 req/s (first-tier prices, no free tier)`,
    )
    expect(text).toMatch(/INIT \$[\d.,e-]+ per 1M requests \(not included above: under 0\.1 % of the cost\)/)
  })

  it('a quiet plan (INIT over 0.1 % of the cost): INIT in the cost per 1M and per month', () => {
    // at 0.005 req/s a batch finds its function cold with probability e^(-0.005·keep-alive): its INIT is far over 0.1 % of the cost
    const plan = planFromProfile(profile, {sloMs: 2000, ratePerSecond: 0.005})
    const p = plan.predicted
    expect(p.initPerMillionUsd!).toBeGreaterThan(HEADLINE_INIT_SHARE * p.costPerMillionUsd)
    expect(p.coldStartProbability).toBeLessThan(1)
    const h = headlineCost(plan)
    expect(h.includesInit).toBe(true)
    expect(h.costPerMillionUsd).toBeGreaterThan(p.costPerMillionUsd)
    // the month scales with the per-request cost
    expect(h.monthlyCostUsd / p.monthlyCostUsd).toBeCloseTo(h.costPerMillionUsd / p.costPerMillionUsd, 9)
    expect(costLine(renderPlan(plan))).toMatch(
      new RegExp(
        `^Cost: \\${usd(h.costPerMillionUsd)} per 1M requests, \\${usd(h.monthlyCostUsd)} per month at 0\\.01 req/s \\(INIT included: .* at a \\d+\\.\\d\\d % cold-start probability;`,
      ),
    )
  })

  it('amps plan examples/tiny-cnn without --rate prints the cost with INIT and records it in plan.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-headline-'))
    try {
      const out = join(dir, 'plan.json')
      const r = await runAmps(['plan', join(repoRoot, 'examples', 'tiny-cnn'), '--slo', '1000', '-o', out], {cwd: dir})
      expect(r.code).toBe(0)
      const plan = JSON.parse(readFileSync(out, 'utf8'))
      expect(plan.predicted.coldStartProbability).toBe(1)
      expect(plan.predicted.headline.includesInit).toBe(true)
      expect(plan.predicted.headline.costPerMillionUsd).toBeCloseTo(plan.predicted.costPerMillionUsd + plan.predicted.initPerMillionUsd, 9)
      expect(costLine(r.stdout)).toContain(`Cost: ${usd(plan.predicted.headline.costPerMillionUsd)} per 1M requests (INIT included:`)
      expect(r.stdout).toMatch(/INIT \$[\d.,]+ per 1M requests \(included above\)/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  }, 120_000)
})
