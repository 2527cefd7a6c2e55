/**
 * Arrival processes for the simulator. Every generator returns arrival times in milliseconds from
 * the start of the run, ascending, as a Float64Array.
 *
 * - Poisson(rate): exponential inter-arrival gaps with mean 1/rate.
 * - Bursty: a two-state Markov-modulated Poisson process (MMPP-2, a special MAP-2). The process
 *   alternates between a HIGH state (Poisson at `highRatePerSecond`) and a LOW state (Poisson at
 *   `lowRatePerSecond`); the time spent in each state is exponential with mean `highMeanS` /
 *   `lowMeanS`. The first state is drawn from the stationary distribution, so the long-run mean
 *   rate is (high·highMeanS + low·lowMeanS) / (highMeanS + lowMeanS). `burstyParams()` builds one
 *   with a chosen mean rate (default: 3× the mean rate for 10 s on average, λ/3 for 30 s).
 * - Trace: timestamps read from a CSV (see `parseTraceCsv`).
 */
import {InvalidProblemError} from '../errors.js'
import type {Rng} from './rng.js'

export interface BurstyParams {
  highRatePerSecond: number
  lowRatePerSecond: number
  /** mean sojourn in the HIGH state (s) */
  highMeanS: number
  /** mean sojourn in the LOW state (s) */
  lowMeanS: number
}

/** A growable Float64Array. */
class TimeBuffer {
  private data: Float64Array
  length = 0
  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(16, Math.ceil(capacity)))
  }
  push(x: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2)
      bigger.set(this.data)
      this.data = bigger
    }
    this.data[this.length++] = x
  }
  done(): Float64Array {
    return this.data.slice(0, this.length)
  }
}

function checkRate(name: string, rate: number, allowZero = false): void {
  if (!Number.isFinite(rate) || rate < 0 || (!allowZero && rate === 0)) {
    throw new InvalidProblemError(`${name} must be a finite number ${allowZero ? '>= 0' : '> 0'}, got ${rate}`)
  }
}

/** Poisson arrivals at `ratePerSecond` over [0, durationS). */
export function poissonArrivals(ratePerSecond: number, durationS: number, rng: Rng): Float64Array {
  checkRate('rate', ratePerSecond)
  checkRate('duration', durationS)
  const endMs = durationS * 1000
  const ratePerMs = ratePerSecond / 1000
  const out = new TimeBuffer(ratePerSecond * durationS * 1.1 + 16)
  let t = rng.exponential(ratePerMs)
  while (t < endMs) {
    out.push(t)
    t += rng.exponential(ratePerMs)
  }
  return out.done()
}

/** Long-run mean rate (requests/s) of a bursty process. */
export function burstyMeanRate(p: BurstyParams): number {
  return (p.highRatePerSecond * p.highMeanS + p.lowRatePerSecond * p.lowMeanS) / (p.highMeanS + p.lowMeanS)
}

/**
 * A bursty process whose long-run mean rate is `meanRatePerSecond`: HIGH = peakFactor × mean for
 * `highMeanS` on average, LOW for `lowMeanS` on average at the rate that keeps the mean. Requires
 * peakFactor ≤ (highMeanS + lowMeanS) / highMeanS so the LOW rate is not negative.
 */
export function burstyParams(meanRatePerSecond: number, options: {peakFactor?: number; highMeanS?: number; lowMeanS?: number} = {}): BurstyParams {
  const peakFactor = options.peakFactor ?? 3
  const highMeanS = options.highMeanS ?? 10
  const lowMeanS = options.lowMeanS ?? 30
  checkRate('mean rate', meanRatePerSecond)
  checkRate('burst high sojourn', highMeanS)
  checkRate('burst low sojourn', lowMeanS)
  const maxFactor = (highMeanS + lowMeanS) / highMeanS
  if (!(peakFactor >= 1) || peakFactor > maxFactor + 1e-12) {
    throw new InvalidProblemError(
      `burst peak factor must be between 1 and ${round3(maxFactor)} for sojourns ${highMeanS} s high / ${lowMeanS} s low, got ${peakFactor}`,
    )
  }
  const high = meanRatePerSecond * peakFactor
  const low = Math.max(0, (meanRatePerSecond * (highMeanS + lowMeanS) - high * highMeanS) / lowMeanS)
  return {highRatePerSecond: high, lowRatePerSecond: low, highMeanS, lowMeanS}
}

/** MMPP-2 arrivals over [0, durationS), starting in a state drawn from the stationary distribution. */
export function burstyArrivals(p: BurstyParams, durationS: number, rng: Rng): Float64Array {
  checkRate('burst high rate', p.highRatePerSecond)
  checkRate('burst low rate', p.lowRatePerSecond, true)
  checkRate('burst high sojourn', p.highMeanS)
  checkRate('burst low sojourn', p.lowMeanS)
  checkRate('duration', durationS)
  const endMs = durationS * 1000
  const out = new TimeBuffer(burstyMeanRate(p) * durationS * 1.2 + 16)
  let high = rng.next() < p.highMeanS / (p.highMeanS + p.lowMeanS)
  let t = 0
  while (t < endMs) {
    const stateEnd = Math.min(endMs, t + rng.exponential(1 / ((high ? p.highMeanS : p.lowMeanS) * 1000)))
    const ratePerMs = (high ? p.highRatePerSecond : p.lowRatePerSecond) / 1000
    if (ratePerMs > 0) {
      // Exponential gaps are memoryless, so restarting the clock at each switch is exact.
      let a = t + rng.exponential(ratePerMs)
      while (a < stateEnd) {
        out.push(a)
        a += rng.exponential(ratePerMs)
      }
    }
    t = stateEnd
    high = !high
  }
  return out.done()
}

