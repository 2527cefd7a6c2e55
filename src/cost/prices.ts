/**
 * Every price, limit and platform constant the planner, the estimator and the simulator use, in ONE
 * data module. Each figure carries where it came from and when it was read, so a user can check it
 * and replace it: `amps plan --prices my-prices.json` (see `loadPriceTable`). Prices differ by region:
 * `amps plan --region` picks the region's dated table (PRICE_TABLES, rows in ./regions.ts).
 *
 * Figures marked `kind: 'aws'` are as documented by AWS (Lambda quotas page, Lambda pricing page,
 * Compute Blog); `kind: 'third-party'` are transcriptions from non-AWS pages; `kind: 'assumption'`
 * are amps's own working values where AWS publishes nothing (latency of the plumbing around a
 * handler). All were collected in /work/shared/lambda-facts.md, read 2026-11.
 *
 * Pure data + validation: no network. Reading an override file is the only I/O here.
 */
import {existsSync, readFileSync} from 'node:fs'

import {AmpsUserError} from '../errors.js'
import {type Arch, LAMBDA} from '../platform/lambda.js'
import {LAMBDA_REGION_PRICES, REGION_PRICE_SOURCES, REGION_PRICES_NOTE, REGION_PRICES_READ, type RegionLambdaPrices} from './regions.js'

/** A number (or other value) with its provenance. */
export interface Sourced<T> {
  value: T
  /** where the figure comes from (page title or URL) */
  source: string
  /** when it was read (YYYY-MM or YYYY-MM-DD) */
  read: string
  kind: 'aws' | 'third-party' | 'assumption' | 'override'
  note?: string
}

/** One duration price tier: applies to GB-seconds up to `upToGbSeconds` per month (null = above). */
export interface DurationTier {
  upToGbSeconds: number | null
  usdPerGbSecond: number
}

export interface SageMakerInstance {
  type: string
  vcpus: number
  memoryGiB: number
  arch: Arch
  usdPerHour: number
  source: string
  read: string
}

export interface PriceTable {
  /** identity recorded in plan.json (`inputs.priceTableVersion`) */
  version: string
  region: string
  currency: 'USD'
  lambda: {
    requestUsdPerMillion: Sourced<number>
    durationTiers: Record<Arch, Sourced<DurationTier[]>>
    /** billed duration is rounded UP to a multiple of this (ms) */
    billingGranularityMs: Sourced<number>
    /** INIT (cold start) duration is billed like handler time */
    initBilled: Sourced<boolean>
    ephemeralStorageUsdPerGbSecond: Sourced<number>
    ephemeralStorageFreeMb: Sourced<number>
    freeTier: Sourced<{requestsPerMonth: number; gbSecondsPerMonth: number}>
  }
  s3: {
    putUsdPerThousand: Sourced<number>
    getUsdPerThousand: Sourced<number>
  }
  limits: {
    memoryMinMb: Sourced<number>
    memoryMaxMb: Sourced<number>
    memoryStepMb: Sourced<number>
    /** memory at which a function has one full vCPU */
    fullVcpuMemoryMb: Sourced<number>
    maxVcpus: Sourced<number>
    timeoutS: Sourced<number>
    unzippedPackageBytes: Sourced<number>
    zippedDirectUploadBytes: Sourced<number>
    syncPayloadBytes: Sourced<number>
    ephemeralStorageMaxMb: Sourced<number>
    initMaxS: Sourced<number>
  }
  /** latency of the plumbing around a handler: AWS documents none of these */
  latency: {
    /** client-side round trip of one synchronous Invoke, outside the handler (ms, not billed) */
    invokeRoundTripMs: Sourced<number>
    s3PutMs: Sourced<number>
    s3GetMs: Sourced<number>
    s3MbPerS: Sourced<number>
    /** platform part of a cold start (sandbox + code download), before the runtime's own init */
    coldStartBaseMs: Sourced<number>
    coldStartMsPerPackageMb: Sourced<number>
    /** how long an idle execution environment stays warm (s) */
    keepAliveS: Sourced<number>
  }
  packaging: {
    /** unzipped bytes of the runtime + handler in every stage bundle (weights excluded) */
    runtimeBytes: Sourced<number>
    /** optional: the same for arm64 stages when their runtime differs (a native library per architecture); absent: runtimeBytes */
    runtimeBytesArm64?: Sourced<number>
    /** inline payloads carry tensors as base64 inside JSON: encoded = ceil(raw/3)·4 + envelope */
    payloadEnvelopeBytes: Sourced<number>
  }
  /** always-on alternative: SageMaker real-time endpoint instances (on-demand, per hour) */
  sagemaker: {
    hoursPerMonth: Sourced<number>
    /** target utilisation of an always-on instance before adding another */
    maxUtilisation: Sourced<number>
    instances: SageMakerInstance[]
    note: string
  }
}

