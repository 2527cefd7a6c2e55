/**
 * Wire format for tensors between the coordinator and the stage functions.
 *
 * An event or result is JSON `{tensors: WireTensor[], ...}`. Each tensor travels as binary:
 * - inline: `{id, dtype, shape, b64}` with base64 of the raw little-endian float32/int32 bytes, or
 * - by reference: `{id, dtype, shape, ref: "s3://bucket/key" | "file:///path", bytes}` when the
 *   encoded payload would exceed Lambda's synchronous invoke limit (6,291,456 B each way).
 * Never JSON arrays of numbers: base64 costs 4/3 of the raw bytes, a JSON array of float32 about 3×.
 *
 * This module is pure (no tfjs, no AWS SDK) so the handler, the coordinator and the CLI share it.
 */
import {LAMBDA} from '../platform/lambda.js'
import {isBase64Text} from './json-body.js'

/**
 * Bytes kept free below the limit for the JSON envelope around the tensors (stage name, metrics,
 * hand-off spec): the same 1 KB the planner assumes (src/cost/prices.ts payloadEnvelopeBytes), so
 * what it predicts inline goes inline.
 */
export const PAYLOAD_HEADROOM_BYTES = 1024

export type WireDtype = 'float32' | 'int32'
export const WIRE_DTYPES: readonly WireDtype[] = ['float32', 'int32']

export interface WireTensorInline {
  id: string
  dtype: WireDtype
  shape: number[]
  b64: string
}

export interface WireTensorRef {
  id: string
  dtype: WireDtype
  shape: number[]
  /** s3://bucket/key or file:///absolute/path */
  ref: string
  /** raw byte length of the referenced object */
  bytes: number
}

export type WireTensor = WireTensorInline | WireTensorRef

/** A decoded tensor: typed array in host order (little-endian on every platform Lambda runs). */
export interface RawTensor {
  id: string
  dtype: WireDtype
  shape: number[]
  data: Float32Array | Int32Array
}

/** Where tensors too large to inline are written; the coordinator puts it in every event. */
export type HandoffSpec = {kind: 's3'; bucket: string; prefix: string} | {kind: 'dir'; path: string}

/** What the coordinator sends a stage. */
export interface StageEvent {
  tensors: WireTensor[]
  /** where to put outputs that would not fit inline */
  handoff?: HandoffSpec
  /** overrides LAMBDA.syncPayloadBytes (tests use it to force references) */
  maxPayloadBytes?: number
  /** correlation id, used in reference keys */
  requestId?: string
}

export interface StageMetrics {
  /** init of this environment: process start → ready (runtime, module, tf backend, model load, warm-up), ms */
  initMs: number
  /** true on the first invocation served by this environment */
  coldStart: boolean
  /** whole handler time (ms): decode + run + encode */
  handlerMs: number
  decodeMs: number
  runMs: number
  encodeMs: number
  backend: string
}

/** What a stage answers. */
export interface StageResult {
  stage: {index: number; name: string}
  tensors: WireTensor[]
  metrics: StageMetrics
}

/** Thrown (inside the handler) for a malformed event; Lambda reports `errorType: PayloadInvalid`. */
export class PayloadInvalidError extends Error {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'PayloadInvalid'
  }
}

export function bytesPerElement(dtype: WireDtype): number {
  return dtype === 'float32' || dtype === 'int32' ? 4 : NaN
}

export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/** Raw byte length of a tensor of this shape and dtype. */
export function rawBytes(shape: readonly number[], dtype: WireDtype): number {
  return elementCount(shape) * bytesPerElement(dtype)
}

/** Length of the base64 text for `n` raw bytes. */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3)
}

const littleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

function bytesOf(data: Float32Array | Int32Array): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  if (littleEndian) return view
  const out = new Uint8Array(view.length)
  for (let i = 0; i < view.length; i += 4) {
    out[i] = view[i + 3]
    out[i + 1] = view[i + 2]
    out[i + 2] = view[i + 1]
    out[i + 3] = view[i]
  }
  return out
}

/** Raw little-endian bytes of a tensor (what goes in base64 or into a reference object). */
export function tensorBytes(t: RawTensor): Uint8Array {
  return bytesOf(t.data)
}

/**
 * Typed array from raw little-endian bytes: a view of `bytes` when they are the whole of their own
 * buffer (a decoded base64 string, a file read), else a copy, so it is aligned and owns its buffer.
 */
