/**
 * A layer's time at memory m and batch k from its profiled TimingPoints (the rules are in the
 * header of src/cost/model.ts): grouping and monotone clean-up, interpolation in k and in 1/m, the
 * CPU-share slowdown outside the measured memories, the parallel-efficiency fit (threadFit) above
 * them for a backend whose threads grow with memory (ONNX Runtime), and the a + b/m coefficients
 * per memory segment that the solver uses. Split out of src/cost/model.ts.
 */
import type {TimingPoint} from '../profile/types.js'

export interface TimingEnv {
  /** memory with one full vCPU (1769) */
  fullVcpuMb: number
  /** threads the backend computes with (wasm: 1) */
  threads: number
  /**
   * threads the backend reaches at the largest memory (ONNX Runtime: one per vCPU, 6); absent:
   * `threads`. Above its highest measured memory a layer of a backend with maxThreads > 1 follows
   * its fitted parallel efficiency (threadFit) instead of the CPU-share rule.
   */
  maxThreads?: number
  /** the most threads any measurement of the profile ran with (the machine's cores cap it; 1 for a modelled profile); absent: `threads` */
  measuredThreads?: number
  /** multiplier on compute time for the target architecture (1 = as profiled) */
  timeFactor: number
}

/** What the CPU-share and thread rules need from a TimingEnv. */
export type CpuEnv = Pick<TimingEnv, 'fullVcpuMb' | 'threads' | 'maxThreads' | 'measuredThreads'>

/** Time multiplier relative to one full vCPU: 1 / min(m/1769, threads). */
export function cpuSlowdown(memoryMb: number, env: Pick<TimingEnv, 'fullVcpuMb' | 'threads'>): number {
  return 1 / Math.min(memoryMb / env.fullVcpuMb, Math.max(1, env.threads))
}

/**
 * Amdahl's law: time on `cpus` vCPUs relative to one, for a computation whose serial fraction is
 * `s`: s + (1 − s)/cpus.
 */
export function amdahlFactor(s: number, cpus: number): number {
  return s + (1 - s) / cpus
}

/**
 * The serial fraction s that makes Amdahl's law pass through t1 ms on one vCPU and tn ms on `cpus`
 * (> 1) vCPUs: s = (tn/t1 − 1/cpus) / (1 − 1/cpus), clamped to [0, 1] (0: perfectly parallel; 1:
 * no gain from more threads; a measurement slower than t1 or faster than linear is noise).
 */
export function serialFraction(t1: number, tn: number, cpus: number): number {
  if (!(cpus > 1)) throw new RangeError(`a parallel-efficiency fit needs more than one vCPU, got ${cpus}`)
  if (!(t1 > 0)) return 1
  const s = (tn / t1 - 1 / cpus) / (1 - 1 / cpus)
  return Math.min(1, Math.max(0, s))
}

/** A layer's parallel-efficiency fit above its highest measured memory (see threadFit). */
export interface ThreadFit {
  /** Amdahl serial fraction, fitted to the one-vCPU time and the multi-thread measurement */
  s: number
  /** the highest measured memory and the vCPUs it stands for (its CPU share) */
  topMb: number
  topCpus: number
}

/**
 * The parallel-efficiency fit of one layer at one batch size, from its medians `v` at the measured
 * memories `M`, or null where the CPU-share rule applies instead (a backend that stays on its
 * measured threads, no measurement above one vCPU, or none at or below it).
 *
 * t1 = the time at one full vCPU (one thread; interpolated in 1/m like any other memory), tn = the
 * time at the highest measured memory, which ran min(its CPU share, the measured threads) vCPUs:
 * on this 2-core machine 3,008 MB ran 2 threads on a quota of 1.7 vCPUs. The fitted serial
 * fraction then predicts every memory above the highest measured one, where ORT runs one thread
 * per vCPU up to maxThreads: ms(m) = tn · amdahl(s, m/F) / amdahl(s, topMb/F), continuous at
 * the measurement, and a + b/m in m (a = K·s, b = K·(1 − s)·F), as the solver needs.
 * Per layer, so a stage's fit is the sum of its layers': convolutions that parallelise well and
 * element-wise or tiny layers that do not each keep their own efficiency.
 */
export function threadFit(M: readonly number[], v: readonly number[], env: CpuEnv): ThreadFit | null {
  const F = env.fullVcpuMb
  const n = M.length
  if (n < 2 || !((env.maxThreads ?? env.threads) > 1)) return null
  const topMb = M[n - 1]
  if (!(topMb > F) || M[0] > F) return null
  const measuredCpus = Math.min(topMb / F, Math.max(1, env.measuredThreads ?? env.threads))
  if (!(measuredCpus > 1 + 1e-9)) return null
  const s = serialFraction(interpolate(M, v, F), v[n - 1], measuredCpus)
  return {s, topMb, topCpus: topMb / F}
}

