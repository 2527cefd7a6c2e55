/** The configuration and tags a stage function should have, and how a live function differs from them. */
import type {FunctionConfiguration} from '@aws-sdk/client-lambda'

import {WEIGHTS_URL_ENV} from '../../../src/stage/weights.js'
import type {StageBundle} from '../../state/types.js'
import {TAG_MODEL, TAG_PLAN_HASH, TAG_STAGE, canonicalJson, sha256Hex, tagValue} from './naming.js'

/** Environment variables amps adds to every function when the plan hands tensors over through S3. */
export const HANDOFF_BUCKET_ENV = 'AMPS_HANDOFF_BUCKET'
export const HANDOFF_PREFIX_ENV = 'AMPS_HANDOFF_PREFIX'
/** The configuration a stage function should have; its sha256 is recorded as configSha256. */
export interface DesiredConfig {
  FunctionName: string
  Role: string
  Handler: string
  Runtime: StageBundle['runtime']
  MemorySize: number
  Timeout: number
  EphemeralStorage: {Size: number}
  Environment: {Variables: Record<string, string>}
  Description: string
  Architectures: [StageBundle['arch']]
}

export function desiredConfig(
  bundle: StageBundle,
  ctx: {
    roleArn: string
    handoff?: {bucket: string; prefix: string}
    modelName: string
    planHash: string
    stageCount: number
    /** 1-based position in the chain */ stageNumber: number
    /** s3:// URL of the stage's fetched weights (a bundle with `weights`) */
    weightsUrl?: string
  },
): DesiredConfig {
  const variables: Record<string, string> = {...bundle.environment}
  if (ctx.weightsUrl) variables[WEIGHTS_URL_ENV] = ctx.weightsUrl
  if (ctx.handoff) {
    variables[HANDOFF_BUCKET_ENV] = ctx.handoff.bucket
    variables[HANDOFF_PREFIX_ENV] = ctx.handoff.prefix
  }
  return {
    FunctionName: bundle.functionName,
    Role: ctx.roleArn,
    Handler: bundle.handler,
    Runtime: bundle.runtime,
    MemorySize: bundle.memoryMb,
    Timeout: bundle.timeoutSec,
    EphemeralStorage: {Size: bundle.ephemeralStorageMb},
    Environment: {Variables: variables},
    Description: `amps stage ${ctx.stageNumber} of ${ctx.stageCount}: ${ctx.modelName} (plan ${ctx.planHash.slice(0, 8)})`.slice(0, 256),
    Architectures: [bundle.arch],
  }
}

export function configSha256(config: DesiredConfig): string {
  return sha256Hex(canonicalJson(config))
}

/** Fields of the live configuration that differ from the desired one (empty: nothing to update). */
export function configDifferences(live: FunctionConfiguration | undefined, want: DesiredConfig): string[] {
  const diffs: string[] = []
  const cmp = (field: string, have: unknown, wantValue: unknown) => {
    if (canonicalJson(have ?? null) !== canonicalJson(wantValue)) diffs.push(field)
  }
  cmp('Role', live?.Role, want.Role)
  cmp('Handler', live?.Handler, want.Handler)
  cmp('Runtime', live?.Runtime, want.Runtime)
  cmp('MemorySize', live?.MemorySize, want.MemorySize)
  cmp('Timeout', live?.Timeout, want.Timeout)
  cmp('EphemeralStorage', live?.EphemeralStorage?.Size ?? 512, want.EphemeralStorage.Size)
  cmp('Environment', live?.Environment?.Variables ?? {}, want.Environment.Variables)
  cmp('Description', live?.Description ?? '', want.Description)
  return diffs
}

/** Tags on every function amps creates: how a re-run recognises its own functions. */
export function functionTags(bundle: StageBundle, planHash: string, modelName: string, userTags: Record<string, string> = {}): Record<string, string> {
  return {
    ...userTags,
    [TAG_PLAN_HASH]: planHash,
    [TAG_STAGE]: String(bundle.stageIndex),
    [TAG_MODEL]: tagValue(modelName),
  }
}
