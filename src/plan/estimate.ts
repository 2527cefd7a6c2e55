/**
 * Monthly cost of a plan at a request rate: per stage (GB-s, duration, requests, S3, INIT, /tmp),
 * with the monthly price tiers and optionally the free tier; each baseline; the always-on
 * SageMaker alternative; and a table over rates showing where batching starts to pay.
 * Pure: works from plan.json alone (the planner records every per-batch-size number it needs).
 */
import {meetsSlo} from './tail.js'
import type {Plan, PlanStage} from './types.js'
import {batchSizeDistribution, coldStartProbability, expectedBatchSize, waitPercentileMs} from '../cost/batching.js'
import {billedMs} from '../cost/billing.js'
import {type PriceTable, type SageMakerInstance, firstTierUsdPerGbS, requestUsd, tieredDurationUsd} from '../cost/prices.js'
import {ARCHES} from '../platform/lambda.js'

export const SECONDS_PER_MONTH = 730 * 3600

export interface EstimateOptions {
  prices: PriceTable
  /** requests per second (default: the plan's rate) */
  ratePerSecond?: number
  /** requests per month (alternative to the rate) */
  requestsPerMonth?: number
  freeTier?: boolean
  /** rate multipliers of the comparison table */
  multipliers?: number[]
}

export interface StageCost {
  stage: string
  memoryMb: number
  arch: PlanStage['arch']
  invocationsPerMonth: number
  /** mean billed ms of one invocation over the batch-size distribution */
  meanBilledMs: number
  gbSeconds: number
  durationUsd: number
  requestsUsd: number
  s3Usd: number
  coldStartsPerMonth: number
  initGbSeconds: number
  initUsd: number
  tmpUsd: number
  totalUsd: number
}

export interface AlwaysOn {
  feasible: boolean
  reason?: string
  instance?: string
  count?: number
  usdPerHour?: number
  monthlyUsd?: number
  perMillionUsd?: number
  source?: string
  note: string
}

export interface RateRow {
  multiplier: number
  ratePerSecond: number
  requestsPerMonth: number
  meanBatchSize: number
  /** the plan's (B, T) at this rate, first-tier prices, no free tier */
  batchedPerMillionUsd: number
  batchedMonthlyUsd: number
  /** latency percentile of the plan at this rate and whether it still meets the SLO */
  latencyMs: number
  meetsSlo: boolean
  /** the cheapest plan without batching (rate-independent per request) */
  unbatchedPerMillionUsd: number | null
  unbatchedMonthlyUsd: number | null
  alwaysOnMonthlyUsd: number | null
}

export interface CostEstimate {
  schemaVersion: 1
  model: string
  priceTableVersion: string
  ratePerSecond: number
  requestsPerMonth: number
  batch: {size: number; timeoutMs: number}
  meanBatchSize: number
  batchesPerMonth: number
  freeTier: boolean
  stages: StageCost[]
  totals: {
    gbSeconds: number
    durationUsd: number
    requestsUsd: number
    s3Usd: number
    initUsd: number
    tmpUsd: number
    totalUsd: number
    perMillionUsd: number
    /** what the free tier took off (only with freeTier) */
    freeTierUsd: number
  }
  baselines: {name: string; feasible: boolean; reason?: string; perMillionUsd: number | null; monthlyUsd: number | null; ratio: number | null}[]
  alwaysOn: AlwaysOn
  rates: RateRow[]
  /** smallest rate (req/s) at which the plan's batching is cheaper than the best unbatched plan, within the table's range */
  batchingPaysFromRatePerSecond: number | null
  warnings: string[]
}

/** Batch-size probabilities of the plan at a rate (k = 1..B). */
function distributionAt(plan: Plan, rate: number): number[] {
  const B = plan.batch.size
  if (B === 1 || !(rate > 0)) return [1, ...new Array<number>(B - 1).fill(0)]
  return batchSizeDistribution({ratePerSecond: rate, maxBatch: B, timeoutMs: plan.batch.timeoutMs})
}

function meanBatchAt(plan: Plan, rate: number): number {
  if (plan.batch.size === 1 || !(rate > 0)) return 1
  return expectedBatchSize({ratePerSecond: rate, maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs})
}

/** Billed ms of a stage at batch k (recorded per k by the planner; else its full-batch figure). */
function billedAt(stage: PlanStage, k: number, granularity: number): number {
  const byK = stage.billedMsByBatch
  if (byK && byK.length >= k) return byK[k - 1]
  return stage.billedMs ?? billedMs(stage.predictedMs, granularity)
}

