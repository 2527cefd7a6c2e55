import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {
  DEFAULT_PRICE_TABLE,
  type Sourced,
  fitsInline,
  inlinePayloadBytes,
  loadPriceTable,
  mergePriceTable,
  tieredDurationUsd,
  validatePriceTable,
} from '../../src/cost/prices.js'
import {AmpsUserError} from '../../src/errors.js'

/** Every Sourced leaf of the table with its dotted path. */
function sourcedLeaves(x: unknown, path: string[] = []): [string, Sourced<unknown>][] {
  if (typeof x !== 'object' || x === null) return []
  if ('value' in x && 'source' in x) return [[path.join('.'), x as Sourced<unknown>]]
  return Object.entries(x).flatMap(([k, v]) => sourcedLeaves(v, [...path, k]))
}

describe('the built-in price table', () => {
  it('is valid', () => {
    expect(validatePriceTable(DEFAULT_PRICE_TABLE)).toEqual([])
  })

  it('carries a source, a read date and a kind on every figure', () => {
    const leaves = sourcedLeaves(DEFAULT_PRICE_TABLE)
    expect(leaves.length).toBeGreaterThan(25)
    for (const [path, fig] of leaves) {
      expect(fig.source.length, path).toBeGreaterThan(10)
      expect(fig.read, path).toMatch(/^\d{4}-\d{2}/)
      expect(['aws', 'third-party', 'assumption'], path).toContain(fig.kind)
    }
    for (const inst of DEFAULT_PRICE_TABLE.sagemaker.instances) expect(inst.source).toMatch(/transcription/)
    expect(DEFAULT_PRICE_TABLE.sagemaker.note).toMatch(/TRANSCRIPTION/)
  })

  it('holds the figures of lambda-facts.md', () => {
    const t = DEFAULT_PRICE_TABLE
    expect(t.lambda.requestUsdPerMillion.value).toBe(0.2)
    expect(t.lambda.durationTiers.x86_64.value.map((x) => x.usdPerGbSecond)).toEqual([0.0000166667, 0.000015, 0.0000133334])
    expect(t.lambda.durationTiers.arm64.value.map((x) => x.usdPerGbSecond)).toEqual([0.0000133334, 0.0000120001, 0.0000106667])
    expect(t.lambda.durationTiers.x86_64.value.map((x) => x.upToGbSeconds)).toEqual([6e9, 15e9, null])
    expect(t.lambda.durationTiers.arm64.value.map((x) => x.upToGbSeconds)).toEqual([7.5e9, 18.75e9, null])
    expect(t.lambda.billingGranularityMs.value).toBe(1)
    expect(t.lambda.initBilled.value).toBe(true)
    expect(t.lambda.ephemeralStorageUsdPerGbSecond.value).toBe(0.0000000309)
    expect(t.lambda.ephemeralStorageFreeMb.value).toBe(512)
    expect(t.lambda.freeTier.value).toEqual({requestsPerMonth: 1_000_000, gbSecondsPerMonth: 400_000})
    expect(t.s3.putUsdPerThousand.value).toBe(0.005)
    expect(t.s3.getUsdPerThousand.value).toBe(0.0004)
    expect([t.limits.memoryMinMb.value, t.limits.memoryMaxMb.value, t.limits.memoryStepMb.value]).toEqual([128, 10240, 1])
    expect(t.limits.unzippedPackageBytes.value).toBe(262_144_000)
    expect(t.limits.zippedDirectUploadBytes.value).toBe(50 * 1048576)
    expect(t.limits.syncPayloadBytes.value).toBe(6_291_456)
    expect(t.limits.timeoutS.value).toBe(900)
  })
})

describe('tiered duration pricing', () => {
  it('charges the first tier up to 6 B GB-s on x86_64', () => {
    expect(tieredDurationUsd(DEFAULT_PRICE_TABLE, 'x86_64', 100_000)).toBeCloseTo(1.66667, 10)
  })

  it('walks the tiers: 7 B GB-s on x86_64 = 6 B at the first price + 1 B at the second', () => {
    expect(tieredDurationUsd(DEFAULT_PRICE_TABLE, 'x86_64', 7e9)).toBeCloseTo(6e9 * 0.0000166667 + 1e9 * 0.000015, 3)
  })

  it('reaches the third arm64 tier above 18.75 B GB-s', () => {
    const expected = 7.5e9 * 0.0000133334 + 11.25e9 * 0.0000120001 + 1.25e9 * 0.0000106667
    expect(tieredDurationUsd(DEFAULT_PRICE_TABLE, 'arm64', 20e9)).toBeCloseTo(expected, 3)
  })

  it('takes free GB-s off before pricing', () => {
    expect(tieredDurationUsd(DEFAULT_PRICE_TABLE, 'arm64', 500_000, 400_000)).toBeCloseTo(100_000 * 0.0000133334, 10)
    expect(tieredDurationUsd(DEFAULT_PRICE_TABLE, 'arm64', 300_000, 400_000)).toBe(0)
  })
})

