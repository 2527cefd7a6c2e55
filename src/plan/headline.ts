/**
 * The cost a plan puts in front of the user (`amps plan`'s "Cost:" line, plan.json
 * predicted.headline): what the user will pay. predicted.costPerMillionUsd is the planner's
 * objective, warm invocations only; INIT charges come on top, at coldStartProbability per batch.
 * When that probability is not small (> HEADLINE_INIT_THRESHOLD), the headline includes the
 * expected INIT charge (predicted.initPerMillionUsd) and says so; a plan made without a rate
 * assumes a cold start on every request (probability 1), so its headline always includes INIT.
 */
import type {Plan} from './types.js'

/** Cold-start probability per batch above which the headline includes INIT charges. */
export const HEADLINE_INIT_THRESHOLD = 0.01

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

export function headlineCost(plan: Pick<Plan, 'predicted'>, threshold = HEADLINE_INIT_THRESHOLD): HeadlineCost {
  const p = plan.predicted
  const init = initPerMillion(p)
  const includesInit = p.coldStartProbability > threshold && init > 0
  const costPerMillionUsd = p.costPerMillionUsd + (includesInit ? init : 0)
  // monthly scales with the per-request cost (same rate, same replicas)
  const monthlyCostUsd = p.costPerMillionUsd > 0 ? (p.monthlyCostUsd * costPerMillionUsd) / p.costPerMillionUsd : p.monthlyCostUsd
  return {costPerMillionUsd, monthlyCostUsd, includesInit, initPerMillionUsd: init, coldStartProbability: p.coldStartProbability}
}
