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

export function sampleStage(stage: StageDeployment): CpuSample {
  const s: CpuSample = stage.pid ? processCpuMs(stage.pid) : {cpuMs: NaN, waitMs: NaN}
  const g = cpuGroup(stage)
  if (g) {
    try {
      const text = readFileSync(join(g, 'cpu.stat'), 'utf8')
      const t = /throttled_time (\d+)/.exec(text)
      const n = /nr_throttled (\d+)/.exec(text)
      if (t) s.throttledMs = Number(t[1]) / 1e6
      if (n) s.throttledPeriods = Number(n[1])
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
