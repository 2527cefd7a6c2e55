/**
 * The profiler's measuring child. Started by driver.ts with the job in AMPS_PROFILE_JOB and an IPC
 * channel; it loads the model once, measures the cold-process facts (RuntimeProbe), then answers
 * 'measure' messages while the parent moves it between CPU-quota groups.
 *
 * One pass runs the model's layers one by one in the LayerGraph's topological order on concrete
 * tensors held in a map by tensor id: `layer.apply` inside `tf.tidy` (some layers, e.g. ReLU with a
 * max value, leave intermediates behind otherwise), and disposes every tensor after its last
 * consumer (outside the timed region). On the Node backends (wasm, cpu, tensorflow) kernels run
 * synchronously, so a layer's work is done when `apply` returns; reading its output back
 * (`dataSync`) would add a copy of the whole activation that a stage never makes (its hand-off
 * encoding is measured separately as codecMsPerMb), so the per-layer region is `apply` alone and
 * only the whole-model run reads its (small) outputs back.
 *
 * Every layer sample records the wall time and the CPU time of the whole process (getrusage: all
 * threads, exact to the µs, not counting time spent throttled or waiting for another tenant);
 * driver.ts turns them into ms at the quota's memory size (see layerSampleMs in assemble.ts).
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import {join} from 'node:path'

import type {LayerGraph} from '../model/types.js'
import type {BackendName} from '../runtime/tf.js'
import type {LayerSamples, ParentMessage, PointResult, RepeatPlan, RuntimeProbe, WorkerJob, WorkerMessage} from './protocol.js'
import {readStagedModel, STAGED_ONNX} from './model-files.js'
import {median} from './stats.js'

type Tf = typeof import('../runtime/tfjs.js')
type Tensor = import('../runtime/tfjs.js').Tensor
type LayersModel = import('../runtime/tfjs.js').LayersModel
type Layer = import('../runtime/tfjs.js').layers.Layer

function send(message: WorkerMessage): void {
  process.send?.(message)
}

const gc = (globalThis as {gc?: () => void}).gc ?? (() => {})

function rss(): number {
  gc()
  gc()
  return process.memoryUsage().rss
}

function cpuNowMs(): number {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

interface Step {
  index: number
  layer: Layer
  inputs: string[]
  outputs: string[]
  /** tensor ids whose last consumer is this step */
  free: string[]
  /**
   * An earlier step with the same class, config (name aside) and input shapes: timed passes do not
   * run this one again but reuse that step's samples, and give the layers after it a tensor of
   * its output shape (kernels' speed does not depend on the values).
   */
  sameAs?: number
  /** output shapes without the batch dimension (for the stand-in tensors of deduplicated steps) */
  outShapes: number[][]
}

/** The layers in topological order, each with the tensor ids it reads, writes and may then free. */
function executionPlan(graph: LayerGraph, model: LayersModel): Step[] {
  const keep = new Set(graph.outputs.map((t) => t.id))
  const inputIds = new Set(graph.inputs.map((t) => t.id))
  const lastUse = new Map<string, number>()
  for (const l of graph.layers) for (const id of l.inbound) lastUse.set(id, l.index)
  const steps: Step[] = []
  for (const info of graph.layers) {
    if (info.className === 'InputLayer') continue
    steps.push({
      index: info.index,
      layer: model.getLayer(info.name),
      inputs: info.inbound,
      outputs: info.outputs.map((o) => o.id),
      free: [],
      outShapes: info.outputs.map((o) => o.shape.slice(1) as number[]),
    })
  }
  // dedupe: same class, config and input shapes → measured once
  const shapeOf = new Map<string, unknown>()
  for (const t of graph.inputs) shapeOf.set(t.id, t.shape)
  for (const l of graph.layers) for (const o of l.outputs) shapeOf.set(o.id, o.shape)
  const firstWith = new Map<string, number>()
  steps.forEach((step, s) => {
    let config: Record<string, unknown>
    try {
      config = {...step.layer.getConfig()}
    } catch {
      return
    }
    delete config.name
    const key = JSON.stringify([step.layer.getClassName(), config, step.inputs.map((id) => shapeOf.get(id)), step.outShapes])
    const first = firstWith.get(key)
    if (first === undefined) firstWith.set(key, s)
    else step.sameAs = first
  })
  const byIndex = new Map(steps.map((s) => [s.index, s]))
  for (const [id, pos] of lastUse) {
    if (keep.has(id) || inputIds.has(id)) continue
    byIndex.get(pos)?.free.push(id)
  }
  return steps
}

