/**
 * The exact fast path: label-setting DP over cut points with Pareto fronts of (latency, cost,
 * stages), pruned by valid bounds.
 *
 * Nodes are the valid boundaries in position order, so the cut graph is a DAG processed in
 * topological order. A label (t, c, s) at node i is a partial chain reaching i with latency t,
 * expected cost c and s stages. Extending a label along edge (i, j) uses the stage's candidate
 * memories only (EdgeCurve.enumerate: the smallest memory meeting the latency still available,
 * then every cell start above it while the cost lower bound can still beat the incumbent) — by the
 * cell lemma (src/cost/curve.ts) no other memory can do better.
 *
 * Why the result is optimal: every feasible chain is a sequence of label extensions; a label is
 * discarded only if (a) another label at the same node has latency ≤, cost ≤ and stages ≤ (any
 * completion of the discarded one completes the other at no higher cost, since latencies and costs
 * add up along the chain), or (b) its latency plus the time-to-go bound exceeds the budget, or
 * (c) its cost plus the Lagrangian cost-to-go bound (solver/bounds.ts) is not below the cost of a
 * feasible solution already in hand. The incumbent starts from a heuristic (the fastest chain and
 * the cheapest-bound chain, memories set by a Lagrangian split of the budget and a greedy repair).
 */
import {type CompiledCosts, type EdgeCurve, type StageOption} from '../src/cost/curve.js'
import {Bounds} from './bounds.js'
import type {InnerProblem, InnerSolution, SolvedStage} from './types.js'

const REL = 1e-12
/** root gap (relative to the incumbent) above which the stage multiplier is tuned (Bounds.tighten) */
const TIGHTEN_GAP = 1e-4
const now = (): number => globalThis.performance.now()

interface Label {
  t: number
  c: number
  s: number
  node: number
  memoryMb: number
  lat: number
  cost: number
  prev: Label | null
}

/** Stage-count rules of a problem. */
interface StageRule {
  S: number
  exact: boolean
  /** does the stage count matter at all (exact, or a limit below the number of edges on a chain) */
  matters: boolean
}

function stageRule(p: InnerProblem, N: number): StageRule {
  const exact = p.exactStages !== undefined
  const S = exact ? p.exactStages! : p.maxStages
  return {S, exact, matters: exact || S < N}
}

function stageAllowed(rule: StageRule, s1: number, j: number, N: number): boolean {
  if (rule.exact) return j === N ? s1 === rule.S : s1 < rule.S && N - j >= rule.S - s1
  return s1 <= rule.S
}

/**
 * Minimum latency of any chain (each stage at its fastest memory), and one chain achieving it.
 * Exact: latency at the largest memory is the minimum of a non-increasing function.
 */
export function fastestChain(c: CompiledCosts, maxStages: number, exactStages?: number): {latencyMs: number; path: number[]} | null {
  const N = c.nodes.length - 1
  const rule = stageRule({costs: c, budgetMs: 0, maxStages, exactStages}, N)
  const S = rule.matters ? rule.S : 1
  // best[s][j]: min latency reaching j with s stages (s dimension collapsed when it does not matter)
  const best = Array.from({length: S + 1}, () => new Float64Array(N + 1).fill(Infinity))
  const from = Array.from({length: S + 1}, () => new Int32Array(N + 1).fill(-1))
  best[0][0] = 0
  for (let i = 0; i < N; i++) {
    for (let j = i + 1; j <= N; j++) {
      if (c.memoryNeed(i, j) === null) break
      const lat = c.edgeMinLatency(i, j)
      if (lat === Infinity) continue
      if (!rule.matters) {
        const v = best[0][i] + lat
        if (v < best[0][j]) {
          best[0][j] = v
          from[0][j] = i
        }
        continue
      }
      for (let s = 0; s < S; s++) {
        if (best[s][i] === Infinity || !stageAllowed(rule, s + 1, j, N)) continue
        const v = best[s][i] + lat
        if (v < best[s + 1][j]) {
          best[s + 1][j] = v
          from[s + 1][j] = i
        }
      }
    }
  }
  let bestS = -1
  let bestV = Infinity
  if (!rule.matters) {
    bestS = 0
    bestV = best[0][N]
  } else {
    for (let s = 1; s <= S; s++)
      if (best[s][N] < bestV && (!rule.exact || s === S)) {
        bestV = best[s][N]
        bestS = s
      }
  }
  if (bestV === Infinity) return null
  const path = [N]
  let j = N
  let s = bestS
  while (j !== 0) {
    const i = from[s][j]
    path.push(i)
    j = i
    if (rule.matters) s--
  }
  return {latencyMs: bestV, path: path.reverse()}
}

