/**
 * The local target's measured quota curve (deploy/targets/local/throttle.ts): interpolation on a
 * made-up table, the cache, and one real measurement under a real cgroup CPU quota.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {controllerWritable, cpuQuotaFor} from '../../deploy/targets/local/cgroup.js'
import {
  THROTTLE_GAP_MS,
  THROTTLE_REPS,
  THROTTLE_TABLE_VERSION,
  localCostModel,
  localThrottle,
  measureThrottle,
  throttleMachineKey,
  throttleWallMs,
  type ThrottleTable,
} from '../../deploy/targets/local/throttle.js'

// the local target sets quotas only through a writable cgroup v1 cpu controller
const quotaProbe = {ok: controllerWritable('cpu')}

/** A table whose curves say: full speed up to 1 quota, half the fluid model's excess at 2, all of it from 4 on. */
function madeUp(memories: number[]): ThrottleTable {
  return {
    version: THROTTLE_TABLE_VERSION,
    machine: throttleMachineKey(),
    measuredAt: '2026-12-07T00:00:00.000Z',
    gapMs: THROTTLE_GAP_MS,
    reps: THROTTLE_REPS,
    curves: memories.map((m) => {
      const q = cpuQuotaFor(m).quotaUs / 1000
      const f = m / 1769
      const at = (c: number, s: number) => ({workMs: c * q, wallMs: c * q + s * ((c * q) / f - c * q)})
      return {memoryMb: m, periodMs: cpuQuotaFor(m).periodUs / 1000, quotaMs: q, points: [at(1, 0), at(2, 0.5), at(4, 1), at(8, 1)]}
    }),
  }
}

describe('throttleWallMs', () => {
  const t = madeUp([512, 1024])
  it('reproduces the measured points and interpolates the excess between them', () => {
    for (const c of t.curves) for (const p of c.points) expect(throttleWallMs(t, p.workMs, c.memoryMb)).toBeCloseTo(p.wallMs, 9)
    const q = cpuQuotaFor(512).quotaUs / 1000
    const fluid = (w: number) => (w * 1769) / 512
    // c = 3: excess 0.75 of the fluid model's
    expect(throttleWallMs(t, 3 * q, 512)).toBeCloseTo(3 * q + 0.75 * (fluid(3 * q) - 3 * q), 9)
    // below the first point: full speed; beyond the last: the last excess (the fluid model here)
    expect(throttleWallMs(t, 0.5 * q, 512)).toBeCloseTo(0.5 * q, 9)
    expect(throttleWallMs(t, 20 * q, 512)).toBeCloseTo(fluid(20 * q), 9)
  })

  it('interpolates between memories, clamps outside them, and is full speed from one vCPU on', () => {
    const w = 2 * (cpuQuotaFor(768).quotaUs / 1000)
    // both curves say excess 0.5 at two quotas, so 768 MB does too
    expect(throttleWallMs(t, w, 768)).toBeCloseTo(w + 0.5 * ((w * 1769) / 768 - w), 9)
    const w128 = 4 * (cpuQuotaFor(128).quotaUs / 1000)
    expect(throttleWallMs(t, w128, 128)).toBeCloseTo((w128 * 1769) / 128, 6)
    expect(throttleWallMs(t, 7, 1769)).toBe(7)
    expect(throttleWallMs(t, 7, 3008)).toBe(7)
    expect(throttleWallMs(t, 0, 512)).toBe(0)
  })

  it('gives the cost model the local runtime and the curve, or full speed without one (no quota set)', () => {
    const withTable = localCostModel(t)
    expect(withTable.runtime).toBe('local')
    expect(withTable.quotaWallMs?.(3, 512)).toBeCloseTo(throttleWallMs(t, 3, 512), 12)
    const without = localCostModel(undefined)
    expect(without.runtime).toBe('local')
    expect(without.quotaWallMs?.(3, 512)).toBe(3)
  })
})

describe('localThrottle cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amps-throttle-'))
  const old = process.env.AMPS_CACHE_DIR
  afterAll(() => {
    if (old === undefined) delete process.env.AMPS_CACHE_DIR
    else process.env.AMPS_CACHE_DIR = old
    rmSync(dir, {recursive: true, force: true})
  })
  it.skipIf(!quotaProbe.ok)(
    'reuses the curves measured on this machine and measures only the memories missing',
    async () => {
      process.env.AMPS_CACHE_DIR = dir
      const t = madeUp([256, 512])
      writeFileSync(join(dir, 'local-throttle.json'), JSON.stringify(t))
      const got = await localThrottle([256, 512, 1769, 3008], () => {
        throw new Error('measured again instead of using the cache')
      })
      expect(got).toEqual(t)
      const lines: string[] = []
      const more = await localThrottle([512, 1024], (l) => lines.push(l))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/1024 MB/)
      expect(more!.curves.map((c) => c.memoryMb)).toEqual([256, 512, 1024])
      expect(more!.curves.slice(0, 2)).toEqual(t.curves)
      expect(JSON.parse(readFileSync(join(dir, 'local-throttle.json'), 'utf8')).curves).toHaveLength(3)
    },
    60_000,
  )
})

describe.skipIf(!quotaProbe.ok)('measureThrottle under a real CPU quota', () => {
  it('measures jobs no faster than full speed, and long jobs at 512 MB slowed by the quota', async () => {
    const t = await measureThrottle({memories: [512], reps: 5, gapMs: [20, 25]})
    expect(t.machine).toEqual(throttleMachineKey())
    const c = t.curves[0]
    expect(c.quotaMs).toBeCloseTo(cpuQuotaFor(512).quotaUs / 1000, 9)
    expect(c.points.map((p) => p.workMs)).toEqual([...c.points.map((p) => p.workMs)].sort((a, b) => a - b))
    for (const p of c.points) expect(p.wallMs).toBeGreaterThan(0.8 * p.workMs)
    // 15 quotas of work need at least ~14 periods whatever the slack: far more than the work itself
    const last = c.points.at(-1)!
    expect(last.wallMs).toBeGreaterThan(2 * last.workMs)
  }, 60_000)
})