class Runner {
  private readonly steps: Step[]
  /** last measured CPU ms of one layer-by-layer pass, per batch, to size the repeats */
  private readonly passCpuMs = new Map<number, number>()
  private readonly wholeCpuMs = new Map<number, number>()
  private readonly warmed = new Set<number>()
  overheadCpuMs = 0
  overheadWallMs = 0

  constructor(
    private readonly tf: Tf,
    private readonly graph: LayerGraph,
    private readonly model: LayersModel,
  ) {
    this.steps = executionPlan(graph, model)
  }

  /** The cost of an empty timed region, so it can be taken off every sample. */
  calibrateTimer(): void {
    const cpu: number[] = []
    const wall: number[] = []
    for (let i = 0; i < 2000; i++) {
      const w0 = performance.now()
      const c0 = cpuNowMs()
      const c1 = cpuNowMs()
      const w1 = performance.now()
      cpu.push(c1 - c0)
      wall.push(w1 - w0)
    }
    this.overheadCpuMs = median(cpu)
    this.overheadWallMs = median(wall)
  }

  inputs(batch: number): Tensor[] {
    return this.graph.inputs.map((t) => this.tf.randomUniform([batch, ...(t.shape.slice(1) as number[])], 0, 1, t.dtype === 'int32' ? 'int32' : 'float32'))
  }

  /** One layer-by-layer pass; fills cpu/wall per step when `record` is given. Returns the pass wall ms. */
  chain(xs: Tensor[], record?: {cpu: number[][]; wall: number[][]}): number {
    const tf = this.tf
    const map = new Map<string, Tensor>()
    this.graph.inputs.forEach((t, i) => map.set(t.id, xs[i]))
    const start = performance.now()
    let skippedWall = 0
    for (let s = 0; s < this.steps.length; s++) {
      const step = this.steps[s]
      const ins = step.inputs.map((id) => {
        const t = map.get(id)
        if (!t) throw new Error(`tensor ${id} needed by layer ${step.layer.name} was not produced`)
        return t
      })
      if (record && step.sameAs !== undefined) {
        // a duplicate of an earlier step in this pass: its samples are that step's
        const rep = step.sameAs
        const outs = step.outShapes.map((shape) => tf.zeros([xs[0].shape[0], ...shape]))
        step.outputs.forEach((id, i) => map.set(id, outs[i]))
        for (const id of step.free) {
          map.get(id)?.dispose()
          map.delete(id)
        }
        skippedWall += record.wall[rep][record.wall[rep].length - 1] ?? 0
        continue
      }
      const arg = ins.length === 1 ? ins[0] : ins
      const w0 = performance.now()
      const c0 = cpuNowMs()
      const out = tf.tidy(() => step.layer.apply(arg, {training: false}) as Tensor | Tensor[])
      const c1 = cpuNowMs()
      const w1 = performance.now()
      if (record) {
        record.cpu[s].push(Math.max(0, c1 - c0 - this.overheadCpuMs))
        record.wall[s].push(Math.max(0, w1 - w0 - this.overheadWallMs))
      }
      const outs = Array.isArray(out) ? out : [out]
      step.outputs.forEach((id, i) => map.set(id, outs[i]))
      for (const id of step.free) {
        map.get(id)?.dispose()
        map.delete(id)
      }
    }
    const wall = performance.now() - start + skippedWall
    const inputSet = new Set(xs)
    for (const t of map.values()) if (!inputSet.has(t)) t.dispose()
    return wall
  }

