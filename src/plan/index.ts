/**
 * The planner: Profile + SLO (+ rate) → Plan, with baselines priced on the same profile and
 * prices. Pure apart from the clock (createdAt); the solvers live in solver/.
 */
import {coldStartProbability} from '../cost/batching.js'
import {EdgeCurve, CompiledCosts} from '../cost/curve.js'
import {SECONDS_PER_MONTH} from './estimate.js'
import type {BatchSupport} from '../cost/batching.js'
import {billedMs} from '../cost/billing.js'
import {CostModel, MB, type StageRange} from '../cost/model.js'
import {DEFAULT_PRICE_TABLE, type PriceTable} from '../cost/prices.js'
import {AmpsUserError} from '../errors.js'
import {ARCHES} from '../platform/lambda.js'
import type {Profile} from '../profile/types.js'
import {type Candidate, type SearchOptions, type SearchResult, type SolverChoice, costModelFor, minimumLatency, searchPlan} from '../../solver/search.js'
import {headlineCost} from './headline.js'
import {meanCostPerBatchUsd} from './mean-billing.js'
import {chainCold, latencyPercentileMs, meetsSlo, tailStage, unbatched as unbatchedChain, type TailInput, type TailStage} from './tail.js'
import {PLAN_VERSION, type Arch, type Plan, type PlanBaseline, type PlanStage} from './types.js'

export {readPlan, validatePlan, writePlan, planProblems} from './schema.js'

export {SECONDS_PER_MONTH}

export interface PlanOptions {
  sloMs: number
  /** latency percentile the SLO applies to (default 99; 100 = hard bound) */
  percentile?: number
  /** Poisson arrival rate, requests/s (default 0: unknown, no batching) */
  ratePerSecond?: number
  /**
   * stateless gateway replicas (`amps serve`) sharing the traffic behind a load balancer (default
   * 1): each batches ratePerSecond / replicas, which is the rate the plan is made and recorded for
   */
  replicas?: number
  arch?: Arch | 'auto'
  /** largest batch size to consider (default 32) */
  maxBatch?: number
  /** exactly this many stages */
  stages?: number
  /** at most this many stages (default 8) */
  maxStages?: number
  region?: string
  prices?: PriceTable
  solver?: SolverChoice
  /** compute-time multiplier per architecture relative to the profiling machine (default 1) */
  timeFactor?: Partial<Record<Arch, number>>
  milpTimeLimitMs?: number
  /**
   * wall-clock limit of the whole planning (ms, default 120 s): past it every remaining search
   * returns its best plan so far, and the plan says it is not proven optimal
   */
  timeLimitMs?: number
  /**
   * how the SLO is met with the stage times' spread: 'budget' (default) lowers one solver budget
   * for every (arch, B, T) point while the optimum misses; 'per-point' checks every point's optimum
   * (exact against the exhaustive oracle on small profiles, but one tail evaluation per improving
   * candidate: minutes on wide-spread 24-layer profiles, so not yet the default)
   */
  spreadSearch?: 'budget' | 'per-point'
  /** path of the profile.json, recorded in the plan */
  profilePath?: string
  /** memory domain overrides (tests) */
  memoryMinMb?: number
  memoryMaxMb?: number
  memoryStepMb?: number
  now?: Date
}

/** The planner's defaults, set here once (the plan command's flags show the same values). */
export const PLAN_DEFAULTS = {
  /** latency percentile the SLO applies to */
  percentile: 99,
  /** largest batch size considered when a rate is given */
  maxBatch: 32,
  /** most stages considered */
  maxStages: 8,
  /** wall-clock limit of planFromProfile (ms) */
  timeLimitMs: 120_000,
} as const

function flagError(message: string, suggestions: string[] = []): AmpsUserError {
  return new AmpsUserError('FLAG_INVALID', message, {suggestions})
}

