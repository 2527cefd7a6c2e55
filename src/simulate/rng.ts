/**
 * Seeded pseudo-random numbers for the simulator: xoshiro128** (Blackman & Vigna) on 32-bit
 * integers, seeded through splitmix32. The same (seed, stream) always yields the same sequence on
 * every platform (only 32-bit integer ops and Math.imul are used).
 *
 * The simulator draws from independent streams (arrivals, service times) so that changing the
 * arrival process does not shift the service-time draws (common random numbers).
 */
import {InvalidProblemError} from '../errors.js'

export interface Rng {
  /** uniform in [0, 1) with 53 bits of resolution */
  next(): number
  /** exponential with the given rate (mean 1/rate) */
  exponential(rate: number): number
}

/** Stream ids used by the simulator; any other integer is fine for other uses. */
export const STREAM = {arrivals: 1, service: 2} as const

function splitmix32(state: number): {value: number; state: number} {
  const s = (state + 0x9e3779b9) | 0
  let z = s
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  z ^= z >>> 16
  return {value: z >>> 0, state: s}
}

/**
 * A generator for (seed, stream). `seed` must be a safe integer (negative allowed); the high and
 * low 32 bits both enter the state.
 */
export function createRng(seed: number, stream = 0): Rng {
  if (!Number.isSafeInteger(seed)) throw new InvalidProblemError(`seed must be a safe integer, got ${seed}`)
  if (!Number.isSafeInteger(stream)) throw new InvalidProblemError(`stream must be a safe integer, got ${stream}`)
  const lo = seed | 0
  const hi = Math.floor(seed / 0x100000000) | 0
  let st = lo ^ Math.imul(hi, 0x27d4eb2d) ^ Math.imul(stream, 0x165667b1)
  const s = new Uint32Array(4)
  for (let i = 0; i < 4; i++) {
    const r = splitmix32(st)
    st = r.state
    s[i] = r.value
  }
  // xoshiro must not start from the all-zero state (splitmix32 makes that practically impossible).
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1

  function nextU32(): number {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0
    const t = s[1] << 9
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 11)
    return result
  }

  function next(): number {
    const a = nextU32() >>> 5 // 27 bits
    const b = nextU32() >>> 6 // 26 bits
    return (a * 67108864 + b) / 9007199254740992
  }

  return {
    next,
    exponential(rate: number): number {
      if (!(rate > 0) || !Number.isFinite(rate)) throw new InvalidProblemError(`exponential rate must be > 0, got ${rate}`)
      return -Math.log1p(-next()) / rate
    },
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
