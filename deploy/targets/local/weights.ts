/**
 * The local stand-in for S3 for a stage's fetched weights (StageBundle.weights): the deployment's
 * hand-off directory holds the blob at its key, and the stage's environments get its file:// URL in
 * AMPS_WEIGHTS_URL, so they fetch it at INIT through the same code path Lambda uses for s3://
 * (src/stage/weights.ts). Destroy removes it.
 */
import {chmodSync, copyFileSync, mkdirSync, renameSync, rmSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {WEIGHTS_URL_ENV} from '../../../src/stage/weights.js'
import type {StageBundle, StageDeployment} from '../../state/types.js'

/** Copies the bundle's weights blob to <handoffDir>/<key> (always: a changed file is replaced) and returns the bundle with AMPS_WEIGHTS_URL set. */
export function putLocalWeights(bundle: StageBundle, handoffDir: string): {bundle: StageBundle; weights?: NonNullable<StageDeployment['weights']>} {
  const w = bundle.weights
  if (!w) return {bundle}
  const to = resolve(handoffDir, w.key)
  mkdirSync(dirname(to), {recursive: true})
  const tmp = `${to}.tmp-${process.pid}`
  copyFileSync(w.path, tmp)
  // readable by the environments (which may run as nobody), written only by the deployer
  chmodSync(tmp, 0o644)
  renameSync(tmp, to)
  const url = pathToFileURL(to).href
  return {bundle: {...bundle, environment: {...bundle.environment, [WEIGHTS_URL_ENV]: url}}, weights: {url, sha256: w.sha256, bytes: w.bytes}}
}

/** Removes a stage's weights blob when it lies inside `handoffDir`; the path removed, else undefined. */
export function removeLocalWeights(stage: StageDeployment, handoffDir: string | undefined): string | undefined {
  const url = stage.weights?.url
  if (!url?.startsWith('file://') || !handoffDir) return undefined
  const path = fileURLToPath(url)
  if (!path.startsWith(join(resolve(handoffDir), '/'))) return undefined
  rmSync(path, {force: true})
  return path
}