/** Validate planner options against the profile; throws one clear AmpsUserError. */
export function checkPlanOptions(profile: Profile, o: PlanOptions): void {
  if (!(Number.isFinite(o.sloMs) && o.sloMs > 0)) throw flagError(`--slo must be a positive number of milliseconds, got ${o.sloMs}`)
  const pct = o.percentile ?? PLAN_DEFAULTS.percentile
  if (!(pct > 0 && pct <= 100)) throw flagError(`--percentile must be in (0, 100], got ${pct}`)
  const rate = o.ratePerSecond ?? 0
  if (!(Number.isFinite(rate) && rate >= 0)) throw flagError(`--rate must be >= 0 requests per second, got ${rate}`)
  const replicas = o.replicas ?? 1
  if (!(Number.isInteger(replicas) && replicas >= 1)) throw flagError(`--replicas must be an integer >= 1, got ${replicas}`)
  const maxBatch = o.maxBatch ?? PLAN_DEFAULTS.maxBatch
  if (!(Number.isInteger(maxBatch) && maxBatch >= 1)) throw flagError(`--max-batch must be an integer >= 1, got ${maxBatch}`)
  if (o.arch !== undefined && o.arch !== 'auto' && o.arch !== 'x86_64' && o.arch !== 'arm64') {
    throw flagError(`--arch must be auto, x86_64 or arm64, got ${o.arch}`)
  }
  const L = profile.layers.length
  const possible = 1 + profile.cuts.filter((c) => c.after >= 0 && c.after < L - 1).length
  if (o.stages !== undefined) {
    if (!(Number.isInteger(o.stages) && o.stages >= 1)) throw flagError(`--stages must be an integer >= 1, got ${o.stages}`)
    if (o.stages > L) throw flagError(`--stages ${o.stages} is more than the model's ${L} layers`)
    if (o.stages > possible) throw flagError(`--stages ${o.stages}: the model has only ${possible - 1} valid cut points, so at most ${possible} stages`)
  }
  if (o.maxStages !== undefined && !(Number.isInteger(o.maxStages) && o.maxStages >= 1)) {
    throw flagError(`--max-stages must be an integer >= 1, got ${o.maxStages}`)
  }
  if (o.stages !== undefined && o.maxStages !== undefined && o.stages > o.maxStages) {
    throw flagError(`--stages ${o.stages} is above --max-stages ${o.maxStages}`)
  }
}

function searchOptions(profile: Profile, o: PlanOptions, prices: PriceTable): SearchOptions {
  const rate = (o.ratePerSecond ?? 0) / (o.replicas ?? 1)
  return {
    profile,
    prices,
    sloMs: o.sloMs,
    percentile: o.percentile ?? PLAN_DEFAULTS.percentile,
    ratePerSecond: rate,
    arch: o.arch ?? 'auto',
    maxBatch: rate > 0 ? (o.maxBatch ?? PLAN_DEFAULTS.maxBatch) : 1,
    stages: o.stages,
    maxStages: o.stages ?? o.maxStages ?? PLAN_DEFAULTS.maxStages,
    solver: o.solver ?? 'auto',
    timeFactor: o.timeFactor,
    milpTimeLimitMs: o.milpTimeLimitMs,
    memoryMinMb: o.memoryMinMb,
    memoryMaxMb: o.memoryMaxMb,
    memoryStepMb: o.memoryStepMb,
  }
}

/** The plan's stages from a solved candidate (everything re-evaluated with the definitional model). */
function buildStages(profile: Profile, cand: Candidate): PlanStage[] {
  const {model, batchSize: B} = cand
  const dist = cand.dist
  return cand.inner.stages.map((st, index) => {
    const r = {first: st.first, last: st.last}
    const handler = model.handlerMs(r, st.memoryMb, B, B)
    const cold = model.coldStart(r, st.memoryMb)
    const stage: PlanStage = {
      index,
      name: `stage-${index + 1}`,
      layers: {
        first: profile.layers[st.first].name,
        last: profile.layers[st.last].name,
        firstIndex: st.first,
        lastIndex: st.last,
        count: st.last - st.first + 1,
      },
      memoryMb: st.memoryMb,
      arch: cand.arch,
      packageBytes: model.packageBytes(r),
      weightsBytes: model.weightsBytes(r),
      predictedMs: round(handler, 3),
      inputBytes: model.bytesAt(st.first - 1) * B,
      outputBytes: model.bytesAt(st.last) * B,
      inputTensors: model.boundaryTensors.get(st.first - 1) ?? [],
      outputTensors: model.boundaryTensors.get(st.last) ?? [],
      handoff: model.viaS3(st.last, B) ? 's3' : 'inline',
      billedMs: billedMs(handler, model.granularityMs),
      latencyMs: round(st.latencyMs, 3),
      costPerBatchUsd: meanCostPerBatchUsd(model, r, st.memoryMb, dist, B),
      initMs: round(cold.billedMs, 3),
      coldStartMs: round(cold.latencyMs, 3),
      billedMsByBatch: Array.from({length: B}, (_, k) => billedMs(model.handlerMs(r, st.memoryMb, k + 1, B), model.granularityMs)),
    }
    if (index === 0 && model.viaS3(-1, B)) stage.inputHandoff = 's3'
    if (model.weightsFromS3(r)) stage.weightsFrom = 's3'
    if (model.threadsExtrapolated(st.memoryMb)) stage.threadsExtrapolated = true
    return stage
  })
}

