/**
 * The one atomic writer: a temporary sibling, written and fsync'ed, then renamed over the target, so
 * a crash or Ctrl-C leaves either the previous or the next complete file, never a torn one, and the
 * temporary file never outlives a failure (nor the process). Synchronous, so a signal handler cannot
 * interleave two writes of the same file.
 */
import {randomBytes} from 'node:crypto'
import {closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync} from 'node:fs'
import {basename, dirname, join, resolve} from 'node:path'

import {AmpsUserError} from '../errors.js'

/** Codes that mean "this path cannot be written here", the user's to fix (not a bug in amps). */
const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR', 'EISDIR', 'ENOSPC', 'EDQUOT', 'ENAMETOOLONG'])

function asWriteError(error: unknown, path: string): unknown {
  const code = (error as {code?: string}).code
  if (!code || !NOT_WRITABLE.has(code)) return error
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : code === 'EISDIR' ? 'it is a directory' : `${code}`
  return new AmpsUserError('FILE_NOT_WRITABLE', `cannot write ${path}: ${why}`, {
    suggestions: [code === 'ENOSPC' || code === 'EDQUOT' ? 'free some space, or write elsewhere with -o' : 'choose a folder you can write to, with -o <path>'],
  })
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(resolve(path))
  try {
    mkdirSync(dir, {recursive: true})
  } catch (error) {
    throw asWriteError(error, path)
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const removeTmp = (): void => rmSync(tmp, {force: true})
  process.once('exit', removeTmp)
  try {
    const fd = openSync(tmp, 'w', mode)
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
    throw asWriteError(error, path)
  } finally {
    process.removeListener('exit', removeTmp)
  }
}

/** Same as writeFileAtomic, for callers that await (the AWS deploy loop). */
export async function writeFileAtomicAsync(path: string, data: string | Uint8Array): Promise<void> {
  writeFileAtomic(path, data)
}
