/** Worker entry for inspectInWorker: inspect the model on the cpu backend, post the facts back. */
import {parentPort, workerData} from 'node:worker_threads'

import {isAmpsUserError} from '../errors.js'
import {inspectInProcess} from './inspect.js'
import type {CanonicalArtifacts} from './types.js'

const {artifacts, source} = workerData as {artifacts: CanonicalArtifacts; source: string}
try {
  const facts = await inspectInProcess(artifacts, source, 'cpu')
  parentPort?.postMessage({ok: true, facts})
} catch (error) {
  const overflow = error instanceof RangeError && /call stack/i.test(error.message)
  parentPort?.postMessage({
    ok: false,
    overflow,
    code: isAmpsUserError(error) ? error.ampsCode : undefined,
    message: error instanceof Error ? error.message : String(error),
  })
}
