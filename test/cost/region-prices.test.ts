/**
 * Prices by region: the built-in dated table for the region when amps has one (src/cost/regions.ts),
 * else us-east-1's with a note; a --prices file is merged on top of the region's table; a plan
 * records the table that priced it, and estimate-cost prices a plan with its region's table.
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {DEFAULT_PRICE_TABLE, PRICE_TABLES, loadPriceTable, priceTableForRegion, validatePriceTable} from '../../src/cost/prices.js'
import {LAMBDA_REGION_PRICES, REGION_PRICES_READ} from '../../src/cost/regions.js'
import {AmpsUserError} from '../../src/errors.js'
import {estimateCost} from '../../src/plan/estimate.js'
import {planFromProfile} from '../../src/plan/index.js'
import {runAmps} from '../helpers/cli.js'
import {syntheticProfile as commandProfile} from '../helpers/synthetic.js'
import {syntheticProfile} from '../simulate/fixtures.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-region-prices-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('price tables by region', () => {
  it('every built-in table is valid, for the region it is filed under, with a dated source on its Lambda prices', () => {
    expect(Object.keys(PRICE_TABLES).length).toBe(LAMBDA_REGION_PRICES.length)
    for (const [region, table] of Object.entries(PRICE_TABLES)) {
      expect(table.region).toBe(region)
      expect(table.version).toContain(region)
      expect(validatePriceTable(table)).toEqual([])
      for (const fig of [table.lambda.requestUsdPerMillion, table.lambda.durationTiers.x86_64, table.lambda.durationTiers.arm64]) {
        expect(fig.read).toMatch(/^\d{4}-\d{2}/)
        expect(fig.source.length).toBeGreaterThan(20)
      }
    }
    expect(priceTableForRegion('us-east-1')).toEqual({table: DEFAULT_PRICE_TABLE})
    expect(priceTableForRegion(undefined)).toEqual({table: DEFAULT_PRICE_TABLE})
  })

  it("the transcription's us-east-1 row agrees with the table read from AWS's page", () => {
    const row = LAMBDA_REGION_PRICES.find((r) => r.region === 'us-east-1')
    expect(row).toBeDefined()
    const l = DEFAULT_PRICE_TABLE.lambda
    expect(row?.x86UsdPerGbSecond).toBe(l.durationTiers.x86_64.value[0].usdPerGbSecond)
    expect(row?.arm64UsdPerGbSecond).toBe(l.durationTiers.arm64.value[0].usdPerGbSecond)
    expect(row?.requestUsdPerMillion).toBe(l.requestUsdPerMillion.value)
    expect(row?.ephemeralStorageUsdPerGbSecond).toBe(l.ephemeralStorageUsdPerGbSecond.value)
  })

  it("each region's table carries its own row, and says what it took from us-east-1", () => {
    const eu = priceTableForRegion('eu-west-1')
    expect(eu.note).toBeUndefined()
    expect(eu.table.version).toBe(`aws-eu-west-1-${REGION_PRICES_READ.slice(0, 7)}`)
    expect(eu.table.lambda.ephemeralStorageUsdPerGbSecond.value).toBe(0.000000034)
    expect(eu.table.lambda.durationTiers.x86_64.value).toEqual([{upToGbSeconds: null, usdPerGbSecond: 0.0000166667}])
    expect(eu.table.lambda.durationTiers.x86_64.note).toMatch(/first-tier/)
    expect(eu.table.s3.getUsdPerThousand).toMatchObject({value: DEFAULT_PRICE_TABLE.s3.getUsdPerThousand.value, kind: 'assumption'})
    expect(eu.table.s3.getUsdPerThousand.note).toMatch(/us-east-1's S3 GET price: no source for eu-west-1's/)
    const cape = priceTableForRegion('af-south-1').table
    expect(cape.lambda.durationTiers.x86_64.value[0].usdPerGbSecond).toBe(0.0000221)
    expect(cape.lambda.durationTiers.arm64.value[0].usdPerGbSecond).toBe(0.00001768)
    expect(cape.lambda.requestUsdPerMillion.value).toBe(0.27)
    expect(cape.lambda.ephemeralStorageUsdPerGbSecond.kind).toBe('assumption')
    // what does not vary by region is us-east-1's, unchanged
    expect(cape.limits).toEqual(DEFAULT_PRICE_TABLE.limits)
    expect(cape.lambda.freeTier).toEqual(DEFAULT_PRICE_TABLE.lambda.freeTier)
  })

  it("an unknown region gets us-east-1's table and a one-line note; a name that is no region is a user error", () => {
    const r = priceTableForRegion('ap-southeast-7')
    expect(r.table).toBe(DEFAULT_PRICE_TABLE)
    expect(r.note).toMatch(
      new RegExp(
        `^amps has no price table for ap-southeast-7 \\(built in: us-east-1, .*eu-west-1.*\\): using us-east-1's \\(${DEFAULT_PRICE_TABLE.version}\\); pass --prices with ap-southeast-7's figures$`,
      ),
    )
    expect(r.note).not.toContain('\n')
    let error: unknown
    try {
      priceTableForRegion('eu-west1')
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(AmpsUserError)
    expect(error).toMatchObject({ampsCode: 'FLAG_INVALID', message: "region 'eu-west1' is not an AWS region name"})
  })

  it("--prices is merged on top of the region's table", () => {
    const file = join(dir, 'cape.json')
    writeFileSync(file, JSON.stringify({lambda: {requestUsdPerMillion: 0.3}}))
    const t = loadPriceTable(file, 'af-south-1')
    expect(t.region).toBe('af-south-1')
    expect(t.lambda.requestUsdPerMillion.value).toBe(0.3)
    expect(t.lambda.durationTiers).toEqual(PRICE_TABLES['af-south-1'].lambda.durationTiers)
  })

  it('a plan records the table that priced it; the same plan costs what its region charges', () => {
    const profile = syntheticProfile()
    const plan = (region: string) => planFromProfile(profile, {sloMs: 1000, arch: 'x86_64', region, prices: loadPriceTable(undefined, region)})
    const home = plan('us-east-1')
    const eu = plan('eu-west-1')
    const cape = plan('af-south-1')
    const other = plan('eu-central-2')
    expect(home.inputs.priceTableVersion).toBe(DEFAULT_PRICE_TABLE.version)
    expect(eu.inputs.priceTableVersion).toBe(PRICE_TABLES['eu-west-1'].version)
    expect(cape.inputs.priceTableVersion).toBe(PRICE_TABLES['af-south-1'].version)
    for (const p of [home, eu, cape]) expect((p.warnings ?? []).join('\n')).not.toMatch(/prices are for/)
    expect(other.inputs.priceTableVersion).toBe(DEFAULT_PRICE_TABLE.version)
    expect(other.warnings).toContain(`prices are for us-east-1 (table ${DEFAULT_PRICE_TABLE.version}); pass --prices with eu-central-2's prices`)
    // Ireland charges what N. Virginia charges for Lambda; Cape Town more
    expect(eu.predicted.costPerMillionUsd).toBeCloseTo(home.predicted.costPerMillionUsd, 9)
    expect(cape.predicted.costPerMillionUsd).toBeGreaterThan(home.predicted.costPerMillionUsd * 1.3)

    // one plan, priced by each table: duration scales with the GB-second price, requests with theirs
    const at = (region: string) => estimateCost(home, {prices: PRICE_TABLES[region], ratePerSecond: 5})
    const us = at('us-east-1').totals
    const za = at('af-south-1').totals
    expect(za.durationUsd / us.durationUsd).toBeCloseTo(0.0000221 / 0.0000166667, 9)
    expect(za.requestsUsd / us.requestsUsd).toBeCloseTo(0.27 / 0.2, 9)
    expect(at('af-south-1').priceTableVersion).toBe(PRICE_TABLES['af-south-1'].version)
  })

  it('amps plan --region picks the table (a note on stderr when it has none); estimate-cost prices the plan by its region', async () => {
    const profilePath = join(dir, 'profile.json')
    writeFileSync(profilePath, JSON.stringify(commandProfile({layers: 12, seed: 7, topology: 'chain', meanLayerMs: 3, meanWeightBytes: 1e6})))
    const capePlan = join(dir, 'cape-plan.json')
    const p = await runAmps(['plan', profilePath, '--slo', '300', '--rate', '5', '--region', 'af-south-1', '-o', capePlan, '--json'])
    expect(p.code, p.stderr).toBe(0)
    expect(p.json.inputs).toMatchObject({region: 'af-south-1', priceTableVersion: PRICE_TABLES['af-south-1'].version})
    expect(p.stderr).not.toMatch(/no price table/)
    const e = await runAmps(['estimate-cost', capePlan, '--json'])
    expect(e.code, e.stderr).toBe(0)
    expect(e.json.priceTableVersion).toBe(PRICE_TABLES['af-south-1'].version)
    expect(e.json.warnings.join('\n')).not.toMatch(/price table/)

    const farPlan = join(dir, 'far-plan.json')
    const f = await runAmps(['plan', profilePath, '--slo', '300', '--rate', '5', '--region', 'ap-southeast-7', '-o', farPlan, '--json'])
    expect(f.code, f.stderr).toBe(0)
    const notes = f.stderr.split('\n').filter((l) => l.includes('no price table for ap-southeast-7'))
    expect(notes).toHaveLength(1)
    expect(notes[0]).toMatch(/^note: amps has no price table for ap-southeast-7 .*pass --prices/)
    const saved = JSON.parse(readFileSync(farPlan, 'utf8'))
    expect(saved.inputs).toMatchObject({region: 'ap-southeast-7', priceTableVersion: DEFAULT_PRICE_TABLE.version})
    expect(saved.warnings.join('\n')).toMatch(/prices are for us-east-1 .*ap-southeast-7/)

    const typo = await runAmps(['plan', profilePath, '--slo', '300', '--region', 'eu-west1', '-o', join(dir, 'never.json')])
    expect(typo.code).toBe(2)
    expect(typo.stderr).toMatch(/^Error: region 'eu-west1' is not an AWS region name\nHint: give a region code such as eu-west-1/m)
  })
})
