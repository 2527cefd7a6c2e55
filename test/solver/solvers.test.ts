import {describe, expect, it} from 'vitest'

import {Bounds} from '../../solver/bounds.js'
import {solveFast} from '../../solver/fast.js'
import {solveMilp, tableauCells} from '../../solver/milp.js'
import type {InnerSolution} from '../../solver/types.js'
import {randomInstance} from './instances.js'
import {bruteForce} from './oracle.js'

const SEEDS = Array.from({length: 210}, (_, i) => i + 1)

function sameCost(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(a, b)
}

/** The solution is what it claims: a chain from the source to the sink, priced by the curves. */
function checkSolution(s: InnerSolution, inst: ReturnType<typeof randomInstance>): void {
  const {costs, budgetMs, maxStages, exactStages} = inst.problem
  const N = costs.nodes.length - 1
  expect(s.stages[0].from).toBe(0)
  expect(s.stages[s.stages.length - 1].to).toBe(N)
  for (let x = 1; x < s.stages.length; x++) expect(s.stages[x].from).toBe(s.stages[x - 1].to)
  if (exactStages !== undefined) expect(s.stages.length).toBe(exactStages)
  else expect(s.stages.length).toBeLessThanOrEqual(maxStages)
  let lat = 0
  let cost = 0
  for (const st of s.stages) {
    const e = costs.edge(st.from, st.to)!
    expect(st.memoryMb).toBeGreaterThanOrEqual(e.mLo!)
    expect((st.memoryMb - costs.model.memoryMinMb) % costs.model.memoryStepMb).toBe(0)
    lat += e.latency(st.memoryMb)
    cost += e.cost(st.memoryMb)
  }
  expect(lat).toBeLessThanOrEqual(budgetMs + 1e-9)
  expect(sameCost(cost, s.costUsd)).toBe(true)
}

describe('exact solvers against brute force', () => {
  let coldMilps = 0
  it.each(SEEDS)('instance seed %i: fast DP and MILP equal the brute-force optimum', (seed) => {
    const inst = randomInstance(seed)
    const oracle = bruteForce(inst.problem.costs, inst.problem.budgetMs, inst.problem.maxStages, inst.problem.exactStages)
    const fast = solveFast(inst.problem)
    expect(fast.feasible, inst.describe).toBe(oracle.feasible)
    expect(fast.optimal).toBe(true)
    // the MILP proves optimality on its own; the fast path's answer only prunes options that are strictly worse
    const warm = solveMilp({...inst.problem, timeLimitMs: 60_000}, {warmStart: fast})
    expect(warm.feasible, inst.describe).toBe(oracle.feasible)
    if (oracle.feasible) {
      expect(sameCost(fast.costUsd, oracle.costUsd), `${inst.describe}: fast ${fast.costUsd} vs ${oracle.costUsd}`).toBe(true)
      expect(sameCost(warm.costUsd, oracle.costUsd), `${inst.describe}: milp ${warm.costUsd} vs ${oracle.costUsd}`).toBe(true)
      expect(warm.optimal).toBe(true)
      expect(warm.gap).toBe(0)
      checkSolution(fast, inst)
      checkSolution(warm, inst)
    }
    // and without any hint, when the model is small enough for javascript-lp-solver
    const cold = solveMilp({...inst.problem, timeLimitMs: 60_000}, {maxVariables: 250})
    if (cold.status !== 'too-large') {
      coldMilps++
      expect(cold.feasible, inst.describe).toBe(oracle.feasible)
      if (oracle.feasible) expect(sameCost(cold.costUsd, oracle.costUsd), `${inst.describe}: cold milp ${cold.costUsd} vs ${oracle.costUsd}`).toBe(true)
    }
  })

  it('ran the MILP without a warm start on most instances', () => {
    expect(coldMilps).toBeGreaterThan(SEEDS.length / 2)
  })
})

describe('bounds', () => {
  it.each(SEEDS.slice(0, 40))('never exceed the true optimum (seed %i)', (seed) => {
    const inst = randomInstance(seed)
    const oracle = bruteForce(inst.problem.costs, inst.problem.budgetMs, inst.problem.maxStages, inst.problem.exactStages)
    if (!oracle.feasible) return
    const b = new Bounds(inst.problem.costs, inst.problem.budgetMs)
    b.upgrade()
    expect(b.timeToGo[0]).toBeLessThanOrEqual(oracle.latencyMs + 1e-9)
    expect(b.costToGo(0, inst.problem.budgetMs)).toBeLessThanOrEqual(oracle.costUsd * (1 + 1e-12))
  })
})