const READ = '2026-11'
const PRICING = 'AWS Lambda pricing page (aws.amazon.com/lambda/pricing), via /work/shared/lambda-facts.md'
const QUOTAS = 'AWS Lambda quotas page (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html), via /work/shared/lambda-facts.md'

function aws<T>(value: T, source: string, note?: string): Sourced<T> {
  return {value, source, read: READ, kind: 'aws', ...(note ? {note} : {})}
}
function thirdParty<T>(value: T, source: string, note?: string): Sourced<T> {
  return {value, source, read: READ, kind: 'third-party', ...(note ? {note} : {})}
}
function assumption<T>(value: T, note: string): Sourced<T> {
  return {value, source: 'amps working value (no AWS figure)', read: READ, kind: 'assumption', note}
}

/** The built-in table: us-east-1, as read 2026-11. */
export const DEFAULT_PRICE_TABLE: PriceTable = {
  version: 'aws-us-east-1-2026-11',
  region: 'us-east-1',
  currency: 'USD',
  lambda: {
    requestUsdPerMillion: aws(0.2, PRICING),
    durationTiers: {
      x86_64: aws(
        [
          {upToGbSeconds: 6e9, usdPerGbSecond: 0.0000166667},
          {upToGbSeconds: 15e9, usdPerGbSecond: 0.000015},
          {upToGbSeconds: null, usdPerGbSecond: 0.0000133334},
        ],
        PRICING,
        'first 6 B GB-s/month, next 9 B, above 15 B',
      ),
      arm64: aws(
        [
          {upToGbSeconds: 7.5e9, usdPerGbSecond: 0.0000133334},
          {upToGbSeconds: 18.75e9, usdPerGbSecond: 0.0000120001},
          {upToGbSeconds: null, usdPerGbSecond: 0.0000106667},
        ],
        PRICING,
        'first 7.5 B GB-s/month, next 11.25 B, above 18.75 B',
      ),
    },
    billingGranularityMs: aws(1, PRICING, 'per invocation, rounded up'),
    initBilled: aws(true, 'AWS Compute Blog: INIT phase billing, effective 2025-08-01, via lambda-facts.md'),
    ephemeralStorageUsdPerGbSecond: thirdParty(0.0000000309, 'AWS price-list transcription, via lambda-facts.md', 'for /tmp above the free 512 MB'),
    ephemeralStorageFreeMb: aws(512, PRICING),
    freeTier: aws({requestsPerMonth: 1_000_000, gbSecondsPerMonth: 400_000}, PRICING, 'per month; reported with and without'),
  },
  s3: {
    putUsdPerThousand: thirdParty(0.005, 'S3 Standard pricing, third-party transcription via lambda-facts.md'),
    getUsdPerThousand: thirdParty(0.0004, 'S3 Standard pricing, third-party transcription via lambda-facts.md'),
  },
  limits: {
    memoryMinMb: aws(LAMBDA.memoryMinMb, QUOTAS),
    memoryMaxMb: aws(LAMBDA.memoryMaxMb, QUOTAS),
    memoryStepMb: aws(LAMBDA.memoryStepMb, QUOTAS),
    fullVcpuMemoryMb: aws(LAMBDA.fullVcpuMemoryMb, QUOTAS, '1,769 MB = 1 vCPU-second per second'),
    maxVcpus: aws(LAMBDA.maxVcpus, QUOTAS, '10,240 MB = 6 vCPUs'),
    timeoutS: aws(LAMBDA.timeoutS, QUOTAS),
    unzippedPackageBytes: aws(LAMBDA.unzippedPackageBytes, QUOTAS, 'error text: "Unzipped size must be smaller than 262144000 bytes"'),
    zippedDirectUploadBytes: aws(LAMBDA.zippedDirectUploadBytes, QUOTAS, 'larger zips upload through S3'),
    syncPayloadBytes: aws(LAMBDA.syncPayloadBytes, QUOTAS, '6 MB request and response (measured 6,291,456 B)'),
    ephemeralStorageMaxMb: aws(LAMBDA.ephemeralStorageMaxMb, QUOTAS),
    initMaxS: aws(LAMBDA.initMaxS, QUOTAS, 'on-demand INIT'),
  },
  latency: {
    invokeRoundTripMs: assumption(15, 'client-side synchronous Invoke round trip outside the handler; same value as the simulator'),
    s3PutMs: assumption(25, 'first-byte latency of one S3 PUT from Lambda'),
    s3GetMs: assumption(15, 'first-byte latency of one S3 GET from Lambda'),
    s3MbPerS: assumption(80, 'Lambda <-> S3 throughput of one stream'),
    coldStartBaseMs: thirdParty(
      240,
      'third-party Node 20 / 256 MB cold starts: 242 ms (1 KB package) … 3,184 ms (64 MB), via lambda-facts.md',
      'intercept of the linear fit',
    ),
    coldStartMsPerPackageMb: thirdParty(46, 'same third-party measurements, via lambda-facts.md', 'slope of the linear fit'),
    keepAliveS: assumption(300, 'idle execution environments are reclaimed after minutes; AWS documents no figure'),
  },
  packaging: {
    runtimeBytes: assumption(
      1536 * 1024,
      'handler + tfjs + wasm backend, unzipped, as `amps deploy --dry-run` builds it: index.mjs + two .wasm files = 1,451,824 B on 2026-11-23 (MobileNetV2 stages), rounded up for model.json; deploy writes the measured size back into plan.json',
    ),
    payloadEnvelopeBytes: assumption(1024, 'JSON envelope around base64 tensors in a sync payload'),
  },
  sagemaker: {
    hoursPerMonth: aws(730, 'AWS pricing calculator convention (730 hours per month)'),
    maxUtilisation: assumption(0.7, 'add an instance before it is 70 % busy'),
    instances: [
      {
        type: 'ml.t3.medium',
        vcpus: 2,
        memoryGiB: 4,
        arch: 'x86_64',
        usdPerHour: 0.05,
        source: 'third-party transcription: wring.co "SageMaker Inference: Real-Time vs Serverless" (2026-03-15), us-east-1 on-demand',
        read: READ,
      },
      {
        type: 'ml.c7g.large',
        vcpus: 2,
        memoryGiB: 4,
        arch: 'arm64',
        usdPerHour: 0.1,
        source: 'third-party transcription: wring.co "SageMaker Inference: Real-Time vs Serverless" (2026-03-15), us-east-1 on-demand',
        read: READ,
      },
      {
        type: 'ml.m5.xlarge',
        vcpus: 4,
        memoryGiB: 16,
        arch: 'x86_64',
        usdPerHour: 0.269,
        source: 'third-party transcription: zircon.tech "The real cost of running AI models on AWS SageMaker" (us-east-1, October 2025)',
        read: READ,
      },
    ],
    note:
      'TRANSCRIPTION, not an AWS figure: third-party pages quoting SageMaker real-time on-demand prices for us-east-1 ' +
      '(they disagree by up to 2x for the same instance; e.g. another page gives ml.m5.xlarge ≈ $0.135/h). ' +
      'Check aws.amazon.com/sagemaker/pricing and override with --prices.',
  },
}

