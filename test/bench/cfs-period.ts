/**
 * The CFS-period effect, measured: a child process under the local target's CPU quota for a memory
 * size (deploy/targets/local/cgroup.ts cpuQuotaFor: the profiler's period, 10 ms, longer where the
 * quota would fall under 1 ms) does jobs of w ms of CPU (a busy loop timed by its own CPU clock)
 * separated by idle gaps, the way a warm stage serves sequential requests; the median wall time of
 * each job size is set against the fluid model (w·1769/m, src/cost/timing.ts cpuSlowdown) and the
 * period-aware one (cfsWallMs).
 *
 *   npm run bench -- --only zoo-prediction  (runs it first)  or  node dist-test/test/bench/cfs-period.js
 */
import {spawn} from 'node:child_process'

import {cfsWallMs, cfsWallMsExact} from '../../src/cost/timing.js'
import {cpuQuotaFor} from '../../deploy/targets/local/cgroup.js'
import {openCpuQuota} from '../../src/profile/cgroup.js'
import {LAMBDA} from '../../src/platform/lambda.js'
import {errorPct, log, median, round} from './common.js'

export interface CfsRow {
  memoryMb: number
  periodMs: number
  quotaMs: number
  /** CPU work of one job at full speed (ms) */
  workMs: number
  jobs: number
  measuredMs: number
  fluidMs: number
  periodAwareMs: number
  /** the step function cfsWallMs averages (a fresh period at the start of each job) */
  exactStepMs: number
  fluidErrPct: number
  periodAwareErrPct: number
}

/** Child: waits for a start line, then runs each job after a gap and prints the wall times as JSON. */
const CHILD = `
const [works, gap, reps] = JSON.parse(process.argv[1])
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
process.stdin.once('data', async () => {
  const out = {}
  for (const w of works) {
    const walls = []
    for (let i = 0; i < reps; i++) {
      await sleep(gap + (i % 7))
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      let x = 0
      for (;;) {
        for (let j = 0; j < 2000; j++) x += Math.sqrt(j + x)
        const c = process.cpuUsage(c0)
        if ((c.user + c.system) / 1000 >= w) break
      }
      walls.push(performance.now() - t0)
      if (x === -1) console.error(x)
    }
    out[w] = walls
  }
  process.stdout.write(JSON.stringify(out))
  process.exit(0)
})
`

async function runChild(memoryMb: number, works: number[], gapMs: number, reps: number): Promise<Record<string, number[]>> {
  const probe = openCpuQuota(`cfs${process.pid}`)
  if (!probe.ok) throw new Error(`no cgroup CPU quota here: ${probe.reason}`)
  const quota = probe.quota
  try {
    const child = spawn(process.execPath, ['-e', CHILD, JSON.stringify([works, gapMs, reps])], {stdio: ['pipe', 'pipe', 'inherit']})
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d.toString()))
    const done = new Promise<number | null>((resolve) => child.on('exit', resolve))
    // the local target's own period and quota for this memory size
    const g = quota.group(memoryMb)
    const want = cpuQuotaFor(memoryMb)
    if (g.periodUs !== want.periodUs || g.quotaUs !== want.quotaUs)
      throw new Error(`quota group ${g.periodUs}/${g.quotaUs} µs ≠ the local target's ${want.periodUs}/${want.quotaUs} µs`)
    quota.enter(child.pid!, memoryMb)
    child.stdin.write('go\n')
    const code = await done
    if (code !== 0) throw new Error(`the CFS probe child exited ${code}`)
    return JSON.parse(out) as Record<string, number[]>
  } finally {
    quota.release()
  }
}

export async function measureCfsPeriod(opts: {quick: boolean; memories?: number[]}): Promise<CfsRow[]> {
  const memories = opts.memories ?? [128, 256, 512]
  const rows: CfsRow[] = []
  for (const memoryMb of memories) {
    const {periodUs, quotaUs} = cpuQuotaFor(memoryMb)
    const P = periodUs / 1000
    const q = quotaUs / 1000
    const fraction = memoryMb / LAMBDA.fullVcpuMemoryMb
    // around the quota: well inside it, at it, a few periods' worth
    const works = [...new Set([0.25 * q, 0.5 * q, 0.9 * q, 1.5 * q, 3 * q, 10 * q].map((w) => round(w, 2)))]
    const reps = opts.quick ? 15 : 60
    log(`cfs-period: ${memoryMb} MB (period ${P} ms, quota ${q} ms): jobs of ${works.join('/')} ms CPU × ${reps}`)
    const walls = await runChild(memoryMb, works, 5, reps)
    for (const w of works) {
      const measuredMs = median(walls[String(w)])
      const fluidMs = w / fraction
      const periodAwareMs = cfsWallMs(w, fraction, P)
      rows.push({
        memoryMb,
        periodMs: P,
        quotaMs: q,
        workMs: w,
        jobs: walls[String(w)].length,
        measuredMs: round(measuredMs, 2),
        fluidMs: round(fluidMs, 2),
        periodAwareMs: round(periodAwareMs, 2),
        exactStepMs: round(cfsWallMsExact(w, fraction, P), 2),
        fluidErrPct: round(errorPct(fluidMs, measuredMs), 1),
        periodAwareErrPct: round(errorPct(periodAwareMs, measuredMs), 1),
      })
    }
  }
  return rows
}

if (process.argv[1]?.endsWith('cfs-period.js')) {
  measureCfsPeriod({quick: process.argv.includes('--quick')})
    .then((rows) => console.log(JSON.stringify(rows, null, 1)))
    .catch((error) => {
      console.error(error)
      process.exit(1)
    })
}