/**
 * The note for stages whose memory buys more threads than the profile measured (marked `*` in the
 * stage table, `threadsExtrapolated` in plan.json), or undefined when none does.
 */
function threadsNote(model: CostModel, stages: PlanStage[], baselines: PlanBaseline[]): string | undefined {
  const upTo = model.threadsMeasuredUpToMb()
  const marked = stages.filter((s) => s.threadsExtrapolated)
  if (upTo === null || marked.length === 0) return undefined
  const measured = Math.round(upTo / model.env.fullVcpuMb)
  const threadsAt = (m: number): number => Math.min(model.env.maxThreads ?? model.env.threads, Math.ceil(m / model.env.fullVcpuMb))
  const which = marked.map((s) => `${s.name} (${s.memoryMb.toLocaleString('en-US')} MB, ${threadsAt(s.memoryMb)} threads)`).join(', ')
  const alsoBaselines = baselines.filter((b) => b.feasible && b.stages?.some((s) => model.threadsExtrapolated(s.memoryMb))).map((b) => b.name)
  const top = Math.max(...marked.map((s) => s.memoryMb))
  const how =
    measured > 1
      ? `predicted from each layer's parallel efficiency fitted to its 1- and ${measured}-thread times, not measured`
      : `no multi-thread time was measured, so they are assumed to scale with the CPU share up to ${model.env.threads} threads and no further`
  return (
    `* ${which} ${marked.length > 1 ? 'run' : 'runs'} more threads than the profile measured (${measured === 1 ? '1 thread' : `1–${measured} threads`}, up to ${upTo.toLocaleString('en-US')} MB): ${how}` +
    (alsoBaselines.length > 0 ? ` (so ${alsoBaselines.length > 1 ? 'are the baselines' : 'is the baseline'} ${alsoBaselines.join(', ')})` : '') +
    `; to measure it, profile with --memory up to ${top} on a machine with ${threadsAt(top)}+ cores, or check with --verify aws`
  )
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}

const meanCosts = new WeakMap<Candidate, number>()

/**
 * A candidate's cost per request billed on the mean of ceil(handler time) over every stage's
 * measured spread (src/plan/mean-billing.ts), as the simulator bills it; the solvers rank by the
 * stages' median billed ms.
 */
function meanCostPerRequest(cand: Candidate): number {
  let c = meanCosts.get(cand)
  if (c === undefined) {
    const perBatch = cand.inner.stages.reduce(
      (s, st) => s + meanCostPerBatchUsd(cand.model, {first: st.first, last: st.last}, st.memoryMb, cand.dist, cand.batchSize),
      0,
    )
    c = perBatch / cand.meanBatchSize
    meanCosts.set(cand, c)
  }
  return c
}

/** A candidate's latency at the percentile with the stages' measured spread (src/plan/tail.ts). */
function candidateLatencyMs(profile: Profile, cand: Candidate, so: SearchOptions): number {
  const stages = cand.inner.stages.map((st) => ({range: {first: st.first, last: st.last}, memoryMb: st.memoryMb, latencyMs: st.latencyMs}))
  return latencyPercentileMs(chainTailInput(profile, cand.model, stages, cand.dist, cand.batchSize, cand.timeoutMs, so.ratePerSecond), so.percentile)
}

/**
 * The tail model's input for a chain of stages at fixed memories under the batching policy (B, T)
 * at a Poisson rate: each batch size a request can ride in (size-biased), with the stages' median
 * latency and spread at that size. The planner's own; `amps serve` re-solves B and T with it for a
 * deployed chain. `latencyMs` (optional) is a stage's latency at the full batch as the solver
 * counted it; `cache` (optional) keeps the per-(k, B) stage figures across calls.
 */
export function chainTailInput(
  profile: Profile,
  model: CostModel,
  stages: {range: StageRange; memoryMb: number; latencyMs?: number}[],
  dist: BatchSupport,
  B: number,
  timeoutMs: number,
  ratePerSecond: number,
  cache?: Map<string, TailStage[]>,
): TailInput {
  const chainAt = (k: number): TailStage[] => {
    const key = `${k}/${B}`
    const hit = cache?.get(key)
    if (hit) return hit
    const chain = stages.map((r) =>
      tailStage(
        model,
        profile,
        r.range,
        r.memoryMb,
        k,
        k === B && r.latencyMs !== undefined ? r.latencyMs : model.evaluate(r.range, r.memoryMb, k, B).latencyMs,
      ),
    )
    cache?.set(key, chain)
    return chain
  }
  const {ks, pi} = dist
  const mean = ks.reduce((s, k, i) => s + k * pi[i], 0)
  const sizes =
    B === 1 || !(mean > 0)
      ? [{k: B, weight: 1, stages: chainAt(B)}]
      : ks.map((k, i) => ({k, weight: (k * pi[i]) / mean, stages: pi[i] > 0 ? chainAt(k) : []})).filter((z) => z.weight > 1e-12)
  return {sizes, ratePerSecond, batchSize: B, timeoutMs, cold: chainCold(model, stages, dist, B, timeoutMs, ratePerSecond)}
}