// ---------------------------------------------------------------------------------------------
// Derived helpers (pure)

/** Request price in USD per invocation. */
export function requestUsd(table: PriceTable): number {
  return table.lambda.requestUsdPerMillion.value / 1e6
}

/** First-tier duration price (USD per GB-s) — what the planner optimises with. */
export function firstTierUsdPerGbS(table: PriceTable, arch: Arch): number {
  return table.lambda.durationTiers[arch].value[0].usdPerGbSecond
}

/**
 * Duration charge for `gbSeconds` in one month, walking the tiers (and optionally removing the
 * free-tier GB-s first, which AWS applies across both architectures).
 */
export function tieredDurationUsd(table: PriceTable, arch: Arch, gbSeconds: number, freeGbSeconds = 0): number {
  let remaining = Math.max(0, gbSeconds - freeGbSeconds)
  let used = 0
  let usd = 0
  for (const tier of table.lambda.durationTiers[arch].value) {
    const cap = tier.upToGbSeconds === null ? Infinity : tier.upToGbSeconds - used
    const take = Math.min(remaining, Math.max(0, cap))
    usd += take * tier.usdPerGbSecond
    remaining -= take
    used += take
    if (remaining <= 0) break
  }
  return usd
}

/** Bytes of a sync payload carrying `rawBytes` of tensors as base64 in JSON. */
export function inlinePayloadBytes(table: PriceTable, rawBytes: number): number {
  return Math.ceil(rawBytes / 3) * 4 + table.packaging.payloadEnvelopeBytes.value
}