export type TraceUnit = 's' | 'ms'

export interface ParsedTrace {
  /** arrival times in ms, ascending, shifted so the first arrival is at 0 */
  timesMs: Float64Array
  unit: TraceUnit
  /** how the unit was decided */
  unitSource: 'header' | 'option' | 'guess'
  header?: string
  /** original first timestamp in the file's unit (before the shift) */
  originalStart: number
  /** span from first to last arrival (s) */
  spanS: number
  warnings: string[]
}

/** A malformed trace file: the message names the line. */
export class TraceFormatError extends InvalidProblemError {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'TraceFormatError'
  }
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** Unit implied by a header name, e.g. "t_ms", "timestamp (ms)", "seconds", "time_s". */
export function unitFromHeader(header: string): TraceUnit | undefined {
  const h = header
    .trim()
    .toLowerCase()
    .replace(/^["']|["']$/g, '')
  if (/(^|[^a-z])(ms|msec|msecs|millis|milliseconds?)([^a-z]|$)/.test(h)) return 'ms'
  if (/(^|[^a-z])(s|sec|secs|seconds?)([^a-z]|$)/.test(h)) return 's'
  return undefined
}

/**
 * Parse an arrival trace: a CSV with ONE column of timestamps, one per line.
 *
 * - Header: if the first non-blank line is not a number it is a header. A header naming a unit
 *   (`ms`, `millis`, `milliseconds`; `s`, `sec`, `seconds` as a word, e.g. "arrival_ms", "time (s)")
 *   sets the unit.
 * - Unit otherwise: `options.unit` if given; else a guess: seconds if any value has a fractional
 *   part, milliseconds if every value is an integer (arrivals at whole seconds are implausible).
 *   The guess is reported in `warnings` and `unitSource`.
 * - Blank lines and lines starting with `#` are skipped; `\r\n` is fine. A second column, a
 *   non-number, a negative or non-finite value is an error naming the line.
 * - Unsorted timestamps are sorted (with a warning). Times are shifted so the first arrival is 0.
 */
export function parseTraceCsv(text: string, options: {unit?: TraceUnit; maxRows?: number} = {}): ParsedTrace {
  const lines = text.split(/\r?\n/)
  const warnings: string[] = []
  const values: number[] = []
  let header: string | undefined
  let sawData = false
  let anyFraction = false
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim()
    if (raw === '' || raw.startsWith('#')) continue
    const lineNo = i + 1
    if (raw.includes(',') || raw.includes(';') || raw.includes('\t')) {
      // A single trailing comma is tolerated ("12.5,"); anything else is a second column.
      const cells = raw.split(/[,;\t]/).map((c) => c.trim())
      if (cells.slice(1).some((c) => c !== '')) {
        throw new TraceFormatError(`line ${lineNo}: expected one column of timestamps, found ${cells.length} ("${clip(raw)}")`)
      }
    }
    const cell = raw
      .split(/[,;\t]/)[0]
      .trim()
      .replace(/^["']|["']$/g, '')
    if (!NUMBER.test(cell)) {
      if (!sawData && header === undefined) {
        header = cell
        continue
      }
      throw new TraceFormatError(`line ${lineNo}: "${clip(cell)}" is not a number`)
    }
    const v = Number(cell)
    if (!Number.isFinite(v)) throw new TraceFormatError(`line ${lineNo}: "${clip(cell)}" is not a finite number`)
    if (v < 0) throw new TraceFormatError(`line ${lineNo}: timestamps must be >= 0, got ${cell}`)
    if (!Number.isInteger(v)) anyFraction = true
    sawData = true
    values.push(v)
    if (options.maxRows !== undefined && values.length > options.maxRows) {
      throw new TraceFormatError(`the trace has more than ${options.maxRows} arrivals`)
    }
  }
  if (values.length === 0)
    throw new TraceFormatError(header === undefined ? 'the trace is empty' : `the trace has a header ("${clip(header)}") but no timestamps`)

  let unit: TraceUnit
  let unitSource: ParsedTrace['unitSource']
  const headerUnit = header === undefined ? undefined : unitFromHeader(header)
  if (options.unit) {
    unit = options.unit
    unitSource = 'option'
    if (headerUnit && headerUnit !== options.unit) {
      warnings.push(`the trace header "${header}" suggests ${headerUnit} but --trace-unit ${options.unit} was given; using ${options.unit}`)
    }
  } else if (headerUnit) {
    unit = headerUnit
    unitSource = 'header'
  } else {
    unit = anyFraction ? 's' : 'ms'
    unitSource = 'guess'
    warnings.push(
      anyFraction
        ? 'trace unit not stated; read as seconds because some timestamps have a fractional part (name the column e.g. "time_ms" or pass --trace-unit)'
        : 'trace unit not stated; read as milliseconds because every timestamp is an integer (name the column e.g. "time_s" or pass --trace-unit)',
    )
  }

  let sorted = true
  for (let i = 1; i < values.length; i++) {
    if (values[i] < values[i - 1]) {
      sorted = false
      break
    }
  }
  if (!sorted) {
    values.sort((a, b) => a - b)
    warnings.push('the trace timestamps were not in order; sorted them')
  }
  const scale = unit === 's' ? 1000 : 1
  const start = values[0]
  const timesMs = new Float64Array(values.length)
  for (let i = 0; i < values.length; i++) timesMs[i] = (values[i] - start) * scale
  return {
    timesMs,
    unit,
    unitSource,
    header,
    originalStart: start,
    spanS: timesMs[timesMs.length - 1] / 1000,
    warnings,
  }
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 37) + '...' : s
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
