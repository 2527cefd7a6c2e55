/**
 * The one atomic writer: a temporary sibling, written and fsync'ed, then renamed over the target, so
 * a crash or Ctrl-C leaves either the previous or the next complete file, never a torn one, and the
 * temporary file never outlives a failure (nor the process). Synchronous, so a signal handler cannot
 * interleave two writes of the same file.
 */
import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(resolve(path))
  mkdirSync(dir, {recursive: true})
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const removeTmp = (): void => rmSync(tmp, {force: true})
  process.once('exit', removeTmp)
  try {
    const fd = openSync(tmp, 'w', 0o644)
    try {
      if (typeof data === 'string') writeSync(fd, data)
      else writeSync(fd, data)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (error) {
    removeTmp()
    throw error
  } finally {
    process.removeListener('exit', removeTmp)
  }
}

/** Same as writeFileAtomic, for callers that await (the AWS deploy loop). */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array): Promise<void> {
  writeFileAtomic(path, data)
}
