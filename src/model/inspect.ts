/**
 * What amps needs from TensorFlow.js about a model: per layer its output shapes and dtypes, its
 * parameter count and the names tfjs gives its weights. Loading the model also proves tfjs can run
 * it. tfjs-layers walks the graph recursively, which overflows Node's default stack somewhere
 * between 3,000 and 6,000 chained layers, so deep models are inspected in a worker thread with a
 * larger stack.
 */
import {Worker} from 'node:worker_threads'
import type * as tfType from '../runtime/tfjs.js'

import {AmpsUserError} from '../errors.js'
import {initTf, type BackendName} from '../runtime/tf.js'
import type {CanonicalArtifacts, Shape} from './types.js'

export interface TfLayerFacts {
  name: string
  className: string
  outputShapes: Shape[]
  outputDtypes: string[]
  params: number
  /** tfjs' own weight names (LayerVariable.originalName) with shapes, in layer order */
  weights: {name: string; shape: number[]}[]
}

/** Longest chain (in layers) above which inspection runs in a worker with a large stack. */
export const IN_PROCESS_MAX_DEPTH = 1500

function isStackOverflow(error: unknown): boolean {
  return error instanceof RangeError && /call stack/i.test(error.message)
}

/** Turns tfjs' own errors while building a model into one user-facing line. */
export function tfLoadError(error: unknown, source: string): AmpsUserError {
  const message = error instanceof Error ? error.message : String(error)
  const first = message.split('\n')[0]
  if (/^Unknown (layer|activation|initializer|regularizer|constraint)|is not a known|Unknown .*: /i.test(first)) {
    return new AmpsUserError('MODEL_UNSUPPORTED_LAYER', `${source}: TensorFlow.js cannot build the model: ${first}`)
  }
  if (/weight|variable|shape/i.test(first)) {
    return new AmpsUserError('MODEL_WEIGHTS_INVALID', `${source}: the weights do not fit the model: ${first}`, {
      suggestions: ['Re-export model.json and its weight files together'],
    })
  }
  return new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${source}: TensorFlow.js cannot build the model: ${first}`)
}

/** Loads the artifacts with tfjs in this thread and reads the facts off the built model. */
export async function inspectInProcess(artifacts: CanonicalArtifacts, source: string, backend?: BackendName): Promise<TfLayerFacts[]> {
  const {tf} = await initTf(backend)
  let model: tfType.LayersModel
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts))
  } catch (error) {
    if (isStackOverflow(error)) throw error
    throw tfLoadError(error, source)
  }
  try {
    return model.layers.map((layer) => {
      const node = layer.inboundNodes[0]
      const outs = node.outputTensors
      return {
        name: layer.name,
        className: layer.getClassName(),
        outputShapes: outs.map((t) => [...t.shape]),
        outputDtypes: outs.map((t) => t.dtype),
        params: layer.countParams(),
        weights: layer.weights.map((w) => ({name: w.originalName, shape: w.shape.map((d) => d ?? 0)})),
      }
    })
  } finally {
    model.dispose()
  }
}

/** Runs inspectInProcess in a worker thread whose stack fits `depth` chained layers. */
export function inspectInWorker(artifacts: CanonicalArtifacts, source: string, depth: number): Promise<TfLayerFacts[]> {
  const fromSource = import.meta.url.endsWith('.ts')
  const url = new URL(fromSource ? './inspect-worker.ts' : './inspect-worker.js', import.meta.url)
  const stackSizeMb = Math.max(64, Math.ceil(depth / 250))
  return new Promise((resolve, reject) => {
    // Run from TypeScript sources (vitest, tsx) the worker registers tsx's loader before importing
    // the .ts entry; built code (dist/) imports the .js entry directly.
    const bootstrap = `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url.href)}) })`
    const worker = fromSource
      ? new Worker(bootstrap, {eval: true, workerData: {artifacts, source}, resourceLimits: {stackSizeMb}})
      : new Worker(url, {workerData: {artifacts, source}, resourceLimits: {stackSizeMb}})
    let settled = false
    worker.once('message', (msg: {ok: true; facts: TfLayerFacts[]} | {ok: false; code?: string; message: string; overflow?: boolean}) => {
      settled = true
      if (msg.ok) resolve(msg.facts)
      else if (msg.overflow) {
        reject(
          new AmpsUserError(
            'MODEL_FORMAT_UNSUPPORTED',
            `${source}: the model is too deep for TensorFlow.js (a chain of ${depth} layers overflowed a ${stackSizeMb} MB stack)`,
          ),
        )
      } else if (msg.code) reject(new AmpsUserError(msg.code as never, msg.message))
      else reject(new Error(msg.message))
      void worker.terminate()
    })
    worker.once('error', (error) => {
      if (!settled) reject(error)
    })
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`model inspection worker exited with code ${code} before answering`))
    })
  })
}

/** Inspects in this thread, or in a worker for deep models or when this thread's stack overflows. */
export async function inspectModel(artifacts: CanonicalArtifacts, source: string, depth: number): Promise<TfLayerFacts[]> {
  if (depth > IN_PROCESS_MAX_DEPTH) return inspectInWorker(artifacts, source, depth)
  try {
    return await inspectInProcess(artifacts, source)
  } catch (error) {
    if (isStackOverflow(error)) return inspectInWorker(artifacts, source, depth)
    throw error
  }
}
