/**
 * Contracts between bundling, the two deploy targets (local, AWS), the coordinator and the commands.
 * deployment.json = DeploymentState, validated on read by deploy/deployment.ts.
 */
import type {Arch} from '../src/plan/types.js'

export const DEPLOYMENT_VERSION = 1

/** One stage's bundle on disk, produced by deploy/bundle.ts from a plan stage and the model. */
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
}

export interface DeploymentState {
  version: typeof DEPLOYMENT_VERSION
  target: 'local' | 'aws'
  region: string
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
  codeBucket?: {bucket: string; prefix: string; createdByUs: boolean}
  stages: StageDeployment[]
  /** measured per-stage init (model load) ms reported by the handler */
  initMs?: number[]
}