/** ms(m)/ms(topMb) of a fitted layer at memory m ≥ topMb: vCPUs grow with memory up to maxThreads. */
export function threadFitFactor(fit: ThreadFit, memoryMb: number, env: CpuEnv): number {
  const cpus = Math.min(memoryMb / env.fullVcpuMb, Math.max(1, env.maxThreads ?? env.threads))
  return amdahlFactor(fit.s, Math.max(cpus, fit.topCpus)) / amdahlFactor(fit.s, fit.topCpus)
}

/** Linear in 1/m between the measured memories around m (M[0] ≤ m ≤ M[n−1]). */
function interpolate(M: readonly number[], v: readonly number[], memoryMb: number): number {
  let i = 1
  while (i < M.length - 1 && memoryMb > M[i]) i++
  if (memoryMb <= M[0]) return v[0]
  const f = (1 / memoryMb - 1 / M[i - 1]) / (1 / M[i] - 1 / M[i - 1])
  return v[i - 1] + f * (v[i] - v[i - 1])
}

/** Codec (single-threaded JS) slowdown: max(1, 1769/m). */
export function codecSlowdown(memoryMb: number, fullVcpuMb: number): number {
  return Math.max(1, fullVcpuMb / memoryMb)
}

/** A layer's timing, grouped by memory, sorted, made monotone. */
export interface LayerTiming {
  memories: number[]
  /** per memory: batch sizes (ascending) and median ms (non-decreasing in batch) */
  batches: number[][]
  medians: number[][]
}

export function layerTiming(points: readonly TimingPoint[]): LayerTiming {
  const byMemory = new Map<number, TimingPoint[]>()
  for (const p of points) {
    if (!(p.memoryMb > 0) || !(p.batch >= 1) || !(p.medianMs >= 0)) continue
    const list = byMemory.get(p.memoryMb) ?? []
    list.push(p)
    byMemory.set(p.memoryMb, list)
  }
  const memories = [...byMemory.keys()].sort((a, b) => a - b)
  const batches: number[][] = []
  const medians: number[][] = []
  for (const m of memories) {
    const list = byMemory.get(m)!.sort((a, b) => a.batch - b.batch)
    const bs: number[] = []
    const ms: number[] = []
    for (const p of list) {
      if (bs.length > 0 && bs[bs.length - 1] === p.batch) {
        // duplicate (memory, batch): keep the larger median (conservative)
        ms[ms.length - 1] = Math.max(ms[ms.length - 1], p.medianMs)
        continue
      }
      bs.push(p.batch)
      ms.push(ms.length > 0 ? Math.max(ms[ms.length - 1], p.medianMs) : p.medianMs)
    }
    batches.push(bs)
    medians.push(ms)
  }
  return {memories, batches, medians}
}

/** The same timing with every median multiplied by `factor`. */
export function scaleTiming(t: LayerTiming, factor: number): LayerTiming {
  if (factor === 1) return t
  return {memories: t.memories, batches: t.batches, medians: t.medians.map((ms) => ms.map((x) => x * factor))}
}

/** One memory setting's median at batch k (see module docs for the rule). */
function atBatch(bs: number[], ms: number[], k: number): number {
  const n = bs.length
  if (k <= bs[0]) return (ms[0] * k) / bs[0]
  if (k >= bs[n - 1]) {
    const last = ms[n - 1]
    if (k === bs[n - 1] || n === 1) return (last * k) / bs[n - 1]
    const slope = Math.max(0, (last - ms[n - 2]) / (bs[n - 1] - bs[n - 2]))
    return Math.max(last + slope * (k - bs[n - 1]), (last * k) / bs[n - 1])
  }
  for (let i = 1; i < n; i++) {
    if (k <= bs[i]) {
      const f = (k - bs[i - 1]) / (bs[i] - bs[i - 1])
      return ms[i - 1] + f * (ms[i] - ms[i - 1])
    }
  }
  return ms[n - 1]
}

/** Medians at batch k for each measured memory, made non-increasing in memory. */
export function mediansAtBatch(t: LayerTiming, k: number): number[] {
  const out = t.memories.map((_, i) => atBatch(t.batches[i], t.medians[i], k))
  for (let i = 1; i < out.length; i++) out[i] = Math.min(out[i], out[i - 1])
  return out
}

