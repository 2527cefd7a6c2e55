/**
 * Shared plumbing of `npm run bench`: where things go, progress lines, the machine description,
 * small statistics, and the result files (bench-results/<section>.json) the report is built from.
 */
import {execFileSync} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync, renameSync} from 'node:fs'
import {cpus, freemem, loadavg, release, totalmem} from 'node:os'
import {join} from 'node:path'

import {repoRoot} from '../helpers/nsfwjs.js'

export {repoRoot}

/** Scratch space of the bench: its own profile cache, deployments, plans. Not committed. */
export const benchDir = join(repoRoot, 'test', '.cache', 'bench')
/** Raw results, committed so every figure in BENCHMARKS.md can be traced. */
export const resultsDir = join(repoRoot, 'bench-results')
export const reportPath = join(repoRoot, 'BENCHMARKS.md')

export const SECTIONS = ['solver', 'quality', 'prediction', 'analytic', 'overhead', 'handoff', 'backend', 'serve', 'reliability', 'zoo-prediction'] as const
export type SectionName = (typeof SECTIONS)[number]

/** Sets the environment every section relies on (call before anything imports the profiler). */
export function setupEnvironment(): void {
  mkdirSync(benchDir, {recursive: true})
  // profiles are cached by model hash + options; the bench keeps its own cache so a run never
  // picks up a profile a user (or a test) took on another machine state
  process.env.AMPS_CACHE_DIR = join(benchDir, 'amps-cache')
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
}

const started = Date.now()

/** A progress line on stderr, prefixed with the time since the bench started. */
export function log(message: string): void {
  const s = (Date.now() - started) / 1000
  const mm = Math.floor(s / 60)
  const ss = (s % 60).toFixed(0).padStart(2, '0')
  process.stderr.write(`[bench ${mm}:${ss}] ${message}\n`)
}

// ---------------------------------------------------------------------------------------------
// Machine

export interface MachineInfo {
  cpuModel: string
  /** logical CPUs the OS reports */
  cores: number
  memoryGiB: number
  node: string
  kernel: string
  /** 1-, 5-, 15-minute load averages when the section started and ended */
  loadAvgStart: number[]
  loadAvgEnd?: number[]
  /** tensor backend of the stage processes and the profiler (from the profile when one was taken) */
  backend?: string
  /** how Lambda memory sizes are emulated (profile: cgroup CPU quota; local target: cgroup v1 cpu+memory) */
  quotaMethod?: string
  localLimits?: string
}

function cpuModel(): string {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8')
    const m = /^model name\s*:\s*(.+)$/m.exec(text)
    if (m) return m[1].trim()
  } catch {
    // not Linux
  }
  return cpus()[0]?.model?.trim() ?? 'unknown'
}

export function machineInfo(): MachineInfo {
  let kernel = release()
  try {
    kernel = execFileSync('uname', ['-sr'], {encoding: 'utf8'}).trim()
  } catch {
    // keep os.release()
  }
  return {
    cpuModel: cpuModel(),
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel,
    loadAvgStart: loadavg().map((x) => round(x, 2)),
  }
}

export function freeMemoryGiB(): number {
  return round(freemem() / 2 ** 30, 1)
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x
  const f = 10 ** digits
  return Math.round(x * f) / f
}

/** Quantile by linear interpolation between order statistics (q in [0, 1]). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

export const median = (values: readonly number[]): number => quantile(values, 0.5)

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length
}

/** Signed error of a prediction against a measurement, % of the measurement. */
export function errorPct(predicted: number, measured: number): number {
  return measured === 0 ? NaN : ((predicted - measured) / measured) * 100
}

// ---------------------------------------------------------------------------------------------
// Results

export interface SectionResult<T = unknown> {
  section: SectionName
  title: string
  /** the exact command that produced this file */
  command: string
  quick: boolean
  startedAt: string
  durationS: number
  machine: MachineInfo
  /** section-specific figures */
  data: T
  notes: string[]
}

export function resultPath(section: SectionName): string {
  return join(resultsDir, `${section}.json`)
}

export function writeResult(result: SectionResult): string {
  mkdirSync(resultsDir, {recursive: true})
  const path = resultPath(result.section)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(result, null, 2) + '\n')
  renameSync(tmp, path)
  return path
}

export function readResult<T>(section: SectionName): SectionResult<T> | undefined {
  const path = resultPath(section)
  if (!existsSync(path)) return undefined
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SectionResult<T>
  } catch {
    return undefined
  }
}

export interface BenchOptions {
  quick: boolean
  /** the command line as the user would type it */
  command: string
}
