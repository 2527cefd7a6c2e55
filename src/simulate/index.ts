/**
 * `simulatePlan(plan, profile, options)`: run the discrete-event simulation of a deployed plan and
 * set its measurements next to the plan's analytic prediction. Pure: no fs, tfjs or oclif.
 */
import type {Plan} from '../plan/types.js'
import type {Profile} from '../profile/types.js'
import {InvalidProblemError} from '../errors.js'
import {batchSizeDistribution, expectedBatchSize} from '../cost/batching.js'
import {type BurstyParams, burstyArrivals, burstyMeanRate, poissonArrivals} from './arrivals.js'
import {runEngine} from './engine.js'
import {DEFAULT_PRICE_TABLE, type PriceTable} from '../cost/prices.js'
import {platformFromPriceTable} from './platform.js'
import {createRng, STREAM} from './rng.js'
import {buildStageModels, type StageModel} from './service.js'

export {burstyParams, parseTraceCsv, TraceFormatError} from './arrivals.js'
export type {BurstyParams, ParsedTrace, TraceUnit} from './arrivals.js'
export {SimulationInputError} from './service.js'

export const SIMULATION_SCHEMA_VERSION = 1
/** Default bound on simulated requests (arrivals are generated in memory). */
export const DEFAULT_MAX_REQUESTS = 5_000_000

export type ArrivalSpec =
  | {kind: 'poisson'; ratePerSecond: number; durationS: number}
  | {kind: 'bursty'; params: BurstyParams; durationS: number}
  | {kind: 'trace'; timesMs: Float64Array; source?: string}

export interface SimulateOptions {
  arrivals: ArrivalSpec
  /** PRNG seed (default 1): the same seed gives the identical result */
  seed?: number
  /** how long an idle instance stays warm (s, default the price table's latency.keepAliveS, as the planner assumes) */
  keepAliveS?: number
  /**
   * leave out of every statistic the batches opened in the first warmupS seconds (default 0: the
   * run starts from an empty pool, as a fresh deployment does, so its first batches are cold)
   */
  warmupS?: number
  /**
   * start each stage with this many warm environments (idle since t = 0), e.g. warmEnvironments(plan)
   * from src/plan/prewarm.ts for a deployment that deploy pre-warmed (default: none, every pool empty)
   */
  warmEnvironments?: number[]
  /** prices and platform latencies (default: the built-in table of src/cost/prices.ts) */
  prices?: PriceTable
  /** refuse more requests than this (default 5,000,000) */
  maxRequests?: number
  /** also return a histogram of the counted requests' latencies with this many equal bins (amps report) */
  latencyHistogramBins?: number
  /** the histogram's upper end (ms; default the largest latency): latencies above it are counted in `overflow` */
  latencyHistogramMaxMs?: number
  /** called now and then with the fraction done (0..1) */
  onProgress?: (fraction: number, phase: 'arrivals' | 'simulating') => void
}

export interface Compared {
  predicted: number
  simulated: number
  /** |simulated − predicted| / predicted × 100 (null when predicted is 0) */
  errorPct: number | null
}

export interface StageSimulation {
  index: number
  name: string
  memoryMb: number
  arch: string
  invocations: number
  coldStarts: number
  coldStartRate: number
  /** most instances of this stage busy at once (= instances needed) */
  peakConcurrency: number
  billedMs: number
  meanBilledMs: number
  costUsd: number
  /** cold-start latency (INIT + platform) and the INIT part that is billed (ms) */
  initMs: number
  initBilledMs: number
  serviceSource: 'profile' | 'plan'
  /** plan's predictedMs for a full batch vs this model's median handler time at the same batch */
  handlerMsAtBatch: Compared
}

