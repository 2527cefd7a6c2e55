/**
 * AWS Lambda prices by region: the figures that differ between regions (duration per GB-second for
 * each architecture, requests, ephemeral storage), one dated row per region. src/cost/prices.ts
 * turns each row into a full price table (PRICE_TABLES); everything else (limits, latencies,
 * free tier, billing granularity) is the same in every region.
 *
 * Only regions whose prices could be read from a source are here (ap-northeast-3, me-central-1 and
 * others are left out: no source gave all of x86, arm64 and request prices); amps prices any other
 * region with us-east-1's table and says so (priceTableForRegion). To add a region, add its row
 * with its sources. The rows are transcriptions of AWS's price map, not read from AWS directly.
 */

/** The transcriptions the rows come from (each row names the ones it uses). */
export const REGION_PRICE_SOURCES = {
  remotion:
    "remotion-dev/remotion packages/lambda/src/pricing/price-per-1-s.ts (commit e4074e3): AWS's price map " +
    'calculator.aws/pricing/2.0/meteredUnitMaps/lambda/USD/current/lambda.json as transcribed there (Lambda Duration, Duration-ARM, Requests, Storage-Duration)',
  remotionX86:
    'remotion-dev/remotion packages/lambda/src/pricing/price-per-1-ms.ts (commit d75ef18): an earlier transcription of the same AWS price map, x86 only (Lambda Duration, Requests)',
  artillery:
    'artillery 2.0.28 lib/platform/aws-lambda/prices.js (app.unpkg.com/artillery@2.0.28/files/lib/platform/aws-lambda/prices.js): ' +
    'x86 and arm64 duration prices, listing only the regions that differ from its base (us-east-1) rate',
} as const

/** When the rows were read, and what they leave out. */
export const REGION_PRICES_READ = '2026-12-06'
export const REGION_PRICES_NOTE =
  'first-tier duration prices only: the monthly volume tiers (above 6 B GB-s on x86, 7.5 B on arm64) are not in the transcriptions, so ' +
  "a region other than us-east-1 is priced at its first tier's rate at any volume (an upper bound past the first tier)"

export interface RegionLambdaPrices {
  region: string
  /** the region's name as AWS's price list spells it */
  name: string
  /** first-tier duration price, USD per GB-second */
  x86UsdPerGbSecond: number
  arm64UsdPerGbSecond: number
  requestUsdPerMillion: number
  /** configured /tmp above the free 512 MB, USD per GB-second; absent when no source gives it */
  ephemeralStorageUsdPerGbSecond?: number
  /** keys of REGION_PRICE_SOURCES the figures come from */
  sources: (keyof typeof REGION_PRICE_SOURCES)[]
}

type Row = Omit<RegionLambdaPrices, 'sources'>
const same = {x86UsdPerGbSecond: 0.0000166667, arm64UsdPerGbSecond: 0.0000133334, requestUsdPerMillion: 0.2}
/** every figure from remotion's current transcription */
const full = (r: Row): RegionLambdaPrices => ({...r, sources: ['remotion']})
/** x86 and requests from remotion's earlier transcription, arm64 from artillery's */
const x86Arm = (r: Row): RegionLambdaPrices => ({...r, sources: ['remotionX86', 'artillery']})

/** One row per region whose Lambda prices could be sourced (us-east-1's also cross-checks DEFAULT_PRICE_TABLE). */
export const LAMBDA_REGION_PRICES: readonly RegionLambdaPrices[] = [
  full({region: 'us-east-1', name: 'US East (N. Virginia)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000309}),
  full({region: 'us-east-2', name: 'US East (Ohio)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000309}),
  full({region: 'us-west-2', name: 'US West (Oregon)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000309}),
  full({region: 'eu-west-1', name: 'EU (Ireland)', ...same, ephemeralStorageUsdPerGbSecond: 0.000000034}),
  full({region: 'eu-west-2', name: 'EU (London)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000358}),
  full({region: 'eu-central-1', name: 'EU (Frankfurt)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000367}),
  full({region: 'ap-south-1', name: 'Asia Pacific (Mumbai)', ...same, ephemeralStorageUsdPerGbSecond: 0.0000000352}),
  full({region: 'ap-southeast-1', name: 'Asia Pacific (Singapore)', ...same, ephemeralStorageUsdPerGbSecond: 0.000000037}),
  full({region: 'ap-southeast-2', name: 'Asia Pacific (Sydney)', ...same, ephemeralStorageUsdPerGbSecond: 0.000000037}),
  full({region: 'ap-northeast-1', name: 'Asia Pacific (Tokyo)', ...same, ephemeralStorageUsdPerGbSecond: 0.000000037}),
  x86Arm({region: 'us-west-1', name: 'US West (N. California)', ...same}),
  x86Arm({region: 'ca-central-1', name: 'Canada (Central)', ...same}),
  x86Arm({region: 'eu-west-3', name: 'EU (Paris)', ...same}),
  x86Arm({region: 'eu-north-1', name: 'EU (Stockholm)', ...same}),
  x86Arm({region: 'sa-east-1', name: 'South America (Sao Paulo)', ...same}),
  x86Arm({region: 'ap-northeast-2', name: 'Asia Pacific (Seoul)', ...same}),
  x86Arm({region: 'af-south-1', name: 'Africa (Cape Town)', x86UsdPerGbSecond: 0.0000221, arm64UsdPerGbSecond: 0.00001768, requestUsdPerMillion: 0.27}),
  x86Arm({region: 'ap-east-1', name: 'Asia Pacific (Hong Kong)', x86UsdPerGbSecond: 0.00002292, arm64UsdPerGbSecond: 0.0000183, requestUsdPerMillion: 0.28}),
  x86Arm({region: 'eu-south-1', name: 'EU (Milan)', x86UsdPerGbSecond: 0.0000195172, arm64UsdPerGbSecond: 0.0000156138, requestUsdPerMillion: 0.23}),
  x86Arm({region: 'me-south-1', name: 'Middle East (Bahrain)', x86UsdPerGbSecond: 0.0000206667, arm64UsdPerGbSecond: 0.0000165334, requestUsdPerMillion: 0.25}),
]
