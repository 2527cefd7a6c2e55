/**
 * Section 1, solver time: runs the planner's own bench (test/bench/solver.ts `runSolverBench`,
 * owned by the planner) — solve ms for MobileNetV2, InceptionV3 and generated chains of
 * 100/1,000/5,000 layers with both solvers, whether they agree, and the whole planFromProfile
 * search — and records what it returns.
 *
 * Each workload runs in a child process with a deadline (the whole section gets SECTION_BUDGET_S;
 * a job's deadline keeps back a reserve for the jobs after it). The bench's own pieces have limits
 * (MILP, fast path, outer search) and its own budget, so they stop themselves with an honest status;
 * the deadline is the backstop. The child streams its rows as they finish, so a job stopped at its
 * deadline keeps them and reports the piece it was in as 'did not finish'. The real models'
 * profiles are the bench's own (profiles.ts, measured once per run), handed to the child as files.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {benchDir, log, round, type BenchOptions} from './common.js'
import {benchProfile} from './profiles.js'

export interface SolverData {
  available: boolean
  reason?: string
  entry?: string
  milpTimeLimitMs?: number
  fastTimeLimitMs?: number
  planTimeLimitMs?: number
  budgetS?: number
  /** per workload: wall-clock seconds, how it ended, and how many rows it delivered */
  jobs?: {label: string; seconds: number; status: 'done' | 'timed-out' | 'failed'; error?: string; rows?: number; budgetS?: number}[]
  rows: Record<string, unknown>[]
}

/** MILP limit per solve handed to the planner's bench (it defaults to 60 s; 10+ solves must fit the budget). */
export const MILP_LIMIT_MS = {full: 20_000, quick: 5_000}
/** Fast-path limit per inner solve (only the 5,000-layer chain reaches it). */
export const FAST_LIMIT_MS = {full: 15_000, quick: 5_000}
/** Limit of the whole outer search per model. */
export const PLAN_LIMIT_MS = {full: 60_000, quick: 20_000}
/** Wall-clock budget of the whole section. */
export const SECTION_BUDGET_S = {full: 240, quick: 120}

const here = dirname(fileURLToPath(import.meta.url))

export interface Job {
  label: string
  sizes: number[]
  profiles: string[]
  /** seconds kept back for this job while the ones before it run (their deadline leaves it room) */
  reserveS: number
}

export interface JobResult {
  status: 'done' | 'timed-out' | 'failed'
  rows: Record<string, unknown>[]
  notes: string[]
  error?: string
}

/**
 * One workload in a child process. The child streams one JSON line per event (a piece started, a
 * row is ready: solver.ts SolverBenchEvent) and its notes at the end, so rows that finished survive
 * the child being stopped at its deadline; the piece it was in gets a 'did not finish' row.
 */
export function runJob(entry: string, job: Job, quick: boolean, limits: {milp: number; fast: number; plan: number}, deadlineMs: number): Promise<JobResult> {
  // the bench's own budget ends a little before the hard deadline, so its pieces stop themselves
  const softBudgetMs = Math.max(1000, deadlineMs - 3000)
  const code = [
    `const m = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    'const out = (o) => process.stdout.write(JSON.stringify(o) + "\\n");',
    `const r = await m.runSolverBench({quick: ${quick}, sizes: ${JSON.stringify(job.sizes)}, profiles: ${JSON.stringify(job.profiles)}, realModels: false, milpTimeLimitMs: ${limits.milp}, fastTimeLimitMs: ${limits.fast}, planTimeLimitMs: ${limits.plan}, budgetMs: ${softBudgetMs}, onEvent: out, log: (l) => process.stderr.write(l + '\\n')});`,
    'out({event: "notes", notes: r.notes});',
  ].join('\n')
  return new Promise((resolveJob) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {stdio: ['ignore', 'pipe', 'pipe'], env: process.env})
    let pending = ''
    let err = ''
    let timedOut = false
    const rows = new Map<string, Record<string, unknown>>()
    const started = new Map<string, {row: Record<string, unknown>; at: number}>()
    let notes: string[] = []
    let unreadable = 0
    const take = (line: string): void => {
      if (!line.trim()) return
      try {
        const e = JSON.parse(line) as {event: string; id?: string; row?: Record<string, unknown>; notes?: string[]}
        if (e.event === 'start' && e.id && e.row) started.set(e.id, {row: e.row, at: Date.now()})
        else if (e.event === 'row' && e.id && e.row) rows.set(e.id, e.row)
        else if (e.event === 'notes' && Array.isArray(e.notes)) notes = e.notes
      } catch {
        unreadable++
      }
    }
    child.stdout.on('data', (c: Buffer) => {
      pending += c.toString()
      let nl: number
      while ((nl = pending.indexOf('\n')) >= 0) {
        take(pending.slice(0, nl))
        pending = pending.slice(nl + 1)
      }
    })
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString()
      err += text
      for (const line of text.split('\n')) if (line.trim()) log(`  ${line}`)
    })
    const timer = setTimeout(
      () => {
        timedOut = true
        child.kill('SIGKILL')
      },
      Math.max(1000, deadlineMs),
    )
    const stop = (): void => {
      child.kill('SIGKILL')
    }
    process.once('exit', stop)
    child.on('close', (codeNum) => {
      clearTimeout(timer)
      process.removeListener('exit', stop)
      take(pending)
      // pieces that started and never delivered their row
      for (const [id, s] of started) {
        if (rows.has(id)) continue
        const ranS = round((Date.now() - s.at) / 1000, 1)
        rows.set(id, {
          ...s.row,
          solveMs: null,
          status: timedOut ? 'did not finish' : 'failed',
          detail: timedOut ? `stopped after ${ranS} s in this piece (the workload's deadline)` : `the workload process ended in this piece`,
        })
      }
      const out = [...rows.values()]
      if (timedOut) return resolveJob({status: 'timed-out', rows: out, notes})
      if (codeNum !== 0) return resolveJob({status: 'failed', rows: out, notes, error: err.trim().split('\n').slice(-3).join(' ') || `exit code ${codeNum}`})
      if (unreadable > 0 && out.length === 0) return resolveJob({status: 'failed', rows: out, notes, error: `unreadable output (${unreadable} lines)`})
      resolveJob({status: 'done', rows: out, notes})
    })
  })
}

