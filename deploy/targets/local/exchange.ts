/**
 * Exchange files: how a local stage's front (front.ts) and one of its execution environments
 * (runner.ts) pass large invocation bodies (protocol.ts Exchange). Per environment two files on a
 * tmpfs (/dev/shm/amps-local-<deploymentId>/<function>.env-<n>.{request,result}, mode 0600, the
 * front's): the front writes a request body into `request` and says its length over IPC; the
 * environment reads it, and writes a large result into `result` the same way. Two memory copies per
 * body, against the IPC channel's serialise / socket-buffer-sized pieces / reassemble (about half the
 * time for a 4 MB tensor). One invocation at a time per environment, so one pair of files each.
 *
 * Memory: the front writes the result file full once (the payload limit, e.g. 6 MB, of zeros) when it
 * creates it, so its tmpfs pages are charged to the front rather than to the environment's memory
 * cgroup, and stay allocated for the environment's life. Files go when their environment ends, the
 * folder when the front shuts down, or with `amps destroy` (which removes the deployment's folder).
 *
 * No side effects on import: both entry points bundle it.
 */
import {closeSync, existsSync, mkdirSync, openSync, readSync, rmSync, writeSync} from 'node:fs'
import {join} from 'node:path'

import type {Exchange} from './protocol.js'

/** Bodies at least this long go through the exchange files; smaller ones inline in the IPC message. */
export const EXCHANGE_MIN_BYTES = 65_536

/** The result file is written full up to this size at most (a payload limit raised for tests can be larger). */
const PRETOUCH_MAX_BYTES = 8 * 1024 * 1024

/** Where exchange folders go: a tmpfs, so a file is memory. */
export const EXCHANGE_ROOT = '/dev/shm'

/** A deployment's folder of exchange files (undefined for an id that is not a plain name: a hand-edited deployment.json). */
export function exchangeDir(deploymentId: string, root = EXCHANGE_ROOT): string | undefined {
  return /^[A-Za-z0-9_-]{1,64}$/.test(deploymentId) ? join(root, `amps-local-${deploymentId}`) : undefined
}

/** Creates the deployment's exchange folder (mode 0700); undefined when there is no usable tmpfs. */
export function createExchangeDir(deploymentId: string, root = EXCHANGE_ROOT): string | undefined {
  const dir = exchangeDir(deploymentId, root)
  if (!dir || !existsSync(root)) return undefined
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700})
    return dir
  } catch {
    return undefined
  }
}

export function removeExchangeDir(deploymentId: string, root = EXCHANGE_ROOT): void {
  const dir = exchangeDir(deploymentId, root)
  if (dir) rmSync(dir, {recursive: true, force: true})
}

/** Writes all of `body` at file offset `position`. */
function writeAll(fd: number, body: Uint8Array, position = 0): void {
  for (let at = 0; at < body.byteLength;) at += writeSync(fd, body, at, body.byteLength - at, position + at)
}

function readAll(fd: number, n: number): Buffer {
  const body = Buffer.allocUnsafe(n)
  for (let at = 0; at < n;) {
    const got = readSync(fd, body, at, n - at, at)
    if (got === 0) throw new Error(`the exchange file ended at ${at} of ${n} bytes`)
    at += got
  }
  return body
}

/** The front's side of one environment's exchange files. */
export class FrontExchange {
  private constructor(
    readonly paths: Exchange,
    private readonly fds: {request: number; result: number},
  ) {}

  /** Creates and opens the pair for environment `n`; undefined (bodies go inline) when the files cannot be made. */
  static create(dir: string, functionName: string, n: number, maxBodyBytes: number): FrontExchange | undefined {
    const paths = {request: join(dir, `${functionName}.env-${n}.request`), result: join(dir, `${functionName}.env-${n}.result`)}
    const fds: number[] = []
    try {
      fds.push(openSync(paths.request, 'w', 0o600), openSync(paths.result, 'w+', 0o600))
      writeAll(fds[1], Buffer.alloc(Math.min(maxBodyBytes, PRETOUCH_MAX_BYTES)))
      return new FrontExchange(paths, {request: fds[0], result: fds[1]})
    } catch {
      for (const fd of fds) closeSync(fd)
      rmSync(paths.request, {force: true})
      rmSync(paths.result, {force: true})
      return undefined
    }
  }

  /** Writes a large request body (its chunks, `size` bytes in all) into the request file and returns its length; undefined: send it inline. */
  putRequest(chunks: Buffer[], size: number): number | undefined {
    if (size < EXCHANGE_MIN_BYTES) return undefined
    try {
      let at = 0
      for (const c of chunks) {
        writeAll(this.fds.request, c, at)
        at += c.length
      }
      return at
    } catch {
      return undefined
    }
  }

  /** The result body the environment wrote (`n` bytes). */
  takeResult(n: number): Buffer {
    return readAll(this.fds.result, n)
  }

  /** Closes and removes the files. */
  close(): void {
    for (const fd of [this.fds.request, this.fds.result]) {
      try {
        closeSync(fd)
      } catch {
        // closed
      }
    }
    rmSync(this.paths.request, {force: true})
    rmSync(this.paths.result, {force: true})
  }
}

/** The environment's side: its two files, opened (before it drops root). */
export class EnvExchange {
  private constructor(private readonly fds: {request: number; result: number}) {}

  static open(paths: Exchange): EnvExchange {
    return new EnvExchange({request: openSync(paths.request, 'r'), result: openSync(paths.result, 'r+')})
  }

  /** The request body the front wrote (`n` bytes). */
  takeRequest(n: number): Buffer {
    return readAll(this.fds.request, n)
  }

  /** Writes a large result body into the result file and returns its length; undefined: send it inline. */
  putResult(body: Uint8Array): number | undefined {
    if (body.byteLength < EXCHANGE_MIN_BYTES) return undefined
    try {
      writeAll(this.fds.result, body)
      return body.byteLength
    } catch {
      return undefined
    }
  }
}
