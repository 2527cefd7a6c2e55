/**
 * The one Lambda handler every stage runs (bundle entry → index.mjs). Init happens at module load,
 * outside the handler, with top-level await: tfjs + wasm backend, the stage's model.json +
 * weights.bin, one warm-up prediction. The same file serves AWS Lambda (`index.handler`) and the
 * local target's stage processes (deploy/targets/local/runner.ts imports it).
 *
 * Environment: AMPS_STAGE_DIR (default: the directory of this file, i.e. the bundle / /var/task),
 * AMPS_WASM_DIR (default: same directory), AMPS_HANDOFF_DIR or AMPS_HANDOFF_S3 (optional).
 */
import {dirname} from 'node:path'
import {fileURLToPath} from 'node:url'

import type {StageResult} from '../../src/stage/codec.js'
import {loadStageRuntime, type LambdaContextLike} from '../../src/stage/runtime.js'

const here = dirname(fileURLToPath(import.meta.url))
const stageDir = process.env.AMPS_STAGE_DIR ?? process.env.LAMBDA_TASK_ROOT ?? here
process.env.AMPS_WASM_DIR ??= stageDir

const runtime = await loadStageRuntime(stageDir, {backend: 'wasm'})

/** Init report: what the local runner records in deployment.json and what the handler returns. */
export const init = {
  stage: runtime.spec.name,
  functionName: runtime.spec.functionName,
  backend: runtime.backend,
  initMs: runtime.initMs,
  ...runtime.breakdown,
}

console.log(
  `amps ${runtime.spec.name}: ${runtime.backend} backend, init ${runtime.initMs.toFixed(1)} ms ` +
    `(tf ${runtime.breakdown.tfMs.toFixed(1)}, load ${runtime.breakdown.loadMs.toFixed(1)}, warm-up ${runtime.breakdown.warmupMs.toFixed(1)})`,
)

export async function handler(event: unknown, context?: LambdaContextLike): Promise<StageResult> {
  return runtime.handle(event, context)
}
