/**
 * The ONNX engine of a stage: model.onnx on onnxruntime-node, one session per process (created at
 * init, reused by every request), threads = the vCPUs the function's memory gives
 * (AWS_LAMBDA_FUNCTION_MEMORY_SIZE, set by Lambda and by the local target), else stage.json's
 * `threads`, else 1. AMPS_ORT_THREADS overrides both (the profiler and benches use it).
 */
import {readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {BackendName} from '../runtime/tf.js'
import {createSession, loadOrt, ortThreadsForMemory, runSession} from '../runtime/ort.js'
import type {RawTensor, WireDtype} from './codec.js'
import type {StageSpec} from './spec.js'
import {fetchStageWeights} from './weights.js'

export interface StageEngine {
  backend: BackendName | 'onnx'
  /** ms from process start to ready (what Lambda reports as Init Duration) */
  initMs: number
  /** tfMs: loading the runtime library (tfjs backend or ORT), loadMs: model, warmupMs: first run */
  breakdown: {tfMs: number; loadMs: number; warmupMs: number}
  run(inputs: RawTensor[]): Promise<RawTensor[]>
}

/** Intra-op threads for this process (see the module docs). */
export function stageThreads(spec: Pick<StageSpec, 'threads'>, env: NodeJS.ProcessEnv = process.env): number {
  const forced = Number(env.AMPS_ORT_THREADS)
  if (Number.isInteger(forced) && forced >= 1) return forced
  const memory = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE)
  if (Number.isFinite(memory) && memory > 0) return ortThreadsForMemory(memory)
  return spec.threads && spec.threads >= 1 ? spec.threads : 1
}

export async function loadOnnxEngine(dir: string, spec: StageSpec, t0: number): Promise<StageEngine> {
  await loadOrt()
  const t1 = performance.now()
  const threads = stageThreads(spec)
  // weights in the graph, or (stage.json `weights`) fetched at INIT and given to ORT as the graph's external data
  const session = spec.weights
    ? await createSession(await readFile(join(dir, 'model.onnx')), {
        threads,
        externalData: [{path: spec.weights.location, data: await fetchStageWeights(spec)}],
      })
    : await createSession(join(dir, 'model.onnx'), {threads})
  const byName = new Map(session.outputNames.map((n, i) => [n, i]))
  const missing = spec.outputs.filter((o) => !byName.has(o.id))
  if (missing.length > 0 || session.inputNames.join('\0') !== spec.inputs.map((i) => i.id).join('\0')) {
    throw new Error(`${join(dir, 'model.onnx')} does not match stage.json (inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`)
  }
  const t2 = performance.now()
  // each input as the dtype stage.json (and model.onnx) declare: int32 ids stay int32 (the event's dtype was checked against it)
  const dtypes: WireDtype[] = spec.inputs.map((i) => (i.dtype === 'int32' ? 'int32' : 'float32'))
  const run = async (inputs: RawTensor[]): Promise<RawTensor[]> => {
    const feeds = inputs.map((t, i) => ({data: asDtype(t.data, dtypes[i]), shape: t.shape}))
    const outs = await runSession(session, feeds)
    return spec.outputs.map((o) => {
      const y = outs[byName.get(o.id) as number]
      return {id: o.id, dtype: (y.data instanceof Int32Array ? 'int32' : 'float32') as WireDtype, shape: y.shape, data: y.data}
    })
  }
  // warm-up at batch 1 with zeros: ORT allocates its arena and pre-packs weights on the first run
  await run(
    spec.inputs.map((i, k) => {
      const shape = [1, ...i.shape.slice(1).map((d) => d ?? 1)]
      const n = shape.reduce((a, b) => a * b, 1)
      return {id: i.id, dtype: dtypes[k], shape, data: dtypes[k] === 'int32' ? new Int32Array(n) : new Float32Array(n)}
    }),
  )
  const t3 = performance.now()
  return {backend: 'onnx', initMs: t3, breakdown: {tfMs: t1 - t0, loadMs: t2 - t1, warmupMs: t3 - t2}, run}
}

function asDtype(data: Float32Array | Int32Array, dtype: WireDtype): Float32Array | Int32Array {
  if (dtype === 'int32') return data instanceof Int32Array ? data : Int32Array.from(data)
  return data instanceof Float32Array ? data : Float32Array.from(data)
}
