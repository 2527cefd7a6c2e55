import {describe, expect, it} from 'vitest'

import {burstyArrivals, burstyMeanRate, burstyParams, parseTraceCsv, poissonArrivals, TraceFormatError, unitFromHeader} from '../../src/simulate/arrivals.js'
import {createRng} from '../../src/simulate/rng.js'

/** variance / mean of the counts in consecutive windows (1 for Poisson) */
function dispersion(times: Float64Array, windowMs: number, spanMs: number): number {
  const counts = new Array(Math.floor(spanMs / windowMs)).fill(0)
  for (const t of times) {
    const w = Math.floor(t / windowMs)
    if (w < counts.length) counts[w]++
  }
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length
  const variance = counts.reduce((a, c) => a + (c - mean) ** 2, 0) / (counts.length - 1)
  return variance / mean
}

describe('seeded PRNG', () => {
  it('repeats the same sequence for the same seed and stream', () => {
    const a = createRng(42, 1)
    const b = createRng(42, 1)
    const xs = Array.from({length: 1000}, () => a.next())
    expect(Array.from({length: 1000}, () => b.next())).toEqual(xs)
  })
  it('gives different sequences for different seeds or streams', () => {
    const first = (seed: number, stream: number) => {
      const r = createRng(seed, stream)
      return Array.from({length: 5}, () => r.next())
    }
    expect(first(1, 1)).not.toEqual(first(2, 1))
    expect(first(1, 1)).not.toEqual(first(1, 2))
    expect(first(2 ** 40, 1)).not.toEqual(first(0, 1))
  })
  it('is uniform on [0, 1): mean 1/2, variance 1/12, deciles even', () => {
    const r = createRng(7)
    const n = 200_000
    const bins = new Array(10).fill(0)
    let sum = 0
    let sq = 0
    let outside = 0
    for (let i = 0; i < n; i++) {
      const u = r.next()
      if (!(u >= 0 && u < 1)) outside++
      sum += u
      sq += u * u
      bins[Math.floor(u * 10)]++
    }
    expect(outside).toBe(0)
    expect(sum / n).toBeCloseTo(0.5, 2)
    expect(sq / n - (sum / n) ** 2).toBeCloseTo(1 / 12, 3)
    // chi-square with 9 degrees of freedom; 27.9 is the 0.999 quantile
    const chi2 = bins.reduce((a, c) => a + (c - n / 10) ** 2 / (n / 10), 0)
    expect(chi2).toBeLessThan(27.9)
  })
  it('rejects a seed that is not an integer', () => {
    expect(() => createRng(1.5)).toThrow(/safe integer/)
  })
})

describe('Poisson arrivals', () => {
  it('has the requested rate, exponential gaps and dispersion 1', () => {
    const t = poissonArrivals(50, 2000, createRng(5, 1))
    expect(t.length / 2000).toBeGreaterThan(50 * 0.98)
    expect(t.length / 2000).toBeLessThan(50 * 1.02)
    let descents = 0
    for (let i = 1; i < t.length; i++) if (t[i] < t[i - 1]) descents++
    expect(descents).toBe(0)
    expect(t[t.length - 1]).toBeLessThan(2000 * 1000)
    // P(gap > mean) = e^-1 for an exponential gap
    let longer = 0
    for (let i = 1; i < t.length; i++) if (t[i] - t[i - 1] > 20) longer++
    expect(longer / (t.length - 1)).toBeCloseTo(Math.exp(-1), 2)
    const d = dispersion(t, 1000, 2000 * 1000)
    expect(d).toBeGreaterThan(0.85)
    expect(d).toBeLessThan(1.15)
  })
})

