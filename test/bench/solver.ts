/**
 * Solve-time bench for the planner: the inner problem (fixed arch, batch size and timeout: a
 * resource-constrained shortest path over every cut point with 1-MB memories) on generated chains
 * of 100, 1,000 and 5,000 layers and on real models (MobileNetV2 and InceptionV3 through the bench's
 * profiles, or any profile.json given on the command line), with both solvers, whether they agree,
 * and the whole `planFromProfile` search (architectures × batch sizes × timeouts) on top.
 *
 * Timing goals (not asserted anywhere): fast path ≤ 1 s on 1,000 layers, ≤ 100 ms on InceptionV3.
 * The MILP gets a time limit and a limit on building its model; when it stops early the row says
 * so (status time-limit / too-large) instead of a time.
 *
 *   node dist/test/bench/solver.js [--quick] [profile.json …]
 *
 * Timings taken on a busy machine are not final.
 */
import {readFileSync} from 'node:fs'
import {pathToFileURL} from 'node:url'

import {batchSizeDistribution} from '../../src/cost/batching.js'
import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, batchSupport} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import type {Profile} from '../../src/profile/types.js'
import {fastestChain, solveFast} from '../../solver/fast.js'
import {solveMilp} from '../../solver/milp.js'
import {syntheticProfile} from '../../solver/synthetic.js'
import type {InnerSolution} from '../../solver/types.js'

export interface SolverBenchRow {
  model: string
  layers: number
  cutPoints: number
  /** 'inner': one (arch, B, T) problem; 'plan': the whole planFromProfile search */
  problem: 'inner' | 'plan'
  /** budget as a multiple of the fastest chain's latency (inner rows) */
  budgetFactor?: number
  solver: 'fast' | 'milp'
  solveMs: number | null
  status: string
  optimal: boolean
  stages: number | null
  costPerBatchUsd: number | null
  /** both solvers finished and found the same cost (inner rows; null when the MILP did not finish) */
  agree: boolean | null
  detail: string
}

export interface SolverBenchOptions {
  quick?: boolean
  log?: (line: string) => void
  /** generated chain sizes (default 100, 1,000, 5,000; quick: 100, 1,000) */
  sizes?: number[]
  /** extra profiles (path or object) */
  profiles?: (string | Profile)[]
  /** include MobileNetV2 / InceptionV3 through test/bench/profiles.ts (default true) */
  realModels?: boolean
  milpTimeLimitMs?: number
}

const now = (): number => globalThis.performance.now()

function innerProblem(profile: Profile, budgetFactor: number): {costs: CompiledCosts; budgetMs: number; maxStages: number} | null {
  const model = new CostModel(profile, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE})
  const B = 4
  const dist = batchSupport(batchSizeDistribution({ratePerSecond: 50, maxBatch: B, timeoutMs: 30}))
  const costs = new CompiledCosts(model, B, dist)
  const maxStages = 8
  const fastest = fastestChain(costs, maxStages)
  if (!fastest) return null
  return {costs, budgetMs: fastest.latencyMs * budgetFactor, maxStages}
}

function row(profile: Profile, problem: 'inner' | 'plan', solver: 'fast' | 'milp', s: InnerSolution | null, ms: number | null, extra: Partial<SolverBenchRow>): SolverBenchRow {
  return {
    model: profile.model.name,
    layers: profile.layers.length,
    cutPoints: profile.cuts.length,
    problem,
    solver,
    solveMs: ms === null ? null : Math.round(ms * 10) / 10,
    status: s?.status ?? (s?.feasible ? 'optimal' : 'infeasible'),
    optimal: Boolean(s?.optimal),
    stages: s?.feasible ? s.stages.length : null,
    costPerBatchUsd: s?.feasible ? s.costUsd : null,
    agree: null,
    detail: '',
    ...extra,
  }
}

async function realProfiles(quick: boolean, log: (l: string) => void): Promise<Profile[]> {
  try {
    const mod = (await import('./profiles.js')) as {benchProfile?: (m: 'mobilenet_v2' | 'inception_v3', q: boolean) => Promise<Profile>}
    if (!mod.benchProfile) return []
    const out: Profile[] = []
    for (const m of ['mobilenet_v2', 'inception_v3'] as const) {
      try {
        log(`solver bench: profiling ${m} (bench cache)…`)
        out.push(await mod.benchProfile(m, quick))
      } catch (error) {
        log(`solver bench: no ${m} profile (${(error as Error).message})`)
      }
    }
    return out
  } catch {
    return []
  }
}

