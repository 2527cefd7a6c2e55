/**
 * CPU accounting of local stage processes, read from outside: the CPU time of every thread
 * (/proc/<pid>/task/<tid>/schedstat, ns) and the time the kernel throttled the stage's CPU-quota
 * group (cgroup v1 cpu.stat throttled_time, ns). Sampled around an invocation, the differences say
 * how much CPU a stage really used and how long it sat out its quota — what turns wall time into
 * "CPU time ÷ share" or not.
 */
import {existsSync, readFileSync, readdirSync} from 'node:fs'
import {join} from 'node:path'

import type {StageDeployment} from '../../deploy/state/types.js'

export interface CpuSample {
  /** Σ over the process's threads of time on CPU (ms) */
  cpuMs: number
  /**
   * time the process's main thread (the one running the model: wasm is single-threaded) spent
   * runnable but not running (ms, schedstat's run delay): while its CPU group is throttled by the
   * quota, and while another process (or its own helper threads) holds the CPU
   */
  waitMs: number
  /** cumulative throttled time of the stage's cpu group (ms), when known */
  throttledMs?: number
  /** cumulative throttled periods */
  throttledPeriods?: number
}

/** CPU time of every thread of `pid`, and the run delay of its main thread (ms). */
export function processCpuMs(pid: number): {cpuMs: number; waitMs: number} {
  let run = 0
  let wait = 0
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return {cpuMs: NaN, waitMs: NaN}
  }
  for (const t of tasks) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')
      run += Number(f[0])
      if (t === String(pid)) wait += Number(f[1])
    } catch {
      // the thread ended between readdir and read
    }
  }
  return {cpuMs: run / 1e6, waitMs: wait / 1e6}
}

function cpuGroup(stage: StageDeployment): string | undefined {
  return stage.cgroups?.find((c) => c.includes('/cpu/') && existsSync(join(c, 'cpu.stat')))
}

/** The group and the groups under it (the local target gives each environment of a stage its own quota group). */
function groupTree(dir: string): string[] {
  const out = [dir]
  try {
    for (const e of readdirSync(dir, {withFileTypes: true})) if (e.isDirectory()) out.push(...groupTree(join(dir, e.name)))
  } catch {
    // group gone
  }
  return out
}

function groupPids(dirs: string[]): number[] {
  const pids: number[] = []
  for (const d of dirs) {
    try {
      for (const line of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.push(Number(line))
    } catch {
      // group gone
    }
  }
  return pids
}

/**
 * CPU of every process of the stage (its front process and the environments in its quota groups:
 * the model runs in an environment process, not the front), run delay of their main threads, and
 * the throttled time summed over the stage's quota groups.
 */
export function sampleStage(stage: StageDeployment): CpuSample {
  const g = cpuGroup(stage)
  const dirs = g ? groupTree(g) : []
  const pids = [...new Set([...(stage.pid ? [stage.pid] : []), ...groupPids(dirs)])]
  const s: CpuSample = {cpuMs: 0, waitMs: 0}
  if (pids.length === 0) return {cpuMs: NaN, waitMs: NaN}
  for (const pid of pids) {
    const c = processCpuMs(pid)
    if (Number.isFinite(c.cpuMs)) {
      s.cpuMs += c.cpuMs
      s.waitMs += c.waitMs
    }
  }
  for (const d of dirs) {
    try {
      const text = readFileSync(join(d, 'cpu.stat'), 'utf8')
      const t = /throttled_time (\d+)/.exec(text)
      const n = /nr_throttled (\d+)/.exec(text)
      if (t) s.throttledMs = (s.throttledMs ?? 0) + Number(t[1]) / 1e6
      if (n) s.throttledPeriods = (s.throttledPeriods ?? 0) + Number(n[1])
    } catch {
      // group gone
    }
  }
  return s
}

export function sampleStages(stages: StageDeployment[]): CpuSample[] {
  return stages.map(sampleStage)
}

export function diff(a: CpuSample, b: CpuSample): CpuSample {
  return {
    cpuMs: b.cpuMs - a.cpuMs,
    waitMs: b.waitMs - a.waitMs,
    throttledMs: a.throttledMs !== undefined && b.throttledMs !== undefined ? b.throttledMs - a.throttledMs : undefined,
    throttledPeriods: a.throttledPeriods !== undefined && b.throttledPeriods !== undefined ? b.throttledPeriods - a.throttledPeriods : undefined,
  }
}
