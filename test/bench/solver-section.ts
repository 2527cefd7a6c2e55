/**
 * Section 1, solver time: calls the planner's own bench (test/bench/solver.ts, owned by the
 * planner) — solve ms for MobileNetV2, InceptionV3 and generated chains of 100/1,000/5,000 layers
 * with both solvers, and whether they agree. This file only finds its entry point, hands it the
 * bench options and records what it returns.
 *
 * Expected entry point (any of these names): `runSolverBench(options: {quick: boolean, log?:
 * (line: string) => void})` returning `{rows: object[], notes?: string[]}` (or just the rows).
 */
import {existsSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {log, type BenchOptions} from './common.js'

export interface SolverData {
  available: boolean
  reason?: string
  entry?: string
  rows: Record<string, unknown>[]
}

type Entry = (options: {quick: boolean; log?: (line: string) => void}) => unknown

const here = dirname(fileURLToPath(import.meta.url))

export async function runSolverSection(opts: BenchOptions): Promise<{data: SolverData; notes: string[]}> {
  const file = ['solver.js', 'solver.ts'].map((f) => join(here, f)).find((f) => existsSync(f))
  if (!file) {
    log('solver: test/bench/solver.ts does not exist yet (the planner writes it); section skipped')
    return {data: {available: false, reason: 'test/bench/solver.ts (the planner\'s solve-time bench) is not in this build', rows: []}, notes: []}
  }
  // a computed specifier: the module may not exist when this file is compiled
  const specifier = './solver.js'
  const mod = (await import(specifier)) as Record<string, unknown>
  const name = ['runSolverBench', 'runSolver', 'benchSolver', 'run', 'default'].find((n) => typeof mod[n] === 'function')
  if (!name) {
    return {data: {available: false, reason: `test/bench/solver.ts exports none of runSolverBench/runSolver/benchSolver/run/default (it has: ${Object.keys(mod).join(', ') || 'nothing'})`, rows: []}, notes: []}
  }
  const out = (await (mod[name] as Entry)({quick: opts.quick, log})) as unknown
  const rows = Array.isArray(out) ? out : Array.isArray((out as {rows?: unknown})?.rows) ? (out as {rows: Record<string, unknown>[]}).rows : []
  const notes = Array.isArray((out as {notes?: unknown})?.notes) ? ((out as {notes: string[]}).notes) : []
  const extra = out && typeof out === 'object' && !Array.isArray(out) ? Object.fromEntries(Object.entries(out).filter(([k]) => k !== 'rows' && k !== 'notes')) : {}
  return {data: {available: true, entry: `test/bench/solver.ts ${name}()`, rows: rows as Record<string, unknown>[], ...extra}, notes}
}
