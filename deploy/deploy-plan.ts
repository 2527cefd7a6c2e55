/**
 * `amps deploy` logic: plan + model → bundles (measured, checked against Lambda limits) → the
 * local target or AWS → deployment.json. Validation happens before anything starts: plan ↔ model
 * consistency, then the bundle limits; --dry-run stops there (local) or lists the AWS calls.
 */
import {hostArch} from '../src/platform/lambda.js'
import {existsSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import {AmpsUserError} from '../src/errors.js'
import {resolveRecordedPath} from '../src/files/paths.js'
import {LAMBDA} from '../src/platform/lambda.js'
import {extractStage, loadModel} from '../src/model/index.js'
import type {LoadedModel} from '../src/model/types.js'
import type {Plan} from '../src/plan/types.js'
import {buildBundles, checkBundleLimits, type ExtractStageFn} from './bundle/bundle.js'
import {planHash as computePlanHash, readDeployment, writeDeployment} from './state/deployment.js'
import {deployLocal, type LocalAction} from './targets/local/index.js'
import {readPlanForDeploy} from './state/plan-input.js'
import type {DeploymentState, StageBundle, StagePrewarm} from './state/types.js'
import {prewarmDeployment, type PrewarmOptions} from './client/prewarm.js'
import {warmEnvironments} from '../src/plan/prewarm.js'
import type {AwsClients} from './targets/aws/clients.js'

export interface DeployOptions {
  planPath: string
  /** model path; default: the plan's model.source (relative paths: from the plan's directory) */
  modelPath?: string
  target: 'local' | 'aws'
  /** deployment.json to write (default ./deployment.json) */
  out: string
  dryRun?: boolean
  /** bundles directory (default: .amps/bundles next to `out`) */
  bundleDir?: string
  aws?: {
    region?: string
    profile?: string
    endpointUrl?: string
    tags?: Record<string, string>
    roleArn?: string
    createRole?: boolean
    bucket?: string
    clients?: AwsClients
  }
  /** local: execution environments per stage at most (default: sized to the cores and the stage's CPU quota) */
  concurrency?: number
  log?: (line: string) => void
  /** start warmEnvironments(plan)[i] environments per stage after deploying (default true; --no-prewarm: false) */
  prewarm?: boolean
  /** pre-warm: the Lambda client per stage (tests: the AWS mocks' client) */
  prewarmClientFor?: PrewarmOptions['clientFor']
  /** sub-model extractor (default src/model extractStage) */
  extract?: ExtractStageFn
}

export interface DeployStageReport {
  index: number
  name: string
  functionName: string
  memoryMb: number
  arch: string
  zipBytes: number
  unzippedBytes: number
  predictedPackageBytes: number
  /** unzipped bytes / Lambda's 250 MB limit */
  fractionOfLimit: number
  uploadVia: 'direct' | 's3'
  /** the stage's weights when they are fetched at INIT instead of shipping in the bundle (plan weightsFrom 's3') */
  weights?: {key: string; bytes: number; sha256: string}
  action?: LocalAction | string
  pid?: number
  port?: number
  endpoint?: string
  initMs?: number
  /** local: most execution environments at once (past it: 429 TooManyRequestsException) */
  concurrency?: number
  /** environments the pre-warm started and the INIT each took (absent with --no-prewarm) */
  prewarm?: StagePrewarm
}

export interface DeployReport {
  schemaVersion: 1
  target: 'local' | 'aws'
  dryRun: boolean
  deploymentPath?: string
  planPath: string
  planHash: string
  modelPath: string
  limits: {unzippedMaxBytes: number; directZipMaxBytes: number}
  runtimeBytes: number
  stages: DeployStageReport[]
}

/** The model path a plan refers to: --model, else plan.model.source (relative to the plan's directory when needed). */
export function resolvePlanModel(plan: Plan, planPath: string, override?: string): string {
  if (override) return resolve(override)
  const src = plan.model.source
  const found = resolveRecordedPath(src, planPath)
  if (existsSync(found)) return found
  throw new AmpsUserError('FILE_NOT_FOUND', `the plan's model ${src} was not found`, {
    suggestions: ['Pass the model with --model <path>.'],
  })
}

export async function deployPlan(options: DeployOptions): Promise<DeployReport> {
  const log = options.log ?? (() => {})
  // --model stands in for the plan's model.source (a plan may record none)
  const plan = readPlanForDeploy(options.planPath, {modelPath: options.modelPath})
  const modelPath = resolvePlanModel(plan, options.planPath, options.modelPath)
  log(`loading model ${modelPath}`)
  const model = await loadModel(modelPath)
  const hash = computePlanHash(plan)
  const out = resolve(options.out)
  const bundleDir = options.bundleDir ?? join(dirname(out), '.amps', 'bundles')
  log(`building ${plan.stages.length} stage bundles in ${bundleDir}`)
  // the local target runs every stage on this machine, so its ONNX stages carry this machine's binary
  const nativeArch = options.target === 'local' ? hostArch() : undefined
  const set = await buildBundles(plan, model, {outDir: bundleDir, extract: options.extract ?? extractStage, planHash: hash, log, nativeArch})
  checkBundleLimits(set.bundles)

  const report: DeployReport = {
    schemaVersion: 1,
    target: options.target,
    dryRun: Boolean(options.dryRun),
    planPath: resolve(options.planPath),
    planHash: hash,
    modelPath,
    limits: {unzippedMaxBytes: LAMBDA.unzippedPackageBytes, directZipMaxBytes: LAMBDA.zippedDirectUploadBytes},
    runtimeBytes: set.runtime.bytes,
    stages: set.bundles.map((b) => {
      const s = plan.stages.find((x) => x.index === b.stageIndex)!
      return {
        index: b.stageIndex,
        name: s.name,
        functionName: b.functionName,
        memoryMb: b.memoryMb,
        arch: b.arch,
        zipBytes: b.zipBytes,
        unzippedBytes: b.unzippedBytes,
        predictedPackageBytes: s.packageBytes,
        fractionOfLimit: b.unzippedBytes / LAMBDA.unzippedPackageBytes,
        uploadVia: b.uploadVia ?? 'direct',
        ...(b.weights ? {weights: {key: b.weights.key, bytes: b.weights.bytes, sha256: b.weights.sha256}} : {}),
      }
    }),
  }
  if (options.dryRun && options.target === 'local') {
    for (const s of report.stages) s.action = 'would start'
    log('--dry-run: exiting before starting any stage process')
    return report
  }
  // the plan given is never rewritten: the measured sizes are recorded in deployment.json (stages[].zipBytes/unzippedBytes)

  const previous = existsSync(out) ? readDeployment(out) : undefined
  if (previous && previous.target !== options.target && previous.stages.some((s) => s.status !== 'deleted')) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${options.out} already describes a ${previous.target} deployment`, {
      suggestions: [`Run \`amps destroy ${options.out}\` first, or pass another --out.`],
    })
  }
  // a fully destroyed deployment of the other target is simply replaced
  const sameTarget = previous?.target === options.target ? previous : undefined
  let state: DeploymentState
  if (options.target === 'local') {
    const r = await deployLocal(plan, set.bundles, {
      statePath: out,
      planPath: options.planPath,
      modelPath,
      planHash: hash,
      previous: sameTarget,
      concurrency: options.concurrency,
      log,
    })
    state = r.state
    for (const a of r.actions) {
      const s = report.stages.find((x) => x.functionName === a.functionName)
      if (s) s.action = a.action
    }
  } else {
    state = await deployToAws(plan, set.bundles, {...options, out, modelPath, planHash: hash, previous: sameTarget, log})
    if (options.dryRun) {
      for (const s of report.stages) s.action = 'dry-run'
      return report
    }
  }
  annotateState(state, set.bundles, model)
  writeDeployment(out, state)
  if (options.prewarm !== false) {
    const counts = warmEnvironments(plan)
    log(
      `pre-warming ${counts.join('/')} environment${counts.every((c) => c === 1) && counts.length === 1 ? '' : 's'} per stage (enough for the plan's rate; --no-prewarm skips)`,
    )
    const byIndex = new Map(plan.stages.map((s, i) => [s.index, counts[i]]))
    const live = [...state.stages].filter((s) => s.status !== 'deleted' && s.status !== 'failed').sort((a, b) => a.stageIndex - b.stageIndex)
    const done = await prewarmDeployment(
      state,
      live.map((s) => byIndex.get(s.stageIndex) ?? 1),
      {profile: options.aws?.profile, endpointUrl: options.aws?.endpointUrl, clientFor: options.prewarmClientFor, log},
    )
    for (const st of state.stages) {
      const p = done.get(st.stageIndex)
      if (p) st.prewarm = p
    }
    writeDeployment(out, state)
  }
  report.deploymentPath = out
  for (const st of state.stages) {
    const s = report.stages.find((x) => x.functionName === st.functionName)
    if (!s) continue
    s.pid = st.pid
    s.port = st.port
    s.endpoint = st.arn
    s.initMs = st.initMs
    s.concurrency = st.concurrency
    if (st.prewarm) s.prewarm = st.prewarm
    s.action ??= st.status
  }
  return report
}