/**
 * A stage's mean billed ms per invocation at a rate (over the batch sizes the plan's batching
 * makes there): how long an invocation keeps one of its environments busy, on average.
 * estimate-cost sizes a stage's pool of environments (cold starts) with it.
 */
export function meanStageMs(plan: Pick<Plan, 'batch'>, stage: PlanStage, rate: number, granularity: number): number {
  const B = plan.batch.size
  const dist = B === 1 || !(rate > 0) ? [1] : batchSizeDistribution({ratePerSecond: rate, maxBatch: B, timeoutMs: plan.batch.timeoutMs})
  let ms = 0
  dist.forEach((p, i) => (ms += p * billedAt(stage, i + 1, granularity)))
  return ms
}

function s3PairsPerBatch(stage: PlanStage): number {
  return (stage.handoff === 's3' ? 1 : 0) + (stage.inputHandoff === 's3' ? 1 : 0)
}

/** Cost per request (USD) of the plan at a rate, first-tier prices, no free tier, INIT excluded. */
export function perRequestUsdAt(plan: Plan, prices: PriceTable, rate: number): number {
  const dist = distributionAt(plan, rate)
  const g = prices.lambda.billingGranularityMs.value
  const s3Pair = (prices.s3.putUsdPerThousand.value + prices.s3.getUsdPerThousand.value) / 1000
  let perBatch = 0
  for (const st of plan.stages) {
    const usdPerMbMs = firstTierUsdPerGbS(prices, st.arch) / 1024 / 1000
    let ms = 0
    dist.forEach((p, i) => (ms += p * billedAt(st, i + 1, g)))
    perBatch += usdPerMbMs * st.memoryMb * ms + requestUsd(prices) + s3PairsPerBatch(st) * s3Pair
  }
  return perBatch / meanBatchAt(plan, rate)
}

/** The always-on alternative: the cheapest listed SageMaker instance that holds the model and keeps up. */
export function alwaysOnAlternative(plan: Plan, prices: PriceTable, rate: number): AlwaysOn {
  const note = prices.sagemaker.note
  const memoryMb = plan.predicted.wholeModelMemoryMb
  const msPerRequest = plan.predicted.fullCpuMsPerRequest
  if (memoryMb === undefined || msPerRequest === undefined) {
    return {feasible: false, reason: 'the plan does not record the whole model’s memory and time (re-plan with this amps)', note}
  }
  let best: {inst: SageMakerInstance; count: number; monthly: number} | null = null
  for (const inst of prices.sagemaker.instances) {
    if (memoryMb > inst.memoryGiB * 1024 * 0.9) continue
    // one request per vCPU at a time (single-threaded backend), kept below the target utilisation
    const capacity = (inst.vcpus * 1000 * prices.sagemaker.maxUtilisation.value) / msPerRequest
    const count = Math.max(1, Math.ceil(rate / capacity))
    const monthly = count * inst.usdPerHour * prices.sagemaker.hoursPerMonth.value
    if (!best || monthly < best.monthly) best = {inst, count, monthly}
  }
  if (!best) return {feasible: false, reason: `no listed instance has ${memoryMb.toFixed(0)} MB to spare`, note}
  const requestsPerMonth = rate * SECONDS_PER_MONTH
  return {
    feasible: true,
    instance: best.inst.type,
    count: best.count,
    usdPerHour: best.inst.usdPerHour,
    monthlyUsd: best.monthly,
    perMillionUsd: requestsPerMonth > 0 ? (best.monthly / requestsPerMonth) * 1e6 : undefined,
    source: best.inst.source,
    note,
  }
}