/** At most this many solves per spread-aware search. */
const TAIL_ROUNDS = 10

/**
 * Meets the SLO at the percentile *with* the stage times' spread. The solvers count each stage at
 * its median, so: solve with the SLO as the solver's budget; while the solution's spread-aware
 * latency is over the SLO, lower the budget (scaled by SLO ÷ latency, or along the secant through
 * the last two tries; never below `floorMs`, the fastest chain's median latency); once a budget
 * works, search between it and the smallest one that did not (secant steps kept inside the
 * bracket) until they are within 0.5 % of the SLO, since a larger budget is never dearer. Returns
 * the cheapest solution whose spread-aware latency meets the SLO, or null when none does.
 */
function solveWithSpread<T>(
  sloMs: number,
  solve: (budgetMs: number) => T | null,
  latencyOf: (x: T) => number,
  costOf: (x: T) => number,
  /** the solution's latency as the solver counts it (median stage times): ≤ the budget it met */
  medianOf: (x: T) => number,
  floorMs = 0,
): {value: T; latencyMs: number; budgetMs: number} | null {
  let best: {value: T; latencyMs: number; budgetMs: number} | null = null
  let over: {budgetMs: number; latencyMs: number} | null = null // smallest budget whose solution missed
  let budget = sloMs
  for (let round = 0; round < TAIL_ROUNDS; round++) {
    const value = solve(budget)
    if (value === null) {
      if (!best) return null
      over = {budgetMs: budget, latencyMs: Infinity}
    } else {
      const latencyMs = latencyOf(value)
      if (meetsSlo(latencyMs, sloMs)) {
        if (!best || costOf(value) < costOf(best.value)) best = {value, latencyMs, budgetMs: budget}
        if (round === 0) break
      } else {
        const prev = over
        if (!over || budget < over.budgetMs) over = {budgetMs: budget, latencyMs}
        if (!best) {
          if (budget <= floorMs) return null
          // secant through the two smallest failing budgets, else scale by SLO ÷ latency; and at
          // least below this solution's own median latency by the excess (a budget above it
          // returns the same solution)
          let next =
            prev && Number.isFinite(prev.latencyMs) && prev.latencyMs > latencyMs && prev.budgetMs !== budget
              ? budget + ((sloMs - latencyMs) * (prev.budgetMs - budget)) / (prev.latencyMs - latencyMs)
              : (budget * sloMs) / latencyMs
          next = Math.min(next, budget - 0.5, medianOf(value) - (latencyMs - sloMs))
          budget = Math.max(floorMs, next)
          continue
        }
      }
    }
    if (!best || !over || !(over.budgetMs - best.budgetMs > Math.max(0.5, 0.005 * sloMs))) break
    // inside the bracket: secant between the feasible and the failing end, kept off both ends
    const lo = best.budgetMs
    const hi = over.budgetMs
    const secant =
      Number.isFinite(over.latencyMs) && over.latencyMs > best.latencyMs
        ? lo + ((sloMs - best.latencyMs) * (hi - lo)) / (over.latencyMs - best.latencyMs)
        : (lo + hi) / 2
    budget = Math.min(hi - 0.1 * (hi - lo), Math.max(lo + 0.1 * (hi - lo), secant))
  }
  return best
}

interface BaselineResult extends PlanBaseline {
  costPerRequestUsd: number
}

