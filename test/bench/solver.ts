/**
 * Solve-time bench for the planner: the inner problem (fixed arch, batch size and timeout: a
 * resource-constrained shortest path over every cut point with 1-MB memories) on generated chains
 * of 100, 1,000 and 5,000 layers and on real models (MobileNetV2 and InceptionV3 through the bench's
 * profiles, or any profile.json given on the command line), with both solvers, whether they agree,
 * and the whole outer search planFromProfile runs (solver/search.ts searchPlan: architectures × batch
 * sizes × timeouts) on top.
 *
 * Timing goals (not asserted anywhere): fast path ≤ 1 s on 1,000 layers, ≤ 100 ms on InceptionV3.
 * Every piece has a limit and stops with an honest status instead of eating the run: the MILP a
 * branch-and-cut and a model-building limit and a size limit (status time-limit / too-large, no
 * time), the fast path a time limit (status time-limit: the best chain found and its gap to the
 * root bound), the outer search a time limit (the best plan found, the gap to its lower bound).
 * Rows are handed to `onEvent` as soon as they are ready, so a caller that kills the run keeps them.
 *
 *   node dist-test/test/bench/solver.js [--quick] [profile.json …]
 *
 * Timings taken on a busy machine are not final.
 */
import {readFileSync} from 'node:fs'
import {pathToFileURL} from 'node:url'

import {batchSizeDistribution} from '../../src/cost/batching.js'
import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, batchSupport} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import type {Profile} from '../../src/profile/types.js'
import {fastestChain, solveFast} from '../../solver/fast.js'
import {solveMilp} from '../../solver/milp.js'
import {searchPlan} from '../../solver/search.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import type {InnerSolution} from '../../solver/types.js'

export interface SolverBenchRow {
  model: string
  layers: number
  cutPoints: number
  /** 'inner': one (arch, B, T) problem; 'plan': the whole outer search (what planFromProfile runs) */
  problem: 'inner' | 'plan'
  /** budget as a multiple of the fastest chain's latency (inner rows) */
  budgetFactor?: number
  solver: 'fast' | 'milp'
  /** wall-clock ms of a solve that finished (proved its answer or stopped at its time limit with one); null when it gave up or was not run */
  solveMs: number | null
  status: string
  optimal: boolean
  stages: number | null
  costPerBatchUsd: number | null
  /** (cost − lower bound) / cost in %, when the solve stopped without a proof */
  gapPct?: number | null
  /** both solvers finished and found the same cost (inner rows; null when the MILP did not finish) */
  agree: boolean | null
  detail: string
}

/** A row's stable key within one run: a later row with the same id replaces an earlier one. */
export function rowId(r: Pick<SolverBenchRow, 'model' | 'problem' | 'solver' | 'budgetFactor'>): string {
  return `${r.model}/${r.problem}/${r.solver}${r.budgetFactor === undefined ? '' : `/${r.budgetFactor}`}`
}

/** Progress of a run: a piece started (its row's identity), or a row is ready (possibly updating an earlier one). */
export type SolverBenchEvent =
  | {event: 'start'; id: string; row: Pick<SolverBenchRow, 'model' | 'layers' | 'cutPoints' | 'problem' | 'solver' | 'budgetFactor'>}
  | {event: 'row'; id: string; row: SolverBenchRow}

