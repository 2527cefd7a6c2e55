/**
 * Order statistics for timing samples. Pure functions, no I/O.
 */
import {InvalidProblemError} from '../errors.js'

/**
 * The q-quantile (0 ≤ q ≤ 1) of `samples` by linear interpolation between closest ranks
 * (numpy's default). Throws on an empty sample: a missing measurement is a bug, not a zero.
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) throw new InvalidProblemError('quantile of an empty sample')
  if (!(q >= 0 && q <= 1)) throw new InvalidProblemError(`quantile ${q} is not within [0, 1]`)
  const s = [...samples].sort((a, b) => a - b)
  const pos = (s.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5)
}

export function sum(values: readonly number[]): number {
  let s = 0
  for (const v of values) s += v
  return s
}

export interface Summary {
  medianMs: number
  p10Ms: number
  p90Ms: number
  minMs: number
  maxMs: number
  repeats: number
}

/** Median, p10, p90, min and max of a sample, rounded to 1 µs (sub-µs digits are noise). */
export function summarize(samples: readonly number[]): Summary {
  const r = (x: number): number => Math.round(x * 1000) / 1000
  return {
    medianMs: r(quantile(samples, 0.5)),
    p10Ms: r(quantile(samples, 0.1)),
    p90Ms: r(quantile(samples, 0.9)),
    minMs: r(Math.min(...samples)),
    maxMs: r(Math.max(...samples)),
    repeats: samples.length,
  }
}
