/**
 * CPU quotas that emulate Lambda memory sizes on this machine: Lambda gives a function
 * m/1769 of a vCPU at m MB, so the profiler runs its measuring child in a cgroup whose CFS
 * bandwidth is m/1769 of one CPU (cgroup v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, or cgroup v2
 * `cpu.max`). Groups are named amps-<our pid>-<memory MB>, removed when profiling ends (also on
 * error, Ctrl-C and process exit) and swept on the next run when a crash left them behind.
 *
 * Choosing the CFS period. The kernel refills the group's quota Q = P·f every period P and
 * throttles the group once Q is used up; it notices the overrun lazily (on the next scheduler tick,
 * 4 ms at HZ=250, or a syscall), and it hands runtime to CPUs in slices of 5 ms
 * (sched_cfs_bandwidth_slice_us). Over many periods the group gets exactly f CPU-seconds per second,
 * but any stretch shorter than a few periods either runs at full speed or sits out a throttle gap
 * of P−Q. With the default P = 100 ms a 3 ms layer is unthrottled (3 ms) or waits ~70 ms, so
 * per-layer wall times under the quota are bimodal: their median is the unthrottled time and their
 * mean needs hundreds of repeats. The profiler therefore does not read per-layer wall times under
 * the quota (see worker.ts: it charges each layer the CPU time the process used, which is exact,
 * and divides by f), and uses the period only to make whole-model wall times — the calibration
 * check — fine-grained: P = 10 ms (2.5 ticks, 2 slices) so a run of a few hundred ms sees dozens
 * of periods, stretched where needed so that Q stays ≥ 1 ms (the kernel minimum): P = 1 ms / f
 * below 177 MB. Override with AMPS_CFS_PERIOD_US for experiments.
 */
import {existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {LAMBDA} from '../platform/lambda.js'

/** Period used whenever the quota it implies is at least MIN_QUOTA_US. */
export const DEFAULT_PERIOD_US = 10_000
/** Kernel limits: quota ≥ 1 ms, 1 ms ≤ period ≤ 1 s. */
export const MIN_QUOTA_US = 1000
export const MAX_PERIOD_US = 1_000_000

export type CgroupMethod = 'cgroup-v1' | 'cgroup-v2'

/** Fraction of one CPU a Lambda function gets at `memoryMb`. */
export function cpuFraction(memoryMb: number): number {
  return memoryMb / LAMBDA.fullVcpuMemoryMb
}

/** CFS period and quota (µs) for a fraction of a CPU; see the module comment for the choice. */
export function cfsSettings(fraction: number, basePeriodUs = defaultPeriodUs()): {periodUs: number; quotaUs: number} {
  const periodUs = Math.min(MAX_PERIOD_US, Math.max(basePeriodUs, Math.ceil(MIN_QUOTA_US / fraction)))
  const quotaUs = Math.max(MIN_QUOTA_US, Math.round(periodUs * fraction))
  return {periodUs, quotaUs}
}

function defaultPeriodUs(): number {
  const env = Number(process.env.AMPS_CFS_PERIOD_US)
  return Number.isInteger(env) && env >= 1000 && env <= MAX_PERIOD_US ? env : DEFAULT_PERIOD_US
}

export interface QuotaGroup {
  memoryMb: number
  fraction: number
  periodUs: number
  quotaUs: number
  dir: string
}

export interface CpuQuota {
  readonly method: CgroupMethod
  /** the directory new groups are created in */
  readonly parentDir: string
  /** Creates (once) the group for `memoryMb` and sets its quota. */
  group(memoryMb: number): QuotaGroup
  /** Moves every thread of `pid` into the group for `memoryMb`. */
  enter(pid: number, memoryMb: number): void
  /** Moves `pid` back to the group it started in. */
  leave(pid: number): void
  /** Total time the group has been throttled so far (ms), when the kernel reports it. */
  throttledMs(memoryMb: number): number | undefined
  /** Synchronous and idempotent: moves every task out and removes every group this object made. */
  release(): void
}

export type QuotaProbe = {ok: true; quota: CpuQuota} | {ok: false; reason: string}

interface Mount {
  dir: string
  type: string
  options: string[]
}

function mounts(): Mount[] {
  try {
    return readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [, dir, type, opts] = line.split(' ')
        return {dir: dir.replace(/\\040/g, ' '), type, options: (opts ?? '').split(',')}
      })
  } catch {
    return []
  }
}

