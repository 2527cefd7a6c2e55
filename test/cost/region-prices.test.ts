/**
 * Prices by region: the built-in dated table for the region when amps has one, else us-east-1's
 * with a note; a --prices file is merged on top of the region's table; a plan for another region
 * says whose prices it used.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE, PRICE_TABLES, loadPriceTable, priceTableForRegion} from '../../src/cost/prices.js'
import {planFromProfile} from '../../src/plan/index.js'
import {syntheticProfile} from '../simulate/fixtures.js'

describe('price tables by region', () => {
  it('every built-in table is for the region it is filed under, with a dated source on its figures', () => {
    for (const [region, table] of Object.entries(PRICE_TABLES)) {
      expect(table.region).toBe(region)
      expect(table.version).toContain(region)
      expect(table.lambda.requestUsdPerMillion.read).toMatch(/^\d{4}-\d{2}/)
    }
    expect(priceTableForRegion('us-east-1')).toEqual({table: DEFAULT_PRICE_TABLE})
    expect(priceTableForRegion(undefined)).toEqual({table: DEFAULT_PRICE_TABLE})
  })

  it("an unknown region gets us-east-1's table and a note that says so", () => {
    const r = priceTableForRegion('ap-southeast-7')
    expect(r.table).toBe(DEFAULT_PRICE_TABLE)
    expect(r.note).toBe(
      `amps has no price table for ap-southeast-7 (built in: us-east-1): using us-east-1's (${DEFAULT_PRICE_TABLE.version}); pass --prices with ap-southeast-7's figures`,
    )
  })

  it("--prices is merged on top of the region's table", () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-prices-'))
    try {
      const file = join(dir, 'eu.json')
      writeFileSync(file, JSON.stringify({region: 'eu-west-1', lambda: {requestUsdPerMillion: 0.2}}))
      const t = loadPriceTable(file, 'eu-west-1')
      expect(t.region).toBe('eu-west-1')
      expect(t.lambda.durationTiers).toEqual(DEFAULT_PRICE_TABLE.lambda.durationTiers)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('a plan for a region without a table carries the note; with the right table, none', () => {
    const other = planFromProfile(syntheticProfile(), {sloMs: 1000, region: 'eu-central-2', prices: loadPriceTable(undefined, 'eu-central-2')})
    expect(other.inputs.region).toBe('eu-central-2')
    expect(other.warnings).toContain(`prices are for us-east-1 (table ${DEFAULT_PRICE_TABLE.version}); pass --prices with eu-central-2's prices`)
    const home = planFromProfile(syntheticProfile(), {sloMs: 1000, region: 'us-east-1', prices: loadPriceTable(undefined, 'us-east-1')})
    expect((home.warnings ?? []).join('\n')).not.toMatch(/prices are for/)
  })
})
