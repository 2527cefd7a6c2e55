/**
 * A stage's compute-time spread from the profile: five summary statistics (min, p10, median, p90,
 * max) of each layer's TimingPoints interpolated to (memory m, batch k), summed over the stage's
 * layers (see src/simulate/service.ts for how the simulator draws from it and src/plan/tail.ts for
 * the planner's tail check). Moved here from src/simulate/service.ts so the planner does not import
 * the simulator.
 */
import type {LayerProfile, TimingPoint} from '../profile/types.js'
import {type CpuEnv, cpuSlowdown, threadFit, threadFitFactor} from './timing.js'

/** [min, p10, median, p90, max] (ms) */
export type Spread = [number, number, number, number, number]

const QUANTILE_AT: Spread = [0, 0.1, 0.5, 0.9, 1]

/** What the CPU-share slowdown and the thread fit outside the measured memories need (a CostModel's `env`): the same rules as the cost model's. */
export type {CpuEnv}

/** Piecewise-linear quantile function through the five statistics. */
export function quantileOf(spread: Spread, u: number): number {
  for (let i = 1; i < 5; i++) {
    if (u <= QUANTILE_AT[i]) {
      const f = (u - QUANTILE_AT[i - 1]) / (QUANTILE_AT[i] - QUANTILE_AT[i - 1])
      return spread[i - 1] + f * (spread[i] - spread[i - 1])
    }
  }
  return spread[4]
}

/** Mean of the piecewise-linear distribution (the integral of the quantile function). */
export function meanOf(s: Spread): number {
  return 0.05 * (s[0] + s[1]) + 0.2 * (s[1] + s[2]) + 0.2 * (s[2] + s[3]) + 0.05 * (s[3] + s[4])
}

function spreadOf(p: TimingPoint): Spread {
  return [p.minMs, p.p10Ms, p.medianMs, p.p90Ms, p.maxMs]
}

function lerp(a: Spread, b: Spread, f: number): Spread {
  return a.map((x, i) => x + f * (b[i] - x)) as Spread
}

function scale(a: Spread, f: number): Spread {
  return a.map((x) => x * f) as Spread
}

/** Interpolate one memory setting's points (sorted by batch) at batch k. */
function atBatch(points: TimingPoint[], k: number): Spread {
  const first = points[0]
  const last = points[points.length - 1]
  if (k <= first.batch) return scale(spreadOf(first), k / first.batch)
  if (k >= last.batch) {
    if (k === last.batch || points.length === 1) return scale(spreadOf(last), k / last.batch)
    const prev = points[points.length - 2]
    const a = spreadOf(prev)
    const b = spreadOf(last)
    const f = (k - last.batch) / (last.batch - prev.batch)
    // along the slope of the last two measured batch sizes (never decreasing)
    return b.map((x, i) => x + Math.max(0, x - a[i]) * f) as Spread
  }
  for (let i = 1; i < points.length; i++) {
    if (k <= points[i].batch) {
      const f = (k - points[i - 1].batch) / (points[i].batch - points[i - 1].batch)
      return lerp(spreadOf(points[i - 1]), spreadOf(points[i]), f)
    }
  }
  return spreadOf(last)
}

/**
 * One layer's time spread at (memoryMb, batch). Returns zeros for a layer without timing
 * (e.g. an InputLayer).
 */
export function layerSpreadAt(layer: Pick<LayerProfile, 'timing'>, memoryMb: number, batch: number, env: CpuEnv): Spread {
  if (layer.timing.length === 0) return [0, 0, 0, 0, 0]
  const byMemory = new Map<number, TimingPoint[]>()
  for (const p of layer.timing) {
    const list = byMemory.get(p.memoryMb) ?? []
    list.push(p)
    byMemory.set(p.memoryMb, list)
  }
  const memories = [...byMemory.keys()].sort((a, b) => a - b)
  const at = (m: number): Spread =>
    atBatch(
      byMemory.get(m)!.sort((a, b) => a.batch - b.batch),
      batch,
    )
  const lo = memories[0]
  const hi = memories[memories.length - 1]
  if (memoryMb <= lo) return scale(at(lo), cpuSlowdown(memoryMb, env) / cpuSlowdown(lo, env))
  if (memoryMb >= hi) {
    // above the measured memories: the cost model's rule, the thread fit where it applies (on the medians)
    const fit = threadFit(
      memories,
      memories.map((m) => at(m)[2]),
      env,
    )
    return scale(at(hi), fit ? threadFitFactor(fit, memoryMb, env) : cpuSlowdown(memoryMb, env) / cpuSlowdown(hi, env))
  }
  for (let i = 1; i < memories.length; i++) {
    const m2 = memories[i]
    if (memoryMb <= m2) {
      const m1 = memories[i - 1]
      // linear in 1/m: time is roughly inversely proportional to the CPU share
      const f = (1 / memoryMb - 1 / m1) / (1 / m2 - 1 / m1)
      return lerp(at(m1), at(m2), f)
    }
  }
  return at(hi)
}

function sorted(s: Spread): Spread {
  return [...s].sort((a, b) => a - b) as Spread
}

/**
 * How far the stage's slowest time may lie beyond its p90, in units of (p90 − median). Σ of the
 * layers' maxima treats every layer's slowest sample as if they happened in one run; they come
 * from different repeats (a GC pause here, a timer tick there), so on a profile of 15 repeats that
 * sum reached 2.6–3.7 × the median for MobileNetV2 at 1,769–3,008 MB, while a deployed stage's
 * slowest of 16 requests was 1.25 × its median (BENCHMARKS.md §3). Capping the max at
 * median + 3·(p90 − median) keeps a right tail heavier than a normal one (p99 = median +
 * 2.8·(p90 − median), a normal has 1.8) without summing unrelated outliers.
 */
export const STAGE_TAIL_CAP = 3

/** Σ of the stage layers' spreads at (m, k), sorted, the max capped by STAGE_TAIL_CAP (the compute part only). */
export function computeSpread(layers: Pick<LayerProfile, 'timing'>[], memoryMb: number, batch: number, env: CpuEnv): Spread {
  const sum: Spread = [0, 0, 0, 0, 0]
  for (const l of layers) {
    const sp = layerSpreadAt(l, memoryMb, batch, env)
    for (let q = 0; q < 5; q++) sum[q] += sp[q]
  }
  const s = sorted(sum)
  s[4] = Math.max(s[3], Math.min(s[4], s[2] + STAGE_TAIL_CAP * (s[3] - s[2])))
  return s
}