/** One function holding the whole model, no batching: cheapest memory meeting the SLO, or at the largest memory. */
function singleFunctionBaselines(profile: Profile, o: SearchOptions): {bestMemory: BaselineResult; maxMemory: BaselineResult} {
  const archs: Arch[] = o.arch === 'auto' ? [...ARCHES] : [o.arch]
  let best: BaselineResult | null = null
  let max: BaselineResult | null = null
  let reason = ''
  let maxReason = ''
  for (const arch of archs) {
    const model = costModelFor(o, arch)
    const c = new CompiledCosts(model, 1, {ks: [1], pi: [1]})
    const N = c.nodes.length - 1
    const whole = {first: 0, last: model.L - 1}
    const e = new EdgeCurve(c, 0, N)
    if (e.mLo === null) {
      if (!model.packageFits(whole)) {
        reason = `the whole model's package (${(model.packageBytes(whole) / MB).toFixed(0)} MB) exceeds the ${(o.prices.limits.unzippedPackageBytes.value / MB).toFixed(0)} MB unzipped limit`
      } else {
        const need = model.requiredMemoryMb(whole, 1)
        reason =
          need > model.memoryMaxMb
            ? `the whole model needs ${need.toFixed(0)} MB of memory (> ${model.memoryMaxMb} MB)`
            : 'the whole model cannot start within the INIT or timeout limits'
      }
      maxReason = reason
      continue
    }
    const tailOf = (memoryMb: number, latencyMs: number): number =>
      latencyPercentileMs(unbatchedChain([tailStage(model, profile, whole, memoryMb, 1, latencyMs)]), o.percentile)
    const meanCost = (memoryMb: number): number => meanCostPerBatchUsd(model, whole, memoryMb, {ks: [1], pi: [1]}, 1)
    const solved = solveWithSpread(
      o.sloMs,
      (budget) => e.cheapestMemoryForBudget(budget),
      (x) => tailOf(x.memoryMb, x.latencyMs),
      (x) => meanCost(x.memoryMb),
      (x) => x.latencyMs,
      e.minLatency(),
    )
    const opt = solved?.value
    const stages = [{layers: model.L, memoryMb: 0, arch}]
    if (opt && solved) {
      const cand: BaselineResult = {
        name: 'single-function',
        description: 'Power-Tuning style: the whole model in one function, no batching, cheapest memory meeting the SLO (searched at 1 MB)',
        feasible: true,
        latencyMs: solved.latencyMs,
        costPerMillionUsd: meanCost(opt.memoryMb) * 1e6,
        costPerRequestUsd: meanCost(opt.memoryMb),
        stages: [{...stages[0], memoryMb: opt.memoryMb}],
        batch: {size: 1, timeoutMs: 0},
      }
      if (!best || cand.costPerRequestUsd < best.costPerRequestUsd) best = cand
    } else reason = `one function is too slow: ${tailOf(c.gridMax, e.minLatency()).toFixed(0)} ms at ${c.gridMax} MB > SLO ${o.sloMs} ms`
    const top = e.option(c.gridMax)
    const topLatency = tailOf(c.gridMax, top.latencyMs)
    if (meetsSlo(topLatency, o.sloMs)) {
      const cand: BaselineResult = {
        name: 'max-memory',
        description: `the whole model in one function at the largest memory (${c.gridMax} MB), no batching`,
        feasible: true,
        latencyMs: topLatency,
        costPerMillionUsd: meanCost(c.gridMax) * 1e6,
        costPerRequestUsd: meanCost(c.gridMax),
        stages: [{...stages[0], memoryMb: c.gridMax}],
        batch: {size: 1, timeoutMs: 0},
      }
      if (!max || cand.costPerRequestUsd < max.costPerRequestUsd) max = cand
    } else maxReason = `${topLatency.toFixed(0)} ms at ${c.gridMax} MB > SLO ${o.sloMs} ms`
  }
  const infeasible = (name: string, description: string, why: string): BaselineResult => ({
    name,
    description,
    feasible: false,
    reason: why,
    latencyMs: 0,
    costPerMillionUsd: 0,
    costPerRequestUsd: Infinity,
  })
  return {
    bestMemory:
      best ?? infeasible('single-function', 'Power-Tuning style: the whole model in one function, no batching, cheapest memory meeting the SLO', reason),
    maxMemory: max ?? infeasible('max-memory', 'the whole model in one function at the largest memory, no batching', maxReason),
  }
}

function describeCandidate(cand: Candidate): Record<string, unknown> {
  return {
    arch: cand.arch,
    latencyMs: round(cand.latencyMs, 3),
    costPerMillionUsd: meanCostPerRequest(cand) * 1e6,
    stages: cand.inner.stages.map((s) => ({layers: `${s.first}..${s.last}`, memoryMb: s.memoryMb, latencyMs: s.latencyMs})),
  }
}

/**
 * Plan the cheapest chain of Lambda functions (cuts × memory × arch × batching) meeting the SLO at
 * the percentile. Throws AmpsUserError PLAN_INFEASIBLE (details: the minimum achievable latency
 * and the cheapest plan at it) when no plan can.
 */
