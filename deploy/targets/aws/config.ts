/**
 * Where AWS calls go and as whom, resolved as the AWS CLI resolves them, in one place for deploy,
 * invoke and destroy:
 * - region: --region, else AWS_REGION, else AWS_DEFAULT_REGION (the CLI's name, which the JS SDK
 *   does not read), else the `region` of the chosen profile (--profile, else AWS_PROFILE, else
 *   "default") in the shared config file (~/.aws/config or AWS_CONFIG_FILE, `[profile x]` /
 *   `[default]`), read by the SDK's own loader; else the plan's region, with a note saying so.
 * - credentials: the SDK's default chain for that profile (env keys, SSO, web identity, the
 *   credentials file, container/instance roles), never parsed here.
 * - endpoint: --endpoint-url, else the SDK's own AWS_ENDPOINT_URL(_<SERVICE>) handling.
 */
import {LambdaClient} from '@aws-sdk/client-lambda'

/** Who and where, beside the region: what every SDK client amps creates is given. */
export interface AwsConnection {
  /** named profile (--profile), else the SDK's AWS_PROFILE / default */
  profile?: string
  /** --endpoint-url: send every call there (LocalStack, a VPC endpoint, a proxy) */
  endpointUrl?: string
}

export type RegionSource = 'flag' | 'AWS_REGION' | 'AWS_DEFAULT_REGION' | 'config file' | 'plan'

export interface ResolvedRegion {
  region: string
  source: RegionSource
  /** said to the user when the region is not one they chose (the plan's) */
  note?: string
}

/** The configuration object for an SDK client (Lambda, S3, IAM) of this connection. */
export function sdkClientConfig(region: string, c: AwsConnection = {}): {region: string; profile?: string; endpoint?: string} {
  return {region, ...(c.profile ? {profile: c.profile} : {}), ...(c.endpointUrl ? {endpoint: c.endpointUrl} : {})}
}

/**
 * The region as the AWS CLI picks it (see the top of this file). `env` and `configRegion` are
 * injectable for tests; by default the process environment and the SDK's shared-config loader.
 */
export async function resolveRegion(o: {
  flag?: string
  profile?: string
  planRegion: string
  env?: NodeJS.ProcessEnv
  configRegion?: (profile: string | undefined) => Promise<string | undefined>
}): Promise<ResolvedRegion> {
  const env = o.env ?? process.env
  if (o.flag) return {region: o.flag, source: 'flag'}
  if (env.AWS_REGION) return {region: env.AWS_REGION, source: 'AWS_REGION'}
  if (env.AWS_DEFAULT_REGION) return {region: env.AWS_DEFAULT_REGION, source: 'AWS_DEFAULT_REGION'}
  const fromConfig = await (o.configRegion ?? regionFromSharedConfig)(o.profile)
  if (fromConfig) return {region: fromConfig, source: 'config file'}
  const profile = o.profile ?? env.AWS_PROFILE ?? 'default'
  return {
    region: o.planRegion,
    source: 'plan',
    note: `no region given (--region, AWS_REGION, AWS_DEFAULT_REGION, or region in profile ${profile} of ${env.AWS_CONFIG_FILE ?? '~/.aws/config'}): using the plan's ${o.planRegion}`,
  }
}

/**
 * The chosen profile's `region` from the shared config file, read by the AWS SDK's own loader (the
 * one a client uses when no region is given). AWS_REGION is handled before this is called.
 */
export async function regionFromSharedConfig(profile: string | undefined): Promise<string | undefined> {
  const client = new LambdaClient(profile ? {profile} : {})
  try {
    return (await client.config.region()) || undefined
  } catch {
    // "Region is missing": no such profile, or it names no region
    return undefined
  } finally {
    client.destroy()
  }
}
