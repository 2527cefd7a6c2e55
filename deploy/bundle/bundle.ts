/**
 * Stage bundles: per plan stage a directory and a zip that AWS Lambda (nodejs22.x, handler
 * `index.handler`) and the local target both run.
 *
 *   <outDir>/<functionName>/index.mjs       handler + tfjs core/layers + wasm backend (esbuild, minified)
 *   <outDir>/<functionName>/*.wasm          tfjs-backend-wasm binaries (SIMD and plain)
 *   <outDir>/<functionName>/model.json      the stage's layers only, weightsManifest → weights.bin
 *   <outDir>/<functionName>/weights.bin     the stage's weights only
 *   <outDir>/<functionName>/stage.json      StageSpec (expected inputs/outputs)
 *   <outDir>/<functionName>.zip             the same files, deterministic (sorted, fixed mtime)
 *
 * An ONNX stage (stage.backend 'onnx') carries instead of the .wasm files and model.json/weights.bin:
 *   model.onnx                              the stage exported by src/model/onnx (NHWC in and out)
 *   node_modules/onnxruntime-node/          package.json, dist/*.js, bin/napi-v6/linux/<arch>/ only
 *   node_modules/onnxruntime-common/        package.json, dist/cjs/*.js
 * i.e. the one native library for the stage's architecture, not the package's 290 MB of platforms.
 *
 * A stage the plan marks `weightsFrom: 's3'` (one layer whose weights exceed the package limit)
 * carries its graph without weight bytes (ONNX: model.onnx with external data; wasm: model.json
 * without weights.bin); the weights go to <outDir>/<functionName>.weights.bin, outside the zip,
 * and stage.json `weights` records their key, sha256 and length. The targets put the blob in
 * their store and tell the function where (AMPS_WEIGHTS_URL); the handler fetches it at INIT.
 *
 * Sizes are measured (zipped and unzipped) and checked against Lambda's limits: over 250 MB
 * unzipped is refused (BUNDLE_TOO_LARGE); over 50 MB zipped is marked to upload through S3.
 */
