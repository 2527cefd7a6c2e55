/**
 * What runs inside a stage function (AWS Lambda or a local stage process): loads the stage's
 * sub-model from its bundle directory once, then answers events: validate → decode → predict →
 * encode. deploy/runtime/handler.ts is the bundle entry that calls `loadStageRuntime` at init (top-level
 * await) and exports the Lambda `handler(event, context)`.
 *
 * Bundle directory layout (written by deploy/bundle/bundle.ts):
 *   index.mjs            handler + tfjs + wasm backend (esbuild, minified)
 *   *.wasm               tfjs-backend-wasm binaries
 *   model.json           tfjs layers model of the stage's layers only (weightsManifest → weights.bin)
 *   weights.bin          the stage's weights only
 *   stage.json           StageSpec: expected inputs/outputs (ids, dtypes, shapes), names
 * A stage whose stage.json has `weights` carries no weight bytes: they are fetched at INIT
 * (src/stage/weights.ts) before the model or session is built.
 */
import {randomUUID} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import {LAMBDA} from '../platform/lambda.js'
import {initTf, type BackendName, type TfRuntime} from '../runtime/tf.js'
import {
  PayloadInvalidError,
  checkWireTensor,
  decodeTensor,
  encodeTensors,
  type HandoffSpec,
  type RawTensor,
  type StageResult,
  type TensorStore,
  type WireDtype,
  type WireTensor,
} from './codec.js'
import {loadOnnxEngine, type StageEngine} from './onnx-engine.js'
import {STAGE_SPEC_VERSION, type StageSpec} from './spec.js'
import {isSafeName, storeFor} from './store.js'
import {isWarmUpEvent, warmUpHoldMs, type WarmUpResult} from './warmup.js'
import {fetchStageWeights} from './weights.js'

export {STAGE_SPEC_VERSION, type StageSpec} from './spec.js'

export interface LambdaContextLike {
  awsRequestId?: string
  functionName?: string
  getRemainingTimeInMillis?: () => number
}

export interface StageRuntime {
  spec: StageSpec
  backend: BackendName | 'onnx'
  /**
   * ms from process start to ready (runtime boot + module load + tf init + model load + warm-up),
   * what Lambda reports as Init Duration
   */
  initMs: number
  breakdown: {tfMs: number; loadMs: number; warmupMs: number}
  /** a warm-up event (src/stage/warmup.ts) answers a WarmUpResult without computing */
  handle(event: unknown, context?: LambdaContextLike): Promise<StageResult>
}

type Tf = TfRuntime['tf']
type LayersModel = Awaited<ReturnType<Tf['loadLayersModel']>>

/** Reads and sanity-checks stage.json. */
export async function readStageSpec(dir: string): Promise<StageSpec> {
  const spec = JSON.parse(await readFile(join(dir, 'stage.json'), 'utf8')) as StageSpec
  if (spec.version !== STAGE_SPEC_VERSION || !Array.isArray(spec.inputs) || !Array.isArray(spec.outputs)) {
    throw new Error(`${join(dir, 'stage.json')} is not a version ${STAGE_SPEC_VERSION} stage spec`)
  }
  return spec
}

/**
 * Loads the stage in `dir`: initialises tfjs (wasm unless `backend` says otherwise), loads
 * model.json + weights.bin, and runs one warm-up prediction so the first request is not slow.
 */
export async function loadStageRuntime(dir: string, options: {backend?: BackendName} = {}): Promise<StageRuntime> {
  const t0 = performance.now()
  const spec = await readStageSpec(dir)
  if (spec.backend === 'onnx') return serve(spec, await loadOnnxEngine(dir, spec, t0))
  const rt = await initTf(options.backend)
  const tf = rt.tf
  const t1 = performance.now()
  const modelJson = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: object
    weightsManifest: {paths: string[]; weights: unknown[]}[]
  }
  const weightSpecs = modelJson.weightsManifest.flatMap((g) => g.weights) as Parameters<Tf['io']['fromMemory']>[1]
  // weights from the bundle, or (stage.json `weights`) fetched from the deployment's store and verified
  const weights: Uint8Array = spec.weights
    ? await fetchStageWeights(spec)
    : Buffer.concat(await Promise.all(modelJson.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p)))))
  // the bytes' own ArrayBuffer when they fill it (a fetched blob does), else one copy of them
  const weightData = (
    weights.byteOffset === 0 && weights.byteLength === weights.buffer.byteLength
      ? weights.buffer
      : weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength)
  ) as ArrayBuffer
  const model = await tf.loadLayersModel(tf.io.fromMemory(modelJson.modelTopology, weightSpecs, weightData))
  const t2 = performance.now()
  // warm-up: allocate and run every kernel once with zeros at batch 1
  const warm = spec.inputs.map((i) => tf.zeros([1, ...i.shape.slice(1).map((d) => d ?? 1)], i.dtype === 'int32' ? 'int32' : 'float32'))
  const out = model.predict(warm.length === 1 ? warm[0] : warm)
  for (const t of [...warm, ...(Array.isArray(out) ? out : [out])]) t.dispose()
  const t3 = performance.now()
  // performance.now() counts from the process's start, like Lambda's Init Duration
  const initMs = t3
  return serve(spec, {
    backend: rt.backend,
    initMs,
    breakdown: {tfMs: t1 - t0, loadMs: t2 - t1, warmupMs: t3 - t2},
    run: (inputs) => run(tf, model, spec, inputs),
  })
}

