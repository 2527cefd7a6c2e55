/**
 * From a verified stage (`amps plan --verify`) to a profile correction: the factor on the stage's
 * layer timings that makes the cost model predict the measured median Duration at the stage's
 * memory and batch size. The model's handler time is the fixed invocation overhead and codec plus
 * the (fused, quota-scaled) layer times, so the factor is solved on the model itself (secant on
 * the factor; the handler time grows monotonically with it), not taken as measured ÷ predicted.
 */
import {CostModel, type CostModelOptions} from '../cost/model.js'
import type {PriceTable} from '../cost/prices.js'
import {applyCorrections, type StageCorrection} from '../profile/corrections.js'
import type {Profile} from '../profile/types.js'
import type {PlanStage} from './types.js'

/** Cost-model options describing the target a stage was measured on (its runtime, its CFS period). */
export type ModelOptions = Pick<CostModelOptions, 'runtime' | 'cfsPeriodMs' | 'quotaWallMs'>

/** A stage off its prediction by more than this (relative) is corrected and the plan re-solved. */
export const VERIFY_TOLERANCE = 0.1

/**
 * Whether a stage runs more ORT threads than a machine of `cores` cores can give it: verifying it
 * there measures the machine, not the stage (a 3-thread stage at 5,307 MB gets 2 cores on a 2-core
 * host), so `--verify local` reports it but does not correct the profile from it.
 */
export function exceedsCores(stage: Pick<PlanStage, 'threads'>, cores: number): boolean {
  return (stage.threads ?? 1) > cores
}

/**
 * The stage's handler time (ms) predicted from `profile` with its layers' timings × factor, by the
 * cost model with `model`'s options (how the verifying target runs a stage: deploy/targets/local
 * localCostModel for the local target; none for Lambda).
 */
export function predictedStageMs(profile: Profile, stage: PlanStage, batch: number, prices: PriceTable, factor = 1, model: ModelOptions = {}): number {
  const first = stage.layers.firstIndex
  const last = stage.layers.lastIndex
  const scaled = factor === 1 ? profile : applyCorrections(profile, [{firstIndex: first, lastIndex: last, factor} as StageCorrection])
  return new CostModel(scaled, {...model, arch: stage.arch, prices}).handlerMs({first, last}, stage.memoryMb, batch, batch)
}

/**
 * The correction for `stage` of a plan made from `profile` (already corrected by its earlier
 * entries) measured at `measuredMs` median Duration over `samples` requests at batch `batch`.
 */
export function correctionFor(
  profile: Profile,
  stage: PlanStage,
  batch: number,
  measuredMs: number,
  o: {prices: PriceTable; target: 'local' | 'aws'; samples: number; now?: Date; model?: ModelOptions},
): StageCorrection {
  const g = (f: number): number => predictedStageMs(profile, stage, batch, o.prices, f, o.model) - measuredMs
  const predictedMs = predictedStageMs(profile, stage, batch, o.prices, 1, o.model)
  let f0 = 1
  let g0 = predictedMs - measuredMs
  let f1 = predictedMs > 0 ? Math.max(1e-3, measuredMs / predictedMs) : 1
  let g1 = g(f1)
  for (let i = 0; i < 20 && Math.abs(g1) > 1e-3 * Math.max(1, measuredMs) && g1 !== g0; i++) {
    const next = Math.min(1e3, Math.max(1e-3, f1 - (g1 * (f1 - f0)) / (g1 - g0)))
    f0 = f1
    g0 = g1
    f1 = next
    g1 = g(f1)
  }
  return {
    firstIndex: stage.layers.firstIndex,
    lastIndex: stage.layers.lastIndex,
    memoryMb: stage.memoryMb,
    batch,
    arch: stage.arch,
    target: o.target,
    predictedMs: Math.round(predictedMs * 1000) / 1000,
    measuredMs: Math.round(measuredMs * 1000) / 1000,
    factor: Math.round(f1 * 1e6) / 1e6,
    samples: o.samples,
    measuredAt: (o.now ?? new Date()).toISOString(),
  }
}