/**
 * Memories for a fixed chain (a heuristic: feasible, not necessarily optimal): split the slack
 * above the fastest latencies among the stages in a few ways, take each stage's cheapest memory
 * meeting its share (exact per stage, EdgeCurve.cheapestMemoryForBudget), then hand the leftover
 * slack to one stage at a time while that makes it cheaper.
 */
export function solveChainHeuristic(c: CompiledCosts, path: number[], budgetMs: number): {costUsd: number; latencyMs: number; stages: SolvedStage[]} | null {
  const curves: EdgeCurve[] = []
  for (let x = 0; x + 1 < path.length; x++) {
    const e = c.edge(path[x], path[x + 1])
    if (!e) return null
    curves.push(e)
  }
  const minLats = curves.map((e) => e.minLatency())
  const total = minLats.reduce((a, b) => a + b, 0)
  if (!(total <= budgetMs + 1e-9)) return null
  const slack = budgetMs - total
  const room = curves.map((e, x) => Math.max(0, e.latency(e.mLo!) - minLats[x]))
  const roomTotal = room.reduce((a, b) => a + b, 0)
  const shares: number[][] = [minLats.map((l) => (total > 0 ? l / total : 1 / curves.length))]
  if (curves.length > 1) {
    if (roomTotal > 0) shares.push(room.map((r) => r / roomTotal))
    shares.push(curves.map(() => 1 / curves.length))
  }
  let best: {costUsd: number; latencyMs: number; stages: SolvedStage[]} | null = null
  for (const share of shares) {
    const picks: StageOption[] = []
    for (let x = 0; x < curves.length; x++) {
      const o = curves[x].cheapestMemoryForBudget(minLats[x] + slack * share[x] + 1e-9)
      if (!o) break
      picks.push(o)
    }
    if (picks.length !== curves.length) continue
    // repair: give the leftover slack to each stage in turn
    for (let changed = true; changed && curves.length > 1;) {
      changed = false
      for (let x = 0; x < curves.length; x++) {
        const left = budgetMs - picks.reduce((s, o) => s + o.latencyMs, 0)
        if (left <= 0) continue
        const o = curves[x].cheapestMemoryForBudget(picks[x].latencyMs + left + 1e-9)
        if (o && o.costUsd < picks[x].costUsd * (1 - 1e-12)) {
          picks[x] = o
          changed = true
        }
      }
    }
    const costUsd = picks.reduce((s, o) => s + o.costUsd, 0)
    if (best && costUsd >= best.costUsd) continue
    const stages: SolvedStage[] = picks.map((o, x) => {
      const r = c.range(path[x], path[x + 1])
      return {from: path[x], to: path[x + 1], first: r.first, last: r.last, memoryMb: o.memoryMb, latencyMs: o.latencyMs, costUsd: o.costUsd}
    })
    best = {costUsd, latencyMs: stages.reduce((s, st) => s + st.latencyMs, 0), stages}
  }
  return best
}

/**
 * A feasible solution to start pruning with: the heuristic memory split of the fastest chain and
 * of each Lagrangian-shortest chain (respecting the stage rule), the cheapest of them.
 * 'infeasible' when no chain meets the budget at all.
 */
export function initialIncumbent(problem: InnerProblem, bounds: Bounds): {costUsd: number; latencyMs: number; stages: SolvedStage[]} | null | 'infeasible' {
  const c = problem.costs
  const N = c.nodes.length - 1
  const budget = problem.budgetMs
  const rule = stageRule(problem, N)
  if (!(bounds.timeToGo[0] <= budget + 1e-9)) return 'infeasible'
  const follow = (next: Int32Array): number[] | null => {
    const path = [0]
    while (path[path.length - 1] !== N) {
      const v = next[path[path.length - 1]]
      if (v < 0) return null
      path.push(v)
    }
    const stages = path.length - 1
    return (rule.exact ? stages === rule.S : stages <= rule.S) ? path : null
  }
  let fastestPath = follow(bounds.fastestNext)
  if (!fastestPath) {
    const fastest = fastestChain(c, rule.S, rule.exact ? rule.S : undefined)
    if (!fastest || fastest.latencyMs > budget + 1e-9) return 'infeasible'
    fastestPath = fastest.path
  }
  let best: {costUsd: number; latencyMs: number; stages: SolvedStage[]} | null = null
  const tryPath = (path: number[] | null): void => {
    if (!path) return
    const h = solveChainHeuristic(c, path, budget)
    if (h && (!best || h.costUsd < best.costUsd)) best = h
  }
  tryPath(fastestPath)
  for (const next of bounds.stageNext) tryPath(follow(next))
  return best
}