/** The monthly estimate (see module docs). */
export function estimateCost(plan: Plan, o: EstimateOptions): CostEstimate {
  const prices = o.prices
  const warnings: string[] = []
  const rate = o.requestsPerMonth !== undefined ? o.requestsPerMonth / SECONDS_PER_MONTH : (o.ratePerSecond ?? plan.inputs.ratePerSecond)
  const requestsPerMonth = o.requestsPerMonth ?? rate * SECONDS_PER_MONTH
  if (plan.inputs.priceTableVersion !== prices.version) {
    warnings.push(`the plan was made with price table ${plan.inputs.priceTableVersion}; this estimate uses ${prices.version}`)
  }
  if (Math.abs(rate - plan.inputs.ratePerSecond) > 1e-9 * Math.max(1, rate) && plan.batch.size > 1) {
    warnings.push(
      `the plan's batching (B=${plan.batch.size}, T=${plan.batch.timeoutMs} ms) was chosen for ${plan.inputs.ratePerSecond} req/s; at ${round(rate, 3)} req/s its batches and latency differ (see the rates table)`,
    )
  }
  const g = prices.lambda.billingGranularityMs.value
  const meanBatch = meanBatchAt(plan, rate)
  const batchesPerMonth = requestsPerMonth / meanBatch
  const s3Pair = (prices.s3.putUsdPerThousand.value + prices.s3.getUsdPerThousand.value) / 1000
  const reqUsd = requestUsd(prices)

  const stages: StageCost[] = plan.stages.map((st) => {
    const meanMs = meanStageMs(plan, st, rate, g)
    const gbSeconds = ((batchesPerMonth * meanMs) / 1000) * (st.memoryMb / 1024)
    // each stage's own pool of environments, fed by the plan's batches at this rate, each busy for
    // the stage's mean time (src/cost/batching.ts; meanMs = meanStageMs)
    const coldStarts =
      batchesPerMonth *
      coldStartProbability(
        rate,
        prices.latency.keepAliveS.value,
        meanMs,
        plan.batch.size > 1 ? {maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs} : undefined,
      )
    const initBilledMs = prices.lambda.initBilled.value && (st.initMs ?? 0) > 0 ? billedMs(st.initMs!, g) : 0
    const initGbSeconds = ((coldStarts * initBilledMs) / 1000) * (st.memoryMb / 1024)
    return {
      stage: st.name,
      memoryMb: st.memoryMb,
      arch: st.arch,
      invocationsPerMonth: batchesPerMonth,
      meanBilledMs: meanMs,
      gbSeconds,
      durationUsd: 0,
      requestsUsd: batchesPerMonth * reqUsd,
      s3Usd: batchesPerMonth * s3PairsPerBatch(st) * s3Pair,
      coldStartsPerMonth: coldStarts,
      initGbSeconds,
      initUsd: 0,
      // stages use the default 512 MB of /tmp, which is free
      tmpUsd: 0,
      totalUsd: 0,
    }
  })
  // duration: tiers per architecture over handler + INIT GB-s, the free tier off the total first
  const free = prices.lambda.freeTier.value
  const totalGbS = stages.reduce((s, x) => s + x.gbSeconds + x.initGbSeconds, 0)
  let freeGbSLeft = o.freeTier ? Math.min(free.gbSecondsPerMonth, totalGbS) : 0
  let freeTierUsd = 0
  for (const arch of ARCHES) {
    const mine = stages.filter((x) => x.arch === arch)
    const gbs = mine.reduce((s, x) => s + x.gbSeconds + x.initGbSeconds, 0)
    if (gbs === 0) continue
    const freeHere = Math.min(freeGbSLeft, gbs)
    freeGbSLeft -= freeHere
    const usd = tieredDurationUsd(prices, arch, gbs, freeHere)
    freeTierUsd += tieredDurationUsd(prices, arch, gbs) - usd
    for (const x of mine) {
      x.durationUsd = (usd * x.gbSeconds) / gbs
      x.initUsd = (usd * x.initGbSeconds) / gbs
    }
  }
  if (o.freeTier) {
    const totalInvocations = stages.reduce((s, x) => s + x.invocationsPerMonth, 0)
    const freeReq = Math.min(free.requestsPerMonth, totalInvocations)
    for (const x of stages) {
      const cut = totalInvocations > 0 ? (freeReq * x.invocationsPerMonth) / totalInvocations : 0
      freeTierUsd += cut * reqUsd
      x.requestsUsd = Math.max(0, x.requestsUsd - cut * reqUsd)
    }
  }
  for (const x of stages) x.totalUsd = x.durationUsd + x.requestsUsd + x.s3Usd + x.initUsd + x.tmpUsd
  const sum = (f: (x: StageCost) => number): number => stages.reduce((s, x) => s + f(x), 0)
  const totalUsd = sum((x) => x.totalUsd)
  const totals = {
    gbSeconds: sum((x) => x.gbSeconds + x.initGbSeconds),
    durationUsd: sum((x) => x.durationUsd),
    requestsUsd: sum((x) => x.requestsUsd),
    s3Usd: sum((x) => x.s3Usd),
    initUsd: sum((x) => x.initUsd),
    tmpUsd: sum((x) => x.tmpUsd),
    totalUsd,
    perMillionUsd: requestsPerMonth > 0 ? (totalUsd / requestsPerMonth) * 1e6 : 0,
    freeTierUsd,
  }

  const planPerRequest = perRequestUsdAt(plan, prices, rate)
  const baselines = plan.baselines.map((b) => ({
    name: b.name,
    feasible: b.feasible,
    ...(b.reason ? {reason: b.reason} : {}),
    perMillionUsd: b.feasible ? b.costPerMillionUsd : null,
    monthlyUsd: b.feasible ? (b.costPerMillionUsd * requestsPerMonth) / 1e6 : null,
    ratio: b.feasible && planPerRequest > 0 ? b.costPerMillionUsd / 1e6 / planPerRequest : null,
  }))
  const alwaysOn = alwaysOnAlternative(plan, prices, rate)

  // rates table: the plan's (B, T) across rates vs the best unbatched plan
  const unbatched = plan.baselines.find((b) => b.name === 'amps-inf' && b.feasible)
  const unbatchedPerMillion = unbatched ? unbatched.costPerMillionUsd : plan.batch.size === 1 ? planPerRequest * 1e6 : null
  const multipliers = o.multipliers ?? [0.1, 0.2, 0.5, 1, 2, 5, 10]
  const percentile = plan.inputs.percentile
  const rates: RateRow[] = multipliers.map((mult) => {
    const r = rate * mult
    const perRequest = perRequestUsdAt(plan, prices, r)
    const wait = plan.batch.size > 1 && r > 0 ? waitPercentileMs({ratePerSecond: r, maxBatch: plan.batch.size, timeoutMs: plan.batch.timeoutMs}, percentile) : 0
    // + what the stages' spread adds at the percentile, as planned at the plan's own rate (an
    // approximation at other rates: the wait's share of the tail changes with the rate)
    const latencyMs = wait + plan.predicted.serviceMs + (plan.predicted.spreadMs ?? 0)
    const reqs = r * SECONDS_PER_MONTH
    const ao = alwaysOnAlternative(plan, prices, r)
    return {
      multiplier: mult,
      ratePerSecond: r,
      requestsPerMonth: reqs,
      meanBatchSize: meanBatchAt(plan, r),
      batchedPerMillionUsd: perRequest * 1e6,
      batchedMonthlyUsd: perRequest * reqs,
      latencyMs,
      meetsSlo: meetsSlo(latencyMs, plan.inputs.sloMs),
      unbatchedPerMillionUsd: unbatchedPerMillion,
      unbatchedMonthlyUsd: unbatchedPerMillion === null ? null : (unbatchedPerMillion * reqs) / 1e6,
      alwaysOnMonthlyUsd: ao.feasible ? ao.monthlyUsd! : null,
    }
  })
  let paysFrom: number | null = null
  if (plan.batch.size > 1 && unbatchedPerMillion !== null && rate > 0) {
    const pays = (r: number): boolean => perRequestUsdAt(plan, prices, r) * 1e6 < unbatchedPerMillion
    const lo = rate * multipliers[0]
    const hi = rate * multipliers[multipliers.length - 1]
    if (pays(lo)) paysFrom = lo
    else if (pays(hi)) {
      // bisection on the rate (the batched cost per request falls as batches fill)
      let a = lo
      let b = hi
      for (let it = 0; it < 60 && b - a > 1e-9 * b; it++) {
        const m = Math.sqrt(a * b)
        if (pays(m)) b = m
        else a = m
      }
      paysFrom = b
    }
  }
  if (plan.batch.size > 1 && rates.some((r) => !r.meetsSlo)) {
    warnings.push(
      `at the lower rates of the table the batch timeout (${plan.batch.timeoutMs} ms) is reached more often; rows marked "no" miss the SLO — re-plan for that rate`,
    )
  }

  return {
    schemaVersion: 1,
    model: plan.model.name,
    priceTableVersion: prices.version,
    ratePerSecond: rate,
    requestsPerMonth,
    batch: plan.batch,
    meanBatchSize: meanBatch,
    batchesPerMonth,
    freeTier: Boolean(o.freeTier),
    stages,
    totals,
    baselines,
    alwaysOn,
    rates,
    batchingPaysFromRatePerSecond: paysFrom,
    warnings,
  }
}

function round(x: number, d: number): number {
  const f = 10 ** d
  return Math.round(x * f) / f
}