export function planFromProfile(profile: Profile, options: PlanOptions): Plan {
  checkPlanOptions(profile, options)
  const prices = options.prices ?? DEFAULT_PRICE_TABLE
  const so = searchOptions(profile, options, prices)
  let searchMs = 0
  let searchInner = 0
  let rounds = 0
  let stopped = false
  const deadline = performance.now() + (options.timeLimitMs ?? PLAN_DEFAULTS.timeLimitMs)
  const left = (): number => Math.max(1, deadline - performance.now())
  /** One whole search within the time left, its effort counted in the plan's solver stats. */
  const search = (o: SearchOptions, budgetMs: number): ReturnType<typeof searchPlan> => {
    const r = searchPlan({...o, latencyBudgetMs: budgetMs, timeLimitMs: left()})
    if (r.stopped) stopped = true
    searchMs += r.totalMs
    searchInner += r.innerSolves
    return r
  }
  const tails = new WeakMap<Candidate, number>()
  const tailOf = (c: Candidate, o: SearchOptions): number => {
    let t = tails.get(c)
    if (t === undefined) tails.set(c, (t = candidateLatencyMs(profile, c, o)))
    return t
  }
  /**
   * The spread-aware search: every (arch, B, T) point's optimum counts only when it meets the SLO
   * with the stage times' spread (SearchOptions.accept), so one round returns the cheapest such
   * point's plan at the solver's budget. A point whose optimum failed may offer a plan at a lower
   * budget, never cheaper than that optimum: so while the cheapest refused candidate is cheaper
   * than the best plan, lower the budget below its median latency by its excess and search again.
   */
  const searchWithSpread = (o: SearchOptions): {value: SearchResult; latencyMs: number; budgetMs: number} | null => {
    const acc = {...o, accept: (c: Candidate) => meetsSlo(tailOf(c, o), o.sloMs)}
    const floor = minimumLatency(o)?.latencyMs ?? 0
    let best: {value: SearchResult; latencyMs: number; budgetMs: number} | null = null
    let budget = o.sloMs
    // the common case first: the solver's own optimum meets the SLO with the spread (no tail check
    // per candidate needed)
    const plain = search(o, budget)
    rounds++
    if (!plain.best) return null
    if (tailOf(plain.best, o) <= o.sloMs + 1e-6) return {value: plain, latencyMs: tailOf(plain.best, o), budgetMs: budget}
    for (let round = 1; round < TAIL_ROUNDS; round++) {
      const r = search(acc, budget)
      rounds++
      if (r.best && (!best || meanCostPerRequest(r.best) < meanCostPerRequest(best.value.best!)))
        best = {value: r, latencyMs: tailOf(r.best, o), budgetMs: budget}
      const rej = r.bestRejected
      if (!rej || (best && rej.costPerRequestUsd >= best.value.best!.costPerRequestUsd * (1 - 1e-9)) || budget <= floor || (stopped && best)) break
      const excess = tailOf(rej, o) - o.sloMs
      budget = Math.max(floor, Math.min(budget - 0.5, rej.latencyMs - excess, (budget * o.sloMs) / (o.sloMs + excess)))
    }
    return best
  }
  /** the budget search (default): one budget for every point, lowered while the optimum misses */
  const budgetSearch = (o: SearchOptions): {value: SearchResult; latencyMs: number; budgetMs: number} | null =>
    solveWithSpread(
      o.sloMs,
      (budget) => {
        const r = search(o, budget)
        rounds++
        return r.best ? r : null
      },
      (r) => tailOf(r.best!, o),
      (r) => meanCostPerRequest(r.best!),
      (r) => r.best!.latencyMs,
      minimumLatency(o)?.latencyMs ?? 0,
    )
  const spreadSearch = options.spreadSearch === 'per-point' ? searchWithSpread : budgetSearch
  const solved = spreadSearch(so)
  const limitText = (): string => {
    const ms = options.timeLimitMs ?? PLAN_DEFAULTS.timeLimitMs
    return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 1000).toFixed(0)} s`
  }
  if (!solved && stopped) {
    throw new AmpsUserError('PLAN_INFEASIBLE', `no plan meeting the SLO was found within the planning time limit (${limitText()})`, {
      suggestions: ['raise --time-limit', 'or allow fewer stages with --max-stages, which shrinks the search'],
    })
  }
  if (!solved) throw infeasibleError(profile, so)
  const result = solved.value
  const solvedBest = {...result.best!, latencyMs: solved.latencyMs, costPerRequestUsd: meanCostPerRequest(result.best!)}
  // AMPS-Inf: the unbatched optimum of the same search, held to the same spread-aware SLO (searched
  // on its own when the plan's search had to lower the solver's budget for the plan's own spread)
  let inf: {cand: Candidate; latencyMs: number} | null = null
  if (result.bestUnbatched && solved.budgetMs >= so.sloMs) {
    const latencyMs = candidateLatencyMs(profile, result.bestUnbatched, so)
    if (meetsSlo(latencyMs, so.sloMs)) inf = {cand: result.bestUnbatched, latencyMs}
  }
  if (!inf) {
    // no batching, at the plan's rate: its cold starts fall into the tail as the plan's do
    const unb = {...so, maxBatch: 1}
    const s = spreadSearch(unb)
    if (s) inf = {cand: s.value.best!, latencyMs: s.latencyMs}
  }
  if (inf) inf = {cand: {...inf.cand, costPerRequestUsd: meanCostPerRequest(inf.cand)}, latencyMs: inf.latencyMs}
  // the spread-aware search is a heuristic over the solver's budget: never plan dearer than AMPS-Inf
  const best = inf && inf.cand.costPerRequestUsd < solvedBest.costPerRequestUsd ? {...inf.cand, latencyMs: inf.latencyMs} : solvedBest
  const rate = so.ratePerSecond
  const stages = buildStages(profile, best)
  const model = best.model
  const keepAlive = prices.latency.keepAliveS.value
  // each stage's own pool of environments, fed by the plan's batches (the tail's chainCold; no rate: cold every time)
  const chainRanges = best.inner.stages.map((st) => ({range: {first: st.first, last: st.last}, memoryMb: st.memoryMb}))
  const stageColdP =
    chainCold(model, chainRanges, best.dist, best.batchSize, best.timeoutMs, rate)?.map((c) => c.probability) ??
    stages.map(() => coldStartProbability(0, keepAlive))
  const coldP = 1 - stageColdP.reduce((q, p) => q * (1 - p), 1)
  const stageInitUsd = stages.map((st) =>
    prices.lambda.initBilled.value && (st.initMs ?? 0) > 0 ? model.usdPerMbMs * st.memoryMb * billedMs(st.initMs!, model.granularityMs) : 0,
  )
  const initUsdPerColdStart = stageInitUsd.reduce((s, x) => s + x, 0)
  const initUsdPerBatch = stageInitUsd.reduce((s, x, i) => s + stageColdP[i] * x, 0)
  const whole = {first: 0, last: model.L - 1}

  const singles = singleFunctionBaselines(profile, so)
  const unbatched: BaselineResult = inf
    ? {
        name: 'amps-inf',
        description: 'AMPS-Inf style: cuts + memory per stage, no batching (solved exactly by the same solver)',
        feasible: true,
        latencyMs: inf.latencyMs,
        costPerMillionUsd: inf.cand.costPerRequestUsd * 1e6,
        costPerRequestUsd: inf.cand.costPerRequestUsd,
        stages: inf.cand.inner.stages.map((s) => ({layers: s.last - s.first + 1, memoryMb: s.memoryMb, arch: inf!.cand.arch})),
        batch: {size: 1, timeoutMs: 0},
      }
    : {
        name: 'amps-inf',
        description: 'AMPS-Inf style: cuts + memory per stage, no batching',
        feasible: false,
        reason: 'no unbatched chain meets the SLO',
        latencyMs: 0,
        costPerMillionUsd: 0,
        costPerRequestUsd: Infinity,
      }
  const baselines: PlanBaseline[] = [singles.bestMemory, unbatched, singles.maxMemory].map(({costPerRequestUsd, ...b}) =>
    b.feasible ? {...b, costRatio: costPerRequestUsd / best.costPerRequestUsd} : b,
  )

  const warnings: string[] = []
  const region = options.region ?? 'us-east-1'
  if (region !== prices.region) warnings.push(`prices are for ${prices.region} (table ${prices.version}); pass --prices with ${region}'s prices`)
  if (so.arch !== 'x86_64' || best.arch === 'arm64') {
    if (!options.timeFactor?.arm64)
      warnings.push(`arm64 compute is assumed as fast as the profiling machine (${profile.environment.cpu}); profile on Graviton to check`)
  }
  if (stopped) warnings.push(`planning stopped at its time limit (${limitText()}): this is the best plan found, not proven the cheapest (raise --time-limit)`)
  if (!(rate > 0)) warnings.push('no --rate: batching disabled and monthly cost not computed; cold starts assumed on every request')
  if (so.maxBatch > 1 && best.batchSize === so.maxBatch)
    warnings.push(`the best batch size is the largest allowed (${so.maxBatch}); a larger --max-batch may be cheaper`)
  const extrapolated = threadsNote(model, stages, baselines)
  if (extrapolated) warnings.push(extrapolated)

  const plan: Plan = {
    version: PLAN_VERSION,
    model: {
      name: profile.model.name,
      sha256: profile.model.sha256,
      source: profile.model.source,
      ...(options.profilePath ? {profile: options.profilePath} : {}),
    },
    inputs: {
      sloMs: so.sloMs,
      percentile: so.percentile,
      ratePerSecond: rate,
      arch: so.arch,
      region,
      priceTableVersion: prices.version,
      maxBatch: so.maxBatch,
      ...(options.stages !== undefined ? {stages: options.stages} : {}),
      maxStages: so.maxStages,
      ...((options.replicas ?? 1) > 1 ? {replicas: options.replicas} : {}),
    },
    batch: {size: best.batchSize, timeoutMs: best.timeoutMs},
    stages,
    predicted: {
      latencyMs: round(best.latencyMs, 3),
      serviceMs: round(best.inner.latencyMs, 3),
      spreadMs: round(best.latencyMs - best.inner.latencyMs - best.waitMs, 3),
      meanBatchSize: best.meanBatchSize,
      costPerMillionUsd: best.costPerRequestUsd * 1e6,
      monthlyCostUsd: best.costPerRequestUsd * rate * (options.replicas ?? 1) * SECONDS_PER_MONTH,
      coldStartMs: round(
        stages.reduce((s, st) => s + (st.coldStartMs ?? 0), 0),
        3,
      ),
      coldStartProbability: coldP,
      waitMs: round(best.waitMs, 6),
      initUsdPerColdStart,
      initPerMillionUsd: (initUsdPerBatch * 1e6) / best.meanBatchSize,
      fullCpuMsPerRequest: round(model.computeMs(whole, model.env.fullVcpuMb, 1) + model.profile.runtime.invokeOverheadMs, 3),
      wholeModelMemoryMb: round(model.requiredMemoryMb(whole, 1), 1),
    },
    solver: {
      method: best.inner.method,
      optimal: result.allOptimal && !stopped,
      solveMs: round(searchMs, 1),
      ...(best.inner.method === 'milp' || !result.allOptimal
        ? {bound: ((best.inner.bound ?? best.inner.costUsd) / best.meanBatchSize) * 1e6, gap: result.maxGap}
        : {}),
      candidates: searchInner,
      prunedIntervals: result.prunedIntervals,
      searchTolerance: result.tolerance,
      rounds,
      ...(solved.budgetMs < so.sloMs ? {sloForMediansMs: round(solved.budgetMs, 3)} : {}),
    },
    baselines,
    createdAt: (options.now ?? new Date()).toISOString(),
    ...(warnings.length > 0 ? {warnings} : {}),
  }
  const h = headlineCost(plan)
  plan.predicted.headline = {costPerMillionUsd: h.costPerMillionUsd, monthlyCostUsd: h.monthlyCostUsd, includesInit: h.includesInit}
  return plan
}