/** Our own cgroup path for a v1 controller ("cpu") or v2 (controller ""). */
function ownCgroupPath(controller: string): string | undefined {
  try {
    for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const m = /^(\d+):([^:]*):(.*)$/.exec(line)
      if (!m) continue
      const ctrls = m[2].split(',')
      if (controller === '' ? m[1] === '0' && m[2] === '' : ctrls.includes(controller)) return m[3]
    }
  } catch {
    /* not Linux */
  }
  return undefined
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

function readPids(file: string): number[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value)
    return true
  } catch {
    return false
  }
}

const live = new Set<CpuQuota>()
let exitHookInstalled = false

/** Releases every quota still open (for exit and signal handlers). */
export function releaseAllQuotas(): void {
  for (const q of [...live]) q.release()
}

class CgroupQuota implements CpuQuota {
  private readonly groups = new Map<number, QuotaGroup>()
  private released = false

  constructor(
    readonly method: CgroupMethod,
    readonly parentDir: string,
    /** where tasks go back to */
    private readonly homeDir: string,
    private readonly tag: string,
  ) {
    live.add(this)
    if (!exitHookInstalled) {
      exitHookInstalled = true
      process.on('exit', releaseAllQuotas)
    }
  }

  group(memoryMb: number): QuotaGroup {
    const have = this.groups.get(memoryMb)
    if (have) return have
    if (this.released) throw new Error('cpu quota already released')
    const fraction = cpuFraction(memoryMb)
    const {periodUs, quotaUs} = cfsSettings(fraction)
    const dir = join(this.parentDir, `amps-${this.tag}-${memoryMb}`)
    if (!existsSync(dir)) mkdirSync(dir)
    const g: QuotaGroup = {memoryMb, fraction, periodUs, quotaUs, dir}
    this.groups.set(memoryMb, g)
    if (this.method === 'cgroup-v1') {
      // quota first to -1 so that a shorter period never meets an old, larger quota
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '-1')
      writeFileSync(join(dir, 'cpu.cfs_period_us'), String(periodUs))
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(quotaUs))
    } else {
      writeFileSync(join(dir, 'cpu.max'), `${quotaUs} ${periodUs}`)
    }
    return g
  }

  enter(pid: number, memoryMb: number): void {
    const g = this.group(memoryMb)
    writeFileSync(join(g.dir, 'cgroup.procs'), String(pid))
  }

  leave(pid: number): void {
    tryWrite(join(this.homeDir, 'cgroup.procs'), String(pid))
  }

  throttledMs(memoryMb: number): number | undefined {
    const g = this.groups.get(memoryMb)
    if (!g) return undefined
    try {
      const stat = readFileSync(join(g.dir, 'cpu.stat'), 'utf8')
      const v1 = /^throttled_time (\d+)$/m.exec(stat) // ns
      if (v1) return Number(v1[1]) / 1e6
      const v2 = /^throttled_usec (\d+)$/m.exec(stat)
      if (v2) return Number(v2[1]) / 1e3
    } catch {
      /* group gone */
    }
    return undefined
  }

  release(): void {
    if (this.released) return
    this.released = true
    live.delete(this)
    for (const g of this.groups.values()) removeGroup(g.dir, this.homeDir)
    this.groups.clear()
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4))

