/**
 * Outer search over (architecture, batch size B, batch timeout T) around the exact inner solvers.
 *
 * For fixed (arch, B, T): the batch-size distribution π(T) and the wait percentile w_p(B, T) are
 * exact (src/cost/batching.ts); the chain must meet  w_p + Σ stage latency at batch B ≤ SLO  (a
 * sufficient condition for the p-th latency percentile, since stage times are non-decreasing in
 * the batch size), and the objective is E[cost of a batch]/E[K] (renewal–reward).
 *
 * Not a blind grid:
 * - T (integer ms in [1, SLO]) by branch and bound. On an interval [T1, T2]: K grows stochastically
 *   with T and a batch's cost is non-decreasing in its size, so any plan costs at least as much per
 *   batch as under π(T1); the wait percentile is NOT monotone in T (a longer timeout fills more
 *   batches, each with a request that waits 0), so the budget is bounded by SLO − W with W a
 *   rigorous lower bound of w_p over the interval (waitPercentileLowerBound). Hence cost per
 *   request ≥ OPT(π(T1), SLO − W)/E[K](T2). Intervals are split until one ms wide or their bound
 *   cannot beat the incumbent (within the relative `tolerance`, default 0.1 %; 0 = exact).
 * - B in order of a lower bound on the cost per request for any T (min over k ≤ B of a lower bound
 *   of a batch of k's cost divided by k), skipping every B whose bound cannot beat the incumbent.
 * - architectures: both when `auto`, each with its own price and time factor.
 */
import {type BatchSupport, batchSizeDistribution, batchSupport, expectedBatchSize, waitPercentileLowerBound, waitPercentileMs} from '../src/cost/batching.js'
import {CompiledCosts} from '../src/cost/curve.js'
import {CostModel} from '../src/cost/model.js'
import type {PriceTable} from '../src/cost/prices.js'
import {InvalidProblemError} from '../src/errors.js'
import {ARCHES, type Arch} from '../src/platform/lambda.js'
import type {Profile} from '../src/profile/types.js'
import {Bounds, type StageBound, type TimeBounds, timeBounds} from './bounds.js'
import {fastestChain, solveFast} from './fast.js'
import {solveMilp} from './milp.js'
import type {InnerProblem, InnerSolution} from './types.js'

export type SolverChoice = 'auto' | 'fast' | 'milp'

export interface SearchOptions {
  profile: Profile
  prices: PriceTable
  /** the user's latency SLO (ms) at `percentile` */
  sloMs: number
  /**
   * the latency the search must meet, wait at the percentile + every stage at its median time (ms);
   * default sloMs. The planner passes a smaller budget to leave room for the stage times' spread.
   */
  latencyBudgetMs?: number
  /** latency percentile in (0, 100] */
  percentile: number
  /** Poisson arrival rate (requests/s); 0 = unknown/no batching */
  ratePerSecond: number
  arch: Arch | 'auto'
  maxBatch: number
  /** exactly this many stages */
  stages?: number
  maxStages: number
  solver: SolverChoice
  /** compute-time multiplier per architecture (default 1 for both) */
  timeFactor?: Partial<Record<Arch, number>>
  /** MILP time limit per inner solve (ms) */
  milpTimeLimitMs?: number
  /** memory domain overrides (tests) */
  memoryMinMb?: number
  memoryMaxMb?: number
  memoryStepMb?: number
  /**
   * relative tolerance of the (B, T) search: an interval of T is dropped when its lower bound is
   * within this fraction of the incumbent (default 1e-3; 0 = exact over integer ms)
   */
  tolerance?: number
  /**
   * wall-clock limit of the whole search (ms; default none). When it runs out the search returns
   * the best plan found so far with `stopped: 'time-limit'` and a valid lower bound on the best
   * over the whole space (`lowerBoundPerRequestUsd`); inner solves get at most the time left.
   */
  timeLimitMs?: number
  /**
   * a candidate must also pass this (e.g. the SLO with the stage times' spread) to be a plan: a
   * point whose optimum fails it offers none at this budget (the bounds stay valid: they bound the
   * point's optimum, which is ≤ any plan there); the cheapest rejected one is `bestRejected`
   */
  accept?: (cand: Candidate) => boolean
}

