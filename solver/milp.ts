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
  /**
   * refuse models whose simplex tableau would have more cells than this (default 20,000,000,
   * 160 MB of float64): javascript-lp-solver keeps a dense tableau with one row per binary (its
   * ≤ 1 bound), two per flow equality and one column per binary, and copies it at every branch
   */
  maxTableauCells?: number
  /**
   * refuse cut graphs with more nodes than this before building anything (default 2,000): the
   * stage-count-aware bound passes alone are O(n²·S) per multiplier
   */
  maxNodes?: number
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

function fail(t0: number, status: InnerSolution['status'], stats: Record<string, number>, optimal: boolean, reason?: string): InnerSolution {
  return {
    feasible: false,
    costUsd: Infinity,
    latencyMs: Infinity,
    stages: [],
    method: 'milp',
    optimal,
    solveMs: now() - t0,
    status,
    stats,
    ...(reason ? {reason} : {}),
  }
}

/** Dense tableau cells javascript-lp-solver allocates for `v` binaries and `nodes` flow rows (equalities count twice). */
export function tableauCells(v: number, nodes: number): number {
  return (v + 2 * nodes + 2 + 1) * (v + 1)
}

export function solveMilp(problem: InnerProblem, options: MilpOptions = {}): InnerSolution {
  const t0 = now()
  const c = problem.costs
  const N = c.nodes.length - 1
  const budget = problem.budgetMs
  const exact = problem.exactStages !== undefined
  const S = exact ? problem.exactStages! : problem.maxStages
  const maxVariables = options.maxVariables ?? 20_000
  const maxCells = options.maxTableauCells ?? 20_000_000
  const maxNodes = options.maxNodes ?? 2000
  const timeLimitMs = problem.timeLimitMs ?? 30_000
  const stats: Record<string, number> = {variables: 0, constraints: 0, edges: 0, nodes: N + 1}
  if (exact && (S < 1 || S > N)) return fail(t0, 'infeasible', stats, true)
  if (N + 1 > maxNodes) return fail(t0, 'too-large', stats, false, `${N + 1} cut-graph nodes > ${maxNodes}: not built`)

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
  const timedOut = (): InnerSolution => {
    stats.buildAbortedMs = now() - t0
    return fail(t0, 'time-limit', stats, false, `model building stopped at its ${Math.round(buildLimit)} ms limit`)
  }
  /** one row of edge weights: out[j] for j in (i, last]; returns last (i when none) */
  type Row = (i: number, out: Float64Array) => number
  const timeRow: Row = (i, out) => {
    let last = i
    for (let j = i + 1; j <= N; j++) {
      if (c.memoryNeed(i, j) === null) break
      out[j] = c.edgeMinLatency(i, j)
      last = j
    }
    return last
  }
  const lagRow =
    (mu: number): Row =>
    (i, out) =>
      c.edgeLagrangianRow(i, mu, out)
  const row = new Float64Array(N + 1)
  /** forward F[s][v] / backward G[s][v]: best weight of s stages from the source to v / from v to the sink; null when out of time */
  const pass = (weights: Row): {F: Float64Array[]; G: Float64Array[]; Fmin: Float64Array; Gmin: Float64Array} | null => {
    const F = dims()
    const G = dims()
    F[0][0] = 0
    G[0][N] = 0
    for (let i = 0; i < N; i++) {
      if (overBudget()) return null
      const last = weights(i, row)
      for (let j = i + 1; j <= last; j++) {
        const w = row[j]
        if (w === Infinity) continue
        for (let k = 0; k < Smax; k++) if (F[k][i] + w < F[k + 1][j]) F[k + 1][j] = F[k][i] + w
      }
    }
    for (let j = N - 1; j >= 0; j--) {
      if (overBudget()) return null
      const last = weights(j, row)
      for (let k2 = j + 1; k2 <= last; k2++) {
        const w = row[k2]
        if (w === Infinity) continue
        for (let k = 0; k < Smax; k++) if (G[k][k2] + w < G[k + 1][j]) G[k + 1][j] = G[k][k2] + w
      }
    }
    // stage-free minima (over s ≤ Smax − 1 on either side): an O(1) lower bound of around()
    const Fmin = new Float64Array(N + 1).fill(Infinity)
    const Gmin = new Float64Array(N + 1).fill(Infinity)
    for (let v = 0; v <= N; v++) {
      for (let k = 0; k < Smax; k++) {
        if (F[k][v] < Fmin[v]) Fmin[v] = F[k][v]
        if (G[k][v] < Gmin[v]) Gmin[v] = G[k][v]
      }
    }
    return {F, G, Fmin, Gmin}
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
  const times = pass(timeRow)
  if (!times) return timedOut()
  const mus = [0, ...bounds.stageMus.filter((m) => m > 0)]
  const lag: NonNullable<ReturnType<typeof pass>>[] = []
  for (const mu of mus) {
    const p = pass(lagRow(mu))
    if (!p) return timedOut()
    lag.push(p)
  }

  const opts: Option[] = []
  const touched = new Uint8Array(N + 1)
  let touchedCount = 0
  const touch = (v: number): void => {
    if (touched[v] === 0) {
      touched[v] = 1
      touchedCount++
    }
  }
  const lagRows = mus.map(() => new Float64Array(N + 1))
  const tooLarge = (): InnerSolution => {
    stats.variables = opts.length
    stats.modelNodes = touchedCount
    const why =
      opts.length > maxVariables
        ? `more than ${maxVariables} binaries`
        : `≥ ${opts.length} binaries over ≥ ${touchedCount} nodes: a dense tableau of ≥ ${(tableauCells(opts.length, touchedCount) / 1e6).toFixed(0)}M cells (limit ${(maxCells / 1e6).toFixed(0)}M)`
    return fail(t0, 'too-large', stats, false, why)
  }
  for (let i = 0; i < N; i++) {
    if (overBudget()) return timedOut()
    if (times.Fmin[i] === Infinity) continue
    let last = timeRow(i, row)
    for (let u = 0; u < mus.length; u++) last = Math.min(last, c.edgeLagrangianRow(i, mus[u], lagRows[u]))
    for (let j = i + 1; j <= last; j++) {
      const minLat = row[j]
      if (minLat === Infinity) continue
      // O(1) stage-free screens first, then the stage-count-aware ones
      if (times.Fmin[i] + minLat + times.Gmin[j] > budget + 1e-9) continue
      let screened = false
      for (let u = 0; u < mus.length && !screened; u++) screened = lag[u].Fmin[i] + lagRows[u][j] + lag[u].Gmin[j] - mus[u] * budget > cap
      if (screened) continue
      const tAround = around(times, i, j)
      if (tAround + minLat > budget + 1e-9) continue
      const lagAround = lag.map((p) => around(p, i, j))
      // every option of the edge costs at least its Lagrangian weight: drop the edge before building its curve
      for (let u = 0; u < mus.length && !screened; u++) screened = lagAround[u] + lagRows[u][j] - mus[u] * budget > cap
      if (screened) continue
      // cost cap from μ = 0 (latency ignored), then each option against every μ
      const costCap = cap - lagAround[0]
      if (!(costCap > 0)) continue
      const e: EdgeCurve | null = c.edge(i, j)
      if (!e) continue
      stats.edges++
      for (const o of e.paretoOptions(budget - tAround + 1e-9, costCap)) {
        let pruned = false
        for (let u = 1; u < mus.length && !pruned; u++) pruned = lagAround[u] + o.costUsd + mus[u] * o.latencyMs - mus[u] * budget > cap
        if (pruned) continue
        opts.push({name: `x${opts.length}`, i, j, memoryMb: o.memoryMb, latencyMs: o.latencyMs, costUsd: o.costUsd})
        touch(i)
        touch(j)
        if (opts.length > maxVariables || tableauCells(opts.length, touchedCount) > maxCells) return tooLarge()
      }
    }
  }
  stats.variables = opts.length
  stats.modelNodes = touchedCount
  if (opts.length === 0 || touched[0] === 0 || touched[N] === 0) return fail(t0, 'infeasible', stats, true)

  const constraints: Record<string, {equal?: number; max?: number}> = {latency: {max: budget + 1e-7}}
  constraints.stages = exact ? {equal: S} : {max: S}
  // flow conservation at every node some option touches (an untouched node's row would be 0 = 0)
  for (let v = 0; v <= N; v++) if (touched[v] === 1) constraints[`n${v}`] = {equal: v === 0 ? 1 : v === N ? -1 : 0}
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
  const stoppedAtLimit = solveMs >= timeLimitMs * 0.98
  stats.branchMs = solveMs

  let lpBound: number | undefined
  if (stoppedAtLimit) {
    const relaxed = solver.Solve({optimize: 'cost', opType: 'min', constraints, variables})
    if (relaxed.feasible) lpBound = Number(relaxed.result) / SCALE
  }
  if (!result.feasible) {
    return fail(t0, stoppedAtLimit ? 'time-limit' : 'infeasible', stats, !stoppedAtLimit)
  }
  // read the chain back and price it exactly from the options (not from the LP's arithmetic)
  const chosen = opts.filter((o) => Number(result[o.name] ?? 0) > 0.5)
  const byFrom = new Map(chosen.map((o) => [o.i, o]))
  const stages: SolvedStage[] = []
  for (let v = 0; v !== N;) {
    const o = byFrom.get(v)
    if (!o) return fail(t0, 'infeasible', stats, false)
    const r = c.range(o.i, o.j)
    stages.push({from: o.i, to: o.j, first: r.first, last: r.last, memoryMb: o.memoryMb, latencyMs: o.latencyMs, costUsd: o.costUsd})
    v = o.j
  }
  const costUsd = stages.reduce((s, st) => s + st.costUsd, 0)
  const latencyMs = stages.reduce((s, st) => s + st.latencyMs, 0)
  const bound = stoppedAtLimit ? lpBound : costUsd
  return {
    feasible: true,
    costUsd,
    latencyMs,
    stages,
    method: 'milp',
    optimal: !stoppedAtLimit,
    solveMs: now() - t0,
    bound,
    gap: bound === undefined ? undefined : Math.max(0, (costUsd - bound) / costUsd),
    status: stoppedAtLimit ? 'time-limit' : 'optimal',
    stats,
  }
}
