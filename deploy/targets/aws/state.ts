/**
 * deployment.json is rewritten after every AWS step, atomically (temp file in the same directory,
 * fsync, rename), so a crash or Ctrl-C leaves either the previous or the next complete state,
 * never a torn file.
 */
import {randomBytes} from 'node:crypto'
import {mkdir, open, rename, rm} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import type {DeploymentState} from '../../state/types.js'

export async function writeStateAtomic(path: string, state: DeploymentState): Promise<void> {
  const dir = dirname(path)
  await mkdir(dir, {recursive: true})
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(JSON.stringify(state, null, 2) + '\n', 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await rename(tmp, path)
  } catch (error) {
    await rm(tmp, {force: true})
    throw error
  }
}