/** Adds what the coordinator and invoke need (tensor ids per stage, model inputs/outputs). */
function annotateState(state: DeploymentState, bundles: StageBundle[], model: LoadedModel): void {
  for (const st of state.stages) {
    const b = bundles.find((x) => x.functionName === st.functionName)
    if (!b) continue
    st.stageName ??= b.stageName
    st.inputTensors = b.inputTensors
    st.outputTensors = b.outputTensors
    st.zipBytes = b.zipBytes
    st.unzippedBytes = b.unzippedBytes
  }
  state.modelInputs = model.graph.inputs
  state.modelOutputs = model.graph.outputs
}

async function deployToAws(
  plan: Plan,
  bundles: StageBundle[],
  o: DeployOptions & {out: string; modelPath: string; planHash: string; previous?: DeploymentState; log: (l: string) => void},
): Promise<DeploymentState> {
  let aws: typeof import('./targets/aws/index.js')
  try {
    aws = await import('./targets/aws/index.js')
  } catch (error) {
    throw new AmpsUserError('AWS_ERROR', `the AWS target is not available in this build: ${(error as Error).message}`, {
      suggestions: ['Use --target local.'],
    })
  }
  if (typeof aws.deployAws !== 'function')
    throw new AmpsUserError('AWS_ERROR', 'the AWS target is not available in this build (deploy/targets/aws has no deployAws)')
  // as the AWS CLI: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config, else the plan's
  const resolved = await aws.resolveRegion({flag: o.aws?.region, profile: o.aws?.profile, planRegion: plan.inputs.region})
  if (resolved.note) o.log(`note: ${resolved.note}`)
  if (resolved.region !== plan.inputs.region)
    o.log(
      `note: the plan was priced for ${plan.inputs.region} (price table ${plan.inputs.priceTableVersion}); deploying to ${resolved.region}: run amps plan --region ${resolved.region} to price it there`,
    )
  return aws.deployAws(bundles, plan, {
    region: resolved.region,
    profile: o.aws?.profile,
    endpointUrl: o.aws?.endpointUrl,
    tags: o.aws?.tags,
    roleArn: o.aws?.roleArn,
    createRole: o.aws?.createRole,
    bucket: o.aws?.bucket,
    clients: o.aws?.clients,
    dryRun: o.dryRun,
    statePath: o.out,
    existing: o.previous,
    log: o.log,
    planHash: o.planHash,
    planPath: resolve(o.planPath),
    modelPath: o.modelPath,
  })
}
