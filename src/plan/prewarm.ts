/**
 * How many warm execution environments each stage of a plan needs, so that a fresh deployment's
 * first batches do not meet cold functions: deploy pre-warms that many per stage, and the simulator
 * can start from that pool.
 *
 * Batches reach a stage at λ/E[K] per second (Poisson, the rate over the mean batch size) and each
 * keeps one environment busy for the stage's handler time h, so the number busy at once is
 * Poisson with mean μ = λ/E[K] · h/1000 (an M/G/∞ pool). A stage gets the smallest n with
 * P(busy > n) ≤ 10⁻³ (at least 1): a batch meets a busy pool with probability ≤ 10⁻³, and the
 * pool then grows to what the traffic needs. Without a rate: one environment per stage.
 */
import {poissonPmf} from '../cost/batching.js'
import type {Plan} from './types.js'

/** P(busy > n) allowed for the pre-warmed pool. */
export const PREWARM_OVERFLOW = 1e-3

/** Smallest n ≥ 1 with P(Poisson(mean) > n) ≤ overflow. */
export function poissonQuantileCount(mean: number, overflow = PREWARM_OVERFLOW): number {
  if (!(mean > 0)) return 1
  const pmf = poissonPmf(mean, Math.ceil(mean + 12 * Math.sqrt(mean) + 20))
  let below = 0
  for (let n = 0; n < pmf.length; n++) {
    below += pmf[n]
    if (1 - below <= overflow) return Math.max(1, n)
  }
  return pmf.length
}

/** Warm environments per stage for the plan's rate (see module docs). */
export function warmEnvironments(plan: Plan, ratePerSecond = plan.inputs.ratePerSecond): number[] {
  const meanBatch = plan.predicted.meanBatchSize > 0 ? plan.predicted.meanBatchSize : 1
  return plan.stages.map((st) => {
    if (!(ratePerSecond > 0)) return 1
    return poissonQuantileCount(((ratePerSecond / meanBatch) * st.predictedMs) / 1000)
  })
}
