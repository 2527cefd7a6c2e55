/**
 * The inner placement problem for a fixed (architecture, batch size B, batch-size distribution):
 * a resource-constrained shortest path over cut points.
 *
 *   minimise   Σ_stages C_e(m_e)                (expected cost per batch, USD)
 *   subject to Σ_stages latency_e(m_e) ≤ budget (ms; billed ms at batch B + unbilled hops)
 *              #stages ≤ maxStages (or = exactStages), m_e on the memory grid, feasible.
 */
import type {CompiledCosts} from '../src/cost/curve.js'

export interface InnerProblem {
  costs: CompiledCosts
  /** latency budget for the chain (ms) */
  budgetMs: number
  maxStages: number
  /** when set, exactly this many stages */
  exactStages?: number
  /** cost of a known feasible solution (USD per batch): prunes the search (warm start) */
  upperBoundUsd?: number
  /**
   * fast path: only a solution cheaper than this matters (USD per batch), e.g. what the outer
   * search needs to beat its incumbent; when the optimum is not below it the answer is
   * status 'above-cap' (not feasible, proven: the optimum is ≥ `bound` ≥ the cap).
   * Unlike upperBoundUsd no solution need exist at the cap.
   */
  costCapUsd?: number
  /** time limit (ms): the MILP's branch and cut, or the fast path's label setting */
  timeLimitMs?: number
  /** fast path: stop after creating this many labels (memory guard; default 3,000,000) */
  maxLabels?: number
  /**
   * fast path: known chains (node indices from 0 to the sink), e.g. the optima of neighbouring
   * problems; they seed the choice of the bound's multiplier (any chains are valid, good ones save
   * O(n²) bound passes)
   */
  hintChains?: number[][]
}

export interface SolvedStage {
  /** node indices into costs.nodes */
  from: number
  to: number
  /** layer positions */
  first: number
  last: number
  memoryMb: number
  latencyMs: number
  costUsd: number
}

export interface InnerSolution {
  feasible: boolean
  /** expected cost per batch (USD) */
  costUsd: number
  /** Σ stage latencies (ms) */
  latencyMs: number
  stages: SolvedStage[]
  method: 'fast' | 'milp'
  /** proven optimal (false: MILP stopped at its time limit, or was too large to build) */
  optimal: boolean
  solveMs: number
  /** MILP: best lower bound on the cost (USD per batch) */
  bound?: number
  /** MILP: (cost − bound) / cost */
  gap?: number
  /** why the solver gave up, when it did */
  status?: 'optimal' | 'infeasible' | 'time-limit' | 'too-large' | 'above-cap'
  /** one line on why the solver stopped early (too-large / time-limit), when it did */
  reason?: string
  stats: Record<string, number>
}
