/**
 * Resource limits for local stage processes, the way Lambda sizes an environment:
 * - memory: cgroup v1 memory controller, memory.limit_in_bytes = memoryMb MiB (swap off when the
 *   memsw file exists); without a writable controller, node's --max-old-space-size instead.
 * - CPU: cgroup v1 cpu controller, a CFS quota of memoryMb/1769 of a core
 *   (cpu.cfs_quota_us = period × m/1769), with the profiler's period (10 ms, longer only where the
 *   quota would fall under the kernel's 1 ms minimum): a request of a few tens of ms sees the
 *   throttling spread over it rather than one long stall, and under the same settings the layers
 *   were measured with (the bench saw 5–10 % more CPU per request with a 5 ms period).
 *
 * Groups live in <controller>/amps/<name>; destroy removes them after their processes are gone.
 */
import {existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync, accessSync, constants} from 'node:fs'
import {join} from 'node:path'

import {cfsSettings, cpuFraction} from '../../../src/profile/cgroup.js'

export const CGROUP_V1_ROOT = process.env.AMPS_CGROUP_ROOT ?? '/sys/fs/cgroup'
const PARENT = 'amps'

export interface CpuQuota {
  periodUs: number
  quotaUs: number
}

/**
 * CFS period and quota giving `memoryMb`/1769 of one core: the profiler's own settings
 * (src/profile/cgroup.ts), so a stage runs under exactly the CPU regime its layers were measured in.
 */
export function cpuQuotaFor(memoryMb: number): CpuQuota {
  return cfsSettings(cpuFraction(memoryMb))
}

/** The CFS period (ms) the local target enforces a memory size's quota with. */
export function localPeriodMs(memoryMb: number): number {
  return cpuQuotaFor(memoryMb).periodUs / 1000
}

export type Controller = 'memory' | 'cpu'

function controllerDir(c: Controller): string {
  return join(CGROUP_V1_ROOT, c)
}

/** True when this process can create groups under the controller (cgroup v1, writable). */
export function controllerWritable(c: Controller): boolean {
  const dir = controllerDir(c)
  const probe = c === 'memory' ? 'memory.limit_in_bytes' : 'cpu.cfs_quota_us'
  if (!existsSync(join(dir, probe)) || !existsSync(join(dir, 'cgroup.procs'))) return false
  try {
    accessSync(dir, constants.W_OK)
  } catch {
    return false
  }
  try {
    mkdirSync(join(dir, PARENT), {recursive: true})
    accessSync(join(dir, PARENT), constants.W_OK)
    return existsSync(join(dir, PARENT, probe))
  } catch {
    return false
  }
}

export function groupPath(c: Controller, name: string): string {
  return join(controllerDir(c), PARENT, name)
}

/** Creates (or reuses) the memory group for `name` with a hard limit of memoryMb MiB. */
export function createMemoryGroup(name: string, memoryMb: number): {path: string; limitBytes: number} {
  const path = groupPath('memory', name)
  mkdirSync(path, {recursive: true})
  const limitBytes = memoryMb * 1024 * 1024
  // memsw must stay ≥ memory: raise memsw first when growing, lower memory first when shrinking
  const memsw = join(path, 'memory.memsw.limit_in_bytes')
  const hasMemsw = existsSync(memsw)
  const tryWrite = (file: string, v: number) => {
    try {
      writeFileSync(file, String(v))
      return true
    } catch {
      return false
    }
  }
  if (hasMemsw) tryWrite(memsw, -1)
  writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes))
  if (hasMemsw) tryWrite(memsw, limitBytes)
  return {path, limitBytes}
}

/** Times the kernel's OOM killer fired in this memory group (undefined when not reported). */
export function oomKills(path: string): number | undefined {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(path, 'memory.oom_control'), 'utf8'))
    return m ? Number(m[1]) : undefined
  } catch {
    return undefined
  }
}

/** Creates (or reuses) the cpu group for `name` with a quota of memoryMb/1769 of a core. */
export function createCpuGroup(name: string, memoryMb: number): {path: string} & CpuQuota {
  const path = groupPath('cpu', name)
  mkdirSync(path, {recursive: true})
  const q = cpuQuotaFor(memoryMb)
  // lift the quota first: a period change is refused while quota > new period × parent limits
  writeFileSync(join(path, 'cpu.cfs_quota_us'), '-1')
  writeFileSync(join(path, 'cpu.cfs_period_us'), String(q.periodUs))
  writeFileSync(join(path, 'cpu.cfs_quota_us'), String(q.quotaUs))
  return {path, ...q}
}

/** Pids currently in a group (empty when the group is gone). */
export function groupPids(path: string): number[] {
  try {
    return readFileSync(join(path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Removes a group; false when it still has processes or cannot be removed. */
export function removeGroup(path: string): boolean {
  if (!existsSync(path)) return true
  try {
    rmdirSync(path)
    return true
  } catch {
    return false
  }
}

/** Peak memory a group has used (bytes), when the controller reports it. */
export function memoryPeakBytes(path: string): number | undefined {
  try {
    return Number(readFileSync(join(path, 'memory.max_usage_in_bytes'), 'utf8').trim())
  } catch {
    return undefined
  }
}

/** The group's current hard memory limit (bytes). */
export function memoryLimitBytes(path: string): number | undefined {
  try {
    const v = Number(readFileSync(join(path, 'memory.limit_in_bytes'), 'utf8').trim())
    return Number.isFinite(v) ? v : undefined
  } catch {
    return undefined
  }
}
