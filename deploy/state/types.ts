/**
 * Contracts between bundling, the two deploy targets (local, AWS), the coordinator and the commands.
 * deployment.json = DeploymentState, validated on read by deploy/state/deployment.ts.
 */
import type {TensorInfo} from '../../src/model/types.js'
import type {Arch} from '../../src/plan/types.js'

export const DEPLOYMENT_VERSION = 1

/** One stage's bundle on disk, produced by deploy/bundle/bundle.ts from a plan stage and the model. */
export interface StageBundle {
  stageIndex: number
  /** function name, e.g. amps-<model>-<planhash8>-stage-1 */
  functionName: string
  /** unzipped bundle directory: handler entry (index.mjs), runtime, stage model files */
  dir: string
  /** the zip of `dir`, what gets uploaded */
  zipPath: string
  zipBytes: number
  unzippedBytes: number
  /** sha256 (base64) of the zip, as Lambda reports CodeSha256 */
  codeSha256: string
  memoryMb: number
  arch: Arch
  timeoutSec: number
  ephemeralStorageMb: number
  /** Lambda handler string, e.g. index.handler */
  handler: string
  runtime: 'nodejs20.x' | 'nodejs22.x'
  environment: Record<string, string>
  /** plan stage name, e.g. "stage-1" */
  stageName?: string
  /** tensor ids the stage consumes / produces, in its model's order */
  inputTensors?: string[]
  outputTensors?: string[]
  /** 'direct' when the zip fits a CreateFunction/UpdateFunctionCode call (≤ 50 MB), else 's3' */
  uploadVia?: 'direct' | 's3'
  /**
   * the stage's weights when they are not in the bundle (plan stage weightsFrom 's3'): the blob on
   * disk next to the bundle, which the target puts at `key` under its store (AWS: the code prefix in
   * the bucket; local: the hand-off directory) and names in the function's AMPS_WEIGHTS_URL
   */
  weights?: StageWeightsBlob
}

/** A stage's weights blob as bundling wrote it (see StageBundle.weights). */
export interface StageWeightsBlob {
  path: string
  /** key relative to the target's store: weights/<functionName>-<sha256 16 hex>.bin */
  key: string
  /** sha256 (hex) */
  sha256: string
  bytes: number
}

/** What one stage's pre-warm did; recorded in deployment.json as stages[].prewarm. */
export interface StagePrewarm {
  /** environments asked for: warmEnvironments(plan)[i], bounded by the stage's concurrency */
  requested: number
  /** distinct environments that answered a warm-up */
  warm: number
  /** environments whose INIT the warm-up paid (their first invocation) */
  coldStarts: number
  /** INIT of each environment that answered (ms), as the stage reports it */
  initMs: number[]
  /** warm-ups that failed (throttled, errors), with the first error's message */
  failed: number
  error?: string
  /** true when the stage's concurrency limit cut the count */
  limitedByConcurrency?: boolean
  at: string
}

export type StageStatus = 'pending' | 'created' | 'updated' | 'active' | 'failed' | 'deleted'

export interface StageDeployment {
  stageIndex: number
  functionName: string
  status: StageStatus
  /** AWS: function ARN; local: http://127.0.0.1:<port> */
  arn?: string
  version?: string
  codeSha256?: string
  /** local target only */
  port?: number
  pid?: number
  /** true when this deployment created the function (destroy deletes only those) */
  createdByUs: boolean
  updatedAt: string
  /** plan stage name, e.g. "stage-1" */
  stageName?: string
  /** tensor ids the stage consumes / produces, in its model's order (the coordinator passes tensors by id) */
  inputTensors?: string[]
  outputTensors?: string[]
  /** measured bundle sizes */
  zipBytes?: number
  unzippedBytes?: number
  /** local target: bundle directory the stage process runs, its log, cgroup directories it was put in */
  bundleDir?: string
  logPath?: string
  cgroups?: string[]
  /** local target: how the CPU/memory limits were applied ('cgroup' or 'max-old-space-size' fallback) */
  limits?: {memory: 'cgroup' | 'heap-flag'; cpu: 'cgroup' | 'none'; cpuQuotaUs?: number; cpuPeriodUs?: number; memoryLimitBytes?: number}
  /** measured init of this stage (module import incl. tf + model load + warm-up), ms */
  initMs?: number
  /** what deploy's pre-warm started (deploy/client/prewarm.ts); absent with --no-prewarm */
  prewarm?: StagePrewarm
  /** local target: most execution environments at once (Lambda's reserved concurrency; past it: 429) */
  concurrency?: number
  /** the function's Timeout (s); local: enforced by the stage front */
  timeoutSec?: number
  /** local target: idle environments end after this long (s) */
  keepAliveSec?: number
  /** local target: the payload limit each way, fixed at deploy (never from the event) */
  maxPayloadBytes?: number
  /** local target: the user environments run as (and why when not dropped) */
  user?: string
  /** AWS only: sha256 (hex) of the function configuration last applied (lets --dry-run tell "unchanged") */
  configSha256?: string
  /** AWS only: architecture last deployed */
  arch?: Arch
  /** AWS only: S3 key of the uploaded code zip (bundles > 50 MB), in DeploymentState.codeBucket */
  codeS3Key?: string
  /** where this stage's weights were put when they are not in its bundle (s3:// or file:// URL; destroy deletes it) */
  weights?: {url: string; sha256: string; bytes: number}
}

export interface DeploymentState {
  version: typeof DEPLOYMENT_VERSION
  target: 'local' | 'aws'
  region: string
  /** random id of this deployment, carried by every process, cgroup and folder it creates (local target) */
  deploymentId?: string
  /** local target: the token the local Invoke API requires (x-amps-local-token); deployment.json is written 0600 */
  localToken?: string
  /** sha256 of the canonical plan JSON */
  planHash: string
  planPath: string
  modelPath: string
  createdAt: string
  updatedAt: string
  /** where hand-offs over 6 MB go: s3://bucket/prefix (AWS) or a directory (local) */
  handoff?: {kind: 's3'; bucket: string; prefix: string} | {kind: 'dir'; path: string}
  /** AWS only */
  roleArn?: string
  roleCreatedByUs?: boolean
  /** configured: false while the bucket amps created lacks its tags and lifecycle rule (absent: done) */
  codeBucket?: {bucket: string; prefix: string; createdByUs: boolean; configured?: false}
  /** AWS only: the user's --tags, on every function, role and bucket this deployment created (a re-run without --tags keeps them) */
  tags?: Record<string, string>
  stages: StageDeployment[]
  /**
   * AWS only: functions an earlier deploy of this deployment.json created that the current plan no longer
   * has (different function names). Not invoked; `destroy` still deletes the ones createdByUs.
   */
  retired?: StageDeployment[]
  /** measured per-stage init (model load) ms reported by the handler */
  initMs?: number[]
  /** the model's input and output tensors, so invoke can build inputs and pick outputs without the model */
  modelInputs?: TensorInfo[]
  modelOutputs?: TensorInfo[]
}