/** True when `rawBytes` of tensors fit one synchronous invoke payload (else they go through S3). */
export function fitsInline(table: PriceTable, rawBytes: number): boolean {
  return inlinePayloadBytes(table, rawBytes) <= table.limits.syncPayloadBytes.value
}

// ---------------------------------------------------------------------------------------------
// Overrides: `--prices file.json`

type Path = (string | number)[]

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function isSourced(x: unknown): x is Sourced<unknown> {
  return isRecord(x) && 'value' in x && 'source' in x
}

/**
 * Merge a partial override into `base`. Leaves may be given as a bare value (`"s3PutMs": 30`), which
 * keeps the provenance fields but marks the figure as overridden, or as a full `{value, source,
 * read}` object. Unknown keys are errors (a typo must not silently keep the default).
 */
function mergeInto(base: unknown, override: unknown, path: Path, file: string, problems: string[]): unknown {
  const where = path.join('.')
  if (isSourced(base)) {
    if (isSourced(override)) {
      const merged = {...base, ...override, kind: 'override' as const}
      const value = mergeInto(base.value, override.value, [...path, 'value'], file, problems)
      return {...merged, value}
    }
    const value = mergeInto(base.value, override, path, file, problems)
    return {...base, value, source: `override file ${file}`, kind: 'override', note: `was ${JSON.stringify(base.value)} (${base.source})`}
  }
  if (Array.isArray(base)) {
    if (!Array.isArray(override)) {
      problems.push(`"${where}": expected an array`)
      return base
    }
    return override
  }
  if (isRecord(base)) {
    if (!isRecord(override)) {
      problems.push(`"${where}": expected an object`)
      return base
    }
    const out: Record<string, unknown> = {...base}
    for (const [key, value] of Object.entries(override)) {
      if (!(key in base)) {
        problems.push(`"${[...path, key].join('.')}": unknown field (known: ${Object.keys(base).join(', ')})`)
        continue
      }
      out[key] = mergeInto(base[key], value, [...path, key], file, problems)
    }
    return out
  }
  if (typeof base !== typeof override) {
    problems.push(`"${where}": expected a ${typeof base}, got ${JSON.stringify(override)}`)
    return base
  }
  return override
}