export function typedFromBytes(bytes: Uint8Array, dtype: WireDtype): Float32Array | Int32Array {
  if (littleEndian && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.byteLength % 4 === 0 && !isShared(bytes.buffer)) {
    return dtype === 'int32' ? new Int32Array(bytes.buffer as ArrayBuffer) : new Float32Array(bytes.buffer as ArrayBuffer)
  }
  const copy = new Uint8Array(bytes.length)
  if (littleEndian) copy.set(bytes)
  else
    for (let i = 0; i < bytes.length; i += 4) {
      copy[i] = bytes[i + 3]
      copy[i + 1] = bytes[i + 2]
      copy[i + 2] = bytes[i + 1]
      copy[i + 3] = bytes[i]
    }
  return dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer)
}

function isShared(buffer: ArrayBufferLike): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && buffer instanceof SharedArrayBuffer
}

export function encodeInline(t: RawTensor): WireTensorInline {
  checkRaw(t)
  const bytes = tensorBytes(t)
  // a Buffer over the same memory (Buffer.from(bytes) would copy it first)
  return {id: t.id, dtype: t.dtype, shape: [...t.shape], b64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}
}

function checkRaw(t: RawTensor): void {
  const n = elementCount(t.shape)
  if (n !== t.data.length) {
    throw new PayloadInvalidError(`tensor "${t.id}": shape [${t.shape}] has ${n} elements but the data has ${t.data.length}`)
  }
}

export function isRef(t: WireTensor): t is WireTensorRef {
  return typeof (t as WireTensorRef).ref === 'string'
}

/** Storage for references: a directory (local target) or S3 (AWS). */
export interface TensorStore {
  /** writes bytes under `key` and returns the reference URL */
  put(key: string, bytes: Uint8Array): Promise<string>
  get(ref: string): Promise<Uint8Array>
  delete(ref: string): Promise<void>
}

/** Bytes a check already decoded, so decodeTensor does not decode them again. */
const checkedBytes = new WeakMap<WireTensorInline, Buffer>()

/**
 * Checks the envelope of one wire tensor (types, dtype, shape, declared byte length) without
 * fetching references. Throws PayloadInvalidError naming the tensor and the problem.
 */
export function checkWireTensor(raw: unknown, where: string, options: {scanBase64?: boolean} = {}): WireTensor {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new PayloadInvalidError(`${where}: expected an object {id, dtype, shape, b64|ref}, got ${describe(raw)}`)
  }
  const t = raw as Record<string, unknown>
  if (typeof t.id !== 'string' || t.id === '') throw new PayloadInvalidError(`${where}: "id" must be a non-empty string`)
  const name = `tensor "${t.id}"`
  if (!WIRE_DTYPES.includes(t.dtype as WireDtype)) {
    throw new PayloadInvalidError(`${name}: dtype must be one of ${WIRE_DTYPES.join(', ')}, got ${describe(t.dtype)}`)
  }
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw new PayloadInvalidError(`${name}: shape must be an array of non-negative integers, got ${describe(t.shape)}`)
  }
  const dtype = t.dtype as WireDtype
  const shape = t.shape as number[]
  const expectedBytes = rawBytes(shape, dtype)
  if ('data' in t && Array.isArray(t.data)) {
    throw new PayloadInvalidError(`${name}: tensors travel as base64 bytes ("b64") or a reference ("ref"), not JSON arrays`)
  }
  if (typeof t.b64 === 'string') {
    let decoded: Buffer | undefined
    if (t.b64.length % 4 !== 0 || (options.scanBase64 !== false && !isBase64Text(t.b64, (b) => (decoded = b))))
      throw new PayloadInvalidError(`${name}: "b64" is not valid base64`)
    const pad = t.b64.endsWith('==') ? 2 : t.b64.endsWith('=') ? 1 : 0
    const got = (t.b64.length / 4) * 3 - pad
    if (got !== expectedBytes) {
      throw new PayloadInvalidError(`${name}: ${got} bytes of data but ${dtype} shape [${shape}] needs ${expectedBytes} bytes`)
    }
    const out: WireTensorInline = {id: t.id, dtype, shape, b64: t.b64}
    if (decoded) checkedBytes.set(out, decoded)
    return out
  }
  if (typeof t.ref === 'string') {
    if (!/^(s3|file):\/\//.test(t.ref)) throw new PayloadInvalidError(`${name}: "ref" must be an s3:// or file:// URL, got ${describe(t.ref)}`)
    if (t.bytes !== expectedBytes) {
      throw new PayloadInvalidError(`${name}: reference declares ${describe(t.bytes)} bytes but ${dtype} shape [${shape}] needs ${expectedBytes} bytes`)
    }
    return {id: t.id, dtype, shape, ref: t.ref, bytes: expectedBytes}
  }
  throw new PayloadInvalidError(`${name}: has neither "b64" nor "ref"`)
}

