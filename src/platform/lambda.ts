/**
 * Facts about the AWS Lambda platform that every layer of amps shares (profile, cost, solver,
 * plan, deploy, the stage runtime inside a function). Kept at the bottom of the import graph,
 * beside src/errors.ts and src/util, so that no layer has to import a higher one to name them, and
 * free of imports so the stage bundle can carry it.
 *
 * The built-in price table (src/cost/prices.ts DEFAULT_PRICE_TABLE `limits`) cites its sources
 * for these values and reads them from here; a user's price table (--prices) may override them
 * for planning. Deploy-time checks (bundle sizes, function configuration) use these values, which
 * are what AWS enforces.
 */

/** Lambda instruction set architectures amps plans for (price table keys, plan.json `arch`). */
export type Arch = 'x86_64' | 'arm64'

/** Both architectures, in the order the planner tries them. */
export const ARCHES: readonly Arch[] = ['arm64', 'x86_64']

export const LAMBDA = {
  /** function memory, MB: smallest, largest, step */
  memoryMinMb: 128,
  memoryMaxMb: 10_240,
  memoryStepMb: 1,
  /** memory at which a function gets one full vCPU (1,769 MB = 1 vCPU-second per second); CPU share is proportional to memory */
  fullVcpuMemoryMb: 1769,
  /** vCPUs at the largest memory (10,240 MB = 6 vCPUs) */
  maxVcpus: 6,
  /** longest function timeout, s */
  timeoutS: 900,
  /** on-demand INIT phase limit, s */
  initMaxS: 10,
  /** unzipped deployment package ("Unzipped size must be smaller than 262144000 bytes") */
  unzippedPackageBytes: 262_144_000,
  /** largest zip uploaded directly with CreateFunction/UpdateFunctionCode; larger ones go through S3 */
  zippedDirectUploadBytes: 50 * 1_048_576,
  /** synchronous invocation request and response payload (6 MB, measured 6,291,456 B) */
  syncPayloadBytes: 6_291_456,
  /** /tmp (ephemeral storage), MB: the free size is also the smallest */
  ephemeralStorageMinMb: 512,
  ephemeralStorageMaxMb: 10_240,
  /** function names: 1–64 of A–Z a–z 0–9 _ - */
  functionNameMax: 64,
} as const
