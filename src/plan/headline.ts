/**
 * The cost a plan puts in front of the user (`amps plan`'s "Cost:" line, plan.json
 * predicted.headline): what the user will pay. predicted.costPerMillionUsd is the planner's
 * objective, warm invocations only; INIT charges come on top, at each stage's cold-start
 * probability (predicted.initPerMillionUsd). When they add more than HEADLINE_INIT_SHARE (0.1 %)
 * of the warm cost, the headline includes them and says so: a cold start's INIT can cost as much as
 * dozens of warm invocations, so even a rare one (a stage's pool growing now and then) shows in the
 * bill. A plan made without a rate assumes a cold start on every request (probability 1), so its
 * headline always includes INIT.
 */
import type {Plan} from './types.js'

/** Share of the warm cost above which the expected INIT charges are in the headline. */
export const HEADLINE_INIT_SHARE = 0.001

export interface HeadlineCost {
  /** cost per 1M requests the user will pay: warm cost, plus INIT when includesInit */
  costPerMillionUsd: number
  /** per month at the plan's rate (× replicas), INIT included alike; 0 without a rate */
  monthlyCostUsd: number
  includesInit: boolean
  /** the expected INIT charge per 1M requests (included or not) */
  initPerMillionUsd: number
  coldStartProbability: number
}

/** INIT per 1M requests of a plan: predicted.initPerMillionUsd, else from initUsdPerColdStart. */
function initPerMillion(p: Plan['predicted']): number {
  if (p.initPerMillionUsd !== undefined && Number.isFinite(p.initPerMillionUsd)) return p.initPerMillionUsd
  if (p.initUsdPerColdStart !== undefined) return (p.coldStartProbability * p.initUsdPerColdStart * 1e6) / (p.meanBatchSize > 0 ? p.meanBatchSize : 1)
  return 0
}

export function headlineCost(plan: Pick<Plan, 'predicted'>, share = HEADLINE_INIT_SHARE): HeadlineCost {
  const p = plan.predicted
  const init = initPerMillion(p)
  const includesInit = init > 0 && init > share * p.costPerMillionUsd
  const costPerMillionUsd = p.costPerMillionUsd + (includesInit ? init : 0)
  // monthly scales with the per-request cost (same rate, same replicas)
  const monthlyCostUsd = p.costPerMillionUsd > 0 ? (p.monthlyCostUsd * costPerMillionUsd) / p.costPerMillionUsd : p.monthlyCostUsd
  return {costPerMillionUsd, monthlyCostUsd, includesInit, initPerMillionUsd: init, coldStartProbability: p.coldStartProbability}
}