function infeasibleError(profile: Profile, so: SearchOptions): AmpsUserError {
  const min = minimumLatency(so)
  const stagesText = so.stages !== undefined ? `exactly ${so.stages}` : `at most ${so.maxStages}`
  if (!min) {
    return new AmpsUserError(
      'PLAN_INFEASIBLE',
      `no chain of ${stagesText} stages can hold ${profile.model.name} within Lambda's memory, package and time limits`,
      {
        suggestions: ['allow more stages with --max-stages', 'check the profile runtime.baselineRssMb and weight sizes'],
        details: {minimumLatencyMs: null},
      },
    )
  }
  // the cheapest plan at the minimum latency (no batching: any wait only adds latency), and its
  // latency at the percentile with the stage times' spread
  const unb = {...so, latencyBudgetMs: min.latencyMs, ratePerSecond: 0, maxBatch: 1}
  const atMin = searchPlan(unb)
  const fastest = atMin.best ? Math.max(min.latencyMs, candidateLatencyMs(profile, atMin.best, unb)) : min.latencyMs
  const cheapest = atMin.best ? {...describeCandidate(atMin.best), latencyMs: round(fastest, 3)} : null
  const p = so.percentile === 100 ? 'a hard' : `a p${so.percentile}`
  const medians = fastest > min.latencyMs + 0.05 ? `; ${min.latencyMs.toFixed(1)} ms with every stage at its median time` : ''
  return new AmpsUserError(
    'PLAN_INFEASIBLE',
    `no plan meets ${p} latency of ${so.sloMs} ms: the fastest possible is ${fastest.toFixed(1)} ms (${min.arch}, no batching, ${stagesText} stages${medians})`,
    {
      suggestions: [`use --slo ${Math.ceil(fastest)} or more`, so.stages === undefined ? 'allow more stages with --max-stages' : 'try another --stages'],
      details: {minimumLatencyMs: fastest, medianMinimumLatencyMs: min.latencyMs, arch: min.arch, cheapestAtMinimum: cheapest},
    },
  )
}