export interface SimulationResult {
  schemaVersion: typeof SIMULATION_SCHEMA_VERSION
  seed: number
  arrivals: {
    process: ArrivalSpec['kind']
    requests: number
    /** observed requests / simulated span (s) */
    ratePerSecond: number
    durationS: number
    /** nominal mean rate (Poisson/bursty) */
    meanRatePerSecond?: number
    bursty?: BurstyParams
    source?: string
  }
  batch: {size: number; timeoutMs: number}
  keepAliveS: number
  /** warm environments per stage at t = 0 (options.warmEnvironments; all 0: an empty, cold start) */
  warmEnvironments: number[]
  /**
   * requests/batches opened in the first warmupS seconds were simulated but not counted.
   * suggestedS: a longer warm-up that would leave the start-up cold starts out (see adviseWarmup;
   * set only when the result's warnings suggest one)
   */
  warmup: {seconds: number; requestsExcluded: number; batchesExcluded: number; suggestedS?: number}
  latencyMs: {mean: number; p50: number; p95: number; p99: number; max: number}
  /** only with options.latencyHistogramBins: counts[i] requests had latency in [fromMs + i·binMs, fromMs + (i+1)·binMs) */
  latencyHistogram?: {fromMs: number; binMs: number; counts: number[]; overflow: number}
  slo: {ms: number; percentile: number; misses: number; missRate: number}
  cost: {totalUsd: number; perMillionUsd: number; durationUsd: number; requestUsd: number; s3Usd: number}
  /**
   * histogram[].analytic: P(size) from the exact Poisson batching model (src/cost/batching.ts) at
   * the simulated rate, for Poisson runs
   */
  batches: {
    count: number
    meanSize: number
    analyticMeanSize?: number
    histogram: {size: number; count: number; fraction: number; analytic?: number}[]
  }
  /**
   * count/rate: cold starts per stage invocation; requestsAffected/requestRate: requests whose
   * batch met at least one cold stage (compared with the plan's coldStartProbability)
   */
  coldStarts: {count: number; invocations: number; rate: number; requestsAffected: number; requestRate: number}
  stages: StageSimulation[]
  prediction: {
    /** true when the simulated workload is the one the plan was solved for (Poisson at its rate) */
    comparable: boolean
    note?: string
    latencyAtPercentile: Compared & {percentile: number}
    costPerMillionUsd: Compared
    meanBatchSize: Compared
    coldStartProbability: Compared
  }
  prices: {version: string; invokeRoundTripMs: number}
  warnings: string[]
}

/** equal-width histogram of an ascending array (the last bin includes the maximum) */
function histogram(sorted: Float64Array, bins: number, maxMs?: number): {fromMs: number; binMs: number; counts: number[]; overflow: number} {
  const n = Math.max(1, Math.floor(bins))
  const lo = sorted[0]
  const hi = maxMs !== undefined && maxMs > lo ? Math.min(maxMs, sorted[sorted.length - 1]) : sorted[sorted.length - 1]
  const binMs = hi > lo ? (hi - lo) / n : 1
  const counts = new Array<number>(n).fill(0)
  let overflow = 0
  for (const v of sorted) {
    if (v > hi) overflow++
    else counts[Math.min(n - 1, Math.floor((v - lo) / binMs))]++
  }
  return {fromMs: lo, binMs, counts, overflow}
}

/** nearest-rank percentile of an ascending array; p in (0, 1] */
export function percentileSorted(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length - 1e-9)))
  return sorted[rank - 1]
}

/** plan.inputs.percentile may be written as 0.99 or 99. */
export function percentileFraction(p: number): number {
  if (!(p > 0) || p > 100) throw new InvalidProblemError(`percentile must be in (0, 1] or (1, 100], got ${p}`)
  return p > 1 ? p / 100 : p
}

function compared(predicted: number, simulated: number): Compared {
  return {
    predicted: r(predicted, 6),
    simulated: r(simulated, 6),
    errorPct: predicted === 0 ? null : r((Math.abs(simulated - predicted) / Math.abs(predicted)) * 100, 2),
  }
}

function r(x: number, digits: number): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Round money to 9 significant digits (keeps JSON short without losing what matters). */
function usd(x: number): number {
  return x === 0 ? 0 : Number(x.toPrecision(9))
}

