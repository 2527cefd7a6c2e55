/**
 * `amps report`: read the plan (and its profile, a deployment, a simulation), build the data,
 * write one self-contained HTML file. The command (src/commands/report.ts) only parses flags.
 */
import {resolve} from 'node:path'

import type {PriceTable} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {warmEnvironments} from '../plan/prewarm.js'
import type {Plan} from '../plan/types.js'
import {writeFileAtomic} from '../profile/io.js'
import type {Profile} from '../profile/types.js'
import {type SimulationResult, SimulationInputError, simulatePlan} from '../simulate/index.js'
import {profilePathFromPlan, readPlanForSimulation, readProfileForSimulation} from '../simulate/load.js'
import {buildReportData, DEFAULT_SLO_FACTORS, type ReportData, sloFactors} from './data.js'
import {renderReportHtml} from './html.js'

export {buildReportData, type ReportData} from './data.js'
export {escapeHtml, renderReportHtml} from './html.js'

export interface ReportDeployment {
  target: string
  region: string
  stages: {stageName?: string; stageIndex: number; functionName: string; status: string; arn?: string; zipBytes?: number}[]
}

export interface WriteReportOptions {
  planPath: string
  outPath: string
  prices: PriceTable
  /** a profile.json to use instead of the one the plan records */
  profilePath?: string
  deployment?: ReportDeployment
  /** SLOs the frontier is re-solved at (default 11; 0: no frontier) */
  frontierPoints?: number
  simulate?: {ratePerSecond?: number; durationS?: number; seed: number; maxRequests: number}
  onProgress?: (message: string) => void
}

export interface ReportResult {
  schemaVersion: 1
  output: string
  bytes: number
  charts: string[]
  notes: string[]
}

/** Requests a report's simulation is kept to by default (the histogram needs no more). */
export const REPORT_SIMULATED_REQUESTS = 200_000

export function writeReport(o: WriteReportOptions): ReportResult {
  const plan = readPlanForSimulation(o.planPath)
  const notes: string[] = []
  let profile: Profile | undefined
  const profilePath = o.profilePath ?? profilePathFromPlan(plan, o.planPath)
  if (o.profilePath) {
    profile = readProfileForSimulation(o.profilePath).profile
  } else if (profilePath) {
    try {
      profile = readProfileForSimulation(profilePath).profile
    } catch (error) {
      if (!(error instanceof AmpsUserError)) throw error
      notes.push(`could not read the plan's profile (${error.message}): no frontier or Power-Tuning charts; pass --profile-file`)
    }
  } else {
    notes.push('the plan records no profile: no frontier or Power-Tuning charts; pass --profile-file')
  }
  if (profile && plan.model.sha256 && profile.model?.sha256 && plan.model.sha256 !== profile.model.sha256) {
    throw new AmpsUserError(
      'PROFILE_INVALID',
      `the profile is of a different model (sha256 ${profile.model.sha256.slice(0, 12)}) than the plan (${plan.model.sha256.slice(0, 12)})`,
      {
        suggestions: ['pass the profile the plan was made from with --profile-file'],
      },
    )
  }
  let data: ReportData
  try {
    data = buildReportData(plan, profile, {prices: o.prices, onProgress: o.onProgress, sloFactors: sloFactors(o.frontierPoints ?? DEFAULT_SLO_FACTORS.length)})
    if (o.simulate) data.simulation = simulate(plan, profile, o, notes)
  } catch (error) {
    if (error instanceof SimulationInputError)
      throw new AmpsUserError('PLAN_INVALID', error.message, {suggestions: ['check that the plan and the profile belong together']})
    if (error instanceof InvalidProblemError) throw new AmpsUserError('PROFILE_INVALID', error.message)
    throw error
  }
  if (profilePath) data.profile.path = profilePath
  data.notes.unshift(...notes)
  if (o.deployment) {
    const byIndex = new Map(plan.stages.map((s) => [s.index, s.name]))
    data.deployment = {
      target: o.deployment.target,
      region: o.deployment.region,
      stages: o.deployment.stages.map((s) => ({
        name: s.stageName ?? byIndex.get(s.stageIndex) ?? `stage-${s.stageIndex + 1}`,
        functionName: s.functionName,
        status: s.status,
        arn: s.arn,
        zipBytes: s.zipBytes,
      })),
    }
  }
  const html = renderReportHtml(data)
  const out = resolve(o.outPath)
  writeFileAtomic(out, html)
  const charts = [
    ...(data.frontier ? ['frontier'] : []),
    ...(data.powerTuning ?? []).map((s) => `power-tuning:${s.name}`),
    'timeline',
    ...(data.simulation ? ['latency'] : []),
  ]
  return {schemaVersion: 1, output: out, bytes: Buffer.byteLength(html), charts, notes: [...(plan.warnings ?? []), ...data.notes]}
}

function simulate(plan: Plan, profile: Profile | undefined, o: WriteReportOptions, notes: string[]): ReportData['simulation'] {
  const s = o.simulate!
  const rate = s.ratePerSecond ?? plan.inputs.ratePerSecond
  if (!(rate > 0)) {
    throw new AmpsUserError('FLAG_INVALID', `${o.planPath} was planned without a request rate, so --simulate has no traffic to simulate`, {
      suggestions: [`amps report ${o.planPath} --simulate --rate 10`],
    })
  }
  const durationS = s.durationS ?? Math.min(600, REPORT_SIMULATED_REQUESTS / rate)
  if (rate * durationS > s.maxRequests) {
    throw new AmpsUserError(
      'FLAG_INVALID',
      `--simulate at ${rate}/s for ${durationS} s is about ${Math.round(rate * durationS)} requests, more than ${s.maxRequests}`,
      {
        suggestions: [`use --duration ${Math.floor(s.maxRequests / rate)} or less`],
      },
    )
  }
  o.onProgress?.(`simulating ${Math.round(rate * durationS).toLocaleString('en-US')} requests`)
  const run = (warmupS: number): SimulationResult =>
    simulatePlan(plan, profile, {
      arrivals: {kind: 'poisson', ratePerSecond: rate, durationS},
      seed: s.seed,
      warmupS,
      // as amps simulate: the pools amps deploy pre-warms
      warmEnvironments: warmEnvironments(plan),
      prices: o.prices,
      maxRequests: s.maxRequests,
      latencyHistogramBins: 60,
      // the SLO's neighbourhood; cold starts far beyond it are counted, not drawn
      latencyHistogramMaxMs: Math.max(plan.inputs.sloMs * 1.5, plan.predicted.latencyMs * 1.5),
    })
  let r = run(0)
  // a run starts with no warm instance: leave the start-up out as amps simulate advises, and say so
  if (r.warmup.suggestedS !== undefined && r.warmup.suggestedS < durationS / 2) {
    const warmupS = r.warmup.suggestedS
    r = run(warmupS)
    notes.push(`simulation: the first ${warmupS} s (cold starts while the pools grew from empty) are left out of the distribution`)
  }
  notes.push(...r.warnings.map((w) => `simulation: ${w}`))
  return {latencyMs: r.latencyMs, slo: r.slo, cost: r.cost, arrivals: r.arrivals, coldStarts: r.coldStarts, latencyHistogram: r.latencyHistogram, seed: r.seed}
}