/** The event loop of a loaded stage: validate → decode → engine.run → encode. */
function serve(spec: StageSpec, engine: StageEngine): StageRuntime {
  const {initMs} = engine

  let served = 0
  // a warm-up paid this environment's INIT: the first user request is then not a cold start
  let warmed = false
  const envId = randomUUID()
  const envStore = storeFromEnv()
  const envLimit = Number(process.env.AMPS_MAX_PAYLOAD_BYTES)
  const payloadLimit = Number.isInteger(envLimit) && envLimit > 0 ? envLimit : LAMBDA.syncPayloadBytes
  return {
    spec,
    backend: engine.backend,
    initMs,
    breakdown: engine.breakdown,
    async handle(event, context) {
      if (isWarmUpEvent(event)) {
        const hold = warmUpHoldMs(event)
        const result: WarmUpResult = {warmUp: true, stage: {index: spec.index, name: spec.name}, envId, coldStart: served === 0 && !warmed, initMs}
        warmed = true
        if (hold > 0) await new Promise((r) => setTimeout(r, hold))
        return result as unknown as StageResult
      }
      const coldStart = served === 0 && !warmed
      served++
      const h0 = performance.now()
      const ev = checkEvent(event)
      const store = envStore ?? storeFor(ev.handoff)
      const inputs = await decodeInputs(spec, ev.tensors, store)
      const h1 = performance.now()
      const outputs = await engine.run(inputs)
      const h2 = performance.now()
      const requestId = ev.requestId ?? context?.awsRequestId ?? `${Date.now()}-${Math.random().toString(36).slice(2, 10)}`
      const tensors = await encodeTensors(outputs, {
        limit: payloadLimit,
        store,
        keyPrefix: `${requestId}/${spec.name}`,
      })
      const h3 = performance.now()
      return {
        stage: {index: spec.index, name: spec.name},
        tensors,
        metrics: {
          initMs,
          coldStart,
          handlerMs: h3 - h0,
          decodeMs: h1 - h0,
          runMs: h2 - h1,
          encodeMs: h3 - h2,
          backend: engine.backend,
        },
      }
    },
  }
}

/** Hand-off store fixed by the function's environment (preferred over the event's). */
function storeFromEnv(): TensorStore | undefined {
  const dir = process.env.AMPS_HANDOFF_DIR
  if (dir) return storeFor({kind: 'dir', path: dir})
  // the AWS target sets AMPS_HANDOFF_BUCKET (+ AMPS_HANDOFF_PREFIX); AMPS_HANDOFF_S3=s3://bucket/prefix also works
  const bucket = process.env.AMPS_HANDOFF_BUCKET
  if (bucket) return storeFor({kind: 's3', bucket, prefix: process.env.AMPS_HANDOFF_PREFIX ?? ''})
  const s3 = process.env.AMPS_HANDOFF_S3
  const m = s3 ? /^s3:\/\/([^/]+)\/?(.*)$/.exec(s3) : null
  if (m) return storeFor({kind: 's3', bucket: m[1], prefix: m[2]})
  return undefined
}

interface CheckedEvent {
  tensors: WireTensor[]
  handoff?: HandoffSpec
  requestId?: string
}

function checkEvent(event: unknown): CheckedEvent {
  const ev = typeof event === 'string' ? safeParse(event) : event
  if (ev === null || typeof ev !== 'object' || Array.isArray(ev)) {
    throw new PayloadInvalidError('event must be a JSON object {tensors: [{id, dtype, shape, b64|ref}]}')
  }
  const e = ev as Record<string, unknown>
  if (!Array.isArray(e.tensors)) throw new PayloadInvalidError('event.tensors must be an array of {id, dtype, shape, b64|ref}')
  const tensors = e.tensors.map((t, i) => checkWireTensor(t, `event.tensors[${i}]`))
  let handoff: HandoffSpec | undefined
  if (e.handoff !== undefined) {
    const h = e.handoff as Record<string, unknown>
    if (h?.kind === 'dir' && typeof h.path === 'string') handoff = {kind: 'dir', path: h.path}
    else if (h?.kind === 's3' && typeof h.bucket === 'string' && typeof h.prefix === 'string') handoff = {kind: 's3', bucket: h.bucket, prefix: h.prefix}
    else throw new PayloadInvalidError('event.handoff must be {kind: "dir", path} or {kind: "s3", bucket, prefix}')
  }
  // the payload limit is the deployment's (AMPS_MAX_PAYLOAD_BYTES, set at start), never the event's
  let requestId: string | undefined
  if (e.requestId !== undefined) {
    if (typeof e.requestId !== 'string' || !isSafeName(e.requestId)) {
      throw new PayloadInvalidError('event.requestId must be 1-128 letters, digits, . _ - (no path separators, not dots only)')
    }
    requestId = e.requestId
  }
  return {tensors, handoff, requestId}
}