  /** model.predict plus reading the outputs back, as a stage does. */
  whole(xs: Tensor[]): {wall: number; cpu: number} {
    const w0 = performance.now()
    const c0 = cpuNowMs()
    const y = this.model.predict(xs.length === 1 ? xs[0] : xs) as Tensor | Tensor[]
    const ys = Array.isArray(y) ? y : [y]
    for (const t of ys) t.dataSync()
    const c1 = cpuNowMs()
    const w1 = performance.now()
    for (const t of ys) t.dispose()
    return {wall: w1 - w0, cpu: c1 - c0}
  }

  measure(memoryMb: number, fraction: number, batch: number, plan: RepeatPlan): PointResult {
    const tf = this.tf
    const tensorsBefore = tf.memory().numTensors
    const xs = this.inputs(batch)
    const progress = (phase: 'warmup' | 'layers' | 'whole', done: number, total: number): void => send({type: 'progress', memoryMb, batch, phase, done, total})
    const slow = 1 / Math.min(1, fraction)

    // one warm-up pass per batch size: the process stays warm when it moves to the next quota
    const warmup = this.warmed.has(batch) ? 0 : Math.max(1, plan.warmup)
    for (let i = 0; i < warmup; i++) {
      progress('warmup', i, warmup)
      const c0 = cpuNowMs()
      this.chain(xs)
      this.passCpuMs.set(batch, cpuNowMs() - c0)
      this.wholeCpuMs.set(batch, this.whole(xs).cpu)
    }
    this.warmed.add(batch)

    const sized = (cpuMs: number | undefined, min: number, max: number, budget: number): number =>
      Math.max(min, Math.min(max, Math.floor(budget / Math.max(0.001, (cpuMs ?? budget) * slow))))
    const repeats = sized(this.passCpuMs.get(batch), plan.minRepeats, plan.maxRepeats, plan.budgetMs)
    const cpu = this.steps.map(() => [] as number[])
    const wall = this.steps.map(() => [] as number[])
    const chainWallMs: number[] = []
    for (let r = 0; r < repeats; r++) {
      progress('layers', r, repeats)
      const c0 = cpuNowMs()
      chainWallMs.push(this.chain(xs, {cpu, wall}))
      this.passCpuMs.set(batch, cpuNowMs() - c0)
    }

    const wholeRuns = sized(this.wholeCpuMs.get(batch), plan.wholeMin, plan.wholeMax, plan.wholeBudgetMs)
    const wholeWallMs: number[] = []
    const wholeCpuMs: number[] = []
    for (let r = 0; r < wholeRuns; r++) {
      progress('whole', r, wholeRuns)
      const {wall: w, cpu: c} = this.whole(xs)
      wholeWallMs.push(w)
      wholeCpuMs.push(c)
      this.wholeCpuMs.set(batch, c)
    }
    for (const x of xs) x.dispose()
    const layers: LayerSamples[] = this.steps.map((s, i) => ({index: s.index, cpuMs: cpu[s.sameAs ?? i], wallMs: wall[s.sameAs ?? i]}))
    return {memoryMb, fraction, batch, layers, wholeWallMs, wholeCpuMs, chainWallMs, tensorsBefore, tensorsAfter: tf.memory().numTensors}
  }
}

/** `mb` MB of float32 values that do not compress or repeat (sin(i)·1000), for the payload probes. */
function probeTensorData(mb: number): Float32Array {
  const data = new Float32Array((mb * 1024 * 1024) / 4)
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i) * 1000
  return data
}

/**
 * Marginal CPU ms per MB of `op`, as a warm stage pays it: the slope between payloads of `small` and
 * `large` MB (the fixed part of a call is in invokeOverheadMs), each the mean over
 * repeated calls after a warm-up long enough for the JIT (a cold first few calls cost 5–10× more
 * and a stage has served many before it is measured). The mean, not the median: the cost is
 * bimodal, a large string or buffer now and then sets off a garbage collection that the CPU time
 * includes, and a busy stage pays those too. CPU time, like the layers, so another tenant's load
 * does not count.
 */
