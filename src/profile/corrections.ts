/**
 * Measured corrections of a profile's stage times (`amps plan --verify`): a stage of a plan was run
 * (locally under the same quotas, or on AWS Lambda) at its memory and batch size, its median
 * Duration differed from the prediction, and the layer timings of its layer range are scaled by
 * `factor` so that the cost model predicts what was measured. Stored in profile.json under
 * `corrections` and applied, in order, whenever a plan is made from that profile (factors of
 * entries covering the same layer multiply: each was measured against the already-corrected profile).
 */
import type {Profile, StageCorrection, TimingPoint} from './types.js'

export type {StageCorrection} from './types.js'

/** The per-layer multiplier all corrections add up to (1 for an uncorrected layer). */
export function layerFactors(profile: Profile, corrections: readonly StageCorrection[] = profile.corrections ?? []): number[] {
  const f = profile.layers.map(() => 1)
  for (const c of corrections) {
    for (let i = Math.max(0, c.firstIndex); i <= Math.min(profile.layers.length - 1, c.lastIndex); i++) f[i] *= c.factor
  }
  return f
}

function scalePoint(t: TimingPoint, k: number): TimingPoint {
  return {...t, medianMs: t.medianMs * k, p10Ms: t.p10Ms * k, p90Ms: t.p90Ms * k, minMs: t.minMs * k, maxMs: t.maxMs * k}
}

/**
 * The profile with `corrections` (default: its own) applied to the layer timings; the input is not
 * changed. The result keeps the corrections list, so a plan or simulation made from it can say so.
 */
export function applyCorrections(profile: Profile, corrections: readonly StageCorrection[] = profile.corrections ?? []): Profile {
  if (corrections.length === 0) return profile
  const f = layerFactors(profile, corrections)
  return {...profile, layers: profile.layers.map((l, i) => (f[i] === 1 ? l : {...l, timing: l.timing.map((t) => scalePoint(t, f[i]))}))}
}
