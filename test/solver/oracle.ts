/**
 * Brute-force oracle for the inner problem, written from the definitions only: every chain of
 * cuts, every memory of the grid for every stage, stage latency and cost from the definitional
 * CostModel methods (layer-by-layer sums, no prefix sums, no segment algebra, no cell lemma), then
 * an exhaustive combination of the stages' (latency, cost) lists. Only for small instances.
 */
import type {CompiledCosts} from '../../src/cost/curve.js'
import {billedMs} from '../../src/cost/model.js'

export interface OracleResult {
  feasible: boolean
  costUsd: number
  latencyMs: number
  /** node indices of the best chain and its memories */
  path: number[]
  memories: number[]
}

interface Opt {
  lat: number
  cost: number
  m: number
}

/** Every grid memory's (latency, cost) for stage (i, j), or [] when it cannot run. */
function stageOptions(c: CompiledCosts, i: number, j: number): Opt[] {
  const model = c.model
  const r = c.range(i, j)
  if (!model.packageFits(r)) return []
  const need = model.requiredMemoryMb(r, c.B)
  const rt = model.profile.runtime
  const dist = {ks: c.ks, pi: c.pi}
  const out: Opt[] = []
  for (let m = model.memoryMinMb; m <= model.memoryMaxMb; m += model.memoryStepMb) {
    if (m < need) continue
    const handler = model.handlerMs(r, m, c.B, c.B)
    if (handler > model.prices.limits.timeoutS.value * 1000) continue
    const init = (rt.runtimeInitMs + (rt.loadMsPerWeightMb * model.weightsBytes(r)) / 1048576) * Math.max(1, 1769 / m) * model.env.timeFactor
    if (init > model.prices.limits.initMaxS.value * 1000) continue
    const lat = billedMs(handler, model.granularityMs) + model.unbilledMs(r, c.B, c.B)
    out.push({lat, cost: model.expectedCostUsd(r, m, dist, c.B), m})
  }
  return out
}

export function bruteForce(c: CompiledCosts, budgetMs: number, maxStages: number, exactStages?: number): OracleResult {
  const N = c.nodes.length - 1
  const cache = new Map<string, Opt[]>()
  const opts = (i: number, j: number): Opt[] => {
    const key = `${i},${j}`
    let o = cache.get(key)
    if (!o) cache.set(key, (o = stageOptions(c, i, j)))
    return o
  }
  let best: OracleResult = {feasible: false, costUsd: Infinity, latencyMs: Infinity, path: [], memories: []}
  // every subset of interior nodes
  for (let mask = 0; mask < 1 << (N - 1); mask++) {
    const path = [0]
    for (let x = 1; x < N; x++) if (mask & (1 << (x - 1))) path.push(x)
    path.push(N)
    const stages = path.length - 1
    if (exactStages !== undefined ? stages !== exactStages : stages > maxStages) continue
    const lists = path.slice(1).map((j, x) => opts(path[x], j))
    if (lists.some((l) => l.length === 0)) continue
    // exhaustive over memory combinations, cheapest first, pruned only by "over budget" and
    // "cannot beat the best so far even with the cheapest options for the remaining stages"
    const choice: number[] = []
    let minRest: number[] = []
    let minLatRest: number[] = []
    const rec = (x: number, lat: number, cost: number): void => {
      if (lat + minLatRest[x] > budgetMs + 1e-9 || cost + minRest[x] >= best.costUsd) return
      if (x === lists.length) {
        best = {feasible: true, costUsd: cost, latencyMs: lat, path: [...path], memories: choice.map((k, y) => lists[y][k].m)}
        return
      }
      const list = lists[x]
      for (let k = 0; k < list.length; k++) {
        choice[x] = k
        rec(x + 1, lat + list[k].lat, cost + list[k].cost)
      }
    }
    // dominated options can be dropped without losing the optimum only if strictly dominated by
    // the same stage's options: keep the oracle literal and only drop exact duplicates
    for (let x = 0; x < lists.length; x++) lists[x] = dedupe(lists[x]).sort((a, b) => a.cost - b.cost)
    minRest = new Array<number>(lists.length + 1).fill(0)
    minLatRest = new Array<number>(lists.length + 1).fill(0)
    for (let x = lists.length - 1; x >= 0; x--) {
      minRest[x] = minRest[x + 1] + Math.min(...lists[x].map((o) => o.cost))
      minLatRest[x] = minLatRest[x + 1] + Math.min(...lists[x].map((o) => o.lat))
    }
    rec(0, 0, 0)
  }
  return best
}

/** Drop options with both latency ≥ and cost ≥ another option of the same stage (exact dominance). */
function dedupe(list: Opt[]): Opt[] {
  const sorted = [...list].sort((a, b) => a.lat - b.lat || a.cost - b.cost)
  const out: Opt[] = []
  let minCost = Infinity
  for (const o of sorted) {
    if (o.cost < minCost) {
      out.push(o)
      minCost = o.cost
    }
  }
  return out
}