/** Decodes one (already checked) wire tensor, fetching a reference from `store`. */
export async function decodeTensor(t: WireTensor, store?: TensorStore): Promise<RawTensor> {
  const expected = rawBytes(t.shape, t.dtype)
  let bytes: Uint8Array
  if (isRef(t)) {
    if (!store) throw new PayloadInvalidError(`tensor "${t.id}": is a reference (${t.ref}) but no tensor store is configured`)
    bytes = await store.get(t.ref)
  } else {
    bytes = checkedBytes.get(t) ?? Buffer.from(t.b64, 'base64')
    checkedBytes.delete(t)
  }
  if (bytes.length !== expected) {
    throw new PayloadInvalidError(`tensor "${t.id}": ${bytes.length} bytes of data but ${t.dtype} shape [${t.shape}] needs ${expected} bytes`)
  }
  return {id: t.id, dtype: t.dtype, shape: [...t.shape], data: typedFromBytes(bytes, t.dtype)}
}

/** Exact bytes this tensor adds to a JSON payload when inline (its object plus a separating comma). */
export function inlineSize(t: {id: string; shape: number[]; dtype: WireDtype}): number {
  return Buffer.byteLength(JSON.stringify({id: t.id, dtype: t.dtype, shape: t.shape, b64: ''})) + base64Length(rawBytes(t.shape, t.dtype)) + 1
}

/**
 * Encodes tensors for a payload that must stay within `limit` bytes: inline while the running total
 * fits, the largest tensors by reference otherwise (written to `store` under `keyPrefix`).
 */
/** Upper bound of one reference entry {id, dtype, shape, ref, bytes} in JSON (ids and URLs are short). */
const REF_ENTRY_BYTES = 512

export async function encodeTensors(tensors: RawTensor[], opts: {limit?: number; store?: TensorStore; keyPrefix?: string} = {}): Promise<WireTensor[]> {
  const limit = (opts.limit ?? LAMBDA.syncPayloadBytes) - PAYLOAD_HEADROOM_BYTES
  const sizes = tensors.map(inlineSize)
  // exact size of {"tensors":[…]} with everything inline; the headroom covers the rest of the envelope
  let total = sizes.reduce((a, b) => a + b, 0) - (tensors.length > 0 ? 1 : 0) + '{"tensors":[]}'.length
  const byRef = new Set<number>()
  const order = tensors.map((_, i) => i).sort((a, b) => sizes[b] - sizes[a])
  for (const i of order) {
    if (total <= limit) break
    byRef.add(i)
    total -= sizes[i] - REF_ENTRY_BYTES
  }
  const out: WireTensor[] = []
  for (const [i, t] of tensors.entries()) {
    if (!byRef.has(i)) {
      out.push(encodeInline(t))
      continue
    }
    if (!opts.store) {
      throw new PayloadInvalidError(
        `tensor "${t.id}" (${rawBytes(t.shape, t.dtype)} B) does not fit in a ${opts.limit ?? LAMBDA.syncPayloadBytes} B payload and no hand-off store (S3 bucket or directory) is configured`,
      )
    }
    checkRaw(t)
    const key = `${opts.keyPrefix ?? 'tensor'}/${safeKey(t.id)}.bin`
    const bytes = tensorBytes(t)
    const ref = await opts.store.put(key, bytes)
    out.push({id: t.id, dtype: t.dtype, shape: [...t.shape], ref, bytes: bytes.length})
  }
  return out
}

/** A tensor id as one hand-off key segment: anything but letters, digits, . _ - becomes _, and dots-only names get a leading _. */
export function safeKey(id: string): string {
  const s = id.replace(/[^A-Za-z0-9._-]/g, '_')
  return /^\.*$/.test(s) ? `_${s}` : s
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing'
  const s = JSON.stringify(v)
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s
}