async function marginalMsPerMb(op: (data: Float32Array) => Promise<number> | number, warmup = 40, small = 0.25, large = 4): Promise<number> {
  const sizes = [small, large].map((mb) => ({mb, data: probeTensorData(mb)}))
  let check = 0
  // JS code (the codec, the splicing) reaches its steady cost after ~30 calls of each size (at 10
  // it is still 2–4× higher); V8's own JSON.parse / JSON.stringify need only a few
  for (let r = 0; r < warmup; r++) for (const s of sizes) check += await op(s.data)
  const runs = 16
  const mean: number[] = []
  for (const s of sizes) {
    let total = 0
    for (let r = 0; r < runs; r++) {
      const c0 = cpuNowMs()
      check += await op(s.data)
      total += cpuNowMs() - c0
    }
    mean.push(total / runs)
  }
  if (!Number.isFinite(check)) throw new Error('a payload probe produced non-finite values')
  return Math.max(0, (mean[1] - mean[0]) / (large - small))
}

/**
 * Cost of the stage hand-off codec (src/stage/codec.ts: base64 of the raw float32 bytes, both ways,
 * including the aligned copy on decode) per MB of tensor bytes.
 */
async function codecMsPerMb(): Promise<number> {
  const codec = await import('../stage/codec.js')
  return marginalMsPerMb(async (data) => {
    const back = await codec.decodeTensor(codec.encodeInline({id: 'x', dtype: 'float32', shape: [data.length], data}))
    return back.data[data.length - 1]
  })
}

/**
 * What runs around a stage handler with an inline hand-off, per raw MB of float32 tensor: parsing
 * the request body (base64 tensors, as src/stage/codec encodes them) and writing the result as
 * bytes. Two runtimes, two ways: Lambda's managed Node runtime uses JSON.parse / JSON.stringify
 * (`lambda`); the local target's runner uses src/stage/json-body.ts, which splices the base64
 * strings around a small JSON skeleton (`local`; same bytes, 5–8× less CPU on large tensors).
 */
async function payloadJsonMsPerMb(): Promise<{parse: number; stringify: number; localParse: number; localStringify: number}> {
  const codec = await import('../stage/codec.js')
  const {jsonBody, parseJsonBody} = await import('../stage/json-body.js')
  const body = (data: Float32Array) =>
    Buffer.from(JSON.stringify({tensors: [codec.encodeInline({id: 'x', dtype: 'float32', shape: [data.length], data})], requestId: 'probe'}))
  const bodies = new Map<Float32Array, Buffer>()
  const bodyOf = (data: Float32Array) => bodies.get(data) ?? bodies.set(data, body(data)).get(data)!
  const events = new Map<Float32Array, {tensors: unknown[]}>()
  const eventOf = (data: Float32Array) => events.get(data) ?? events.set(data, JSON.parse(bodyOf(data).toString('utf8')) as {tensors: unknown[]}).get(data)!
  const result = (data: Float32Array) => ({stage: {index: 0, name: 'probe'}, tensors: eventOf(data).tensors, metrics: {handlerMs: 1}})
  return {
    parse: await marginalMsPerMb((data) => (JSON.parse(bodyOf(data).toString('utf8')) as {tensors: unknown[]}).tensors.length, 4),
    stringify: await marginalMsPerMb((data) => Buffer.from(JSON.stringify(result(data))).length, 4),
    localParse: await marginalMsPerMb((data) => (parseJsonBody(bodyOf(data)) as {tensors: unknown[]}).tensors.length),
    localStringify: await marginalMsPerMb((data) => jsonBody(result(data))?.length ?? 0),
  }
}

/**
 * The fixed cost of one call through the real stage handler (src/stage/runtime.ts `handle`):
 * a one-layer stage fed a one-element tensor, so event checks, decode, predict bookkeeping, read
 * back and encode are all there and the arithmetic is not. JSON (de)serialisation of the event and
 * result, which the Lambda runtime does around the handler, is included.
 */