function generate(spec: ArrivalSpec, seed: number, maxRequests: number): {times: Float64Array; durationS: number; meanRate?: number} {
  const rng = createRng(seed, STREAM.arrivals)
  const refuse = (expected: number): never => {
    throw new InvalidProblemError(
      `the run would simulate about ${Math.round(expected).toLocaleString('en-US')} requests, more than the limit of ${maxRequests.toLocaleString('en-US')}`,
    )
  }
  switch (spec.kind) {
    case 'poisson': {
      const expected = spec.ratePerSecond * spec.durationS
      if (expected > maxRequests) refuse(expected)
      return {times: poissonArrivals(spec.ratePerSecond, spec.durationS, rng), durationS: spec.durationS, meanRate: spec.ratePerSecond}
    }
    case 'bursty': {
      const mean = burstyMeanRate(spec.params)
      const expected = mean * spec.durationS
      if (expected > maxRequests) refuse(expected)
      return {times: burstyArrivals(spec.params, spec.durationS, rng), durationS: spec.durationS, meanRate: mean}
    }
    case 'trace': {
      if (spec.timesMs.length > maxRequests) refuse(spec.timesMs.length)
      if (spec.timesMs.length === 0) throw new InvalidProblemError('the trace has no arrivals')
      return {times: spec.timesMs, durationS: spec.timesMs[spec.timesMs.length - 1] / 1000}
    }
  }
}

/**
 * Whether the plan's analytic prediction was made for the workload simulated. A plan is solved for
 * Poisson arrivals at plan.inputs.ratePerSecond; a plan made without a rate (0) has no batching
 * (`amps plan` then allows batch size 1), and at batch size 1 no request waits for others, so its
 * latency and cost per request do not depend on the rate: any Poisson rate compares. Batches of
 * more than one make the rate matter (wait in the buffer, batch sizes), and so does the arrival
 * process (bursty, trace).
 */
function comparability(plan: Plan, spec: ArrivalSpec): {comparable: boolean; note?: string} {
  const planRate = plan.inputs.ratePerSecond
  const B = plan.batch.size
  const madeWithoutRate = !(planRate > 0)
  const planned = madeWithoutRate ? 'the plan was made without a rate' : `the plan was predicted for Poisson arrivals at ${planRate}/s`
  if (spec.kind !== 'poisson') {
    return {comparable: false, note: `${planned}; this run used ${spec.kind === 'trace' ? 'a trace' : 'a bursty process'}`}
  }
  if (madeWithoutRate) {
    if (B > 1) {
      return {
        comparable: false,
        note: `${planned}, but it batches up to ${B} requests, so its latency and batch sizes depend on the rate; this run used ${spec.ratePerSecond}/s`,
      }
    }
    return {
      comparable: true,
      note:
        `${planned}; at batch size 1 its latency and cost per request do not depend on the rate, so ${spec.ratePerSecond}/s compares, ` +
        `but its cold-start probability does (the plan assumed ${plan.predicted.coldStartProbability === 1 ? 'a cold start on every request' : plan.predicted.coldStartProbability})`,
    }
  }
  if (Math.abs(spec.ratePerSecond - planRate) > 1e-9 * Math.max(1, planRate)) {
    return {comparable: false, note: `the plan was predicted at ${planRate}/s; this run used ${spec.ratePerSecond}/s`}
  }
  return {comparable: true}
}

/**
 * Warm-up advice. The run starts from an empty pool, so its first batches cold-start while the
 * pools grow; in a short run those start-up cold starts can make up a large share of the counted
 * requests and lift the percentiles above steady state. The rule, stated once:
 *  - counted requests that met a cold start > COLD_REQUEST_WARNING_FRACTION (1 %), and
 *  - a warm-up of W s (the shortest whole number of seconds longer than the current one) leaves at
 *    most WARMUP_TARGET_COLD_FRACTION (half that share, 0.5 %: clear of the warning on another
 *    seed) cold among the requests after it, while W ≤ MAX_SUGGESTED_WARMUP_FRACTION of the run
 *    (half), so the rest is still most of the run.
 * Cold starts spread through the whole run (bursty traffic, gaps longer than the keep-alive) are
 * steady state: no warm-up removes them, and no warm-up is suggested.
 */
