/**
 * A stage whose weights are not in its bundle (stage.json `weights`, plan stage `weightsFrom: 's3'`)
 * fetches them during INIT, the same way on every target: the URL in AMPS_WEIGHTS_URL (s3:// on
 * AWS, file:// on the local target, whose directory stands in for the bucket), read through the
 * hand-off TensorStore for that URL (src/stage/store.ts storeForRef), then checked against the
 * length and sha256 stage.json records before any session is built from them.
 *
 * Every failure is one line naming the stage and the object: missing, access denied, wrong size,
 * wrong hash (StageInitError; Lambda reports it as the INIT error, the local target as the
 * environment's start error).
 */
import {createHash} from 'node:crypto'

import type {StageSpec} from './spec.js'
import {storeForRef} from './store.js'

/** The function environment variable holding the weights' URL (set by deploy's targets). */
export const WEIGHTS_URL_ENV = 'AMPS_WEIGHTS_URL'

export class StageInitError extends Error {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'StageInitError'
  }
}

/** Why a read failed, in words a user acts on. */
export function fetchFailure(error: unknown): string {
  const e = error as {name?: string; Code?: string; code?: string; message?: string; $metadata?: {httpStatusCode?: number}}
  const name = e?.name ?? e?.Code ?? ''
  const text = String(e?.message ?? error).split('\n')[0]
  const status = e?.$metadata?.httpStatusCode
  const code = /ENOENT|EACCES|EPERM/.exec(text)?.[0]
  if (/NoSuchKey|NotFound|NoSuchBucket/.test(name) || status === 404 || code === 'ENOENT') {
    return `missing object (${code ?? (name || 'HTTP 404')}; deploy again to put it back)`
  }
  if (/AccessDenied|Forbidden/.test(name) || status === 403 || code) {
    return `access denied (${code ?? (name || 'HTTP 403')}): the function's role needs s3:GetObject on it (S3 also answers AccessDenied for a missing key when the role may not list the bucket)`
  }
  return text
}

/** Fetches and verifies the stage's weights (see the module docs); throws StageInitError. */
export async function fetchStageWeights(spec: StageSpec, env: NodeJS.ProcessEnv = process.env): Promise<Uint8Array> {
  const ref = spec.weights
  if (!ref) throw new StageInitError(`${spec.name}: stage.json lists no fetched weights`)
  const url = env[WEIGHTS_URL_ENV]
  if (!url) {
    throw new StageInitError(`${spec.name}: weights ${ref.key} are fetched at INIT but ${WEIGHTS_URL_ENV} is not set (deploy the stage with \`amps deploy\`)`)
  }
  let bytes: Uint8Array
  try {
    bytes = await storeForRef(url).get(url)
  } catch (error) {
    throw new StageInitError(`${spec.name}: cannot fetch weights ${url}: ${fetchFailure(error)}`)
  }
  if (bytes.length !== ref.bytes) {
    throw new StageInitError(
      `${spec.name}: weights ${url} are ${bytes.length} bytes, stage.json expects ${ref.bytes} (another or a truncated object; deploy again)`,
    )
  }
  const sha = createHash('sha256').update(bytes).digest('hex')
  if (sha !== ref.sha256) {
    throw new StageInitError(
      `${spec.name}: weights ${url} have sha256 ${sha.slice(0, 16)}…, stage.json expects ${ref.sha256.slice(0, 16)}… (changed since deploy; deploy again)`,
    )
  }
  return bytes
}
