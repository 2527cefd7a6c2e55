/**
 * Stage-time predictors compared in the prediction section. `model` is the planner's CostModel as
 * it stands; the others are the same model with the profile's stage-time corrections taken out,
 * so the section reports what each correction buys (before → after):
 *
 * - `before`: the model as it was before the corrections — Σ of the layers timed one by one, the
 *   stage's codec and fixed per-invoke cost (profile.runtime.fusedFactor and json*MsPerMb removed);
 * - `fused`: `before` with every layer × the profile's fusedFactor (the median over its points of
 *   whole-model CPU ÷ Σ layers: a stage runs its layers fused in one model.predict, which also pays
 *   the graph executor's bookkeeping, disposing every intermediate and reading the outputs back);
 * - `model`: also the runtime's JSON.parse of the event and JSON.stringify of the result per MB of
 *   inline tensor (profile.runtime.json{Parse,Stringify}MsPerMb), which Lambda bills.
 * - `cfs`: `model` with the local target's CFS period (CostModel cfsPeriodMs, src/cost/timing.ts
 *   cfsWallMs): work that fits in one period's quota runs at full speed instead of at m/1769.
 * - `local`: the model as amps predicts a stage on the local target (localCostModel: this machine's
 *   measured quota curve, deploy/targets/local/throttle.ts, and the runner's spliced JSON around
 *   the handler instead of Lambda's JSON.parse / JSON.stringify). Set the table with
 *   useThrottleTable before predicting.
 */
import {CostModel, type StageRange} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import type {Profile} from '../../src/profile/types.js'
import {localPeriodMs} from '../../deploy/targets/local/cgroup.js'
import {localCostModel, type ThrottleTable} from '../../deploy/targets/local/throttle.js'
import {errorPct, round} from './common.js'

export interface StagePrediction {
  computeMs: number
  codecMs: number
  overheadMs: number
  handlerMs: number
}

export type Predictor = (profile: Profile, range: StageRange, memoryMb: number, batch: number) => StagePrediction

/** The profile without the corrections named (a shallow copy; the layers are shared). */
export function withoutCorrections(profile: Profile, drop: {fused?: boolean; json?: boolean}): Profile {
  const runtime = {...profile.runtime}
  if (drop.fused) delete runtime.fusedFactor
  if (drop.json) {
    delete runtime.jsonParseMsPerMb
    delete runtime.jsonStringifyMsPerMb
  }
  return {...profile, runtime}
}

let throttleTable: ThrottleTable | undefined
/** The local target's measured quota curve the `local` predictor uses (deploy/targets/local/throttle.ts localThrottle). */
export function useThrottleTable(t: ThrottleTable | undefined): void {
  throttleTable = t
}

function predictorFor(drop: {fused?: boolean; json?: boolean}, target: 'lambda' | 'cfs' | 'local' = 'lambda'): Predictor {
  const models = new WeakMap<Profile, CostModel>()
  return (profile, range, memoryMb, batch) => {
    let cm = models.get(profile)
    if (!cm) {
      const options = target === 'local' ? localCostModel(throttleTable) : target === 'cfs' ? {cfsPeriodMs: localPeriodMs} : {}
      cm = new CostModel(withoutCorrections(profile, drop), {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE, ...options})
      models.set(profile, cm)
    }
    return {
      computeMs: cm.computeMs(range, memoryMb, batch),
      codecMs: cm.codecMs(range, memoryMb, batch),
      overheadMs: profile.runtime.invokeOverheadMs,
      handlerMs: cm.handlerMs(range, memoryMb, batch),
    }
  }
}

export const PREDICTORS = {
  before: predictorFor({fused: true, json: true}),
  fused: predictorFor({json: true}),
  model: predictorFor({}),
  cfs: predictorFor({}, 'cfs'),
  local: predictorFor({}, 'local'),
} satisfies Record<string, Predictor>

export type PredictorName = keyof typeof PREDICTORS

/** A predictor's figures for a measured stage, with its error against the Duration and the model run (%). */
export type ScoredPrediction = StagePrediction & {durationErrPct: number; computeErrPct: number}

/** Every predictor on one stage, scored against what was measured. */
export function scoreAll(
  profile: Profile,
  range: StageRange,
  memoryMb: number,
  batch: number,
  measured: {durationMs: number; runMs: number},
): Record<PredictorName, ScoredPrediction> {
  const out = {} as Record<PredictorName, ScoredPrediction>
  for (const [name, predict] of Object.entries(PREDICTORS) as [PredictorName, Predictor][]) {
    const p = predict(profile, range, memoryMb, batch)
    out[name] = {...p, durationErrPct: round(errorPct(p.handlerMs, measured.durationMs), 1), computeErrPct: round(errorPct(p.computeMs, measured.runMs), 1)}
  }
  return out
}