export const COLD_REQUEST_WARNING_FRACTION = 0.01
export const WARMUP_TARGET_COLD_FRACTION = COLD_REQUEST_WARNING_FRACTION / 2
export const MAX_SUGGESTED_WARMUP_FRACTION = 0.5

function adviseWarmup(
  eng: ReturnType<typeof runEngine>,
  times: Float64Array,
  warmupS: number,
  durationS: number,
): {seconds: number; warning: string} | undefined {
  const {start, count} = eng.batches
  const b0 = eng.firstCountedBatch
  const counted = times.length - start[b0]
  let cold = 0
  for (let b = b0; b < count; b++) if (eng.coldBatch[b]) cold += start[b + 1] - start[b]
  if (!(cold > COLD_REQUEST_WARNING_FRACTION * counted)) return undefined
  // suffixCold[b]: requests of batches b.. that met a cold start
  const suffixCold = new Float64Array(count + 1)
  for (let b = count - 1; b >= b0; b--) suffixCold[b] = suffixCold[b + 1] + (eng.coldBatch[b] ? start[b + 1] - start[b] : 0)
  const limitMs = MAX_SUGGESTED_WARMUP_FRACTION * durationS * 1000
  // batches whose first request arrived before W s are left out (as the engine does with warmupMs)
  let b = b0
  for (let w = Math.floor(warmupS) + 1; w * 1000 <= limitMs; w++) {
    while (b < count && times[start[b]] < w * 1000) b++
    if (b === count) return undefined
    const rest = times.length - start[b]
    if (suffixCold[b] <= WARMUP_TARGET_COLD_FRACTION * rest) {
      const share = (x: number) => `${(100 * x).toFixed(1)}%`
      const early = cold - suffixCold[b]
      return {
        seconds: w,
        warning:
          `${share(cold / counted)} of the counted requests met a cold start (more than ${share(COLD_REQUEST_WARNING_FRACTION)}), ${early} of those ${cold} in the first ${w} s while the pools grew from empty: ` +
          `the percentiles mix start-up with steady state; --warmup-s ${w} leaves the first ${w} s out (${share(suffixCold[b] / rest)} of the requests after it met one)`,
      }
    }
  }
  return undefined
}

/**
 * Simulate `plan` under `options.arrivals`. With a profile, stage times are drawn from its
 * measured spread; without one (profile undefined), every batch takes the stage's predictedMs.
 * Throws InvalidProblemError (or its subclasses SimulationInputError / TraceFormatError) on bad
 * input, including runs larger than `maxRequests`.
 */