import {joinWeightData} from '../../src/model/weights.js'
import type {Arch} from '../../src/platform/lambda.js'
import {createHash} from 'node:crypto'
import {existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, copyFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {createRequire} from 'node:module'
import {fileURLToPath} from 'node:url'

import {zipSync, type Zippable} from 'fflate'

import {AmpsUserError} from '../../src/errors.js'
import {LAMBDA} from '../../src/platform/lambda.js'
import type {LoadedModel, StageArtifacts, TensorInfo} from '../../src/model/types.js'
import type {Plan, PlanStage} from '../../src/plan/types.js'
import {planHash as computePlanHash} from '../state/deployment.js'
import {ortRuntimeFiles} from '../../src/runtime/ort-files.js'
import {ortThreadsForMemory} from '../../src/runtime/ort.js'
import {STAGE_SPEC_VERSION, type StageBackend, type StageSpec} from '../../src/stage/spec.js'
import type {StageBundle, StageWeightsBlob} from '../state/types.js'

/** The wasm binaries a bundle carries: Node has SIMD but no wasm threads, so the threaded build is left out. */
export const BUNDLED_WASM_FILES = ['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm'] as const

/** Fixed mtime for every zip entry (zip timestamps start in 1980) so the same files give the same zip. */
const ZIP_MTIME = new Date('1980-01-01T00:00:00Z')

export type ExtractStageFn = (model: LoadedModel, first: number, last: number) => StageArtifacts | Promise<StageArtifacts>

export interface RuntimeBuild {
  /** directory holding index.mjs and the .wasm files */
  dir: string
  files: string[]
  bytes: number
}

export interface BuildBundlesOptions {
  /** bundles go to <outDir>/<functionName>/ and <outDir>/<functionName>.zip */
  outDir: string
  /** the sub-model extractor (src/model/stage.ts extractStage) */
  extract: ExtractStageFn
  planHash?: string
  runtime?: StageBundle['runtime']
  /** progress lines (stderr in the CLI) */
  log?: (line: string) => void
  /** the ONNX exporter for 'onnx' stages (src/model/onnx exportOnnx) */
  exportOnnx?: (model: LoadedModel, first: number, last: number) => Promise<{bytes: Uint8Array}>
  /**
   * the architecture whose native ONNX Runtime binary 'onnx' stages carry, when it is not the
   * stage's own: the local target runs every stage on this machine (an arm64 stage on an x86_64
   * host needs the x64 binary there; AWS gets the stage's own)
   */
  nativeArch?: Arch
}

/** The backend a plan stage runs on: its own field, else 'wasm' (plans made before backends existed). */
export function stageBackend(stage: PlanStage): StageBackend {
  return stage.backend ?? 'wasm'
}

export interface BundleSet {
  bundles: StageBundle[]
  runtime: RuntimeBuild
  planHash: string
}

const here = dirname(fileURLToPath(import.meta.url))

/** A sibling source file: compiled .js under dist/, .ts when run from source (vitest, tsx). */
function sibling(rel: string): string {
  const js = join(here, `${rel}.js`)
  if (existsSync(js)) return js
  const ts = join(here, `${rel}.ts`)
  if (existsSync(ts)) return ts
  throw new Error(`cannot find ${rel}.js or ${rel}.ts next to ${here}`)
}

/** Makes ESM output work for CommonJS dependencies that call require()/use __dirname (tfjs-backend-wasm). */
export const ESM_REQUIRE_BANNER =
  "import {createRequire as __ampsCreateRequire} from 'node:module';" +
  "import {fileURLToPath as __ampsFileURLToPath} from 'node:url';" +
  "import {dirname as __ampsDirname} from 'node:path';" +
  'const require=__ampsCreateRequire(import.meta.url);' +
  'const __filename=__ampsFileURLToPath(import.meta.url);' +
  'const __dirname=__ampsDirname(__filename);'

/** Bundles an entry (handler, local runner) into one minified ESM file with esbuild. */
export async function bundleEntry(entry: string, outfile: string): Promise<number> {
  const esbuild = await import('esbuild')
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    mainFields: ['module', 'main'],
    legalComments: 'eof',
    banner: {js: ESM_REQUIRE_BANNER},
    define: {'process.env.NODE_ENV': '"production"'},
    // tfjs-core's fetch polyfill is only loaded for http model URLs; the AWS SDK is in the Lambda runtime
    external: ['node-fetch', '@aws-sdk/*', '@tensorflow/tfjs-node', 'onnxruntime-node'],
    logLevel: 'error',
  })
  return statSync(outfile).size
}

/** Builds the shared part of every bundle (index.mjs + .wasm) once into `<outDir>/.runtime`. */
export async function buildRuntime(outDir: string): Promise<RuntimeBuild> {
  const dir = join(outDir, '.runtime')
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
  let bytes = await bundleEntry(sibling('../runtime/handler'), join(dir, 'index.mjs'))
  const require = createRequire(import.meta.url)
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
  for (const f of BUNDLED_WASM_FILES) {
    copyFileSync(join(wasmDir, f), join(dir, f))
    bytes += statSync(join(dir, f)).size
  }
  return {dir, files: ['index.mjs', ...BUNDLED_WASM_FILES], bytes}
}

/** amps-<model>-<planhash8>-<stage>, sanitised and trimmed to Lambda's 64 characters. */
export function functionNameFor(modelName: string, planHashHex: string, stageName: string): string {
  const clean = (s: string) =>
    s
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/-+/g, '-')
      .replace(/^-|-$/g, '')
  const tail = `-${planHashHex.slice(0, 8)}-${clean(stageName)}`
  const room = LAMBDA.functionNameMax - 'amps-'.length - tail.length
  const model = clean(modelName).slice(0, Math.max(1, room)).replace(/-$/, '') || 'model'
  return `amps-${model}${tail}`
}

/** Deterministic zip of every file under `dir`: sorted paths, fixed mtime, unix 0644 permissions. */
export function zipDirectory(dir: string): Uint8Array {
  const files = listFiles(dir)
  const entries: Zippable = {}
  for (const rel of files) {
    const data = readFileSync(join(dir, rel))
    // .wasm and weights compress a little, JS and JSON a lot; level 9 is deterministic either way
    entries[rel] = [new Uint8Array(data.buffer, data.byteOffset, data.byteLength), {level: 9, mtime: ZIP_MTIME, os: 3, attrs: 0o100644 << 16}]
  }
  return zipSync(entries)
}

