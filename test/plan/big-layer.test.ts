/**
 * A layer bigger than a function (issue 11.2): VGG16's fc1 holds 411 MB of float32 weights, more
 * than a Lambda package may hold unzipped (250 MB). The stage holding only that layer fetches its
 * weights from S3 when it starts, priced by the same cost model (INIT ms grows by the S3 GET at the
 * assumed throughput; the package holds the runtime only), so the plan is no longer infeasible.
 */
import {describe, expect, it} from 'vitest'

import {CostModel} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import type {Profile} from '../../src/profile/types.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {userError} from '../helpers/errors.js'

const MB = 1024 * 1024
const LIMIT = DEFAULT_PRICE_TABLE.limits.unzippedPackageBytes.value

/** A small chain with layer `at` holding `bytes` of float32 weights. */
function withBigLayer(at: number[], bytes: number): Profile {
  const p = syntheticProfile({layers: 8, seed: 41, topology: 'chain', meanWeightBytes: 2e6, meanLayerMs: 3})
  for (const i of at) p.layers[i].weightBytes = bytes
  const total = p.layers.reduce((s, l) => s + l.weightBytes, 0)
  p.model.weightBytes = total
  p.model.storedWeightBytes = total
  return p
}

describe('a layer whose weights exceed the package limit', () => {
  it('gets a stage of its own whose weights come from S3, with the S3 fetch in its INIT', () => {
    const profile = withBigLayer([4], 411 * MB)
    const plan = planFromProfile(profile, {sloMs: 30_000})
    const big = plan.stages.find((s) => s.layers.firstIndex <= 4 && s.layers.lastIndex >= 4)!
    expect(big.layers.firstIndex).toBe(4)
    expect(big.layers.lastIndex).toBe(4)
    expect(big.weightsFrom).toBe('s3')
    expect(big.packageBytes).toBeLessThanOrEqual(LIMIT)
    expect(big.weightsBytes).toBe(411 * MB)
    for (const s of plan.stages) if (s !== big) expect(s.weightsFrom).toBeUndefined()
    // INIT = the model's own cold start + one S3 GET of 411 MB at the assumed throughput
    const model = new CostModel(profile, {arch: big.arch, prices: DEFAULT_PRICE_TABLE})
    const r = {first: 4, last: 4}
    const s3Ms = DEFAULT_PRICE_TABLE.latency.s3GetMs.value + (411 / DEFAULT_PRICE_TABLE.latency.s3MbPerS.value) * 1000
    expect(model.s3WeightsMs(model.storedWeightsBytes(r))).toBeCloseTo(s3Ms, 6)
    expect(big.initMs!).toBeGreaterThan(s3Ms)
    // its package holds the runtime only; with the weights it would be over the limit
    expect(model.packageFits(r)).toBe(true)
    expect(DEFAULT_PRICE_TABLE.packaging.runtimeBytes.value + 411 * MB).toBeGreaterThan(LIMIT)
  })

  it('stages of several layers still have to fit their package; two big neighbours get a stage each', () => {
    const profile = withBigLayer([3, 4], 300 * MB)
    const plan = planFromProfile(profile, {sloMs: 60_000})
    const s3 = plan.stages.filter((s) => s.weightsFrom === 's3')
    expect(s3.map((s) => [s.layers.firstIndex, s.layers.lastIndex])).toEqual([
      [3, 3],
      [4, 4],
    ])
    for (const s of plan.stages) if (!s.weightsFrom) expect(s.packageBytes).toBeLessThanOrEqual(LIMIT)
  })

  it('is still infeasible when the layer cannot be given its own stage', () => {
    const profile = withBigLayer([4], 411 * MB)
    const e = userError(() => planFromProfile(profile, {sloMs: 30_000, maxStages: 1}))
    expect(e.ampsCode).toBe('PLAN_INFEASIBLE')
  })
})