async function invokeOverheadMs(tf: Tf): Promise<number> {
  const [{loadStageRuntime, STAGE_SPEC_VERSION}, codec] = await Promise.all([import('../stage/runtime.js'), import('../stage/codec.js')])
  const dir = mkdtempSync(join(tmpdir(), `amps-profile-${process.pid}-stage-`))
  try {
    const tiny = tf.sequential({layers: [tf.layers.dense({units: 1, inputShape: [1], name: 'probe_dense'})]})
    let saved: import('../runtime/tfjs.js').io.ModelArtifacts | undefined
    await tiny.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a
        return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}}
      }),
    )
    tiny.dispose()
    if (!saved?.weightData || !saved.weightSpecs) throw new Error('could not serialise the probe model')
    const parts = Array.isArray(saved.weightData) ? saved.weightData : [saved.weightData]
    writeFileSync(join(dir, 'weights.bin'), Buffer.concat(parts.map((p) => Buffer.from(p))))
    writeFileSync(
      join(dir, 'model.json'),
      JSON.stringify({modelTopology: saved.modelTopology, weightsManifest: [{paths: ['weights.bin'], weights: saved.weightSpecs}]}),
    )
    const io = (id: string) => ({id, shape: [null, 1], dtype: 'float32' as const, bytesPerSample: 4})
    const spec = {
      version: STAGE_SPEC_VERSION,
      index: 0,
      name: 'probe',
      functionName: 'amps-profile-probe',
      model: {name: 'probe', sha256: ''},
      planHash: '',
      layers: {first: 'probe_dense', last: 'probe_dense', firstIndex: 1, lastIndex: 1},
      inputs: [io(tiny.inputs[0].name)],
      outputs: [io(tiny.outputs[0].name)],
      maxBatch: 0,
    }
    writeFileSync(join(dir, 'stage.json'), JSON.stringify(spec))
    const runtime = await loadStageRuntime(dir)
    const eventText = JSON.stringify({tensors: [codec.encodeInline({id: spec.inputs[0].id, dtype: 'float32', shape: [1, 1], data: new Float32Array([0.5])})]})
    const once = async (): Promise<number> => {
      const c0 = cpuNowMs()
      const result = await runtime.handle(JSON.parse(eventText))
      const text = JSON.stringify(result)
      const c1 = cpuNowMs()
      if (!text.includes('"tensors"')) throw new Error('the probe stage returned no tensors')
      return c1 - c0
    }
    for (let i = 0; i < 30; i++) await once()
    const times: number[] = []
    for (let i = 0; i < 150; i++) times.push(await once())
    return median(times)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

