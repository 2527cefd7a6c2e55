/**
 * A stage whose weights are fetched at INIT holds the fetched blob beside the runtime's own copy of
 * the weights (ONNX external data handed over in memory): its memory need counts it
 * (FETCHED_WEIGHTS_RSS_PER_MB), in the cost model and in the solver's fast path alike, so the plan
 * gives the stage enough memory to start.
 */
import {describe, expect, it} from 'vitest'

import {CostModel, FETCHED_WEIGHTS_RSS_PER_MB} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import type {Profile} from '../../src/profile/types.js'
import {syntheticProfile} from '../helpers/synthetic.js'

const MB = 1024 * 1024

function withBigLayer(at: number, bytes: number): Profile {
  const p = syntheticProfile({layers: 8, seed: 41, topology: 'chain', meanWeightBytes: 2e6, meanLayerMs: 3})
  p.layers[at].weightBytes = bytes
  const total = p.layers.reduce((s, l) => s + l.weightBytes, 0)
  p.model.weightBytes = total
  p.model.storedWeightBytes = total
  return p
}

describe('memory of a stage whose weights are fetched at INIT', () => {
  it('counts the fetched blob once more than weights loaded from the package', () => {
    const profile = withBigLayer(4, 411 * MB)
    const model = new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE})
    const r = {first: 4, last: 4}
    expect(model.weightsFromS3(r)).toBe(true)
    const rt = profile.runtime
    const packaged =
      rt.baselineRssMb +
      (rt.modelFixedRssMb ?? 0) +
      (model.weightsBytes(r) / MB) * rt.rssPerWeightMb +
      (model.peakActivationBytes(r) / MB) * rt.rssPerActivationMb
    expect(model.requiredMemoryMb(r, 1)).toBeCloseTo(packaged + (model.storedWeightsBytes(r) / MB) * FETCHED_WEIGHTS_RSS_PER_MB, 6)
    // a stage whose weights ship in its package has no such term
    const small = {first: 5, last: 5}
    expect(model.weightsFromS3(small)).toBe(false)
    expect(model.requiredMemoryMb(small, 1)).toBeCloseTo(
      rt.baselineRssMb +
        (rt.modelFixedRssMb ?? 0) +
        (model.weightsBytes(small) / MB) * rt.rssPerWeightMb +
        (model.peakActivationBytes(small) / MB) * rt.rssPerActivationMb,
      6,
    )
  })

  it('the plan (fast solver) gives the fetched stage at least that memory', () => {
    const profile = withBigLayer(4, 411 * MB)
    const plan = planFromProfile(profile, {sloMs: 30_000})
    const big = plan.stages.find((s) => s.weightsFrom === 's3')!
    const model = new CostModel(profile, {arch: big.arch, prices: DEFAULT_PRICE_TABLE})
    const need = model.minimumMemoryMb({first: 4, last: 4}, plan.batch.size)!
    expect(need).toBeGreaterThan(411 * FETCHED_WEIGHTS_RSS_PER_MB)
    expect(big.memoryMb).toBeGreaterThanOrEqual(need)
  })
})
