/**
 * How the local target's CPU quota actually slows a request, measured: the kernel does not throttle
 * the way the fluid model (wall = work · 1769/m) or the one-period step function says. It checks a
 * group's quota lazily (at the scheduler tick, 4 ms at HZ=250, or at a system call), hands runtime
 * to CPUs in slices, and a group that was idle for a while starts its next burst with slack. So a
 * stage computing 4.4 ms at 512 MB (quota 2.9 ms per 10 ms) usually finishes unthrottled in 4.4 ms
 * where the fluid model says 15 ms and the step function 11.5 ms, while a tight loop that makes
 * system calls (and so is checked at once) follows the step function exactly.
 *
 * The measurement: a child process computes jobs of known CPU work (a loop without system calls,
 * like a stage's kernels, its speed calibrated before it joins the group) under the quota the local
 * target gives each memory size (cgroup.ts cpuQuotaFor), each job after an idle gap of 20–30 ms (a
 * stage between requests), and the median wall time per job size is kept. Works are multiples of
 * the quota Q, so the curve of one memory reads as "excess" s(c) = (wall − W) / (W·1769/m − W) over
 * c = W / Q: 0 = full speed, 1 = the fluid model. throttleWallMs interpolates s in c and in memory.
 *
 * The table is a property of this machine (kernel, CPU, the local target's periods): each memory
 * size's curve is measured once, when first needed (5–10 s each), and cached under $AMPS_CACHE_DIR
 * (default ~/.cache/amps) as local-throttle.json.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus, release} from 'node:os'
import {dirname, join} from 'node:path'

import type {CostModelOptions} from '../../../src/cost/model.js'
import {writeFileAtomic} from '../../../src/files/atomic.js'
import {ampsCacheRoot} from '../../../src/files/paths.js'
import {LAMBDA} from '../../../src/platform/lambda.js'
import {median} from '../../../src/profile/stats.js'
import {controllerWritable, cpuQuotaFor, createCpuGroup, removeGroup} from './cgroup.js'

export const THROTTLE_TABLE_VERSION = 1

/** One memory size's measured curve. */
export interface ThrottleCurve {
  memoryMb: number
  periodMs: number
  quotaMs: number
  /** job CPU work (ms at full speed) and its median wall time under the quota (ms) */
  points: {workMs: number; wallMs: number}[]
}

export interface ThrottleTable {
  version: number
  /** what the table is valid for: it is measured again when any of these changes */
  machine: {kernel: string; cpu: string; cores: number}
  measuredAt: string
  gapMs: [number, number]
  reps: number
  curves: ThrottleCurve[]
}

/** Memory sizes measured by default: the local target's quota regimes from the smallest function to one vCPU. */
export const THROTTLE_MEMORIES = [128, 256, 512, 1024, 1536]
/** Job sizes as multiples of the memory's quota per period. */
export const THROTTLE_WORK_MULTIPLES = [0.5, 1, 1.5, 2, 3, 5, 8, 15]
/** Jobs per size (the median is kept) and the idle gap before each (ms, spread over the range). */
export const THROTTLE_REPS = 15
export const THROTTLE_GAP_MS: [number, number] = [20, 30]

export function throttleMachineKey(): ThrottleTable['machine'] {
  return {
    kernel: release(),
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    cores: cpus().length,
  }
}

/** Child: calibrates its loop, says `ready`, waits for `go` (by then it is in the group), runs the jobs. */
const CHILD = `
const [works, gapLo, gapHi, reps] = JSON.parse(process.argv[1])
function spin(k) { let x = 0; for (let i = 0; i < k; i++) x += Math.sqrt(i + x); return x }
let best = Infinity
let sink = 0
for (let i = 0; i < 25; i++) { const t0 = performance.now(); sink += spin(1e6); best = Math.min(best, performance.now() - t0) }
const perMs = 1e6 / best
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
process.stdout.write('ready\\n')
process.stdin.once('data', async () => {
  const out = {}
  for (const w of works) {
    const walls = []
    const k = Math.round(w * perMs)
    for (let i = 0; i < reps; i++) {
      await sleep(gapLo + ((i * 7919) % 1000) / 1000 * (gapHi - gapLo))
      const t0 = performance.now()
      sink += spin(k)
      walls.push(performance.now() - t0)
    }
    out[w] = walls
  }
  process.stdout.write(JSON.stringify({perMs, out, sink: sink > 0}))
  process.exit(0)
})
`