function listFiles(dir: string, prefix = ''): string[] {
  const out: string[] = []
  for (const name of readdirSync(join(dir, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name
    if (statSync(join(dir, rel)).isDirectory()) out.push(...listFiles(dir, rel))
    else out.push(rel)
  }
  return out.sort()
}

function dirBytes(dir: string): number {
  return listFiles(dir).reduce((a, f) => a + statSync(join(dir, f)).size, 0)
}

function wireInfo(t: TensorInfo, stage: string): TensorInfo {
  if (t.dtype === 'bool') {
    throw new AmpsUserError('PLAN_INVALID', `${stage}: tensor "${t.id}" is bool; stage hand-offs carry float32 or int32 tensors`, {
      suggestions: ['Re-plan with a cut where the crossing tensors are numeric.'],
    })
  }
  return t
}

/** Lambda timeout (s) for a stage: generous against the prediction, within 30–900 s. */
export function timeoutFor(predictedMs: number): number {
  return Math.min(LAMBDA.timeoutS, Math.max(30, Math.ceil((predictedMs * 20) / 1000)))
}

/** Checks that the plan's stages match the model and cover it contiguously. */
export function checkPlanAgainstModel(plan: Plan, model: LoadedModel): void {
  const g = model.graph
  if (plan.model.sha256 && plan.model.sha256 !== g.sha256) {
    throw new AmpsUserError(
      'PLAN_INVALID',
      `the plan was made for model ${plan.model.name} (sha256 ${plan.model.sha256.slice(0, 12)}…) but ${model.source} has sha256 ${g.sha256.slice(0, 12)}…`,
      {suggestions: ['Pass the model the plan was made for with --model, or re-run `amps plan` on this model.']},
    )
  }
  if (plan.stages.length === 0) throw new AmpsUserError('PLAN_INVALID', 'the plan has no stages')
  let next = 0
  for (const s of plan.stages) {
    const {firstIndex, lastIndex, first, last} = s.layers
    const okRange = Number.isInteger(firstIndex) && Number.isInteger(lastIndex) && firstIndex <= lastIndex && lastIndex < g.layers.length
    if (!okRange || g.layers[firstIndex]?.name !== first || g.layers[lastIndex]?.name !== last) {
      throw new AmpsUserError('PLAN_INVALID', `${s.name}: layers ${first} (${firstIndex}) … ${last} (${lastIndex}) do not match the model's layer order`, {
        suggestions: ['Re-run `amps plan` on this model.'],
      })
    }
    if (firstIndex !== next && !(next === 0 && g.layers.slice(0, firstIndex).every((l) => l.className === 'InputLayer'))) {
      throw new AmpsUserError('PLAN_INVALID', `${s.name}: starts at layer ${firstIndex} but the previous stage ended at ${next - 1}; stages must be contiguous`)
    }
    next = lastIndex + 1
  }
  if (next !== g.layers.length) {
    throw new AmpsUserError('PLAN_INVALID', `the plan's stages end at layer ${next - 1} but the model has ${g.layers.length} layers`)
  }
}

/**
 * Builds one bundle per plan stage: extracts the stage's layers and weights, writes the stage
 * files next to a copy of the shared runtime, zips deterministically and measures.
 */
export async function buildBundles(plan: Plan, model: LoadedModel, options: BuildBundlesOptions): Promise<BundleSet> {
  checkPlanAgainstModel(plan, model)
  const log = options.log ?? (() => {})
  const outDir = resolve(options.outDir)
  mkdirSync(outDir, {recursive: true})
  const hash = options.planHash ?? computePlanHash(plan)
  const runtime = await buildRuntime(outDir)
  log(`runtime: index.mjs + ${BUNDLED_WASM_FILES.length} .wasm = ${formatBytes(runtime.bytes)}`)
  const maxBatch = Math.max(plan.batch.size, plan.inputs.maxBatch ?? 1)
  const bundles: StageBundle[] = []
  for (const stage of plan.stages) {
    const artifacts = await options.extract(model, stage.layers.firstIndex, stage.layers.lastIndex)
    let onnx: Uint8Array | undefined
    if (stageBackend(stage) === 'onnx') {
      const exporter = options.exportOnnx ?? (await import('../../src/model/onnx/export.js')).exportOnnx
      onnx = (await exporter(model, stage.layers.firstIndex, stage.layers.lastIndex)).bytes
    }
    const nativeArch = options.nativeArch ?? stage.arch
    if (onnx && nativeArch !== stage.arch) log(`${stage.name}: ${stage.arch} stage, bundled with the ${nativeArch} ONNX Runtime binary to run on this machine`)
    bundles.push(
      writeStageBundle(plan, stage, artifacts, {
        outDir,
        runtime,
        planHash: hash,
        maxBatch,
        modelName: plan.model.name || model.graph.name,
        modelSha: model.graph.sha256,
        runtimeName: options.runtime,
        onnx,
        nativeArch,
        splitOnnx: onnx && stage.weightsFrom === 's3' ? (await import('../../src/model/onnx/external.js')).splitOnnxWeights : undefined,
      }),
    )
    const b = bundles.at(-1)!
    log(
      `${stage.name}: ${b.functionName} ${formatBytes(b.unzippedBytes)} unzipped, ${formatBytes(b.zipBytes)} zipped${b.weights ? `; its ${formatBytes(b.weights.bytes)} of weights are fetched at INIT (${b.weights.key})` : ''}`,
    )
  }
  return {bundles, runtime, planHash: hash}
}

function writeStageBundle(
  plan: Plan,
  stage: PlanStage,
  artifacts: StageArtifacts,
  ctx: {
    outDir: string
    runtime: RuntimeBuild
    planHash: string
    maxBatch: number
    modelName: string
    modelSha: string
    runtimeName?: StageBundle['runtime']
    /** the stage's ONNX model: an 'onnx' stage */
    onnx?: Uint8Array
    /** whose native ONNX Runtime binary to carry (BuildBundlesOptions.nativeArch) */
    nativeArch: Arch
    /** splits model.onnx into graph + weights blob (src/model/onnx/external.ts): a stage with weightsFrom 's3' */
    splitOnnx?: (model: Uint8Array, location: string) => {graph: Uint8Array; weights: Uint8Array}
  },
): StageBundle {
  const functionName = functionNameFor(ctx.modelName, ctx.planHash, stage.name)
  const dir = join(ctx.outDir, functionName)
  rmSync(dir, {recursive: true, force: true})
  mkdirSync(dir, {recursive: true})
  const backend: StageBackend = ctx.onnx ? 'onnx' : 'wasm'
  // the stage's weights do not fit its package: they go to a blob beside the bundle, fetched at INIT
  const fetched = stage.weightsFrom === 's3'
  let blob: Uint8Array | undefined
  if (ctx.onnx) {
    copyFileSync(join(ctx.runtime.dir, 'index.mjs'), join(dir, 'index.mjs'))
    for (const f of ortRuntimeFiles(ctx.nativeArch)) {
      const to = join(dir, 'node_modules', f.rel)
      mkdirSync(dirname(to), {recursive: true})
      copyFileSync(f.from, to)
    }
    if (fetched && ctx.splitOnnx) {
      const split = ctx.splitOnnx(ctx.onnx, FETCHED_WEIGHTS_LOCATION)
      writeFileSync(join(dir, 'model.onnx'), split.graph)
      blob = split.weights
    } else writeFileSync(join(dir, 'model.onnx'), ctx.onnx)
  } else {
    for (const f of ctx.runtime.files) copyFileSync(join(ctx.runtime.dir, f), join(dir, f))
    const a = artifacts.artifacts
    const weights = new Uint8Array(joinWeightData(a.weightData))
    if (fetched) blob = weights
    else writeFileSync(join(dir, 'weights.bin'), weights)
    const modelJson = {
      format: 'layers-model',
      generatedBy: a.generatedBy ?? 'amps',
      convertedBy: 'amps deploy',
      modelTopology: a.modelTopology,
      weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}],
    }
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson))
  }
  const spec: StageSpec = {
    version: STAGE_SPEC_VERSION,
    index: stage.index,
    name: stage.name,
    functionName,
    model: {name: ctx.modelName, sha256: ctx.modelSha},
    planHash: ctx.planHash,
    layers: {first: stage.layers.first, last: stage.layers.last, firstIndex: stage.layers.firstIndex, lastIndex: stage.layers.lastIndex},
    inputs: artifacts.inputs.map((t) => wireInfo(t, stage.name)),
    outputs: artifacts.outputs.map((t) => wireInfo(t, stage.name)),
    maxBatch: ctx.maxBatch,
    ...(backend === 'onnx' ? {backend, threads: stage.threads ?? ortThreadsForMemory(stage.memoryMb)} : {}),
  }
  const weights = blob ? writeWeightsBlob(dir, functionName, blob) : undefined
  if (weights) spec.weights = {key: weights.key, sha256: weights.sha256, bytes: weights.bytes, location: FETCHED_WEIGHTS_LOCATION}
  writeFileSync(join(dir, 'stage.json'), JSON.stringify(spec, null, 2))

  const zip = zipDirectory(dir)
  const zipPath = `${dir}.zip`
  writeFileSync(zipPath, zip)
  const zipBytes = zip.length
  return {
    stageIndex: stage.index,
    stageName: stage.name,
    functionName,
    dir,
    zipPath,
    zipBytes,
    unzippedBytes: dirBytes(dir),
    codeSha256: createHash('sha256').update(zip).digest('base64'),
    memoryMb: stage.memoryMb,
    arch: stage.arch,
    // an INIT past Lambda's 10 s (a big fetch) is run again inside the first invocation, under this timeout
    timeoutSec: weights
      ? Math.min(LAMBDA.timeoutS, timeoutFor(stage.predictedMs) + Math.ceil((2 * (stage.initMs ?? 0)) / 1000))
      : timeoutFor(stage.predictedMs),
    ephemeralStorageMb: 512,
    handler: 'index.handler',
    // Node.js 20 reached end of life on 2026-04-30 and Lambda deprecates its runtime with it: deploy on 22.
    runtime: ctx.runtimeName ?? 'nodejs22.x',
    environment: {AMPS_STAGE: stage.name, AMPS_BACKEND: backend},
    inputTensors: spec.inputs.map((t) => t.id),
    outputTensors: spec.outputs.map((t) => t.id),
    uploadVia: zipBytes > LAMBDA.zippedDirectUploadBytes ? 's3' : 'direct',
    ...(weights ? {weights} : {}),
  }
}

