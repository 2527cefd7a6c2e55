/**
 * Tensor stores for hand-offs that do not fit inline: a directory (local target, file:// URLs)
 * or an S3 prefix (AWS, s3:// URLs). The S3 client is imported lazily so bundles that never hand
 * off through S3 do not carry it (the Lambda Node runtime provides the AWS SDK v3).
 */
import {mkdir, readFile, rename, rm, writeFile} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {PayloadInvalidError, type HandoffSpec, type TensorStore} from './codec.js'

export class DirStore implements TensorStore {
  readonly root: string
  constructor(root: string) {
    this.root = resolve(root)
  }

  async put(key: string, bytes: Uint8Array): Promise<string> {
    checkHandoffKey(key)
    const path = join(this.root, key)
    if (!path.startsWith(this.root + '/')) throw new PayloadInvalidError(`hand-off key ${JSON.stringify(key)} leaves the hand-off directory`)
    await mkdir(dirname(path), {recursive: true})
    const tmp = `${path}.tmp-${process.pid}`
    await writeFile(tmp, bytes)
    await rename(tmp, path)
    return pathToFileURL(path).href
  }

  async get(ref: string): Promise<Uint8Array> {
    const path = this.pathOf(ref)
    try {
      return await readFile(path)
    } catch (error) {
      throw new PayloadInvalidError(`reference ${ref} cannot be read: ${(error as Error).message}`)
    }
  }

  async delete(ref: string): Promise<void> {
    await rm(this.pathOf(ref), {force: true})
  }

  private pathOf(ref: string): string {
    if (!ref.startsWith('file://')) throw new PayloadInvalidError(`reference ${ref} is not a file:// URL (this stage hands off through ${this.root})`)
    const path = fileURLToPath(ref)
    if (!path.startsWith(this.root + '/')) throw new PayloadInvalidError(`reference ${ref} is outside the hand-off directory ${this.root}`)
    return path
  }
}

/** A name usable as one segment of a hand-off key: letters, digits, . _ -; not "." or ".." or dots only. */
export function isSafeName(name: string, maxLength = 128): boolean {
  return name.length >= 1 && name.length <= maxLength && /^[A-Za-z0-9._-]+$/.test(name) && !/^\.+$/.test(name)
}

/** Refuses a hand-off key with path separators other than between safe segments, empty or dots-only segments. */
export function checkHandoffKey(key: string): void {
  const parts = key.split('/')
  if (key.length > 1024 || parts.some((p) => !isSafeName(p, 255))) {
    throw new PayloadInvalidError(`hand-off key ${JSON.stringify(key.slice(0, 200))} is not allowed: segments must be letters, digits, . _ - and not dots only`)
  }
}

type S3Module = typeof import('@aws-sdk/client-s3')

export class S3Store implements TensorStore {
  private client?: InstanceType<S3Module['S3Client']>
  private mod?: S3Module
  constructor(
    readonly bucket: string,
    readonly prefix: string,
    private readonly clientConfig: Record<string, unknown> = {},
  ) {}

  private async s3(): Promise<{mod: S3Module; client: InstanceType<S3Module['S3Client']>}> {
    if (!this.mod) {
      const name = '@aws-sdk/client-s3'
      this.mod = (await import(name)) as S3Module
    }
    this.client ??= new this.mod.S3Client(this.clientConfig)
    return {mod: this.mod, client: this.client}
  }

  async put(key: string, bytes: Uint8Array): Promise<string> {
    checkHandoffKey(key)
    const {mod, client} = await this.s3()
    const fullKey = `${this.prefix.replace(/\/+$/, '')}/${key}`.replace(/^\/+/, '')
    await client.send(new mod.PutObjectCommand({Bucket: this.bucket, Key: fullKey, Body: bytes}))
    return `s3://${this.bucket}/${fullKey}`
  }

  async get(ref: string): Promise<Uint8Array> {
    const {bucket, key} = parseS3(ref)
    if (bucket !== this.bucket) throw new PayloadInvalidError(`reference ${ref} is outside the hand-off bucket ${this.bucket}`)
    const {mod, client} = await this.s3()
    const out = await client.send(new mod.GetObjectCommand({Bucket: bucket, Key: key}))
    if (!out.Body) throw new PayloadInvalidError(`reference ${ref} is empty`)
    return readBody(out.Body, out.ContentLength, ref)
  }

  async delete(ref: string): Promise<void> {
    const {bucket, key} = parseS3(ref)
    const {mod, client} = await this.s3()
    await client.send(new mod.DeleteObjectCommand({Bucket: bucket, Key: key}))
  }
}

/**
 * An object's bytes in one buffer of its ContentLength, filled chunk by chunk as they arrive:
 * transformToByteArray keeps every chunk and then concatenates them, twice the object at its peak
 * (411 MB of weights fetched at INIT would briefly need 822 MB). Without a length, that.
 */
async function readBody(body: {transformToByteArray(): Promise<Uint8Array>}, length: number | undefined, ref: string): Promise<Uint8Array> {
  const chunks = body as unknown as Partial<AsyncIterable<Uint8Array>>
  if (typeof length !== 'number' || typeof chunks[Symbol.asyncIterator] !== 'function') return body.transformToByteArray()
  const out = new Uint8Array(length)
  let at = 0
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    if (at + chunk.length > length) throw new PayloadInvalidError(`reference ${ref} is longer than its ContentLength ${length}`)
    out.set(chunk, at)
    at += chunk.length
  }
  if (at !== length) throw new PayloadInvalidError(`reference ${ref} ended after ${at} of its ${length} bytes`)
  return out
}

function parseS3(ref: string): {bucket: string; key: string} {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref)
  if (!m) throw new PayloadInvalidError(`reference ${ref} is not an s3://bucket/key URL`)
  return {bucket: m[1], key: m[2]}
}

export function storeFor(handoff: HandoffSpec | undefined, s3Config: Record<string, unknown> = {}): TensorStore | undefined {
  if (!handoff) return undefined
  return handoff.kind === 'dir' ? new DirStore(handoff.path) : new S3Store(handoff.bucket, handoff.prefix, s3Config)
}

/**
 * The store a reference lives in, from the reference alone: file:///dir/name → the directory
 * (DirStore), s3://bucket/key → the bucket (S3Store). For references the deployment itself wrote
 * (a stage's weights), never for ones from an event.
 */
export function storeForRef(ref: string, s3Config: Record<string, unknown> = {}): TensorStore {
  if (ref.startsWith('file://')) return new DirStore(dirname(fileURLToPath(ref)))
  const {bucket} = parseS3(ref)
  return new S3Store(bucket, '', s3Config)
}