/** Definitional: one layer's median ms at (memoryMb, batch). Zero for a layer without timing. */
export function layerMsAt(t: LayerTiming, memoryMb: number, batch: number, env: TimingEnv): number {
  if (t.memories.length === 0) return 0
  const v = mediansAtBatch(t, batch)
  const M = t.memories
  const n = M.length
  let ms: number
  if (memoryMb <= M[0]) ms = (v[0] * cpuSlowdown(memoryMb, env)) / cpuSlowdown(M[0], env)
  else if (memoryMb >= M[n - 1]) {
    const fit = threadFit(M, v, env)
    ms = fit ? v[n - 1] * threadFitFactor(fit, memoryMb, env) : (v[n - 1] * cpuSlowdown(memoryMb, env)) / cpuSlowdown(M[n - 1], env)
  } else ms = interpolate(M, v, memoryMb)
  return ms * env.timeFactor
}

/**
 * Coefficients (a, b) with ms = a + b/m on the memory segment [lo, hi], which must not straddle a
 * measured memory or the 1769·threads (or 1769·maxThreads) breakpoint.
 */
export function layerSegmentCoefficients(t: LayerTiming, v: number[], lo: number, hi: number, env: TimingEnv): {a: number; b: number} {
  if (t.memories.length === 0) return {a: 0, b: 0}
  const M = t.memories
  const n = M.length
  const mid = (lo + hi) / 2
  const f = env.timeFactor
  const extrapolate = (value: number, at: number): {a: number; b: number} => {
    const base = value / cpuSlowdown(at, env)
    // s(m) = 1769/m below the thread cap, 1/threads above it
    if (mid / env.fullVcpuMb < Math.max(1, env.threads)) return {a: 0, b: base * env.fullVcpuMb * f}
    return {a: (base / Math.max(1, env.threads)) * f, b: 0}
  }
  if (mid <= M[0]) return extrapolate(v[0], M[0])
  if (mid >= M[n - 1]) {
    const fit = threadFit(M, v, env)
    if (!fit) return extrapolate(v[n - 1], M[n - 1])
    // v·amdahl(s, m/F)/amdahl(s, top) = K·s + K·(1 − s)·F/m below the thread cap, constant above it
    const K = (v[n - 1] / amdahlFactor(fit.s, fit.topCpus)) * f
    if (mid / env.fullVcpuMb < Math.max(1, env.maxThreads ?? env.threads)) return {a: K * fit.s, b: K * (1 - fit.s) * env.fullVcpuMb}
    return {a: v[n - 1] * threadFitFactor(fit, mid, env) * f, b: 0}
  }
  let i = 1
  while (mid > M[i]) i++
  const b = (v[i] - v[i - 1]) / (1 / M[i] - 1 / M[i - 1])
  return {a: (v[i - 1] - b / M[i - 1]) * f, b: b * f}
}

/**
 * Wall ms of `cpuMs` of single-threaded work (at full speed) under a CFS bandwidth quota of
 * `fraction` (< 1) of a core refilled every `periodMs`: q = periodMs·fraction of CPU per period.
 * A warm function is idle between requests, and the kernel stops an idle group's period timer and
 * restarts it when the group wakes, so a request starts a fresh period with its whole quota: work
 * up to q runs at full speed (a short stage is not slowed by 1/fraction at all); longer work runs
 * q, sits out P − q, and so on, finishing in k·P + (w − k·q) with k = ⌈w/q⌉ − 1. That is the
 * fluid w/fraction minus a sawtooth between 0 and P − q; a stage's work varies by more than a
 * quota from request to request, so the sawtooth's mean is used: w/fraction − (P − q)/2 above q.
 * Measured on the local target: `node dist-test/test/bench/cfs-period.js` (section zoo-prediction).
 * Never more than the fluid w/fraction, and non-increasing in fraction. fraction ≥ 1: cpuMs.
 */
export function cfsWallMs(cpuMs: number, fraction: number, periodMs: number): number {
  if (!(cpuMs > 0)) return 0
  if (fraction >= 1) return cpuMs
  const fluid = cpuMs / Math.max(fraction, 1e-9)
  if (!(periodMs > 0) || !(fraction > 0)) return fluid
  const q = periodMs * fraction
  if (cpuMs <= q) return cpuMs
  return Math.max(cpuMs, fluid - (periodMs - q) / 2)
}

/** The exact step function cfsWallMs averages: a request starting a fresh period, k = ⌈w/q⌉ − 1 full throttled periods. */
export function cfsWallMsExact(cpuMs: number, fraction: number, periodMs: number): number {
  if (!(cpuMs > 0)) return 0
  if (fraction >= 1) return cpuMs
  const q = periodMs * fraction
  if (cpuMs <= q) return cpuMs
  const k = Math.ceil(cpuMs / q - 1e-12) - 1
  return k * periodMs + (cpuMs - k * q)
}