/** Every problem with a (merged) table, as `"path": expected …, got …` lines. */
export function validatePriceTable(t: PriceTable): string[] {
  const problems: string[] = []
  const positive = (v: unknown, where: string, allowZero = false): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
      problems.push(`"${where}": expected a ${allowZero ? 'non-negative' : 'positive'} number, got ${JSON.stringify(v)}`)
    }
  }
  if (typeof t.version !== 'string' || t.version.length === 0) problems.push('"version": expected a non-empty string')
  if (typeof t.region !== 'string' || t.region.length === 0) problems.push('"region": expected a non-empty string')
  positive(t.lambda.requestUsdPerMillion.value, 'lambda.requestUsdPerMillion', true)
  for (const arch of ['x86_64', 'arm64'] as const) {
    const tiers = t.lambda.durationTiers[arch].value
    if (!Array.isArray(tiers) || tiers.length === 0) {
      problems.push(`"lambda.durationTiers.${arch}": expected a non-empty array of {upToGbSeconds, usdPerGbSecond}`)
      continue
    }
    let last = 0
    tiers.forEach((tier, i) => {
      const at = `lambda.durationTiers.${arch}[${i}]`
      if (!isRecord(tier)) return void problems.push(`"${at}": expected {upToGbSeconds, usdPerGbSecond}`)
      positive(tier.usdPerGbSecond, `${at}.usdPerGbSecond`)
      const up = tier.upToGbSeconds
      if (i === tiers.length - 1) {
        if (up !== null) problems.push(`"${at}.upToGbSeconds": the last tier must be null (unbounded)`)
      } else if (typeof up !== 'number' || !(up > last)) {
        problems.push(`"${at}.upToGbSeconds": expected a number above ${last}, got ${JSON.stringify(up)}`)
      } else last = up
    })
  }
  positive(t.lambda.billingGranularityMs.value, 'lambda.billingGranularityMs')
  if (typeof t.lambda.initBilled.value !== 'boolean') problems.push('"lambda.initBilled": expected true or false')
  positive(t.lambda.ephemeralStorageUsdPerGbSecond.value, 'lambda.ephemeralStorageUsdPerGbSecond', true)
  positive(t.lambda.ephemeralStorageFreeMb.value, 'lambda.ephemeralStorageFreeMb', true)
  positive(t.lambda.freeTier.value?.requestsPerMonth, 'lambda.freeTier.requestsPerMonth', true)
  positive(t.lambda.freeTier.value?.gbSecondsPerMonth, 'lambda.freeTier.gbSecondsPerMonth', true)
  positive(t.s3.putUsdPerThousand.value, 's3.putUsdPerThousand', true)
  positive(t.s3.getUsdPerThousand.value, 's3.getUsdPerThousand', true)
  for (const [key, fig] of Object.entries(t.limits)) positive(fig.value, `limits.${key}`)
  const lim = t.limits
  if (Number.isInteger(lim.memoryMinMb.value) && Number.isInteger(lim.memoryMaxMb.value) && lim.memoryMinMb.value > lim.memoryMaxMb.value) {
    problems.push(`"limits.memoryMinMb": ${lim.memoryMinMb.value} is above limits.memoryMaxMb ${lim.memoryMaxMb.value}`)
  }
  for (const key of ['memoryMinMb', 'memoryMaxMb', 'memoryStepMb'] as const) {
    if (!Number.isInteger(lim[key].value)) problems.push(`"limits.${key}": expected a whole number of MB, got ${lim[key].value}`)
  }
  for (const [key, fig] of Object.entries(t.latency)) positive(fig.value, `latency.${key}`, key !== 's3MbPerS' && key !== 'keepAliveS')
  positive(t.packaging.runtimeBytes.value, 'packaging.runtimeBytes', true)
  if (t.packaging.runtimeBytesArm64 !== undefined) positive(t.packaging.runtimeBytesArm64.value, 'packaging.runtimeBytesArm64', true)
  positive(t.packaging.payloadEnvelopeBytes.value, 'packaging.payloadEnvelopeBytes', true)
  positive(t.sagemaker.hoursPerMonth.value, 'sagemaker.hoursPerMonth')
  const u = t.sagemaker.maxUtilisation.value
  if (!(typeof u === 'number' && u > 0 && u <= 1)) problems.push(`"sagemaker.maxUtilisation": expected a number in (0, 1], got ${JSON.stringify(u)}`)
  if (!Array.isArray(t.sagemaker.instances)) problems.push('"sagemaker.instances": expected an array')
  else
    t.sagemaker.instances.forEach((inst, i) => {
      const at = `sagemaker.instances[${i}]`
      if (!isRecord(inst) || typeof inst.type !== 'string') return void problems.push(`"${at}.type": expected a string`)
      positive(inst.vcpus, `${at}.vcpus`)
      positive(inst.memoryGiB, `${at}.memoryGiB`)
      positive(inst.usdPerHour, `${at}.usdPerHour`)
      if (inst.arch !== 'x86_64' && inst.arch !== 'arm64') problems.push(`"${at}.arch": expected "x86_64" or "arm64"`)
    })
  return problems
}

/** Apply a parsed override object to the built-in table (exported for tests). */
export function mergePriceTable(override: unknown, file = '(inline)', base: PriceTable = DEFAULT_PRICE_TABLE): PriceTable {
  const problems: string[] = []
  if (!isRecord(override)) {
    throw new AmpsUserError('CONFIG_INVALID', `price file ${file}: expected a JSON object at the top level`)
  }
  const merged = mergeInto(base, override, [], file, problems) as PriceTable
  if (problems.length === 0) problems.push(...validatePriceTable(merged))
  if (problems.length > 0) {
    throw new AmpsUserError('CONFIG_INVALID', `price file ${file} is invalid: ${problems.join('; ')}`, {
      suggestions: ['give only the fields you change, e.g. {"lambda": {"requestUsdPerMillion": 0.25}}; a leaf may be a bare number'],
      details: {problems},
    })
  }
  if (!('version' in override)) merged.version = `${base.version}+${file.split(/[\\/]/).pop()}`
  return merged
}