describe('fast path limits', () => {
  it('stops at its label budget with a feasible chain and a valid lower bound', async () => {
    const {syntheticProfile} = await import('../../solver/synthetic.js')
    const {CostModel} = await import('../../src/cost/model.js')
    const {CompiledCosts} = await import('../../src/cost/curve.js')
    const {DEFAULT_PRICE_TABLE} = await import('../../src/cost/prices.js')
    const {fastestChain} = await import('../../solver/fast.js')
    // 60 layers whose weights need at least three functions: many near-equal cuts
    const profile = syntheticProfile({layers: 60, seed: 77, meanWeightBytes: 12e6, meanLayerMs: 2})
    const costs = new CompiledCosts(new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE}), 1, {ks: [1], pi: [1]})
    const budgetMs = fastestChain(costs, 8)!.latencyMs * 1.2
    const full = solveFast({costs, budgetMs, maxStages: 8})
    expect(full.optimal).toBe(true)
    expect(full.stages.length).toBeGreaterThanOrEqual(3)
    const cut = solveFast({costs, budgetMs, maxStages: 8, maxLabels: 10})
    expect(cut.optimal).toBe(false)
    expect(cut.status).toBe('time-limit')
    expect(cut.feasible).toBe(true)
    expect(cut.latencyMs).toBeLessThanOrEqual(budgetMs + 1e-9)
    expect(cut.costUsd).toBeGreaterThanOrEqual(full.costUsd * (1 - 1e-12))
    expect(cut.bound!).toBeLessThanOrEqual(full.costUsd * (1 + 1e-12))
    expect(cut.gap!).toBeGreaterThanOrEqual(0)
  })
})

describe('MILP size limits', () => {
  // instances whose cold MILP (no warm start) is built and solved: the limits are checked on them
  const built = SEEDS.slice(0, 60)
    .map((seed) => ({seed, inst: randomInstance(seed)}))
    .map(({seed, inst}) => ({seed, inst, cold: solveMilp({...inst.problem, timeLimitMs: 60_000}, {maxVariables: 250})}))
    .filter(({cold}) => cold.status === 'optimal' && cold.stats.variables >= 2)

  it('has instances to check', () => {
    expect(built.length).toBeGreaterThan(10)
  })

  it('refuses a model one tableau cell over the limit and solves it at the limit', () => {
    for (const {inst, cold} of built) {
      const cells = tableauCells(cold.stats.variables, cold.stats.modelNodes)
      const refused = solveMilp({...inst.problem, timeLimitMs: 60_000}, {maxVariables: 250, maxTableauCells: cells - 1})
      expect(refused.status, inst.describe).toBe('too-large')
      expect(refused.feasible).toBe(false)
      expect(refused.optimal).toBe(false)
      expect(refused.reason).toMatch(/tableau/)
      const atLimit = solveMilp({...inst.problem, timeLimitMs: 60_000}, {maxVariables: 250, maxTableauCells: cells})
      expect(atLimit.status, inst.describe).toBe('optimal')
      expect(atLimit.costUsd).toBe(cold.costUsd)
    }
  })

  it('writes flow rows only for nodes some option touches', () => {
    for (const {inst, cold} of built) {
      const N = inst.problem.costs.nodes.length - 1
      expect(cold.stats.modelNodes).toBeLessThanOrEqual(N + 1)
      // latency + stages + one equality per touched node
      expect(cold.stats.constraints).toBe(cold.stats.modelNodes + 2)
    }
    expect(built.some(({inst, cold}) => cold.stats.modelNodes < inst.problem.costs.nodes.length)).toBe(true)
  })

  it('refuses cut graphs over maxNodes before building, and says so', () => {
    const {inst} = built[0]
    const nodes = inst.problem.costs.nodes.length
    const r = solveMilp(inst.problem, {maxNodes: nodes - 1})
    expect(r.status).toBe('too-large')
    expect(r.stats.variables).toBe(0)
    expect(r.reason).toContain(`${nodes} cut-graph nodes`)
    expect(solveMilp(inst.problem, {maxNodes: nodes}).status).toBe('optimal')
  })
})