/** Run the bench; returns one row per (model, problem, solver). */
export async function runSolverBench(options: SolverBenchOptions = {}): Promise<{rows: SolverBenchRow[]; notes: string[]}> {
  const quick = options.quick ?? false
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'))
  const sizes = options.sizes ?? (quick ? [100, 1000] : [100, 1000, 5000])
  const milpLimit = options.milpTimeLimitMs ?? (quick ? 10_000 : 60_000)
  const profiles: Profile[] = sizes.map((n) => syntheticProfile({layers: n, seed: 42, topology: 'chain', meanLayerMs: 1, meanWeightBytes: 300_000, name: `chain-${n}`}))
  if (options.realModels !== false) profiles.push(...(await realProfiles(quick, log)))
  for (const p of options.profiles ?? []) profiles.push(typeof p === 'string' ? (JSON.parse(readFileSync(p, 'utf8')) as Profile) : p)

  const rows: SolverBenchRow[] = []
  const notes: string[] = [
    'inner problem: x86_64, B = 4, T = 30 ms at 50 req/s, ≤ 8 stages, budget = factor × the fastest chain; every cut point, memories at 1 MB',
    `MILP: javascript-lp-solver, ${milpLimit / 1000} s branch-and-cut limit and the same limit on building the model; "time-limit"/"too-large" rows did not finish`,
  ]
  for (const profile of profiles) {
    for (const factor of [1.05, 1.5]) {
      const p = innerProblem(profile, factor)
      if (!p) {
        rows.push(row(profile, 'inner', 'fast', null, null, {budgetFactor: factor, status: 'no-chain', detail: 'no chain fits the Lambda limits'}))
        continue
      }
      let t = now()
      const fast = solveFast({...p, timeLimitMs: quick ? 30_000 : 120_000})
      const fastMs = now() - t
      log(`solver bench: ${profile.model.name} ×${factor} fast ${fastMs.toFixed(0)} ms (${fast.stages.length} stages, ${JSON.stringify(fast.stats)})`)
      rows.push(
        row(profile, 'inner', 'fast', fast, fastMs, {
          budgetFactor: factor,
          detail:
            `labels ${fast.stats.labels}, candidates ${fast.stats.candidates}, bounds ${Math.round(fast.stats.boundsMs ?? 0)} ms` +
            (fast.optimal ? '' : `, stopped at its limit: gap ≤ ${((fast.gap ?? 0) * 100).toFixed(3)} %`),
        }),
      )
      t = now()
      const milp = solveMilp({...p, timeLimitMs: milpLimit}, {buildTimeLimitMs: milpLimit, maxVariables: 20_000})
      const milpMs = now() - t
      const finished = milp.status === 'optimal' || milp.status === 'infeasible'
      const comparable = finished && fast.optimal
      const agree = comparable && fast.feasible === milp.feasible && (!fast.feasible || Math.abs(fast.costUsd - milp.costUsd) <= 1e-9 * fast.costUsd)
      log(`solver bench: ${profile.model.name} ×${factor} milp ${milpMs.toFixed(0)} ms ${milp.status} (${JSON.stringify(milp.stats)})`)
      rows.push(
        row(profile, 'inner', 'milp', milp, finished ? milpMs : null, {
          budgetFactor: factor,
          agree: comparable ? agree : null,
          detail: `${milp.stats.variables ?? 0} binaries over ${milp.stats.edges ?? 0} stages` + (finished ? '' : `, stopped after ${Math.round(milpMs)} ms`) + (milp.gap !== undefined && !milp.optimal ? `, gap ${(milp.gap * 100).toFixed(2)} %` : ''),
        }),
      )
      rows[rows.length - 2].agree = comparable ? agree : null
    }
      // the whole search the plan command runs (both architectures, B ≤ 32, timeouts)
    if (profile.layers.length <= (quick ? 1000 : 2000)) {
      const fastest = innerProblem(profile, 1)
      if (fastest) {
        const t = now()
        try {
          const plan = planFromProfile(profile, {sloMs: fastest.budgetMs * 1.5 + 100, ratePerSecond: 20, maxStages: 8})
          const ms = now() - t
          log(`solver bench: ${profile.model.name} plan ${ms.toFixed(0)} ms (${plan.solver.candidates} inner solves)`)
          rows.push({
            model: profile.model.name,
            layers: profile.layers.length,
            cutPoints: profile.cuts.length,
            problem: 'plan',
            solver: 'fast',
            solveMs: Math.round(ms),
            status: 'optimal',
            optimal: plan.solver.optimal,
            stages: plan.stages.length,
            costPerBatchUsd: null,
            agree: null,
            detail: `${plan.solver.candidates} inner solves, B=${plan.batch.size}, T=${plan.batch.timeoutMs} ms, ${plan.stages[0].arch}, search tolerance ${(plan.solver.searchTolerance ?? 0) * 100} %`,
          })
        } catch (error) {
          rows.push({...row(profile, 'plan', 'fast', null, now() - t, {}), status: 'error', detail: (error as Error).message})
        }
      }
    }
  }
  return {rows, notes}
}

function render(rows: SolverBenchRow[]): string {
  const header = ['model', 'layers', 'problem', 'budget', 'solver', 'ms', 'status', 'stages', 'agree', 'detail']
  const cells = rows.map((r) => [
    r.model,
    String(r.layers),
    r.problem,
    r.budgetFactor === undefined ? '' : `×${r.budgetFactor}`,
    r.solver,
    r.solveMs === null ? '—' : String(r.solveMs),
    r.status,
    r.stages === null ? '—' : String(r.stages),
    r.agree === null ? '—' : r.agree ? 'yes' : 'NO',
    r.detail,
  ])
  const w = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  return [header, ...cells].map((c) => c.map((x, i) => x.padEnd(w[i])).join('  ')).join('\n')
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2)
  const quick = args.includes('--quick')
  const files = args.filter((a) => !a.startsWith('--'))
  runSolverBench({quick, profiles: files, realModels: !args.includes('--synthetic-only')})
    .then(({rows, notes}) => {
      process.stdout.write(render(rows) + '\n')
      for (const n of notes) process.stdout.write(`note: ${n}\n`)
    })
    .catch((error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? error}\n`)
      process.exitCode = 1
    })
}