export interface Candidate {
  arch: Arch
  batchSize: number
  timeoutMs: number
  /** p-th percentile of a request's wait in the buffer (ms) */
  waitMs: number
  budgetMs: number
  meanBatchSize: number
  dist: BatchSupport
  inner: InnerSolution
  costPerRequestUsd: number
  /** wait percentile + Σ stage latencies */
  latencyMs: number
  model: CostModel
  costs: CompiledCosts
}

export interface SearchResult {
  best: Candidate | null
  /** best with batching disabled (B = 1), per the same search: the AMPS-Inf-style optimum */
  bestUnbatched: Candidate | null
  /** with `accept`: the cheapest candidate it refused */
  bestRejected?: Candidate | null
  innerSolves: number
  /** (arch, B, T-interval) nodes dropped by their lower bound */
  prunedIntervals: number
  /** the search's relative tolerance: the plan costs at most this much more than the best over (arch, B, integer T) */
  tolerance: number
  totalMs: number
  /** every inner solve was proven optimal */
  allOptimal: boolean
  solverMs: number
  methods: Set<'fast' | 'milp'>
  maxGap: number
  /** set when the search stopped at `timeLimitMs` before proving its answer */
  stopped?: 'time-limit'
  /**
   * a lower bound on the cost per request of the best plan over every (arch, B, integer T) — from
   * the intervals still open, the inner solves that stopped early and the search tolerance; equal
   * to best × (1 − tolerance) when the search finished with every inner solve optimal
   */
  lowerBoundPerRequestUsd: number
  /** (best − lowerBoundPerRequestUsd) / best, when there is a best */
  gap?: number
  /** O(n²) stage-level bound passes over all inner solves, and inner solves that escalated to their own bound */
  boundPasses: number
  escalations: number
}

const now = (): number => globalThis.performance.now()

/** How far (as a multiple of E[K] at the point) a capped solve's answer is made to reach (see capFor). */
const CAP_REACH = 1.02

/** What one inner solve tells the search (null instead: proven infeasible). */
interface Outcome {
  /** the plan at this point, when the solver found one */
  cand: Candidate | null
  /** lower bound of the inner optimum (USD per batch): the optimum itself unless the solver stopped early */
  lowerUsd: number
  /** E[K] at this timeout */
  ek: number
  budget: number
  /** the solve stopped at a cost cap: lowerUsd is a lower bound (≥ the cap), not the optimum */
  capped?: boolean
}

interface PerBatchSize {
  base: CompiledCosts
  time: TimeBounds
  /** stage-level bounds computed at earlier timeouts, with E[K] there */
  stageCache: {T: number; ek: number; bounds: StageBound[]}[]
}

function solveInner(
  problem: InnerProblem,
  choice: SolverChoice,
  milpTimeLimitMs: number,
  perB: PerBatchSize,
  T: number,
  ek: number,
  leftMs: number,
  result: SearchResult,
): InnerSolution {
  // reuse the stage-level bound from a shorter timeout with the best root value at this budget (a
  // weaker but valid bound; the fast path escalates to a fresh one if it turns out too weak)
  let reuse: StageBound[] | undefined
  let bestRoot = -Infinity
  for (const e of perB.stageCache) {
    if (e.T > T) continue
    let root = -Infinity
    for (const b of e.bounds) root = Math.max(root, b.phi[0] - b.mu * problem.budgetMs)
    if (root > bestRoot) {
      bestRoot = root
      reuse = e.bounds
    }
  }
  const bounds = new Bounds(problem.costs, problem.budgetMs, perB.time, {stageLevel: choice === 'milp', reuse})
  const levelBefore = bounds.level
  const out =
    choice === 'milp'
      ? solveMilp(
          {...problem, timeLimitMs: Math.max(1, Math.min(milpTimeLimitMs, leftMs))},
          {bounds, ...(Number.isFinite(leftMs) ? {buildTimeLimitMs: Math.max(1, leftMs)} : {})},
        )
      : solveFast(Number.isFinite(leftMs) ? {...problem, timeLimitMs: Math.max(0, Math.min(problem.timeLimitMs ?? Infinity, leftMs))} : problem, bounds)
  if (bounds.level > levelBefore || (choice === 'milp' && !reuse)) perB.stageCache.push({T, ek, bounds: bounds.stageBounds()})
  result.boundPasses += bounds.passes
  if (bounds.level > levelBefore && reuse) result.escalations++
  return out
}