describe('inline payloads', () => {
  it('count base64 and the JSON envelope against the 6 MB limit', () => {
    expect(inlinePayloadBytes(DEFAULT_PRICE_TABLE, 3)).toBe(4 + 1024)
    // 4,717,824 raw bytes → 6,290,432 base64 + 1,024 envelope = exactly 6,291,456
    expect(fitsInline(DEFAULT_PRICE_TABLE, 4_717_824)).toBe(true)
    expect(fitsInline(DEFAULT_PRICE_TABLE, 4_717_825)).toBe(false)
  })
})

describe('loadPriceTable overrides', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amps-prices-'))
  const write = (name: string, body: unknown): string => {
    const path = join(dir, name)
    writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body))
    return path
  }

  it('returns the built-in table without a file', () => {
    expect(loadPriceTable()).toBe(DEFAULT_PRICE_TABLE)
  })

  it('merges a partial file: bare values keep provenance and are marked as overridden', () => {
    const t = loadPriceTable(write('partial.json', {lambda: {requestUsdPerMillion: 0.25}, latency: {s3PutMs: 40}}))
    expect(t.lambda.requestUsdPerMillion.value).toBe(0.25)
    expect(t.lambda.requestUsdPerMillion.kind).toBe('override')
    expect(t.lambda.requestUsdPerMillion.source).toMatch(/partial\.json/)
    expect(t.latency.s3PutMs.value).toBe(40)
    // untouched figures are the defaults
    expect(t.s3.getUsdPerThousand.value).toBe(0.0004)
    expect(t.version).toMatch(/partial\.json$/)
  })

  it('accepts full sourced figures and whole tier lists', () => {
    const tiers = [{upToGbSeconds: null, usdPerGbSecond: 0.00002}]
    const t = loadPriceTable(
      write('full.json', {
        version: 'eu-west-1-2026-11',
        region: 'eu-west-1',
        lambda: {durationTiers: {x86_64: {value: tiers, source: 'my sheet', read: '2026-11'}}},
      }),
    )
    expect(t.version).toBe('eu-west-1-2026-11')
    expect(t.region).toBe('eu-west-1')
    expect(t.lambda.durationTiers.x86_64.value).toEqual(tiers)
    expect(t.lambda.durationTiers.x86_64.source).toBe('my sheet')
    expect(t.lambda.durationTiers.arm64.value).toEqual(DEFAULT_PRICE_TABLE.lambda.durationTiers.arm64.value)
  })

  it('reports every problem at once', () => {
    const path = write('bad.json', {lambda: {requestUsdPerMilion: 1, billingGranularityMs: -1}, limits: {memoryMaxMb: 'big'}})
    try {
      loadPriceTable(path)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(AmpsUserError)
      const e = error as AmpsUserError
      expect(e.ampsCode).toBe('CONFIG_INVALID')
      expect(e.message).toMatch(/"lambda\.requestUsdPerMilion": unknown field/)
      expect(e.message).toMatch(/"limits\.memoryMaxMb": expected a number/)
    }
  })

  it('validates merged values', () => {
    expect(() => mergePriceTable({lambda: {billingGranularityMs: 0}})).toThrow(/billingGranularityMs.*positive/)
    expect(() => mergePriceTable({lambda: {durationTiers: {arm64: [{upToGbSeconds: 5, usdPerGbSecond: 1}]}}})).toThrow(/last tier must be null/)
  })

  it('names a missing file and bad JSON', () => {
    expect(() => loadPriceTable(join(dir, 'nope.json'))).toThrow(/price file not found/)
    expect(() => loadPriceTable(write('broken.json', '{nope'))).toThrow(/not valid JSON/)
  })
})