async function measureCurve(memoryMb: number, reps: number, gapMs: [number, number]): Promise<ThrottleCurve> {
  const quotaMs = cpuQuotaFor(memoryMb).quotaUs / 1000
  const works = THROTTLE_WORK_MULTIPLES.map((c) => Math.round(c * quotaMs * 1000) / 1000)
  // the local target's own kind of group (createCpuGroup: its period and quota for the memory size)
  const group = createCpuGroup(`throttle-${process.pid}-${memoryMb}`, memoryMb)
  const child = spawn(process.execPath, ['-e', CHILD, JSON.stringify([works, gapMs[0], gapMs[1], reps])], {stdio: ['pipe', 'pipe', 'inherit']})
  try {
    let out = ''
    const ready = new Promise<void>((resolveReady) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        if (out.startsWith('ready\n')) {
          out = out.slice(6)
          resolveReady()
        }
      })
    })
    // 'close', not 'exit': the output pipe may still hold data when the process has exited
    const done = new Promise<number | null>((resolveDone) => child.on('close', resolveDone))
    await Promise.race([ready, done])
    if (child.exitCode !== null) throw new Error(`the throttle probe child exited ${child.exitCode} before it was ready`)
    // cgroup v1: writing the pid to cgroup.procs moves every thread of the process
    writeFileSync(join(group.path, 'cgroup.procs'), String(child.pid))
    child.stdin.write('go\n')
    const code = await done
    if (code !== 0) throw new Error(`the throttle probe child exited ${code}`)
    const result = JSON.parse(out) as {out: Record<string, number[]>}
    return {
      memoryMb,
      periodMs: group.periodUs / 1000,
      quotaMs: group.quotaUs / 1000,
      points: works.map((w) => ({workMs: w, wallMs: Math.round(median(result.out[String(w)]) * 1000) / 1000})),
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL')
      await new Promise((r) => child.once('close', r))
    }
    removeGroup(group.path)
  }
}

/** Measures the curves of `memories` (5–10 s each with the defaults). */
export async function measureThrottle(
  opts: {memories?: number[]; reps?: number; gapMs?: [number, number]; log?: (line: string) => void} = {},
): Promise<ThrottleTable> {
  const memories = opts.memories ?? THROTTLE_MEMORIES
  const reps = opts.reps ?? THROTTLE_REPS
  const gapMs = opts.gapMs ?? THROTTLE_GAP_MS
  const curves: ThrottleCurve[] = []
  for (const [i, m] of memories.entries()) {
    opts.log?.(`measuring how the local CPU quota slows work: ${m} MB (${i + 1}/${memories.length})`)
    curves.push(await measureCurve(m, reps, gapMs))
  }
  return {version: THROTTLE_TABLE_VERSION, machine: throttleMachineKey(), measuredAt: new Date().toISOString(), gapMs, reps, curves}
}

/** Where the table is cached. */
export function throttleCachePath(): string {
  return join(ampsCacheRoot(), 'local-throttle.json')
}

/**
 * This machine's table with a curve for each of `memories` below one vCPU: the cached curves
 * (measured here, same kernel, CPU, cores, quota settings and protocol), the missing ones measured
 * now and added to the cache. undefined when the local target cannot set a CPU quota here (no
 * writable cgroup v1 cpu controller: it then runs stages without one) or needs no curve (every
 * memory at or above one vCPU, nothing cached).
 */
