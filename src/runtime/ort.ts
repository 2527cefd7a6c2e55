/**
 * onnxruntime-node sessions, configured the one way amps runs them (stage handler, profiler,
 * tests): CPU provider, `threads` intra-op threads (the vCPUs the stage's memory buys, see
 * ortThreadsForMemory), one inter-op thread, sequential execution, all graph optimisations, and
 * no spin-waiting (`session.intra_op.allow_spinning` = "0": a spinning worker burns the CPU quota
 * Lambda and the local target's cgroup give the function).
 *
 * The package is imported lazily so that nothing loads its 46 MB native library unless an ONNX
 * stage runs.
 */
import type * as OrtType from 'onnxruntime-node'

import {LAMBDA} from '../platform/lambda.js'

export type Ort = typeof OrtType
export type OrtSession = OrtType.InferenceSession

export const MAX_ORT_THREADS = LAMBDA.maxVcpus

/**
 * Intra-op threads for a stage of `memoryMb`: ceil(memory / 1,769), 1..6. Ceil, because Lambda's
 * CPU share grows linearly with memory, so a 2,048 MB function has 1.16 vCPUs of quota: the second
 * thread uses the 0.16 that a single thread would leave idle, and with spinning off a thread that
 * finds no quota waits instead of burning it.
 */
export function ortThreadsForMemory(memoryMb: number): number {
  return Math.min(MAX_ORT_THREADS, Math.max(1, Math.ceil(memoryMb / LAMBDA.fullVcpuMemoryMb)))
}

let ortPromise: Promise<Ort> | undefined

export function loadOrt(): Promise<Ort> {
  ortPromise ??= import('onnxruntime-node').then((m) => ((m as unknown as {default?: Ort}).default ?? m) as Ort)
  return ortPromise
}

export interface SessionConfig {
  threads: number
  /** write ORT's per-node profile (JSON) with this file prefix */
  profileFilePrefix?: string
  /** the graph's external data, in memory (a stage whose weights were fetched at INIT, src/model/onnx/external.ts) */
  externalData?: {path: string; data: Uint8Array}[]
}

export function sessionOptions(config: SessionConfig): OrtType.InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: config.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableCpuMemArena: true,
    enableMemPattern: true,
    ...(config.profileFilePrefix ? {enableProfiling: true, profileFilePrefix: config.profileFilePrefix} : {}),
    ...(config.externalData ? {externalData: config.externalData} : {}),
    extra: {session: {intra_op: {allow_spinning: '0'}, inter_op: {allow_spinning: '0'}}},
  }
}

export async function createSession(model: Uint8Array | string, config: SessionConfig): Promise<OrtSession> {
  const ort = await loadOrt()
  const options = sessionOptions(config)
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options)
}

/** A float32 or int32 tensor (an exported stage's inputs and outputs are one or the other, src/model/onnx). */
export interface OrtTensor {
  data: Float32Array | Int32Array
  shape: number[]
}

/**
 * Runs the session on inputs given in the session's input order, each as the dtype of its typed
 * array (Int32Array: int32, e.g. token ids; else float32); outputs in its output order.
 */
export async function runSession(session: OrtSession, inputs: OrtTensor[]): Promise<OrtTensor[]> {
  const ort = await loadOrt()
  const feeds: Record<string, OrtType.Tensor> = {}
  session.inputNames.forEach((name, i) => {
    const x = inputs[i]
    feeds[name] = x.data instanceof Int32Array ? new ort.Tensor('int32', x.data, x.shape) : new ort.Tensor('float32', x.data, x.shape)
  })
  const out = await session.run(feeds)
  return session.outputNames.map((name) => {
    const t = out[name]
    if (t.type !== 'float32' && t.type !== 'int32') throw new Error(`ONNX output ${name} is ${t.type}; amps stages give float32 or int32`)
    return {data: t.data as Float32Array | Int32Array, shape: t.dims.map(Number)}
  })
}
