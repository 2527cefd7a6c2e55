/**
 * Section 1, solver time: runs the planner's own bench (test/bench/solver.ts `runSolverBench`,
 * owned by the planner) — solve ms for MobileNetV2, InceptionV3 and generated chains of
 * 100/1,000/5,000 layers with both solvers, whether they agree, and the whole planFromProfile
 * search — and records what it returns.
 *
 * Each workload runs in a child process with a deadline, so one that takes too long (the whole
 * search on a 5,000-layer chain can take many minutes) is stopped and reported as such instead of
 * holding up the rest of the bench: the whole section gets SECTION_BUDGET_S. The real models'
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
  budgetS?: number
  jobs?: {label: string; seconds: number; status: 'done' | 'timed-out' | 'failed'; error?: string}[]
  rows: Record<string, unknown>[]
}

/** MILP limit per solve handed to the planner's bench (it defaults to 60 s; 10+ solves must fit the budget). */
export const MILP_LIMIT_MS = {full: 20_000, quick: 5_000}
/** Wall-clock budget of the whole section. */
export const SECTION_BUDGET_S = {full: 240, quick: 120}

const here = dirname(fileURLToPath(import.meta.url))

interface Job {
  label: string
  sizes: number[]
  profiles: string[]
}

function runJob(entry: string, job: Job, quick: boolean, milpTimeLimitMs: number, deadlineMs: number): Promise<{status: 'done' | 'timed-out' | 'failed'; rows: Record<string, unknown>[]; notes: string[]; error?: string}> {
  const code = [
    `const m = await import(${JSON.stringify(pathToFileURL(entry).href)});`,
    `const r = await m.runSolverBench({quick: ${quick}, sizes: ${JSON.stringify(job.sizes)}, profiles: ${JSON.stringify(job.profiles)}, realModels: false, milpTimeLimitMs: ${milpTimeLimitMs}, log: (l) => process.stderr.write(l + '\\n')});`,
    'process.stdout.write(JSON.stringify(r));',
  ].join('\n')
  return new Promise((resolveJob) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], {stdio: ['ignore', 'pipe', 'pipe'], env: process.env})
    let out = ''
    let err = ''
    let timedOut = false
    child.stdout.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr.on('data', (c: Buffer) => {
      const text = c.toString()
      err += text
      for (const line of text.split('\n')) if (line.trim()) log(`  ${line}`)
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, Math.max(1000, deadlineMs))
    const stop = (): void => {
      child.kill('SIGKILL')
    }
    process.once('exit', stop)
    child.on('close', (codeNum) => {
      clearTimeout(timer)
      process.removeListener('exit', stop)
      if (timedOut) return resolveJob({status: 'timed-out', rows: [], notes: []})
      if (codeNum !== 0) return resolveJob({status: 'failed', rows: [], notes: [], error: err.trim().split('\n').slice(-3).join(' ') || `exit code ${codeNum}`})
      try {
        const r = JSON.parse(out) as {rows: Record<string, unknown>[]; notes?: string[]}
        resolveJob({status: 'done', rows: r.rows ?? [], notes: r.notes ?? []})
      } catch (error) {
        resolveJob({status: 'failed', rows: [], notes: [], error: `unreadable output: ${(error as Error).message}`})
      }
    })
  })
}

export async function runSolverSection(opts: BenchOptions): Promise<{data: SolverData; notes: string[]}> {
  const entry = join(here, 'solver.js')
  if (!existsSync(entry)) {
    log('solver: test/bench/solver.ts is not in this build (the planner writes it); section skipped')
    return {data: {available: false, reason: 'test/bench/solver.ts (the planner\'s solve-time bench) is not in this build', rows: []}, notes: []}
  }
  const milpTimeLimitMs = opts.quick ? MILP_LIMIT_MS.quick : MILP_LIMIT_MS.full
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
  const jobs: Job[] = [{label: 'MobileNetV2 + InceptionV3', sizes: [], profiles: files}, ...sizes.map((n) => ({label: `chain-${n}`, sizes: [n], profiles: []}))]
  const start = Date.now()
  const rows: Record<string, unknown>[] = []
  const jobReports: NonNullable<SolverData['jobs']> = []
  const notes = new Set<string>()
  for (const job of jobs) {
    const left = budgetS * 1000 - (Date.now() - start)
    if (left <= 1000) {
      jobReports.push({label: job.label, seconds: 0, status: 'timed-out', error: 'not started: the section\'s time budget was used up'})
      rows.push({model: job.label, status: 'not run', detail: `the section's ${budgetS} s budget was used up before it started`})
      continue
    }
    log(`solver: ${job.label} (at most ${Math.round(left / 1000)} s)`)
    const t0 = Date.now()
    const r = await runJob(entry, job, opts.quick, milpTimeLimitMs, left)
    const seconds = round((Date.now() - t0) / 1000, 1)
    jobReports.push({label: job.label, seconds, status: r.status, ...(r.error ? {error: r.error} : {})})
    for (const n of r.notes) notes.add(n)
    if (r.status === 'done') rows.push(...r.rows)
    else rows.push({model: job.label, status: r.status === 'timed-out' ? 'did not finish' : 'failed', detail: r.status === 'timed-out' ? `stopped after ${seconds} s (the section's time budget)` : r.error})
  }
  return {
    data: {available: true, entry: 'test/bench/solver.ts runSolverBench()', milpTimeLimitMs, budgetS, jobs: jobReports, rows},
    notes: [
      ...notes,
      `Each workload ran in its own process; the section had ${budgetS} s in all, the MILP ${milpTimeLimitMs / 1000} s per solve (set by the bench, test/bench/solver-section.ts).`,
    ],
  }
}