function infeasible(t0: number, stats: Record<string, number>): InnerSolution {
  return {feasible: false, costUsd: Infinity, latencyMs: Infinity, stages: [], method: 'fast', optimal: true, solveMs: now() - t0, status: 'infeasible', stats}
}

/** Solve the inner problem exactly (see module docs). */
export function solveFast(problem: InnerProblem, sharedBounds?: Bounds): InnerSolution {
  const t0 = now()
  const c = problem.costs
  const N = c.nodes.length - 1
  const budget = problem.budgetMs
  const rule = stageRule(problem, N)
  const stats: Record<string, number> = {nodes: N + 1, labels: 0, extensions: 0, edgeCurves: 0, candidates: 0}
  if (rule.exact && (rule.S < 1 || rule.S > N)) return infeasible(t0, stats)
  const bounds = sharedBounds ?? new Bounds(c, budget)
  stats.boundsMs = bounds.buildMs
  if (!(bounds.timeToGo[0] <= budget + 1e-9)) return infeasible(t0, stats)
  const inc = initialIncumbent(problem, bounds)
  if (inc === 'infeasible') return infeasible(t0, stats)
  let UB = inc ? inc.costUsd : Infinity
  let incumbent: {costUsd: number; latencyMs: number; stages: SolvedStage[]} | null = inc
  // a cap from the caller: nothing at or above it is wanted, so it prunes like an incumbent
  const cap = problem.costCapUsd
  const capped = cap !== undefined && cap < UB
  if (capped) {
    UB = cap
    incumbent = null
  }
  let bestLabel: Label | null = null
  stats.heuristicUsd = inc ? inc.costUsd : Infinity
  // a stage-level bound of this problem's own: move its multiplier towards the best one when the
  // root gap is worth closing (a tight budget leaves the per-layer μ far from it)
  // chains that seed the choice of μ: the incumbent's, the caller's hints, the reused bound's own
  const chains: number[][] = [...(problem.hintChains ?? []).filter((p) => p[0] === 0 && p[p.length - 1] === N)]
  if (inc) chains.push([0, ...inc.stages.map((st) => st.to)])
  const tighten = (): void => {
    if (bounds.level < 1 || !(UB < Infinity) || UB - bounds.rootLowerBound(budget) <= TIGHTEN_GAP * UB) return
    const tt = now()
    stats.tightenPasses = (stats.tightenPasses ?? 0) + bounds.tighten(budget, UB, 3, 0.05, chains)
    stats.tightenMs = (stats.tightenMs ?? 0) + now() - tt
  }
  /** this problem's own stage-level bound, at the μ the known chains suggest */
  const upgrade = (): void => {
    for (const next of bounds.stageNext) {
      const p = bounds.chainOf(next)
      if (p) chains.push(p)
    }
    const hint = chains.length > 0 ? bounds.envelopeArgmax(budget, chains, bounds.muStar ?? bounds.stageMus[0] ?? 0).mu : undefined
    if (!bounds.upgrade(hint)) throw new Error('solver escalation without a tighter bound')
    stats.restarts = (stats.restarts ?? 0) + 1
    // the stage-level bound also yields better heuristic chains
    const again = initialIncumbent(problem, bounds)
    if (again && again !== 'infeasible' && again.costUsd < UB * (1 - REL)) {
      UB = again.costUsd
      incumbent = again
      bestLabel = null
    }
  }
  tighten()
  const cut = (): number => UB * (1 - REL)

  const bestC = new Float64Array(rule.S + 2)
  // guards: a budget of labels held at once (memory) and an optional time limit; hitting either
  // returns the best chain found so far, not proven optimal, with the root lower bound and the gap
  const labelCap = problem.maxLabels ?? 3_000_000
  const deadline = problem.timeLimitMs !== undefined ? t0 + problem.timeLimitMs : Infinity
  let stored = 0
  let gaveUp = false

  /** Labels at node i that can still matter: within the bounds, and Pareto-optimal in (t, c, s). */
  const prune = (list: Label[], i: number): Label[] => {
    list = list.filter((l) => l.t + bounds.timeToGo[i] <= budget + 1e-9 && l.c + bounds.costToGo(i, budget - l.t) < cut())
    list.sort((a, b) => a.t - b.t || a.c - b.c || a.s - b.s)
    const kept: Label[] = []
    if (!rule.matters) {
      let minC = Infinity
      for (const l of list)
        if (l.c < minC) {
          minC = l.c
          kept.push(l)
        }
    } else {
      bestC.fill(Infinity)
      for (const l of list) {
        let dominated = false
        if (rule.exact) dominated = bestC[l.s] <= l.c
        else for (let s = 0; s <= l.s && !dominated; s++) dominated = bestC[s] <= l.c
        if (!dominated) {
          kept.push(l)
          if (l.c < bestC[l.s]) bestC[l.s] = l.c
        }
      }
    }
    return kept
  }

  /** One label-setting pass; returns true when it gave up at `workLimit` labels. */
  const row = new Float64Array(N + 1)
  const runDp = (workLimit: number): boolean => {
    let work = 0
    let aborted = false
    const labels: Label[][] = Array.from({length: N + 1}, () => [])
    // pending labels at a node are compacted (prune) whenever they double, so memory stays near the fronts
    const compactAt = new Int32Array(N + 1).fill(1024)
    stored = 1
    labels[0].push({t: 0, c: 0, s: 0, node: 0, memoryMb: 0, lat: 0, cost: 0, prev: null})
    /** true (and the reason flagged) once this pass is over its work limit, or the solve over its label cap or time */
    const outOfBudget = (): boolean => {
      if (work > workLimit) aborted = true
      else if (stored > labelCap || now() > deadline) gaveUp = true
      return aborted || gaveUp
    }
    for (let i = 0; i < N && !aborted && !gaveUp; i++) {
      const pending = labels[i]
      labels[i] = []
      if (pending.length === 0) continue
      const kept = prune(pending, i)
      stored -= pending.length
      stats.labels += kept.length
      work += kept.length
      if (outOfBudget()) break
      const U = bounds.stageMus.length
      // label-independent part of the one-edge-ahead Lagrangian bound: w_u + Φ̂_u(j) − μ_u·budget
      const kj = new Float64Array(U)
      // successor screen (Bounds.rootLowerBound): a successor j with w(i,j) + Φ̂(j) past Φ̂(i) + the
      // root gap is useless for every label here; one row of first-multiplier weights per node
      const rootGap = UB - bounds.rootLowerBound(budget)
      const screen = U > 0 && rootGap < Infinity
      const limitVal = screen ? bounds.stagePhi[0][i] + rootGap : Infinity
      const lastJ = screen ? c.edgeLagrangianRow(i, bounds.stageMus[0], row) : N
      const phi0 = screen ? bounds.stagePhi[0] : null
      for (let j = i + 1; j <= lastJ; j++) {
        if (phi0) {
          row[j] += phi0[j]
          if (row[j] > limitVal * (1 + 1e-12) + 1e-18) continue
        } else if (c.memoryNeed(i, j) === null) break // more layers never need less memory
        stats.edgesTried = (stats.edgesTried ?? 0) + 1
        const minLat = c.edgeMinLatency(i, j)
        if (minLat === Infinity) continue
        const ttg = bounds.timeToGo[j]
        let curve: EdgeCurve | null | undefined
        let haveW = false
        for (const l of kept) {
          const s1 = l.s + 1
          if (!stageAllowed(rule, s1, j, N)) continue
          const rem = budget - l.t
          if (minLat + ttg > rem + 1e-9) continue
          // Lagrangian bound one edge ahead: c + min_m[C + μ·lat] + Φ̂_μ(j) − μ·rem
          if (!haveW) {
            stats.edgeBounds = (stats.edgeBounds ?? 0) + 1
            for (let u = 0; u < U; u++) {
              const mu = bounds.stageMus[u]
              kj[u] = (u === 0 && phi0 ? row[j] : c.edgeLagrangian(i, j, mu) + bounds.stagePhi[u][j]) - mu * budget
            }
            haveW = true
          }
          let pruned = false
          const lim = cut()
          for (let u = 0; u < U && !pruned; u++) pruned = l.c + bounds.stageMus[u] * l.t + kj[u] >= lim
          if (pruned) continue
          const cgo = bounds.costToGo(j, rem - minLat)
          if (curve === undefined) {
            curve = c.edge(i, j)
            stats.edgeCurves++
          }
          if (curve === null) break
          if (outOfBudget()) break
          stats.extensions++
          const latCap = rem - bounds.timeToGo[j] + 1e-9
          const e = curve
          const stop = (m: number): boolean => {
            if (l.c + e.lowerCostFrom(m) + cgo >= cut()) return true
            for (let u = 0; u < U; u++) {
              const mu = bounds.stageMus[u]
              if (l.c + e.lagrangianFrom(m, mu) + bounds.stagePhi[u][j] - mu * rem >= cut()) return true
            }
            return false
          }
          let skipBelow = 0
          for (let u = 0; u < U; u++) {
            const mu = bounds.stageMus[u]
            const thr = cut() - l.c - bounds.stagePhi[u][j] + mu * rem
            skipBelow = Math.max(skipBelow, e.lagrangianWindowStart(e.mLo!, mu, thr))
          }
          if (skipBelow === Infinity) continue
          stats.candidates += e.enumerate(
            latCap,
            stop,
            (memoryMb, lat, cost) => {
              const nt = l.t + lat
              const nc = l.c + cost
              if (nt > budget + 1e-9) return
              if (j === N) {
                if (nc < cut()) {
                  UB = nc
                  incumbent = null
                  bestLabel = {t: nt, c: nc, s: s1, node: j, memoryMb, lat, cost, prev: l}
                }
              } else if (nc + bounds.costToGo(j, budget - nt) < cut()) {
                const at = labels[j]
                at.push({t: nt, c: nc, s: s1, node: j, memoryMb, lat, cost, prev: l})
                work++
                stored++
                if (at.length >= compactAt[j]) {
                  const compacted = prune(at, j)
                  stored -= at.length - compacted.length
                  labels[j] = compacted
                  compactAt[j] = Math.max(1024, 2 * compacted.length)
                }
              }
            },
            skipBelow,
          )
        }
        if (aborted || gaveUp) break
      }
    }

    return aborted
  }

  // Escalation: with a cheap or reused bound (level 0), give up after a few labels per node and
  // redo with this problem's own stage-level bound (Bounds.upgrade), which runs without a limit.
  for (;;) {
    const workLimit = bounds.level === 0 ? 4 * (N + 1) + 2000 : Infinity
    if (!runDp(workLimit) || gaveUp) break
    upgrade()
    tighten()
  }

  stats.boundsMs = bounds.buildMs + (stats.tightenMs ?? 0)
  stats.rootLowerBound = bounds.rootLowerBound(budget)
  let stages: SolvedStage[]
  const found = bestLabel as Label | null
  if (found) {
    stages = []
    for (let l: Label | null = found; l && l.prev; l = l.prev) {
      const r = c.range(l.prev.node, l.node)
      stages.push({from: l.prev.node, to: l.node, first: r.first, last: r.last, memoryMb: l.memoryMb, latencyMs: l.lat, costUsd: l.cost})
    }
    stages.reverse()
  } else if (incumbent) {
    stages = (incumbent as {stages: SolvedStage[]}).stages
  } else if (gaveUp) {
    return {...infeasible(t0, stats), optimal: false, status: 'time-limit'}
  } else if (capped) {
    // every chain meeting the budget costs at least the cap (or none meets it: ≥ the cap too)
    return {...infeasible(t0, stats), status: 'above-cap', bound: Math.max(cap!, bounds.costToGo(0, budget))}
  } else {
    return infeasible(t0, stats)
  }
  const costUsd = stages.reduce((s, st) => s + st.costUsd, 0)
  const bound = gaveUp ? Math.min(costUsd, Math.max(0, bounds.costToGo(0, budget))) : costUsd
  return {
    feasible: true,
    costUsd,
    latencyMs: stages.reduce((s, st) => s + st.latencyMs, 0),
    stages,
    method: 'fast',
    optimal: !gaveUp,
    solveMs: now() - t0,
    bound,
    gap: (costUsd - bound) / costUsd,
    status: gaveUp ? 'time-limit' : 'optimal',
    stats,
  }
}
