/**
 * The MILP formulation (AMPS-Inf's idea, made linear), solved with javascript-lp-solver.
 *
 *   x_{e,o} ∈ {0,1} for every stage e = (i, j) of the cut graph and memory option o of e
 *   min  Σ cost_{e,o}·x_{e,o}
 *   s.t. Σ_{e out of v} x − Σ_{e into v} x = 1 (source), −1 (sink), 0 (others)   [flow: one chain]
 *        Σ latency_{e,o}·x_{e,o} ≤ budget                                           [latency knapsack]
 *        Σ x ≤ maxStages   (or = exactStages)
 *
 * Which memory options are enough to be exact: per stage, the Pareto-efficient (latency, cost)
 * options among the cell starts of its piecewise cost curve (src/cost/curve.ts: the smallest memory
 * meeting a latency, and every memory where some ceil(T_k) drops by one billed ms). Any other memory
 * has a cell start with the same latency and a lower or equal cost, and a dominated option can be
 * swapped for its dominator. Options are further removed when valid bounds prove they cannot be in
 * any solution at most as expensive as a known feasible one (fastest-path times from the source and
 * to the sink, Lagrangian cost bounds) — pruning only strictly worse options keeps an optimal
 * solution in the model.
 *
 * Proof of optimality: javascript-lp-solver's branch and cut is exact when it finishes before the
 * time limit; when it stops at the limit the plan records the LP relaxation as the bound and the gap.
 */
import * as lpModule from 'javascript-lp-solver'

import type {EdgeCurve} from '../src/cost/curve.js'
import {Bounds} from './bounds.js'
import {initialIncumbent} from './fast.js'
import type {InnerProblem, InnerSolution, SolvedStage} from './types.js'

const now = (): number => globalThis.performance.now()
// ESM build exports the solver as default; the package's CJS-typed declarations hide that from tsc
type LpResult = Record<string, number | boolean | undefined>
const solver = ((lpModule as unknown as {default?: unknown}).default ?? lpModule) as {Solve(model: unknown): LpResult}
/** objective scale: USD per batch → nano-dollars (the solver reports 8 decimals) */
const SCALE = 1e9

export interface MilpOptions {
  /** refuse to build models with more binaries than this (default 20,000) */
  maxVariables?: number
  /** a feasible solution to prune with (its cost must be real; e.g. the fast path's answer) */
  warmStart?: InnerSolution
  /** give up building the model after this long (ms; default: no limit) */
  buildTimeLimitMs?: number
  bounds?: Bounds
}

interface Option {
  name: string
  i: number
  j: number
  memoryMb: number
  latencyMs: number
  costUsd: number
}

function fail(t0: number, status: InnerSolution['status'], stats: Record<string, number>, optimal: boolean): InnerSolution {
  return {feasible: false, costUsd: Infinity, latencyMs: Infinity, stages: [], method: 'milp', optimal, solveMs: now() - t0, status, stats}
}