/** Cost-per-request lower bounds for every batch size 1..maxBatch at one architecture. */
function perRequestLowerBounds(model: CostModel, maxBatch: number): number[] {
  const ks = Array.from({length: maxBatch}, (_, i) => i + 1)
  const c = new CompiledCosts(model, maxBatch, {ks, pi: ks.map(() => 1 / maxBatch)})
  const L = model.L
  const J = c.J
  const P = model.usdPerMbMs
  const mMin = model.memoryMinMb
  const top = Math.min(c.gridMax, c.bp[J])
  const overhead = model.profile.runtime.invokeOverheadMs
  const batchLb: number[] = []
  for (let ki = 0; ki < ks.length; ki++) {
    // Σ_p min_m P·m·t_pk(m): linear in m per segment ⇒ min at segment ends
    let work = 0
    for (let p = 0; p < L; p++) {
      let best = Infinity
      for (let g = 0; g < J; g++) {
        const lo = Math.max(c.bp[g], mMin)
        const hi = Math.min(c.bp[g + 1], top)
        if (hi < lo) continue
        const x = ki * J + g
        const a = c.prefA[x][p + 1] - c.prefA[x][p]
        const b = c.prefB[x][p + 1] - c.prefB[x][p]
        best = Math.min(best, a * lo + b, a * hi + b)
      }
      work += Number.isFinite(best) ? best : 0
    }
    batchLb.push(model.requestUsd + P * (work + mMin * overhead))
  }
  // E[batch cost]/E[K] ≥ min_k cost_k/k
  const out: number[] = []
  let run = Infinity
  for (let k = 1; k <= maxBatch; k++) {
    run = Math.min(run, batchLb[k - 1] / k)
    out.push(run)
  }
  return out
}

/** The cost model of the search's profile and prices for one architecture. */
export function costModelFor(o: SearchOptions, arch: Arch): CostModel {
  return new CostModel(o.profile, {
    arch,
    prices: o.prices,
    timeFactor: o.timeFactor?.[arch] ?? 1,
    memoryMinMb: o.memoryMinMb,
    memoryMaxMb: o.memoryMaxMb,
    memoryStepMb: o.memoryStepMb,
  })
}

