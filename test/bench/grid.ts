/**
 * The grid of planning problems shared by the plan-quality and analytic-vs-simulated sections:
 * for each model, SLOs at 2×, 3× and 10× the whole model's time on one vCPU (plus the assumed
 * Invoke round trip), × arrival rates of 1, 10 and 100 requests/s, p99, arch auto, the built-in
 * price table; planned by the planner's planFromProfile on the bench's real profiles.
 */
import {CostModel} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {AmpsUserError} from '../../src/errors.js'
import {planFromProfile} from '../../src/plan/index.js'
import type {Plan} from '../../src/plan/types.js'
import type {Profile} from '../../src/profile/types.js'
import type {NsfwjsModel} from '../helpers/nsfwjs.js'
import {log} from './common.js'
import {benchProfile} from './profiles.js'

export const GRID_MODELS: NsfwjsModel[] = ['mobilenet_v2', 'inception_v3']
export const SLO_FACTORS = [2, 3, 10]
export const RATES = [1, 10, 100]
export const PERCENTILE = 99

export interface GridCell {
  model: NsfwjsModel
  sloFactor: number
  sloMs: number
  ratePerSecond: number
  /** wall time of planFromProfile (ms) */
  planMs: number
  plan?: Plan
  /** PLAN_INFEASIBLE or another planner error */
  error?: {code?: string; message: string}
}

/** Whole model, batch 1, one full vCPU: Σ layer ms + the invoke overhead (ms). */
export function wholeModelMs(profile: Profile): number {
  const cm = new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE})
  return cm.computeMs({first: 0, last: cm.L - 1}, cm.env.fullVcpuMb, 1) + profile.runtime.invokeOverheadMs
}

/** SLO for a factor: factor × whole-model ms + the assumed Invoke round trip, rounded up to 10 ms. */
export function sloFor(profile: Profile, factor: number): number {
  return Math.ceil((factor * wholeModelMs(profile) + DEFAULT_PRICE_TABLE.latency.invokeRoundTripMs.value) / 10) * 10
}

const memo = new Map<string, Promise<{profile: Profile; cells: GridCell[]}>>()

export function planGrid(model: NsfwjsModel, quick: boolean): Promise<{profile: Profile; cells: GridCell[]}> {
  const key = `${model}:${quick}`
  let p = memo.get(key)
  if (!p) {
    p = (async () => {
      const profile = await benchProfile(model, quick)
      const cells: GridCell[] = []
      for (const sloFactor of SLO_FACTORS) {
        const sloMs = sloFor(profile, sloFactor)
        for (const ratePerSecond of RATES) {
          const t0 = performance.now()
          try {
            const plan = planFromProfile(profile, {sloMs, percentile: PERCENTILE, ratePerSecond, arch: 'auto'})
            cells.push({model, sloFactor, sloMs, ratePerSecond, planMs: performance.now() - t0, plan})
          } catch (error) {
            const e = error as Error
            cells.push({
              model,
              sloFactor,
              sloMs,
              ratePerSecond,
              planMs: performance.now() - t0,
              error: {code: error instanceof AmpsUserError ? error.ampsCode : undefined, message: e.message},
            })
          }
          const c = cells.at(-1)!
          log(
            `  plan ${model} SLO ${sloMs} ms (${sloFactor}×) at ${ratePerSecond}/s: ` +
              (c.plan
                ? `${c.plan.stages.length} stage(s), batch ${c.plan.batch.size}, $${c.plan.predicted.costPerMillionUsd.toFixed(3)}/1M`
                : `no plan (${c.error?.code ?? c.error?.message})`) +
              ` in ${c.planMs.toFixed(0)} ms`,
          )
        }
      }
      return {profile, cells}
    })()
    memo.set(key, p)
  }
  return p
}
