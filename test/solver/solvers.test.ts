import {describe, expect, it} from 'vitest'

import {Bounds} from '../../solver/bounds.js'
import {solveFast} from '../../solver/fast.js'
import {solveMilp, tableauCells} from '../../solver/milp.js'
import type {InnerSolution} from '../../solver/types.js'
import {randomInstance} from './instances.js'
import {bruteForce} from './oracle.js'

const SEEDS = Array.from({length: 210}, (_, i) => i + 1)

/** The brute-force path as a chain of node indices (it already is one: source 0 to sink N). */
function bruteForceChain(path: number[], N: number): number[] {
  expect(path[0]).toBe(0)
  expect(path[path.length - 1]).toBe(N)
  return path
}

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
  let tightened = 0
  it.each(SEEDS)('instance seed %i: fast DP and MILP equal the brute-force optimum', (seed) => {
    const inst = randomInstance(seed)
    const oracle = bruteForce(inst.problem.costs, inst.problem.budgetMs, inst.problem.maxStages, inst.problem.exactStages)
    const fast = solveFast(inst.problem)
    if (fast.stats.tightenPasses) tightened++
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

  it('tuned the bound multiplier (Bounds.tighten) on many instances', () => {
    expect(tightened).toBeGreaterThan(SEEDS.length / 4)
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

describe('bound multipliers (Bounds.tighten)', () => {
  it.each(SEEDS.slice(0, 80))('raise the root bound without passing the optimum (seed %i)', (seed) => {
    const inst = randomInstance(seed)
    const {costs, budgetMs} = inst.problem
    const oracle = bruteForce(costs, budgetMs, inst.problem.maxStages, inst.problem.exactStages)
    if (!oracle.feasible) return
    const b = new Bounds(costs, budgetMs)
    const before = b.rootLowerBound(budgetMs)
    const N = costs.nodes.length - 1
    const chains = [bruteForceChain(oracle.path, N)]
    b.tighten(budgetMs, oracle.costUsd, 4, 0.05, chains)
    const after = b.rootLowerBound(budgetMs)
    expect(after).toBeGreaterThanOrEqual(before)
    expect(after).toBeLessThanOrEqual(oracle.costUsd * (1 + 1e-12))
    expect(b.costToGo(0, budgetMs)).toBeLessThanOrEqual(oracle.costUsd * (1 + 1e-12))
    // the envelope of known chains is above the bound at every μ, in particular where it peaks
    const {mu, top} = b.envelopeArgmax(budgetMs, [...chains, b.chainOf(b.stageNext[0])!], b.stageMus[0])
    b.addStageMultiplier(mu)
    const u = b.stageMus.length - 1
    expect(b.stagePhi[u][0] - mu * budgetMs).toBeLessThanOrEqual(top + 1e-12 * Math.abs(top) + 1e-18)
  })

  it("close most of a tight budget's root gap on a long chain", async () => {
    const {syntheticProfile} = await import('../helpers/synthetic.js')
    const {CostModel} = await import('../../src/cost/model.js')
    const {CompiledCosts} = await import('../../src/cost/curve.js')
    const {DEFAULT_PRICE_TABLE} = await import('../../src/cost/prices.js')
    const {fastestChain} = await import('../../solver/fast.js')
    const profile = syntheticProfile({layers: 300, seed: 42, meanLayerMs: 1, meanWeightBytes: 300_000})
    const costs = new CompiledCosts(new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE}), 1, {ks: [1], pi: [1]})
    const budgetMs = fastestChain(costs, 8)!.latencyMs * 1.05
    const opt = solveFast({costs, budgetMs, maxStages: 8})
    expect(opt.optimal).toBe(true)
    const b = new Bounds(costs, budgetMs)
    const gapBefore = opt.costUsd - b.rootLowerBound(budgetMs)
    expect(gapBefore).toBeGreaterThan(0)
    b.tighten(budgetMs, opt.costUsd)
    const gapAfter = opt.costUsd - b.rootLowerBound(budgetMs)
    expect(gapAfter).toBeGreaterThanOrEqual(0)
    expect(gapAfter).toBeLessThan(gapBefore / 2)
  })
})

describe('fast path seeds and escalation', () => {
  it.each(SEEDS.slice(0, 60))('hint chains and a cheap starting bound leave the optimum unchanged (seed %i)', (seed) => {
    const inst = randomInstance(seed)
    const {costs, budgetMs} = inst.problem
    const N = costs.nodes.length - 1
    const oracle = bruteForce(costs, budgetMs, inst.problem.maxStages, inst.problem.exactStages)
    // valid chains, one of them the single stage, plus one that does not end at the sink (ignored)
    const hintChains = [[0, N], Array.from({length: N + 1}, (_, v) => v), [0, Math.max(1, N - 1)]]
    const hinted = solveFast({...inst.problem, hintChains})
    const cheap = solveFast(inst.problem, new Bounds(costs, budgetMs, undefined, {stageLevel: false}))
    for (const s of [hinted, cheap]) {
      expect(s.feasible, inst.describe).toBe(oracle.feasible)
      expect(s.optimal).toBe(true)
      if (oracle.feasible) expect(sameCost(s.costUsd, oracle.costUsd), `${inst.describe}: ${s.costUsd} vs ${oracle.costUsd}`).toBe(true)
    }
  })
})

describe('fast path limits', () => {
  it('stops at its label budget with a feasible chain and a valid lower bound', async () => {
    const {syntheticProfile} = await import('../helpers/synthetic.js')
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