describe('bursty (MMPP-2) arrivals', () => {
  it('builds HIGH/LOW rates that keep the mean rate', () => {
    const p = burstyParams(20)
    expect(p).toEqual({highRatePerSecond: 60, lowRatePerSecond: 20 / 3, highMeanS: 10, lowMeanS: 30})
    expect(burstyMeanRate(p)).toBeCloseTo(20, 12)
    expect(burstyMeanRate(burstyParams(7, {peakFactor: 2, highMeanS: 5, lowMeanS: 5}))).toBeCloseTo(7, 12)
  })
  it('refuses a peak factor that would need a negative LOW rate', () => {
    expect(() => burstyParams(10, {peakFactor: 5, highMeanS: 10, lowMeanS: 30})).toThrow(/between 1 and 4/)
  })
  it('has the mean rate in the long run and is overdispersed', () => {
    const durationS = 40_000
    const t = burstyArrivals(burstyParams(20), durationS, createRng(11, 1))
    const rate = t.length / durationS
    expect(rate).toBeGreaterThan(20 * 0.95)
    expect(rate).toBeLessThan(20 * 1.05)
    // counts in 1-s windows vary far more than Poisson's (variance = mean)
    expect(dispersion(t, 1000, durationS * 1000)).toBeGreaterThan(5)
  })
})

describe('trace CSV', () => {
  it('reads a header with a unit', () => {
    const ms = parseTraceCsv('arrival_ms\n100\n150\n400\n')
    expect([...ms.timesMs]).toEqual([0, 50, 300])
    expect(ms).toMatchObject({unit: 'ms', unitSource: 'header', header: 'arrival_ms', originalStart: 100, spanS: 0.3, warnings: []})
    const s = parseTraceCsv('time (s)\r\n1\r\n1.5\r\n3\r\n')
    expect([...s.timesMs]).toEqual([0, 500, 2000])
    expect(s.unit).toBe('s')
  })
  it('guesses the unit without a header and says so', () => {
    const ints = parseTraceCsv('10\n20\n35\n')
    expect(ints.unit).toBe('ms')
    expect(ints.unitSource).toBe('guess')
    expect(ints.warnings[0]).toMatch(/read as milliseconds/)
    const decimals = parseTraceCsv('0.25\n1\n2.5\n')
    expect(decimals.unit).toBe('s')
    expect([...decimals.timesMs]).toEqual([0, 750, 2250])
    expect(decimals.warnings[0]).toMatch(/read as seconds/)
  })
  it('lets the caller set the unit, and warns when the header disagrees', () => {
    expect([...parseTraceCsv('1\n2\n', {unit: 's'}).timesMs]).toEqual([0, 1000])
    const clash = parseTraceCsv('t_ms\n1\n2\n', {unit: 's'})
    expect(clash.unit).toBe('s')
    expect(clash.warnings[0]).toMatch(/suggests ms/)
  })
  it('skips blank lines and comments, tolerates a trailing comma, sorts with a warning', () => {
    const r = parseTraceCsv('# recorded 2026-11\ntimestamp_ms,\n\n30,\n10\n20\n')
    expect([...r.timesMs]).toEqual([0, 10, 20])
    expect(r.warnings).toContain('the trace timestamps were not in order; sorted them')
  })
  it('names the line of a bad value', () => {
    expect(() => parseTraceCsv('ms\n1\n2\nabc\n')).toThrow(new TraceFormatError('line 4: "abc" is not a number'))
    expect(() => parseTraceCsv('1\n-2\n')).toThrow(/line 2: timestamps must be >= 0/)
    expect(() => parseTraceCsv('t,req\n1,a\n')).toThrow(/line 1: expected one column of timestamps, found 2/)
    expect(() => parseTraceCsv('1\n2,3\n')).toThrow(/line 2: expected one column/)
  })
  it('rejects an empty trace and a header without data', () => {
    expect(() => parseTraceCsv('\n\n')).toThrow(/the trace is empty/)
    expect(() => parseTraceCsv('time_ms\n')).toThrow(/has a header \("time_ms"\) but no timestamps/)
  })
  it('stops at maxRows', () => {
    expect(() => parseTraceCsv('1\n2\n3\n', {maxRows: 2})).toThrow(/more than 2 arrivals/)
  })
  it('reads units from common header names', () => {
    expect(unitFromHeader('time_ms')).toBe('ms')
    expect(unitFromHeader('Timestamp (milliseconds)')).toBe('ms')
    expect(unitFromHeader('seconds')).toBe('s')
    expect(unitFromHeader('t_s')).toBe('s')
    expect(unitFromHeader('timestamp')).toBeUndefined()
  })
})