export async function runSolverSection(opts: BenchOptions): Promise<{data: SolverData; notes: string[]}> {
  const entry = join(here, 'solver.js')
  if (!existsSync(entry)) {
    log('solver: test/bench/solver.ts is not in this build (the planner writes it); section skipped')
    return {data: {available: false, reason: "test/bench/solver.ts (the planner's solve-time bench) is not in this build", rows: []}, notes: []}
  }
  const limits = opts.quick
    ? {milp: MILP_LIMIT_MS.quick, fast: FAST_LIMIT_MS.quick, plan: PLAN_LIMIT_MS.quick}
    : {milp: MILP_LIMIT_MS.full, fast: FAST_LIMIT_MS.full, plan: PLAN_LIMIT_MS.full}
  const budgetS = opts.quick ? SECTION_BUDGET_S.quick : SECTION_BUDGET_S.full
  // the real models' profiles: this run's (measured once, shared with the other sections)
  const dir = join(benchDir, 'solver-profiles')
  mkdirSync(dir, {recursive: true})
  const files: string[] = []
  for (const m of ['mobilenet_v2', 'inception_v3'] as const) {
    const p = await benchProfile(m, opts.quick)
    const f = join(dir, `${m}.json`)
    writeFileSync(f, JSON.stringify(p))
    files.push(f)
  }
  const sizes = opts.quick ? [100, 1000] : [100, 1000, 5000]
  // reserves: what a later job needs at least (the 5,000-layer chain: two fast solves at their limit and set-up)
  const reserveFor = (n: number): number => (n >= 5000 ? Math.round((2 * limits.fast) / 1000 + 15) : n >= 1000 ? 30 : 10)
  const jobs: Job[] = [
    {label: 'MobileNetV2 + InceptionV3', sizes: [], profiles: files, reserveS: 10},
    ...sizes.map((n) => ({label: `chain-${n}`, sizes: [n], profiles: [], reserveS: reserveFor(n)})),
  ]
  const start = Date.now()
  const rows: Record<string, unknown>[] = []
  const jobReports: NonNullable<SolverData['jobs']> = []
  const notes = new Set<string>()
  for (const [k, job] of jobs.entries()) {
    const left = budgetS * 1000 - (Date.now() - start)
    // leave the later jobs their reserves, but never less than half of what is left
    const later = jobs.slice(k + 1).reduce((s, j) => s + j.reserveS * 1000, 0)
    const deadline = Math.max(left / 2, left - later)
    if (left <= 1000) {
      jobReports.push({label: job.label, seconds: 0, status: 'timed-out', error: "not started: the section's time budget was used up", rows: 0})
      rows.push({model: job.label, status: 'not run', detail: `the section's ${budgetS} s budget was used up before it started`})
      continue
    }
    log(`solver: ${job.label} (at most ${Math.round(deadline / 1000)} s)`)
    const t0 = Date.now()
    const r = await runJob(entry, job, opts.quick, limits, deadline)
    const seconds = round((Date.now() - t0) / 1000, 1)
    jobReports.push({
      label: job.label,
      seconds,
      status: r.status,
      ...(r.error ? {error: r.error} : {}),
      rows: r.rows.length,
      budgetS: round(deadline / 1000, 0),
    })
    for (const n of r.notes) notes.add(n)
    rows.push(...r.rows)
    if (r.rows.length === 0 && r.status !== 'done') {
      rows.push({
        model: job.label,
        status: r.status === 'timed-out' ? 'did not finish' : 'failed',
        detail: r.status === 'timed-out' ? `stopped after ${seconds} s (its deadline) before any row` : r.error,
      })
    }
  }
  return {
    data: {
      available: true,
      entry: 'test/bench/solver.ts runSolverBench()',
      milpTimeLimitMs: limits.milp,
      fastTimeLimitMs: limits.fast,
      planTimeLimitMs: limits.plan,
      budgetS,
      jobs: jobReports,
      rows,
    },
    notes: [
      ...notes,
      `Each workload ran in its own process with a deadline (the section had ${budgetS} s in all) and streamed its rows as they finished; the MILP had ${limits.milp / 1000} s per solve, the fast path ${limits.fast / 1000} s, the outer search ${limits.plan / 1000} s (set by the bench, test/bench/solver-section.ts).`,
    ],
  }
}