export function solveMilp(problem: InnerProblem, options: MilpOptions = {}): InnerSolution {
  const t0 = now()
  const c = problem.costs
  const N = c.nodes.length - 1
  const budget = problem.budgetMs
  const exact = problem.exactStages !== undefined
  const S = exact ? problem.exactStages! : problem.maxStages
  const maxVariables = options.maxVariables ?? 20_000
  const timeLimitMs = problem.timeLimitMs ?? 30_000
  const stats: Record<string, number> = {variables: 0, constraints: 0, edges: 0}
  if (exact && (S < 1 || S > N)) return fail(t0, 'infeasible', stats, true)

  const bounds = options.bounds ?? new Bounds(c, budget)
  if (!(bounds.timeToGo[0] <= budget + 1e-9)) return fail(t0, 'infeasible', stats, true)

  // a feasible cost to prune with: the warm start, else the fastest chain's heuristic split
  let UB = problem.upperBoundUsd ?? Infinity
  if (options.warmStart?.feasible) UB = Math.min(UB, options.warmStart.costUsd)
  if (UB === Infinity) {
    const inc = initialIncumbent(problem, bounds)
    if (inc === 'infeasible') return fail(t0, 'infeasible', stats, true)
    if (inc) UB = inc.costUsd
  }
  const cap = UB === Infinity ? Infinity : UB * (1 + 1e-9)

  // Option pruning with stage-count-aware bounds: for chains of s stages into node i and s' stages
  // out of node j, the fastest latencies (TF, TG) and Lagrangian weights (F, G) for a few μ.
  const Smax = Math.min(S, N)
  const allowed = (total: number): boolean => (exact ? total === S : total >= 1 && total <= S)
  const dims = (): Float64Array[] => Array.from({length: Smax + 1}, () => new Float64Array(N + 1).fill(Infinity))
  const buildLimit = options.buildTimeLimitMs ?? Infinity
  const overBudget = (): boolean => now() - t0 > buildLimit
  const pass = (weight: (i: number, j: number) => number): {F: Float64Array[]; G: Float64Array[]} => {
    const F = dims()
    const G = dims()
    F[0][0] = 0
    G[0][N] = 0
    for (let i = 0; i < N; i++) {
      if (overBudget()) break
      for (let j = i + 1; j <= N; j++) {
        if (c.memoryNeed(i, j) === null) break
        const w = weight(i, j)
        if (w === Infinity) continue
        for (let k = 0; k < Smax; k++) if (F[k][i] + w < F[k + 1][j]) F[k + 1][j] = F[k][i] + w
      }
    }
    for (let j = N - 1; j >= 0; j--) {
      if (overBudget()) break
      for (let k2 = j + 1; k2 <= N; k2++) {
        if (c.memoryNeed(j, k2) === null) break
        const w = weight(j, k2)
        if (w === Infinity) continue
        for (let k = 0; k < Smax; k++) if (G[k][k2] + w < G[k + 1][j]) G[k + 1][j] = G[k][k2] + w
      }
    }
    return {F, G}
  }
  /** min over stage counts s1 (into i) and s2 (out of j) with s1 + 1 + s2 allowed of F[s1][i] + G[s2][j] */
  const around = (p: {F: Float64Array[]; G: Float64Array[]}, i: number, j: number): number => {
    let best = Infinity
    for (let s1 = 0; s1 < Smax; s1++) {
      if (p.F[s1][i] === Infinity) continue
      for (let s2 = 0; s1 + 1 + s2 <= Smax; s2++) if (allowed(s1 + 1 + s2) && p.F[s1][i] + p.G[s2][j] < best) best = p.F[s1][i] + p.G[s2][j]
    }
    return best
  }
  const times = pass((i, j) => c.edgeMinLatency(i, j))
  const mus = [0, ...bounds.stageMus.filter((m) => m > 0)]
  const lag = mus.map((mu) => pass((i, j) => c.edgeLagrangian(i, j, mu)))

  const opts: Option[] = []
  for (let i = 0; i < N; i++) {
    if (overBudget()) {
      stats.buildAbortedMs = now() - t0
      return fail(t0, 'time-limit', stats, false)
    }
    for (let j = i + 1; j <= N; j++) {
      if (c.memoryNeed(i, j) === null) break
      const tAround = around(times, i, j)
      if (tAround === Infinity) continue
      const minLat = c.edgeMinLatency(i, j)
      if (tAround + minLat > budget + 1e-9) continue
      const e: EdgeCurve | null = c.edge(i, j)
      if (!e) continue
      const lagAround = lag.map((p) => around(p, i, j))
      // cost cap from μ = 0 (latency ignored), then each option against every μ
      const costCap = cap - lagAround[0]
      if (!(costCap > 0)) continue
      stats.edges++
      for (const o of e.paretoOptions(budget - tAround + 1e-9, costCap)) {
        let pruned = false
        for (let u = 1; u < mus.length && !pruned; u++) pruned = lagAround[u] + o.costUsd + mus[u] * o.latencyMs - mus[u] * budget > cap
        if (pruned) continue
        opts.push({name: `x${opts.length}`, i, j, memoryMb: o.memoryMb, latencyMs: o.latencyMs, costUsd: o.costUsd})
        if (opts.length > maxVariables) {
          stats.variables = opts.length
          return {...fail(t0, 'too-large', stats, false)}
        }
      }
    }
  }
  stats.variables = opts.length
  if (opts.length === 0) return fail(t0, 'infeasible', stats, true)

  const constraints: Record<string, {equal?: number; max?: number}> = {latency: {max: budget + 1e-7}}
  constraints.stages = exact ? {equal: S} : {max: S}
  for (let v = 0; v <= N; v++) constraints[`n${v}`] = {equal: v === 0 ? 1 : v === N ? -1 : 0}
  const variables: Record<string, Record<string, number>> = {}
  const binaries: Record<string, 1> = {}
  for (const o of opts) {
    variables[o.name] = {cost: o.costUsd * SCALE, latency: o.latencyMs, stages: 1, [`n${o.i}`]: 1, [`n${o.j}`]: -1}
    binaries[o.name] = 1
  }
  stats.constraints = Object.keys(constraints).length
  const model = {optimize: 'cost', opType: 'min' as const, constraints, variables, binaries, options: {timeout: timeLimitMs}}
  const tSolve = now()
  const result = solver.Solve(model)
  const solveMs = now() - tSolve
  const timedOut = solveMs >= timeLimitMs * 0.98
  stats.branchMs = solveMs

  let lpBound: number | undefined
  if (timedOut) {
    const relaxed = solver.Solve({optimize: 'cost', opType: 'min', constraints, variables})
    if (relaxed.feasible) lpBound = Number(relaxed.result) / SCALE
  }
  if (!result.feasible) {
    return fail(t0, timedOut ? 'time-limit' : 'infeasible', stats, !timedOut)
  }
  // read the chain back and price it exactly from the options (not from the LP's arithmetic)
  const chosen = opts.filter((o) => Number(result[o.name] ?? 0) > 0.5)
  const byFrom = new Map(chosen.map((o) => [o.i, o]))
  const stages: SolvedStage[] = []
  for (let v = 0; v !== N; ) {
    const o = byFrom.get(v)
    if (!o) return fail(t0, 'infeasible', stats, false)
    const r = c.range(o.i, o.j)
    stages.push({from: o.i, to: o.j, first: r.first, last: r.last, memoryMb: o.memoryMb, latencyMs: o.latencyMs, costUsd: o.costUsd})
    v = o.j
  }
  const costUsd = stages.reduce((s, st) => s + st.costUsd, 0)
  const latencyMs = stages.reduce((s, st) => s + st.latencyMs, 0)
  const bound = timedOut ? lpBound : costUsd
  return {
    feasible: true,
    costUsd,
    latencyMs,
    stages,
    method: 'milp',
    optimal: !timedOut,
    solveMs: now() - t0,
    bound,
    gap: bound === undefined ? undefined : Math.max(0, (costUsd - bound) / costUsd),
    status: timedOut ? 'time-limit' : 'optimal',
    stats,
  }
}
