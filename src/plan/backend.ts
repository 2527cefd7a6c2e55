/**
 * The stage backend of a plan (`amps plan --backend onnx|wasm`, default onnx):
 * - from a model: onnx when every layer exports to ONNX (else wasm, with a note naming the layer;
 *   an explicit --backend onnx fails instead), profiled with that backend;
 * - from a profile.json: the backend it was measured with (a different --backend is refused:
 *   the times would belong to another runtime);
 * - the package check counts the runtime the stage carries: onnxruntime-node's files for the
 *   stage's architecture (linux x64's on x86_64, arm64's on arm64) + index.mjs for onnx, the
 *   price table's tfjs figure for wasm;
 * - every plan stage records its backend, and an onnx stage its intra-op threads.
 */
import {AmpsUserError} from '../errors.js'
import type {PriceTable} from '../cost/prices.js'
import type {LoadedModel} from '../model/types.js'
import type {Profile} from '../profile/types.js'
import {ortRuntimeBytes} from '../runtime/ort-files.js'
import {ortThreadsForMemory} from '../runtime/ort.js'
import type {StageBackend} from '../stage/spec.js'
import type {Plan} from './types.js'

export const DEFAULT_BACKEND: StageBackend = 'onnx'

/** index.mjs of an ONNX stage (handler + codec + tfjs core/layers, minified): measured ~1.0 MB, rounded up. */
export const ONNX_HANDLER_BYTES = 1024 * 1024

/** The backend a profile was measured with, as a stage backend (tfjs backends → wasm). */
export function profileBackend(profile: Pick<Profile, 'environment'>): StageBackend {
  return profile.environment.backend === 'onnx' ? 'onnx' : 'wasm'
}

/** Refuses a --backend that differs from the backend the profile was measured with. */
export function checkProfileBackend(profile: Pick<Profile, 'environment'>, flag: StageBackend | undefined, path: string): StageBackend {
  const measured = profileBackend(profile)
  if (flag && flag !== measured) {
    throw new AmpsUserError('FLAG_INVALID', `${path} was measured on the ${measured} backend; --backend ${flag} needs a profile measured on ${flag}`, {
      suggestions: [`profile again: amps profile <model> --backend ${flag} -o profile.json`, `or plan on ${measured}: --backend ${measured}`],
    })
  }
  return measured
}

/**
 * onnx when the whole model exports; otherwise wasm with the reason (or, when the user asked for
 * onnx explicitly, the exporter's error naming the layer).
 */
export async function chooseModelBackend(model: LoadedModel, flag: StageBackend | undefined): Promise<{backend: StageBackend; note?: string}> {
  if (flag === 'wasm') return {backend: 'wasm'}
  const {exportOnnx} = await import('../model/onnx/export.js')
  try {
    await exportOnnx(model)
    return {backend: 'onnx'}
  } catch (error) {
    if (flag === 'onnx' || !(error instanceof AmpsUserError)) throw error
    return {backend: 'wasm', note: `${error.message}; planning on the wasm backend (TensorFlow.js) instead`}
  }
}

/** The price table with the runtime bytes of `backend` in the package check. */
export function pricesForBackend(prices: PriceTable, backend: StageBackend): PriceTable {
  if (backend === 'wasm') return prices
  const figure = (arch: 'x86_64' | 'arm64', platform: string): PriceTable['packaging']['runtimeBytes'] => ({
    ...prices.packaging.runtimeBytes,
    value: ortRuntimeBytes(arch) + ONNX_HANDLER_BYTES,
    source: `onnxruntime-node files an ONNX stage carries for ${platform} (src/runtime/ort-files.ts, measured at plan time) + index.mjs`,
    kind: 'assumption',
  })
  return {
    ...prices,
    packaging: {...prices.packaging, runtimeBytes: figure('x86_64', 'linux x64'), runtimeBytesArm64: figure('arm64', 'linux arm64')},
  }
}

/** Records the backend on every stage (and the intra-op threads of onnx stages). */
export function applyBackend(plan: Plan, backend: StageBackend): Plan {
  plan.inputs.backend = backend
  for (const s of plan.stages) {
    s.backend = backend
    if (backend === 'onnx') s.threads = ortThreadsForMemory(s.memoryMb)
    else delete s.threads
  }
  return plan
}