export async function localThrottle(memories: number[] = THROTTLE_MEMORIES, log?: (line: string) => void): Promise<ThrottleTable | undefined> {
  if (!controllerWritable('cpu')) return undefined
  const path = throttleCachePath()
  let cached: ThrottleTable | undefined
  if (existsSync(path)) {
    try {
      const t = JSON.parse(readFileSync(path, 'utf8')) as ThrottleTable
      const same =
        t.version === THROTTLE_TABLE_VERSION &&
        JSON.stringify(t.machine) === JSON.stringify(throttleMachineKey()) &&
        t.reps === THROTTLE_REPS &&
        JSON.stringify(t.gapMs) === JSON.stringify(THROTTLE_GAP_MS)
      // a curve is reusable when the local target still gives its memory the same period and quota
      if (same) cached = {...t, curves: t.curves.filter((c) => sameQuota(c))}
    } catch {
      /* measured again below */
    }
  }
  const want = [...new Set(memories.filter((m) => m < LAMBDA.fullVcpuMemoryMb))].sort((a, b) => a - b)
  const missing = want.filter((m) => !cached?.curves.some((c) => c.memoryMb === m))
  if (missing.length === 0) return cached
  const measured = await measureThrottle({memories: missing, log})
  const table: ThrottleTable = {...measured, curves: [...(cached?.curves ?? []), ...measured.curves].sort((a, b) => a.memoryMb - b.memoryMb)}
  mkdirSync(dirname(path), {recursive: true})
  writeFileAtomic(path, JSON.stringify(table, null, 1) + '\n')
  return table
}

function sameQuota(c: ThrottleCurve): boolean {
  const q = cpuQuotaFor(c.memoryMb)
  return q.periodUs / 1000 === c.periodMs && q.quotaUs / 1000 === c.quotaMs
}

/** Excess s = (wall − W) / (fluid − W) of one curve at c = W / Q, interpolated in c (clamped at the ends). */
function excessAt(curve: ThrottleCurve, c: number): number {
  const f = curve.memoryMb / LAMBDA.fullVcpuMemoryMb
  const pts = curve.points.map((p) => {
    const fluid = p.workMs / f
    return {c: p.workMs / curve.quotaMs, s: fluid > p.workMs ? Math.max(0, (p.wallMs - p.workMs) / (fluid - p.workMs)) : 0}
  })
  if (c <= pts[0].c) return pts[0].s
  for (let i = 1; i < pts.length; i++) {
    if (c <= pts[i].c) {
      const t = (c - pts[i - 1].c) / (pts[i].c - pts[i - 1].c)
      return pts[i - 1].s + t * (pts[i].s - pts[i - 1].s)
    }
  }
  return pts[pts.length - 1].s
}

/**
 * Wall ms of `cpuMs` of full-speed work under the local target's quota at `memoryMb`, from the
 * table: the excess over full speed interpolated between the measured memories (clamped outside
 * them); full speed at or above one vCPU.
 */
export function throttleWallMs(table: ThrottleTable, cpuMs: number, memoryMb: number): number {
  const f = memoryMb / LAMBDA.fullVcpuMemoryMb
  if (!(cpuMs > 0)) return 0
  if (f >= 1 || table.curves.length === 0) return cpuMs
  const curves = [...table.curves].sort((a, b) => a.memoryMb - b.memoryMb)
  const q = cpuQuotaFor(memoryMb).quotaUs / 1000
  const c = cpuMs / q
  let s: number
  if (memoryMb <= curves[0].memoryMb) s = excessAt(curves[0], c)
  else if (memoryMb >= curves[curves.length - 1].memoryMb) s = excessAt(curves[curves.length - 1], c)
  else {
    const j = curves.findIndex((k) => k.memoryMb >= memoryMb)
    const lo = curves[j - 1]
    const hi = curves[j]
    const t = (memoryMb - lo.memoryMb) / (hi.memoryMb - lo.memoryMb)
    s = excessAt(lo, c) + t * (excessAt(hi, c) - excessAt(lo, c))
  }
  return cpuMs + s * (cpuMs / f - cpuMs)
}

/**
 * How the cost model predicts a stage as the local target runs it: its runner's spliced JSON around
 * the handler, and this machine's measured quota curve; without a table (no writable cgroup cpu
 * controller, so the local target runs its stages without a CPU quota) at full speed.
 */
export function localCostModel(table: ThrottleTable | undefined): Pick<CostModelOptions, 'runtime' | 'quotaWallMs'> {
  return {runtime: 'local', quotaWallMs: table ? (cpuMs, memoryMb) => throttleWallMs(table, cpuMs, memoryMb) : (cpuMs) => cpuMs}
}
