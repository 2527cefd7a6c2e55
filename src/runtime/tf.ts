/**
 * One place that picks the tensor backend, for the CLI, the profiler and the stage handler:
 * tfjs-node (native libtensorflow) when it is installed and loads, else the wasm backend (SIMD,
 * single-threaded in Node), else the pure-JS cpu backend. Call `initTf()` once before any tensor work.
 * tfjs itself comes from ./tfjs.ts (core + layers); each backend registers itself when imported here.
 */
import * as tf from './tfjs.js'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

export type BackendName = 'tensorflow' | 'wasm' | 'cpu'

export interface TfRuntime {
  tf: typeof tf
  backend: BackendName
  /** threads the backend computes with (wasm in Node: 1) */
  threads: number
}

let ready: Promise<TfRuntime> | undefined

/** Directory holding tfjs-backend-wasm's .wasm files, or an override for bundles (AMPS_WASM_DIR). */
export function wasmDir(): string {
  if (process.env.AMPS_WASM_DIR) return process.env.AMPS_WASM_DIR
  const require = createRequire(import.meta.url)
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
}

async function tryNode(): Promise<boolean> {
  try {
    // optionalDependency: absent on most machines (its install downloads libtensorflow)
    const name = '@tensorflow/tfjs-node'
    await import(name)
    return await tf.setBackend('tensorflow')
  } catch {
    return false
  }
}

async function tryCpu(): Promise<boolean> {
  try {
    // by a computed name, so the stage bundle (esbuild) leaves the cpu backend out: a stage runs on
    // wasm, and the cpu kernels would add ~140 kB to every function's package
    const name = '@tensorflow/tfjs-backend-cpu'
    await import(name)
    return await tf.setBackend('cpu')
  } catch {
    return false
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm')
    const dir = wasmDir()
    wasm.setWasmPaths({
      'tfjs-backend-wasm.wasm': join(dir, 'tfjs-backend-wasm.wasm'),
      'tfjs-backend-wasm-simd.wasm': join(dir, 'tfjs-backend-wasm-simd.wasm'),
      'tfjs-backend-wasm-threaded-simd.wasm': join(dir, 'tfjs-backend-wasm-threaded-simd.wasm'),
    })
    return await tf.setBackend('wasm')
  } catch {
    return false
  }
}

/**
 * Initialise tfjs once. `prefer` forces a backend (tests use 'cpu' or 'wasm' for determinism);
 * AMPS_BACKEND=wasm|cpu|tensorflow does the same from the environment.
 */
export function initTf(prefer?: BackendName): Promise<TfRuntime> {
  if (ready) return ready
  ready = (async () => {
    // AMPS_BACKEND may also name a stage backend ('onnx' in an ONNX stage's environment): only tfjs backends count here
    const env = process.env.AMPS_BACKEND
    const wanted = prefer ?? (env === 'wasm' || env === 'cpu' || env === 'tensorflow' ? env : undefined)
    const order: BackendName[] = wanted ? [wanted] : ['tensorflow', 'wasm', 'cpu']
    for (const b of order) {
      const ok = b === 'tensorflow' ? await tryNode() : b === 'wasm' ? await tryWasm() : await tryCpu()
      if (ok) {
        await tf.ready()
        return {tf, backend: b, threads: b === 'tensorflow' ? (await import('node:os')).cpus().length : 1}
      }
    }
    throw new Error(`no tensor backend could be initialised (tried ${order.join(', ')})`)
  })()
  return ready
}