export interface SolverBenchOptions {
  quick?: boolean
  log?: (line: string) => void
  /** generated chain sizes (default 100, 1,000, 5,000; quick: 100, 1,000) */
  sizes?: number[]
  /** extra profiles (path or object) */
  profiles?: (string | Profile)[]
  /** include MobileNetV2 / InceptionV3 through test/bench/profiles.ts (default true) */
  realModels?: boolean
  /** MILP branch-and-cut limit per solve, also its model-building limit (default 60 s; quick 10 s) */
  milpTimeLimitMs?: number
  /** fast-path limit per inner solve (default 15 s; quick 5 s): past it the row reports the best chain and its gap */
  fastTimeLimitMs?: number
  /** limit of the whole outer search per model (default 60 s; quick 20 s) */
  planTimeLimitMs?: number
  /** the outer search runs on models of at most this many layers (default 2,000; quick 1,000); larger ones get a 'too-large' row */
  planMaxLayers?: number
  /** wall-clock budget of the whole run (ms): every piece gets at most what is left */
  budgetMs?: number
  /** each piece as it starts, and each row as soon as it is ready (rows are also returned at the end) */
  onEvent?: (e: SolverBenchEvent) => void
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

const pct = (gap: number | undefined): number | null => (gap === undefined || !Number.isFinite(gap) ? null : Math.round(gap * 1e5) / 1e3)

function row(
  profile: Profile,
  problem: 'inner' | 'plan',
  solver: 'fast' | 'milp',
  s: InnerSolution | null,
  ms: number | null,
  extra: Partial<SolverBenchRow>,
): SolverBenchRow {
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
    ...(s && !s.optimal && s.feasible ? {gapPct: pct(s.gap)} : {}),
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

/** Run the bench; returns one row per (model, problem, solver[, budget]). */
export async function runSolverBench(options: SolverBenchOptions = {}): Promise<{rows: SolverBenchRow[]; notes: string[]}> {
  const t0 = now()
  const quick = options.quick ?? false
  const log = options.log ?? ((l: string) => process.stderr.write(l + '\n'))
  const sizes = options.sizes ?? (quick ? [100, 1000] : [100, 1000, 5000])
  const milpLimit = options.milpTimeLimitMs ?? (quick ? 10_000 : 60_000)
  const fastLimit = options.fastTimeLimitMs ?? (quick ? 5000 : 15_000)
  const planLimit = options.planTimeLimitMs ?? (quick ? 20_000 : 60_000)
  const planMaxLayers = options.planMaxLayers ?? (quick ? 1000 : 2000)
  const deadline = options.budgetMs !== undefined ? t0 + options.budgetMs : Infinity
  /** ms a piece may take: its own limit, capped by what is left of the run's budget */
  const allowance = (limit: number): number => Math.max(0, Math.min(limit, deadline - now()))
  const profiles: Profile[] = sizes.map((n) =>
    syntheticProfile({layers: n, seed: 42, topology: 'chain', meanLayerMs: 1, meanWeightBytes: 300_000, name: `chain-${n}`}),
  )
  if (options.realModels !== false) profiles.push(...(await realProfiles(quick, log)))
  for (const p of options.profiles ?? []) profiles.push(typeof p === 'string' ? (JSON.parse(readFileSync(p, 'utf8')) as Profile) : p)

  const rows: SolverBenchRow[] = []
  const byId = new Map<string, number>()
  const emit = (r: SolverBenchRow): void => {
    const id = rowId(r)
    const at = byId.get(id)
    if (at === undefined) {
      byId.set(id, rows.length)
      rows.push(r)
    } else rows[at] = r
    options.onEvent?.({event: 'row', id, row: r})
  }
  const start = (profile: Profile, problem: 'inner' | 'plan', solver: 'fast' | 'milp', budgetFactor?: number): void => {
    const r = {
      model: profile.model.name,
      layers: profile.layers.length,
      cutPoints: profile.cuts.length,
      problem,
      solver,
      ...(budgetFactor === undefined ? {} : {budgetFactor}),
    }
    options.onEvent?.({event: 'start', id: rowId(r), row: r})
  }
  const notRun = (profile: Profile, problem: 'inner' | 'plan', solver: 'fast' | 'milp', budgetFactor: number | undefined, detail: string): void =>
    emit(row(profile, problem, solver, null, null, {...(budgetFactor === undefined ? {} : {budgetFactor}), status: 'not run', detail}))
  const outOfTime = "the run's time budget was used up"

  const notes: string[] = [
    'inner problem: x86_64, B = 4, T = 30 ms at 50 req/s, ≤ 8 stages, budget = factor × the fastest chain; every cut point, memories at 1 MB',
    `MILP: javascript-lp-solver, ${milpLimit / 1000} s branch-and-cut limit and the same limit on building the model; models over 20M dense-tableau cells or 2,000 cut-graph nodes are refused ("too-large"); "time-limit"/"too-large" rows did not finish`,
    `fast path: ${fastLimit / 1000} s limit per inner solve; past it the row gives the best chain found and its gap to the root lower bound`,
    `plan: the outer search planFromProfile runs (both architectures, B ≤ 32, timeouts; SLO 1.5 × the fastest chain + 100 ms, 20 req/s, p99), ${planLimit / 1000} s limit; models over ${planMaxLayers} layers are not searched`,
  ]
  for (const profile of profiles) {
    for (const factor of [1.05, 1.5]) {
      if (deadline - now() <= 0) {
        notRun(profile, 'inner', 'fast', factor, outOfTime)
        notRun(profile, 'inner', 'milp', factor, outOfTime)
        continue
      }
      start(profile, 'inner', 'fast', factor)
      const p = innerProblem(profile, factor)
      if (!p) {
        emit(row(profile, 'inner', 'fast', null, null, {budgetFactor: factor, status: 'no-chain', detail: 'no chain fits the Lambda limits'}))
        continue
      }
      const fastAllowance = allowance(fastLimit)
      let t = now()
      const fast = solveFast({...p, timeLimitMs: fastAllowance})
      const fastMs = now() - t
      log(
        `solver bench: ${profile.model.name} ×${factor} fast ${fastMs.toFixed(0)} ms ${fast.status} (${fast.stages.length} stages, ${JSON.stringify(fast.stats)})`,
      )
      const fastRow = row(profile, 'inner', 'fast', fast, fastMs, {
        budgetFactor: factor,
        detail:
          `labels ${fast.stats.labels}, candidates ${fast.stats.candidates}, bounds ${Math.round(fast.stats.boundsMs ?? 0)} ms` +
          (fast.stats.tightenPasses ? ` (${fast.stats.tightenPasses} multiplier passes)` : '') +
          (fast.optimal
            ? ''
            : `; stopped at its ${(fastAllowance / 1000).toFixed(1)} s limit with the best chain found, ≤ ${((fast.gap ?? 0) * 100).toFixed(3)} % above the root lower bound`),
      })
      emit(fastRow)
      if (deadline - now() <= 0) {
        notRun(profile, 'inner', 'milp', factor, outOfTime)
        continue
      }
      start(profile, 'inner', 'milp', factor)
      t = now()
      const milpAllowance = Math.max(1, allowance(milpLimit))
      const milp = solveMilp({...p, timeLimitMs: milpAllowance}, {buildTimeLimitMs: milpAllowance})
      const milpMs = now() - t
      const finished = milp.status === 'optimal' || milp.status === 'infeasible'
      const comparable = finished && fast.optimal
      const agree = comparable && fast.feasible === milp.feasible && (!fast.feasible || Math.abs(fast.costUsd - milp.costUsd) <= 1e-9 * fast.costUsd)
      log(
        `solver bench: ${profile.model.name} ×${factor} milp ${milpMs.toFixed(0)} ms ${milp.status}${milp.reason ? ` (${milp.reason})` : ''} (${JSON.stringify(milp.stats)})`,
      )
      emit(
        row(profile, 'inner', 'milp', milp, finished ? milpMs : null, {
          budgetFactor: factor,
          agree: comparable ? agree : null,
          detail:
            [milp.stats.variables ? `${milp.stats.variables} binaries over ${milp.stats.edges ?? 0} stages` : '', milp.reason ?? '']
              .filter(Boolean)
              .join('; ') +
            (finished ? '' : `; stopped after ${Math.round(milpMs)} ms`) +
            (milp.gap !== undefined && !milp.optimal ? `, gap ${(milp.gap * 100).toFixed(2)} %` : ''),
        }),
      )
      emit({...fastRow, agree: comparable ? agree : null})
    }
    // the whole search the plan command runs (both architectures, B ≤ 32, timeouts)
    if (profile.layers.length > planMaxLayers) {
      emit(
        row(profile, 'plan', 'fast', null, null, {
          status: 'too-large',
          detail: `not searched: ${profile.layers.length} layers > ${planMaxLayers} (its inner solves alone stop at their time limit here)`,
        }),
      )
      continue
    }
    if (deadline - now() <= 0) {
      notRun(profile, 'plan', 'fast', undefined, outOfTime)
      continue
    }
    start(profile, 'plan', 'fast')
    const fastest = innerProblem(profile, 1)
    if (!fastest) continue
    const t = now()
    const limit = allowance(planLimit)
    try {
      const r = searchPlan({
        profile,
        prices: DEFAULT_PRICE_TABLE,
        sloMs: fastest.budgetMs * 1.5 + 100,
        percentile: 99,
        ratePerSecond: 20,
        arch: 'auto',
        maxBatch: 32,
        maxStages: 8,
        solver: 'auto',
        timeLimitMs: limit,
      })
      const ms = now() - t
      const best = r.best
      log(
        `solver bench: ${profile.model.name} plan ${ms.toFixed(0)} ms ${r.stopped ?? 'done'} (${r.innerSolves} inner solves, ${r.boundPasses} bound passes, gap ${((r.gap ?? 0) * 100).toFixed(3)} %)`,
      )
      emit({
        model: profile.model.name,
        layers: profile.layers.length,
        cutPoints: profile.cuts.length,
        problem: 'plan',
        solver: 'fast',
        solveMs: Math.round(ms),
        status: r.stopped ?? (!best ? 'infeasible' : r.allOptimal ? 'optimal' : 'time-limit'),
        optimal: !r.stopped && r.allOptimal && best !== null,
        stages: best ? best.inner.stages.length : null,
        costPerBatchUsd: null,
        ...(r.stopped || !r.allOptimal ? {gapPct: pct(r.gap)} : {}),
        agree: null,
        detail:
          `${r.innerSolves} inner solves, ${r.boundPasses} bound passes` +
          (best ? `, B=${best.batchSize}, T=${best.timeoutMs} ms, ${best.arch}` : ', no plan') +
          `, search tolerance ${r.tolerance * 100} %` +
          (r.stopped ? `; stopped at its ${Math.round(limit / 100) / 10} s limit with the best plan found` : ''),
      })
    } catch (error) {
      emit({...row(profile, 'plan', 'fast', null, now() - t, {}), status: 'error', detail: (error as Error).message})
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