async function main(): Promise<void> {
  const job = JSON.parse(process.env.AMPS_PROFILE_JOB ?? 'null') as WorkerJob | null
  if (!job) throw new Error('AMPS_PROFILE_JOB is not set: worker.ts is started by the profiler')
  const {initTf} = await import('../runtime/tf.js')
  let rt: Awaited<ReturnType<typeof initTf>>
  try {
    // onnx: tfjs (its default backend) still serves the memory and hand-off probes
    rt = await initTf(job.backend === 'onnx' ? undefined : (job.backend as BackendName | undefined))
  } catch (error) {
    if (!job.backend) throw error
    throw Object.assign(new Error(`the ${job.backend} backend is not available here (${(error as Error).message})`), {
      ampsCode: 'FLAG_INVALID',
      suggestions: [
        job.backend === 'tensorflow' ? 'Install @tensorflow/tfjs-node, or leave out --backend' : 'Leave out --backend to use the best available one',
      ],
    })
  }
  // cold: from process start (Node boot, module loading, backend compile) to a ready runtime
  const runtimeInitMs = performance.now()
  const tf = rt.tf
  const baselineRssBytes = rss()

  const t0 = performance.now()
  let staged: ReturnType<typeof readStagedModel> | undefined = readStagedModel(job.modelDir)
  const graph = staged.graph
  const model = await tf.loadLayersModel(tf.io.fromMemory(staged.artifacts))
  const loadMs = performance.now() - t0
  const loadedRssBytes = rss()
  // A second copy shows the marginal cost of weights alone: the first load also paid once for
  // compiled code and allocator arenas, which a per-MB ratio should not scale with model size.
  const second = await tf.loadLayersModel(tf.io.fromMemory(staged.artifacts))
  const secondRssBytes = rss()
  second.dispose()
  // eslint-disable-next-line no-useless-assignment -- drops the reference so the staged copy can be collected before the memory probes
  staged = undefined

  const runner = new Runner(tf, graph, model)
  runner.calibrateTimer()
  let xs = runner.inputs(1)
  const coldFirstPredictMs = runner.whole(xs).wall
  for (const x of xs) x.dispose()
  runner.whole((xs = runner.inputs(1)))
  for (const x of xs) x.dispose()
  const rssBatch1Bytes = rss()
  const probeBatch = Math.max(2, job.probeBatch)
  xs = runner.inputs(probeBatch)
  runner.whole(xs)
  for (const x of xs) x.dispose()
  const rssProbeBatchBytes = rss()

  let ort: import('./ort-runner.js').OrtRunner | undefined
  let ortThreads = 0
  let ortLoadMs = 0
  let ortFirstMs = 0
  if (job.backend === 'onnx') {
    const [{exportOnnx}, {OrtRunner, measuredThreads}] = await Promise.all([import('../model/onnx/export.js'), import('./ort-runner.js')])
    const onnxFile = join(job.modelDir, STAGED_ONNX)
    let bytes: Uint8Array
    if (existsSync(onnxFile)) bytes = readFileSync(onnxFile)
    else {
      const {graph: g, artifacts} = readStagedModel(job.modelDir)
      bytes = (await exportOnnx({source: job.modelDir, graph: g, artifacts}, 0, g.layers.length - 1)).bytes
    }
    ort = new OrtRunner(graph, bytes, send)
    ortThreads = measuredThreads(10240)
    const l0 = performance.now()
    await ort.session(1)
    ortLoadMs = performance.now() - l0
    ortFirstMs = (await ort.whole(ort.inputs(1), 1)).wall
  }

  const probe: RuntimeProbe = {
    runtimeInitMs,
    baselineRssBytes,
    loadedRssBytes,
    secondModelRssBytes: secondRssBytes,
    loadMs: ort ? ortLoadMs : loadMs,
    coldFirstPredictMs: ort ? ortFirstMs : coldFirstPredictMs,
    rssBatch1Bytes,
    rssProbeBatchBytes,
    probeBatch,
    peakActivationBytesPerSample: job.peakActivationBytesPerSample,
    invokeOverheadMs: await invokeOverheadMs(tf),
    codecMsPerMb: await codecMsPerMb(),
    ...(await payloadJsonMsPerMb().then((j) => ({
      jsonParseMsPerMb: j.parse,
      jsonStringifyMsPerMb: j.stringify,
      localJsonParseMsPerMb: j.localParse,
      localJsonStringifyMsPerMb: j.localStringify,
    }))),
    timerOverheadCpuMs: runner.overheadCpuMs,
    timerOverheadWallMs: runner.overheadWallMs,
  }
  send({
    type: 'ready',
    info: {
      backend: ort ? 'onnx' : rt.backend,
      threads: ort ? ortThreads : rt.threads,
      node: process.version,
      cpu: cpus()[0]?.model?.trim() ?? 'unknown',
      pid: process.pid,
    },
    probe,
  })

  await new Promise<void>((resolvePromise, reject) => {
    process.on('message', (raw: ParentMessage) => {
      try {
        if (raw.type === 'exit') return resolvePromise()
        if (raw.type === 'measure' && ort) {
          ort.measure(raw.memoryMb, raw.fraction, raw.batch, raw.plan).then((result) => send({type: 'point', result}), reject)
        } else if (raw.type === 'measure') send({type: 'point', result: runner.measure(raw.memoryMb, raw.fraction, raw.batch, raw.plan)})
      } catch (error) {
        reject(error)
      }
    })
  })
}

function fail(error: unknown): void {
  const e = error as Error & {ampsCode?: string; suggestions?: string[]}
  send({type: 'error', message: e?.message ?? String(error), code: e?.ampsCode, suggestions: e?.suggestions, stack: e?.stack})
}

// The parent going away (Ctrl-C, crash) must not leave a busy child behind in a quota group.
process.on('disconnect', () => process.exit(0))

main().then(
  () => process.exit(0),
  (error) => {
    fail(error)
    // let the IPC message flush before exiting
    setTimeout(() => process.exit(1), 50)
  },
)