function removeGroup(dir: string, homeDir: string): void {
  // up to ~1 s: after Ctrl-C the measuring child (same process group) is still dying and its
  // threads keep the group busy for a moment; back-to-back retries lose that race on a busy machine
  for (let attempt = 0; attempt < 50; attempt++) {
    for (const pid of readPids(join(dir, 'cgroup.procs'))) tryWrite(join(homeDir, 'cgroup.procs'), String(pid))
    try {
      rmdirSync(dir)
      return
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code === 'ENOENT') return
      // EBUSY: a task was still leaving; wait a little and try again (synchronous: exit handlers too)
      Atomics.wait(pause, 0, 0, 20)
    }
  }
}

/** Removes groups left by amps processes that no longer exist (killed with SIGKILL, power loss). */
function sweepStale(parentDir: string, homeDir: string): void {
  let entries: string[]
  try {
    entries = readdirSync(parentDir)
  } catch {
    return
  }
  for (const e of entries) {
    const m = /^amps-(\d+)-\d+$/.exec(e)
    if (m && !pidAlive(Number(m[1]))) removeGroup(join(parentDir, e), homeDir)
  }
}

/**
 * Finds a cgroup cpu controller we may use. AMPS_NO_CGROUP=1 pretends there is none (tests, or a
 * machine where quotas misbehave). Returns why not when there is none, for the profile's warnings.
 */
export function openCpuQuota(tag: string = String(process.pid)): QuotaProbe {
  if (process.env.AMPS_NO_CGROUP && process.env.AMPS_NO_CGROUP !== '0') {
    return {ok: false, reason: 'AMPS_NO_CGROUP is set'}
  }
  if (process.platform !== 'linux') return {ok: false, reason: `CPU quotas need Linux cgroups (this is ${process.platform})`}
  const all = mounts()
  const reasons: string[] = []

  const v1 = all.find((m) => m.type === 'cgroup' && m.options.includes('cpu'))
  if (v1) {
    const own = ownCgroupPath('cpu') ?? '/'
    // inside a container the mount root is already our group
    const parentDir = existsSync(join(v1.dir, own)) ? join(v1.dir, own) : v1.dir
    const probe = attempt('cgroup-v1', parentDir, parentDir, tag)
    if (probe.ok) return probe
    reasons.push(probe.reason)
  }

  const v2 = all.find((m) => m.type === 'cgroup2')
  if (v2) {
    let controllers = ''
    try {
      controllers = readFileSync(join(v2.dir, 'cgroup.controllers'), 'utf8')
    } catch {
      /* unreadable */
    }
    if (controllers.split(/\s+/).includes('cpu')) {
      // groups go under the hierarchy root: the root is exempt from the no-internal-processes rule
      const own = ownCgroupPath('') ?? '/'
      const homeDir = join(v2.dir, own)
      let subtree = ''
      try {
        subtree = readFileSync(join(v2.dir, 'cgroup.subtree_control'), 'utf8')
      } catch {
        /* unreadable */
      }
      if (!subtree.split(/\s+/).includes('cpu')) tryWrite(join(v2.dir, 'cgroup.subtree_control'), '+cpu')
      const probe = attempt('cgroup-v2', v2.dir, homeDir, tag)
      if (probe.ok) return probe
      reasons.push(probe.reason)
    } else {
      reasons.push(`cgroup v2 at ${v2.dir} has no cpu controller`)
    }
  }
  if (!v1 && !v2) reasons.push('no cgroup filesystem is mounted')
  return {ok: false, reason: reasons.join('; ')}
}

function attempt(method: CgroupMethod, parentDir: string, homeDir: string, tag: string): QuotaProbe {
  sweepStale(parentDir, homeDir)
  const quota = new CgroupQuota(method, parentDir, homeDir, tag)
  try {
    // prove we can create a group and set a quota before relying on it
    quota.group(LAMBDA.fullVcpuMemoryMb)
    return {ok: true, quota}
  } catch (error) {
    quota.release()
    return {ok: false, reason: `cannot create a ${method} group under ${parentDir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`}
  }
}