function safeParse(s: string): unknown {
  try {
    return JSON.parse(s)
  } catch {
    throw new PayloadInvalidError('event is not valid JSON')
  }
}

/** Matches the event's tensors to the stage's expected inputs by id; dtype, shape, bytes checked. */
async function decodeInputs(spec: StageSpec, tensors: WireTensor[], store: TensorStore | undefined): Promise<RawTensor[]> {
  const byId = new Map<string, WireTensor>()
  for (const t of tensors) {
    if (byId.has(t.id)) throw new PayloadInvalidError(`tensor "${t.id}" appears twice`)
    byId.set(t.id, t)
  }
  const expectedIds = spec.inputs.map((i) => i.id)
  const missing = expectedIds.filter((id) => !byId.has(id))
  if (missing.length > 0) {
    throw new PayloadInvalidError(
      `${spec.name} expects tensor${expectedIds.length > 1 ? 's' : ''} ${expectedIds.map((i) => `"${i}"`).join(', ')}; missing ${missing.map((i) => `"${i}"`).join(', ')}`,
    )
  }
  const unexpected = [...byId.keys()].filter((id) => !expectedIds.includes(id))
  if (unexpected.length > 0) {
    throw new PayloadInvalidError(
      `${spec.name} does not take ${unexpected.map((i) => `"${i}"`).join(', ')}; it expects ${expectedIds.map((i) => `"${i}"`).join(', ')}`,
    )
  }
  let batch: number | undefined
  for (const info of spec.inputs) {
    const t = byId.get(info.id)!
    const want = info.dtype === 'int32' ? 'int32' : 'float32'
    if (t.dtype !== want) throw new PayloadInvalidError(`tensor "${t.id}": dtype ${t.dtype}, expected ${want}`)
    const shapeText = `[${info.shape.map((d) => d ?? 'batch').join(', ')}]`
    if (t.shape.length !== info.shape.length) {
      throw new PayloadInvalidError(`tensor "${t.id}": shape [${t.shape}] has rank ${t.shape.length}, expected ${shapeText}`)
    }
    for (let k = 1; k < info.shape.length; k++) {
      const want = info.shape[k]
      if (want !== null && t.shape[k] !== want) {
        throw new PayloadInvalidError(`tensor "${t.id}": shape [${t.shape}], expected ${shapeText}`)
      }
      if (t.shape[k] < 1) throw new PayloadInvalidError(`tensor "${t.id}": shape [${t.shape}] has an empty dimension`)
    }
    const b = t.shape[0]
    if (b < 1) throw new PayloadInvalidError(`tensor "${t.id}": batch dimension must be at least 1, got ${b}`)
    if (batch !== undefined && b !== batch) throw new PayloadInvalidError(`tensor "${t.id}": batch ${b} differs from the other inputs' batch ${batch}`)
    batch = b
    if (spec.maxBatch > 0 && b > spec.maxBatch) {
      throw new PayloadInvalidError(`tensor "${t.id}": batch ${b} exceeds this stage's maximum batch ${spec.maxBatch}`)
    }
  }
  return Promise.all(spec.inputs.map((info) => decodeTensor(byId.get(info.id)!, store)))
}

async function run(tf: Tf, model: LayersModel, spec: StageSpec, inputs: RawTensor[]): Promise<RawTensor[]> {
  const xs = inputs.map((t) => tf.tensor(t.data, t.shape, t.dtype))
  try {
    const y = model.predict(xs.length === 1 ? xs[0] : xs)
    const ys = Array.isArray(y) ? y : [y]
    try {
      if (ys.length !== spec.outputs.length) {
        throw new Error(`${spec.name}: the stage model produced ${ys.length} outputs, stage.json lists ${spec.outputs.length}`)
      }
      return await Promise.all(
        ys.map(async (t, i) => {
          const dtype: WireDtype = t.dtype === 'int32' ? 'int32' : 'float32'
          const data = (dtype === 'int32' ? await t.data<'int32'>() : await t.data<'float32'>()) as Float32Array | Int32Array
          return {id: spec.outputs[i].id, dtype, shape: t.shape, data}
        }),
      )
    } finally {
      for (const t of ys) t.dispose()
    }
  } finally {
    for (const t of xs) t.dispose()
  }
}