export function simulatePlan(plan: Plan, profile: Profile | undefined, options: SimulateOptions): SimulationResult {
  const seed = options.seed ?? 1
  const prices = options.prices ?? DEFAULT_PRICE_TABLE
  // the planner's keep-alive (its cold-start probability and pre-warm use the same figure)
  const keepAliveS = options.keepAliveS ?? prices.latency.keepAliveS.value
  const warmupS = options.warmupS ?? 0
  if (!(warmupS >= 0) || !Number.isFinite(warmupS)) throw new InvalidProblemError(`warm-up must be >= 0 s, got ${warmupS}`)
  if (!(keepAliveS >= 0) || !Number.isFinite(keepAliveS)) throw new InvalidProblemError(`keep-alive must be >= 0 s, got ${keepAliveS}`)
  const platform = platformFromPriceTable(prices)
  const maxRequests = options.maxRequests ?? DEFAULT_MAX_REQUESTS
  const warnings: string[] = []
  if (!profile) warnings.push("no profile: every batch takes the plan's predictedMs per stage (no spread, no batch-size dependence)")

  const built = buildStageModels(plan, profile, {prices})
  const models: StageModel[] = built.models
  warnings.push(...built.warnings)
  const B = plan.batch.size
  options.onProgress?.(0, 'arrivals')
  const {times, durationS, meanRate} = generate(options.arrivals, seed, maxRequests)
  if (times.length === 0) throw new InvalidProblemError('no request arrived during the run: raise the rate or the duration')

  const eng = runEngine(times, {
    stages: models,
    batchSize: B,
    batchTimeoutMs: plan.batch.timeoutMs,
    keepAliveMs: keepAliveS * 1000,
    warmupMs: warmupS * 1000,
    platform,
    ...(options.warmEnvironments ? {warmEnvironments: options.warmEnvironments} : {}),
    rng: createRng(seed, STREAM.service),
    onProgress: options.onProgress ? (f) => options.onProgress!(f, 'simulating') : undefined,
  })

  const b0 = eng.firstCountedBatch
  const nb = eng.batches.count - b0
  const n = eng.latenciesMs.length
  if (nb === 0) throw new InvalidProblemError(`the warm-up (${warmupS} s) covers the whole run: shorten it or run longer`)

  // Latency statistics.
  let sum = 0
  for (let i = 0; i < n; i++) sum += eng.latenciesMs[i]
  const sortedLat = Float64Array.from(eng.latenciesMs).sort()
  const pct = percentileFraction(plan.inputs.percentile)
  let misses = 0
  for (let i = n - 1; i >= 0 && sortedLat[i] > plan.inputs.sloMs; i--) misses++

  // Batches.
  const hist = new Array<number>(B + 1).fill(0)
  for (let b = b0; b < eng.batches.count; b++) hist[eng.batches.start[b + 1] - eng.batches.start[b]]++
  const meanSize = n / nb
  const spec0 = options.arrivals
  const policy = spec0.kind === 'poisson' ? {ratePerSecond: spec0.ratePerSecond, maxBatch: B, timeoutMs: plan.batch.timeoutMs} : undefined
  const analytic = policy ? batchSizeDistribution(policy) : undefined

  // Cost.
  let durationUsd = 0
  let requestUsd = 0
  let s3Usd = 0
  let cold = 0
  let invocations = 0
  for (const o of eng.stages) {
    durationUsd += o.durationUsd
    requestUsd += o.requestUsd
    s3Usd += o.s3Usd
    cold += o.coldStarts
    invocations += o.invocations
  }
  let coldRequests = 0
  for (let b = b0; b < eng.batches.count; b++) if (eng.coldBatch[b]) coldRequests += eng.batches.start[b + 1] - eng.batches.start[b]
  const totalUsd = durationUsd + requestUsd + s3Usd
  const warmupAdvice = adviseWarmup(eng, times, warmupS, durationS)
  if (warmupAdvice) warnings.push(warmupAdvice.warning)
  const perMillion = (totalUsd / n) * 1e6

  const stages: StageSimulation[] = models.map((m, s) => {
    const o = eng.stages[s]
    const cmp = compared(m.planPredictedMs, m.modelMedianMsAtB)
    if (m.source === 'profile' && cmp.errorPct !== null && cmp.errorPct > 10) {
      warnings.push(
        `stage ${m.name}: the profile gives a median of ${r(m.modelMedianMsAtB, 1)} ms for a batch of ${B}, the plan predicted ${r(m.planPredictedMs, 1)} ms (${cmp.errorPct}% apart); was the plan made from this profile?`,
      )
    }
    return {
      index: m.index,
      name: m.name,
      memoryMb: m.memoryMb,
      arch: m.arch,
      invocations: o.invocations,
      coldStarts: o.coldStarts,
      coldStartRate: r(o.coldStarts / o.invocations, 6),
      peakConcurrency: o.peakConcurrency,
      billedMs: o.billedMs,
      meanBilledMs: r(o.billedMs / o.invocations, 3),
      costUsd: usd(o.durationUsd + o.requestUsd + o.s3Usd),
      initMs: r(m.initLatencyMs, 3),
      initBilledMs: r(m.initBilledMs, 3),
      serviceSource: m.source,
      handlerMsAtBatch: cmp,
    }
  })
  const peakSum = stages.reduce((a, s) => a + s.peakConcurrency, 0)
  if (peakSum > 1000) {
    warnings.push(`up to ${peakSum} instances may run at once across stages, above the default regional concurrency of 1,000: throttling is not simulated`)
  }

  // Comparison with the analytic prediction.
  const spec = options.arrivals
  const {comparable, note} = comparability(plan, spec)
  if (!comparable) warnings.push(`prediction errors are not like for like: ${note}`)
  const latencyAtPct = percentileSorted(sortedLat, pct)

  return {
    schemaVersion: SIMULATION_SCHEMA_VERSION,
    seed,
    arrivals: {
      process: spec.kind,
      requests: times.length,
      ratePerSecond: r(durationS > 0 ? times.length / durationS : 0, 6),
      durationS: r(durationS, 6),
      ...(meanRate === undefined ? {} : {meanRatePerSecond: r(meanRate, 6)}),
      ...(spec.kind === 'bursty' ? {bursty: spec.params} : {}),
      ...(spec.kind === 'trace' && spec.source ? {source: spec.source} : {}),
    },
    batch: {size: B, timeoutMs: plan.batch.timeoutMs},
    keepAliveS,
    warmEnvironments: plan.stages.map((_, i) => Math.max(0, Math.floor(options.warmEnvironments?.[i] ?? 0))),
    warmup: {
      seconds: warmupS,
      requestsExcluded: times.length - n,
      batchesExcluded: b0,
      ...(warmupAdvice ? {suggestedS: warmupAdvice.seconds} : {}),
    },
    latencyMs: {
      mean: r(sum / n, 3),
      p50: r(percentileSorted(sortedLat, 0.5), 3),
      p95: r(percentileSorted(sortedLat, 0.95), 3),
      p99: r(percentileSorted(sortedLat, 0.99), 3),
      max: r(sortedLat[n - 1], 3),
    },
    ...(options.latencyHistogramBins ? {latencyHistogram: histogram(sortedLat, options.latencyHistogramBins, options.latencyHistogramMaxMs)} : {}),
    slo: {ms: plan.inputs.sloMs, percentile: pct, misses, missRate: r(misses / n, 6)},
    cost: {
      totalUsd: usd(totalUsd),
      perMillionUsd: usd(perMillion),
      durationUsd: usd(durationUsd),
      requestUsd: usd(requestUsd),
      s3Usd: usd(s3Usd),
    },
    batches: {
      count: nb,
      meanSize: r(meanSize, 6),
      ...(policy ? {analyticMeanSize: r(expectedBatchSize(policy), 6)} : {}),
      histogram: hist.slice(1).map((count, i) => ({
        size: i + 1,
        count,
        fraction: r(count / nb, 6),
        ...(analytic ? {analytic: r(analytic[i], 6)} : {}),
      })),
    },
    coldStarts: {
      count: cold,
      invocations,
      rate: r(cold / invocations, 6),
      requestsAffected: coldRequests,
      requestRate: r(coldRequests / n, 6),
    },
    stages,
    prediction: {
      comparable,
      ...(note ? {note} : {}),
      latencyAtPercentile: {percentile: pct, ...compared(plan.predicted.latencyMs, latencyAtPct)},
      costPerMillionUsd: compared(plan.predicted.costPerMillionUsd, perMillion),
      meanBatchSize: compared(plan.predicted.meanBatchSize, meanSize),
      coldStartProbability: compared(plan.predicted.coldStartProbability, coldRequests / n),
    },
    prices: {version: prices.version, invokeRoundTripMs: prices.latency.invokeRoundTripMs.value},
    warnings,
  }
}