/** Search every (arch, B, T) for the cheapest plan meeting the SLO at the percentile. */
export function searchPlan(o: SearchOptions): SearchResult {
  const t0 = now()
  if (!(o.sloMs > 0)) throw new InvalidProblemError(`SLO must be > 0 ms, got ${o.sloMs}`)
  const latencyBudgetMs = o.latencyBudgetMs ?? o.sloMs
  if (!(latencyBudgetMs > 0)) throw new InvalidProblemError(`the latency budget must be > 0 ms, got ${latencyBudgetMs}`)
  if (!(o.percentile > 0 && o.percentile <= 100)) throw new InvalidProblemError(`percentile must be in (0, 100], got ${o.percentile}`)
  const archs: Arch[] = o.arch === 'auto' ? [...ARCHES] : [o.arch]
  const milpLimit = o.milpTimeLimitMs ?? 10_000
  const result: SearchResult = {
    best: null,
    bestUnbatched: null,
    innerSolves: 0,
    prunedIntervals: 0,
    tolerance: o.tolerance ?? 1e-3,
    totalMs: 0,
    allOptimal: true,
    solverMs: 0,
    methods: new Set(),
    maxGap: 0,
    lowerBoundPerRequestUsd: 0,
    boundPasses: 0,
    escalations: 0,
  }
  const deadline = o.timeLimitMs !== undefined ? t0 + o.timeLimitMs : Infinity
  const left = (): number => deadline - now()
  /** lower bounds of points (arch, B, T) whose inner solve stopped early (cost per request) */
  let openPointLb = Infinity
  const consider = (cand: Candidate): void => {
    const cheaper = (than: Candidate | null | undefined): boolean => !than || cand.costPerRequestUsd < than.costPerRequestUsd * (1 - 1e-12)
    if (o.accept && (cheaper(result.best) || (cand.batchSize === 1 && cheaper(result.bestUnbatched))) && !o.accept(cand)) {
      // only refusals cheaper than the best plan are of use (see SearchOptions.accept)
      if (cheaper(result.bestRejected)) result.bestRejected = cand
      return
    }
    if (!result.best || cand.costPerRequestUsd < result.best.costPerRequestUsd * (1 - 1e-12)) result.best = cand
    if (cand.batchSize === 1 && (!result.bestUnbatched || cand.costPerRequestUsd < result.bestUnbatched.costPerRequestUsd * (1 - 1e-12))) {
      result.bestUnbatched = cand
    }
  }

  /** Per (arch, B): the inner solves so far and what bounds an interval of timeouts. */
  interface BatchRoot {
    arch: Arch
    B: number
    solveAt: (B: number, T: number, budgetMs?: number, costCapUsd?: number) => Outcome | null
    /** results at integer T (null: infeasible): the optimum, or the cap it was proven to be at or above */
    values: Map<number, {opt: number; ek: number; budget: number; capped?: boolean} | null>
    /** inner optima (or their lower bounds when a solve stopped early) at π(T) with a larger budget (interval bounds), by "T/budget" */
    relaxed: Map<string, number | null>
    /** fastest chain at batch B (ms); set up lazily */
    fastestMs?: number
    /** Σ unbilled latency of a chain of s stages = u1 + (s−1)·hop */
    u1?: number
    setup: () => boolean
  }
  interface Interval {
    lb: number
    root: BatchRoot
    t1: number
    t2: number
  }
  const queue: Interval[] = []
  const tolerance = o.tolerance ?? 1e-3
  const hop = o.prices.latency.invokeRoundTripMs.value
  const granularity = o.prices.lambda.billingGranularityMs.value
  /**
   * How much a point at timeout T must cost per batch before it is of no interest: the incumbent's
   * cost per request × (1 − tolerance/2) × E[K] at the far end of the timeouts the answer is to
   * cover, at most CAP_REACH × E[K](T). The inner solve may stop as soon as it proves the point's
   * optimum is at or above that cap and then gives the best lower bound it has (≥ the cap); below
   * the cap it solves exactly. With long stage times (every memory MB its own billed-ms cell, cost
   * nearly flat in memory and cuts) an exact optimum of a point that cannot win can take seconds and
   * the proof that it cannot win milliseconds. Reaching across a whole wide interval would ask for
   * exact optima almost everywhere; reaching only to T itself would prove little more than the cap,
   * so the bound would cover a sliver of timeouts per solve. Half the tolerance is kept back so
   * that a proof covers the timeouts over which E[K] grows by less than that, most of [1, SLO] once
   * batches nearly always fill.
   */
  const capFor = (B: number, T: number, tFar: number): number | undefined => {
    if (!result.best) return undefined
    const ek = (t: number): number => expectedBatchSize({ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: t})
    return result.best.costPerRequestUsd * (1 - tolerance / 2) * Math.min(ek(Math.max(T, tFar)), CAP_REACH * ek(T))
  }
  const evalT = (root: BatchRoot, T: number, tFar = T): {opt: number; ek: number; budget: number} | null => {
    const cap = capFor(root.B, T, tFar)
    const have = root.values.get(T)
    // a cached optimum, or a cached "≥ a cap" at least as high as this one
    if (have !== undefined && (have === null || !have.capped || (cap !== undefined && have.opt >= cap))) return have
    const r = root.solveAt(root.B, T, undefined, cap)
    const v = r ? {opt: r.lowerUsd, ek: r.ek, budget: r.budget, capped: r.capped} : null
    root.values.set(T, v)
    return v
  }
  /** Can a chain's latency (Σ billed ms + s·hop + end transfers) lie in (b1, b2]? */
  const latencyStepBetween = (root: BatchRoot, b1: number, b2: number): boolean => {
    const S = o.stages ?? o.maxStages
    for (let s = 1; s <= S; s++) {
      const u = root.u1! + (s - 1) * hop
      if (Math.floor((b2 - u) / granularity + 1e-9) > Math.floor((b1 - u) / granularity + 1e-9)) return true
    }
    return false
  }

  for (const arch of archs) {
    const model = costModelFor(o, arch)
    const compiledByB = new Map<number, PerBatchSize>()
    // the latest distinct optimal chains at this architecture: they seed the bound multipliers of the next solves
    const recentChains: number[][] = []
    /** Inner optimum at (B, T); with `budgetOverride`, at π(T) but another budget (a bound, not a plan). */
    const solveAt = (B: number, T: number, budgetOverride?: number, costCapUsd?: number): Outcome | null => {
      const policy = {ratePerSecond: o.ratePerSecond, maxBatch: B, timeoutMs: T}
      const dist = B === 1 ? {ks: [1], pi: [1]} : batchSupport(batchSizeDistribution(policy))
      const waitMs = B === 1 ? 0 : waitPercentileMs(policy, o.percentile)
      const budgetMs = budgetOverride ?? latencyBudgetMs - waitMs
      if (!(budgetMs > 0)) return null
      let perB = compiledByB.get(B)
      if (!perB) {
        const ks = Array.from({length: B}, (_, i) => i + 1)
        const base = new CompiledCosts(model, B, {ks, pi: ks.map((k) => (k === B ? 1 : 0))})
        perB = {base, time: timeBounds(base), stageCache: []}
        compiledByB.set(B, perB)
      }
      const costs = perB.base.withDistribution(dist)
      const ek = B === 1 ? 1 : expectedBatchSize(policy)
      const inner = solveInner(
        {costs, budgetMs, maxStages: o.maxStages, exactStages: o.stages, hintChains: [...recentChains], costCapUsd},
        o.solver,
        milpLimit,
        perB,
        T,
        ek,
        left(),
        result,
      )
      if (inner.feasible && inner.stages.length > 0) {
        const chain = [0, ...inner.stages.map((st) => st.to)]
        const key = chain.join(',')
        const at = recentChains.findIndex((p) => p.join(',') === key)
        if (at >= 0) recentChains.splice(at, 1)
        recentChains.unshift(chain)
        if (recentChains.length > 4) recentChains.pop()
      }
      result.innerSolves++
      result.solverMs += inner.solveMs
      result.methods.add(inner.method)
      if (!inner.optimal) result.allOptimal = false
      if (inner.gap !== undefined) result.maxGap = Math.max(result.maxGap, inner.gap)
      const meanBatchSize = ek
      // a point solved without proof: its optimum is only known to be ≥ the solver's bound
      if (!inner.optimal && budgetOverride === undefined) openPointLb = Math.min(openPointLb, Math.max(0, inner.bound ?? 0) / meanBatchSize)
      if (inner.status === 'above-cap') return {cand: null, lowerUsd: inner.bound!, ek, budget: budgetMs, capped: true}
      if (!inner.feasible) return inner.optimal ? null : {cand: null, lowerUsd: Math.max(0, inner.bound ?? 0), ek, budget: budgetMs}
      const cand: Candidate = {
        arch,
        batchSize: B,
        timeoutMs: B === 1 ? 0 : T,
        waitMs,
        budgetMs,
        meanBatchSize,
        dist,
        inner,
        costPerRequestUsd: inner.costUsd / meanBatchSize,
        latencyMs: waitMs + inner.latencyMs,
        model,
        costs,
      }
      if (budgetOverride === undefined) consider(cand)
      return {cand, lowerUsd: inner.optimal ? inner.costUsd : Math.max(0, inner.bound ?? 0), ek, budget: budgetMs}
    }

    solveAt(1, 0)
    if (!(o.ratePerSecond > 0) || o.maxBatch < 2) continue

    const lbs = perRequestLowerBounds(model, o.maxBatch)
    for (let B = 2; B <= o.maxBatch; B++) {
      const root: BatchRoot = {
        arch,
        B,
        solveAt,
        values: new Map(),
        relaxed: new Map(),
        setup: () => {
          // fastest chain at batch B (any T): the most time the buffer may take
          const ks = Array.from({length: B}, (_, i) => i + 1)
          const base = new CompiledCosts(model, B, {ks, pi: ks.map((k) => (k === B ? 1 : 0))})
          const time = timeBounds(base)
          compiledByB.set(B, {base, time, stageCache: []})
          const N = base.nodes.length - 1
          let stagesOnFastest = 0
          for (let v = 0; v !== N && v >= 0; v = time.fastestNext[v]) stagesOnFastest++
          const ruleOk = o.stages === undefined ? stagesOnFastest <= o.maxStages : stagesOnFastest === o.stages
          root.fastestMs = ruleOk ? time.timeToGo[0] : (fastestChain(base, o.stages ?? o.maxStages, o.stages)?.latencyMs ?? Infinity)
          root.u1 = base.unbilled(0, N)
          return Number.isFinite(root.fastestMs) && root.fastestMs < latencyBudgetMs
        },
      }
      // timeouts are searched in [1, SLO]: even the unluckiest request's wait stays within the SLO
      queue.push({lb: lbs[B - 1], root, t1: 1, t2: -1})
    }
  }

  // Warm start: one point per batch size, in increasing B, at the timeout that fills a batch on
  // average ((B − 1) / rate). The lower bounds order the batch sizes largest first, and a large B
  // with long stage times leaves a tight budget whose inner solves are the slowest of all; with a
  // realistic incumbent from these points most of them end at the cost cap instead.
  for (const iv of queue) {
    if (left() <= 0) break
    if (iv.t2 < 0) {
      if (!iv.root.setup()) continue
      iv.t2 = Math.max(1, Math.floor(latencyBudgetMs))
    }
    const T = Math.min(iv.t2, Math.max(1, Math.round(((iv.root.B - 1) / o.ratePerSecond) * 1000)))
    evalT(iv.root, T)
  }

  // Global best-first branch and bound over (arch, B, [t1, t2]). For T in [t1, t2]:
  //   π(T) ≥ π(t1) in the stochastic order, and w_p(T) ≥ W = waitPercentileLowerBound(t1, t2), so
  //   OPT(T) ≥ OPT(π(t1), SLO − W) and the cost per request ≥ OPT(π(t1), SLO − W) / E[K](t2).
  // OPT(π(t1), SLO − W) is OPT(t1) itself unless a chain latency can lie between the two budgets.
  while (queue.length > 0) {
    if (left() <= 0) {
      result.stopped = 'time-limit'
      break
    }
    queue.sort((a, b) => b.lb - a.lb)
    const iv = queue.pop()!
    const root = iv.root
    const best = result.best?.costPerRequestUsd ?? Infinity
    if (iv.lb >= best * (1 - tolerance)) {
      result.prunedIntervals++
      continue
    }
    if (iv.t2 < 0) {
      if (!root.setup()) continue
      iv.t2 = Math.max(1, Math.floor(latencyBudgetMs))
    }
    const W = waitPercentileLowerBound(o.ratePerSecond, root.B, iv.t1, iv.t2, o.percentile)
    const bMax = latencyBudgetMs - W
    if (root.fastestMs! > bMax + 1e-9) continue // no timeout in the interval leaves room for the chain
    const v1 = evalT(root, iv.t1, iv.t2)
    let optLb: number
    if (v1 && !latencyStepBetween(root, v1.budget, bMax)) optLb = v1.opt
    else {
      const key = `${iv.t1}/${bMax}`
      let relaxed = root.relaxed.get(key)
      if (relaxed === undefined) {
        relaxed = root.solveAt(root.B, iv.t1, bMax, capFor(root.B, iv.t1, iv.t2))?.lowerUsd ?? null
        root.relaxed.set(key, relaxed)
      }
      if (relaxed === null) continue
      optLb = relaxed
    }
    if (iv.t2 - iv.t1 <= 1) {
      evalT(root, iv.t2)
      continue
    }
    const ek = expectedBatchSize({ratePerSecond: o.ratePerSecond, maxBatch: root.B, timeoutMs: iv.t2})
    const lb = Math.max(iv.lb, optLb / ek)
    if (lb >= (result.best?.costPerRequestUsd ?? Infinity) * (1 - tolerance)) {
      result.prunedIntervals++
      continue
    }
    // The bound at t1 holds for a prefix of the interval: E[K] grows with T, so optLb / E[K](T)
    // stays above the incumbent up to some timeout t'. Drop [t1, t'] at once and go on from t' + 1
    // (one solve per step of E[K] the bound's margin allows, instead of a bisection down to single
    // timeouts wherever the bound is a capped solve's rather than an exact optimum).
    const bar = (result.best?.costPerRequestUsd ?? Infinity) * (1 - tolerance)
    const ekAt = (T: number): number => expectedBatchSize({ratePerSecond: o.ratePerSecond, maxBatch: root.B, timeoutMs: T})
    if (optLb / ekAt(iv.t1 + 1) >= bar) {
      let lo = iv.t1 + 1 // holds
      let hi = iv.t2 // fails (the whole-interval test above failed)
      while (hi - lo > 1) {
        const m = Math.floor((lo + hi) / 2)
        if (optLb / ekAt(m) >= bar) lo = m
        else hi = m
      }
      result.prunedIntervals++
      queue.push({lb, root, t1: hi, t2: iv.t2})
      continue
    }
    const mid = Math.floor((iv.t1 + iv.t2) / 2)
    queue.push({lb, root, t1: iv.t1, t2: mid}, {lb, root, t1: mid, t2: iv.t2})
  }
  // every point not in an open interval was either solved (exactly, or with openPointLb covering
  // it), excluded exactly, or pruned by a bound ≥ the incumbent × (1 − tolerance) at that time
  const bestCost = result.best?.costPerRequestUsd ?? Infinity
  let lb = Math.min(openPointLb, bestCost * (1 - tolerance))
  for (const iv of queue) lb = Math.min(lb, iv.lb)
  if (left() <= 0 && !result.allOptimal) result.stopped = 'time-limit'
  result.lowerBoundPerRequestUsd = Number.isFinite(lb) ? lb : 0
  if (result.best) result.gap = Math.max(0, (bestCost - result.lowerBoundPerRequestUsd) / bestCost)
  result.totalMs = now() - t0
  return result
}

/** The minimum latency any chain can reach (B = 1, every stage at its largest memory), per arch. */
export function minimumLatency(o: SearchOptions): {latencyMs: number; arch: Arch} | null {
  const archs: Arch[] = o.arch === 'auto' ? [...ARCHES] : [o.arch]
  let best: {latencyMs: number; arch: Arch} | null = null
  for (const arch of archs) {
    const model = costModelFor(o, arch)
    const c = new CompiledCosts(model, 1, {ks: [1], pi: [1]})
    const f = fastestChain(c, o.stages ?? o.maxStages, o.stages)
    if (f && (!best || f.latencyMs < best.latencyMs)) best = {latencyMs: f.latencyMs, arch}
  }
  return best
}

export {Bounds}