/** The name a fetched blob goes by inside the stage: the ONNX graph's external-data location (wasm: model.json's weights path). */
export const FETCHED_WEIGHTS_LOCATION = 'weights.bin'

/**
 * Writes a stage's fetched weights beside its bundle directory (<dir>.weights.bin: not in the zip,
 * not counted in the package) and names the object the targets store it as: content-addressed,
 * so a re-deploy of the same weights reuses it and changed weights get a new key (and stage.json,
 * hence the code, changes with them).
 */
function writeWeightsBlob(dir: string, functionName: string, blob: Uint8Array): StageWeightsBlob {
  const sha256 = createHash('sha256').update(blob).digest('hex')
  const path = `${dir}.weights.bin`
  writeFileSync(path, blob)
  return {path, key: `weights/${functionName}-${sha256.slice(0, 16)}.bin`, sha256, bytes: blob.length}
}

/**
 * Refuses bundles Lambda would reject: over 250 MB unzipped (AWS and local alike, so the local
 * target never runs what AWS cannot). Zips over 50 MB are allowed: they upload through S3.
 */
export function checkBundleLimits(bundles: StageBundle[]): void {
  for (const b of bundles) {
    if (b.unzippedBytes >= LAMBDA.unzippedPackageBytes) {
      throw new AmpsUserError(
        'BUNDLE_TOO_LARGE',
        `${b.stageName ?? `stage ${b.stageIndex}`} (${b.functionName}) is ${formatBytes(b.unzippedBytes)} unzipped; Lambda's limit is 250 MB (${LAMBDA.unzippedPackageBytes} B) unzipped`,
        {
          suggestions: ['Re-plan with more stages (`amps plan --stages N`) so each stage carries fewer weights.'],
          details: {stageIndex: b.stageIndex, functionName: b.functionName, unzippedBytes: b.unzippedBytes, limitBytes: LAMBDA.unzippedPackageBytes},
        },
      )
    }
  }
}

export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${n} B`
}