/**
 * The price table of a region from its row in src/cost/regions.ts: that row's Lambda prices (dated,
 * with their sources), us-east-1's figures for everything that does not vary by region (limits,
 * latencies, free tier, billing granularity). us-east-1 keeps DEFAULT_PRICE_TABLE (AWS's page,
 * with its volume tiers).
 */
function regionalTable(row: RegionLambdaPrices): PriceTable {
  const base = DEFAULT_PRICE_TABLE
  const source = row.sources.map((k) => REGION_PRICE_SOURCES[k]).join('; ')
  const transcribed = <T>(value: T, note?: string): Sourced<T> => ({value, source, read: REGION_PRICES_READ, kind: 'third-party', ...(note ? {note} : {})})
  const firstTier = (usdPerGbSecond: number) => transcribed([{upToGbSeconds: null, usdPerGbSecond}], REGION_PRICES_NOTE)
  const fromHome = <T>(fig: Sourced<T>, what: string): Sourced<T> => ({
    ...fig,
    kind: 'assumption',
    note: `${base.region}'s ${what}: no source for ${row.region}'s; check it and override with --prices`,
  })
  return {
    ...base,
    version: `aws-${row.region}-${REGION_PRICES_READ.slice(0, 7)}`,
    region: row.region,
    lambda: {
      ...base.lambda,
      requestUsdPerMillion: transcribed(row.requestUsdPerMillion),
      durationTiers: {x86_64: firstTier(row.x86UsdPerGbSecond), arm64: firstTier(row.arm64UsdPerGbSecond)},
      ephemeralStorageUsdPerGbSecond:
        row.ephemeralStorageUsdPerGbSecond === undefined
          ? fromHome(base.lambda.ephemeralStorageUsdPerGbSecond, 'ephemeral storage price')
          : transcribed(row.ephemeralStorageUsdPerGbSecond, 'for /tmp above the free 512 MB'),
    },
    s3: {putUsdPerThousand: fromHome(base.s3.putUsdPerThousand, 'S3 PUT price'), getUsdPerThousand: fromHome(base.s3.getUsdPerThousand, 'S3 GET price')},
  }
}

/**
 * The built-in, dated price tables by region: us-east-1's from AWS's pricing page (2026-11), the
 * other regions' from transcriptions of AWS's price map (src/cost/regions.ts, 2026-12).
 */
export const PRICE_TABLES: Readonly<Record<string, PriceTable>> = Object.fromEntries([
  [DEFAULT_PRICE_TABLE.region, DEFAULT_PRICE_TABLE],
  ...LAMBDA_REGION_PRICES.filter((r) => r.region !== DEFAULT_PRICE_TABLE.region).map((r) => [r.region, regionalTable(r)]),
])

/** What an AWS region name looks like: eu-west-1, us-gov-west-1, ap-southeast-7. */
const REGION_NAME = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/

/**
 * The built-in table for `region`; a region without one gets us-east-1's, with a note saying so. A
 * name that is not an AWS region name at all (a typo such as "eu-west1") is a user error.
 */
export function priceTableForRegion(region: string | undefined): {table: PriceTable; note?: string} {
  if (!region) return {table: DEFAULT_PRICE_TABLE}
  const table = PRICE_TABLES[region]
  if (table) return {table}
  if (!REGION_NAME.test(region)) {
    throw new AmpsUserError('FLAG_INVALID', `region '${region}' is not an AWS region name`, {
      suggestions: [`give a region code such as eu-west-1; amps has price tables for ${Object.keys(PRICE_TABLES).join(', ')}`],
    })
  }
  return {
    table: DEFAULT_PRICE_TABLE,
    note: `amps has no price table for ${region} (built in: ${Object.keys(PRICE_TABLES).join(', ')}): using ${DEFAULT_PRICE_TABLE.region}'s (${DEFAULT_PRICE_TABLE.version}); pass --prices with ${region}'s figures`,
  }
}

/**
 * The price table to use: the built-in one for `region` (default us-east-1), or that one with the
 * partial override in `overridePath` merged on top (validated; every problem reported at once).
 */
export function loadPriceTable(overridePath?: string, region?: string): PriceTable {
  const base = priceTableForRegion(region).table
  if (!overridePath) return base
  if (!existsSync(overridePath)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `price file not found: ${overridePath}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(overridePath, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('CONFIG_INVALID', `price file ${overridePath} is not valid JSON: ${(error as Error).message}`)
  }
  return mergePriceTable(parsed, overridePath, base)
}
