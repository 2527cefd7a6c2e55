/**
 * A thin, read-only view of an HDF5 file through h5wasm: string attributes (including Keras'
 * chunked `name0`, `name1`, … attributes), group listing, and datasets as float32 arrays.
 *
 * h5wasm's Node build reads the host file system directly, so bytes that live only in memory (the
 * model.weights.h5 inside a .keras zip) are written to a private temp file first.
 */
import h5wasm from 'h5wasm/node'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {AmpsUserError} from '../../errors.js'

type H5File = InstanceType<typeof h5wasm.File>
type H5Group = InstanceType<typeof h5wasm.Group>
type H5Dataset = InstanceType<typeof h5wasm.Dataset>

/** The 8-byte signature every HDF5 file starts with (at offset 0 for files Keras writes). */
export const HDF5_SIGNATURE = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

export function hasHdf5Signature(bytes: Uint8Array): boolean {
  // HDF5 allows a user block of 512·2^k bytes before the superblock
  for (let at = 0; at + 8 <= bytes.length; at = at === 0 ? 512 : at * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[at + i] === b)) return true
    if (at >= 65536) break
  }
  return false
}

let ready: Promise<void> | undefined

/** Loads the wasm module once; HDF5 errors then throw JS errors instead of printing HDF5-DIAG. */
function h5Ready(): Promise<void> {
  ready ??= h5wasm.ready.then((module) => {
    module.activate_throwing_error_handler()
  })
  return ready
}

/** The last "minor:" line of an HDF5 error stack, e.g. "File has been truncated". */
function hdf5Reason(error: unknown): string {
  const msg = error instanceof Error ? error.message : String(error)
  const minors = [...msg.matchAll(/minor:\s*(.+)/g)].map((m) => m[1].trim())
  return minors.at(-1) ?? (msg.split('\n')[0] || 'unreadable')
}

export interface StoredArray {
  shape: number[]
  data: Float32Array
}

/** Read access to one open HDF5 file. Always `close()` it (use `withH5`). */
export class H5Reader {
  private constructor(
    private readonly file: H5File,
    /** how messages name the file */
    readonly label: string,
  ) {}

  /** Opens `path` (label names it in messages); a user error when HDF5 cannot read it. */
  static async open(path: string, label: string): Promise<H5Reader> {
    await h5Ready()
    try {
      return new H5Reader(new h5wasm.File(path, 'r'), label)
    } catch (error) {
      throw new AmpsUserError('FILE_INVALID', `${label} is damaged or incomplete (HDF5: ${hdf5Reason(error)})`, {
        suggestions: ['Copy or download the file again; if Keras wrote it, save the model again'],
      })
    }
  }

  close(): void {
    try {
      this.file.close()
    } catch {
      // already closed
    }
  }

  private entity(path: string): unknown {
    if (path === '' || path === '/') return this.file
    try {
      return this.file.get(path)
    } catch {
      return null
    }
  }

  group(path: string): H5Group | undefined {
    const e = this.entity(path)
    return e instanceof h5wasm.Group ? e : undefined
  }

  isDataset(path: string): boolean {
    return this.entity(path) instanceof h5wasm.Dataset
  }

  /** Names of the members of a group ([] when the group is absent). */
  keys(path: string): string[] {
    return this.group(path)?.keys() ?? []
  }

  hasAttr(path: string, name: string): boolean {
    const g = this.entity(path) as H5Group | H5Dataset | null
    return Boolean(g && name in g.attrs)
  }

  /** A scalar string attribute, or undefined when absent. */
  stringAttr(path: string, name: string): string | undefined {
    const value = this.rawAttr(path, name)
    if (value === undefined || value === null) return undefined
    if (typeof value === 'string') return value
    if (value instanceof Uint8Array) return new TextDecoder().decode(value)
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0]
    return undefined
  }

  /**
   * A list-of-strings attribute. Keras splits long lists into `name0`, `name1`, …; an empty list
   * is stored as an empty float64 array. Undefined when neither form is present.
   */
  stringListAttr(path: string, name: string): string[] | undefined {
    const one = (n: string): string[] | undefined => {
      const v = this.rawAttr(path, n)
      if (v === undefined) return undefined
      if (v === null) return []
      if (typeof v === 'string') return [v]
      if (Array.isArray(v)) return v.map((x) => (x instanceof Uint8Array ? new TextDecoder().decode(x) : String(x)))
      if (ArrayBuffer.isView(v) && (v as unknown as {length: number}).length === 0) return []
      return undefined
    }
    const whole = one(name)
    if (whole) return whole
    if (!this.hasAttr(path, `${name}0`)) return undefined
    const out: string[] = []
    for (let i = 0; this.hasAttr(path, `${name}${i}`); i++) out.push(...(one(`${name}${i}`) ?? []))
    return out
  }

  private rawAttr(path: string, name: string): unknown {
    const g = this.entity(path) as H5Group | H5Dataset | null
    if (!g) return undefined
    const attrs = g.attrs
    if (!(name in attrs)) return undefined
    try {
      return attrs[name].value
    } catch (error) {
      throw new AmpsUserError('FILE_INVALID', `${this.label}: attribute ${name} of /${path} cannot be read (HDF5: ${hdf5Reason(error)})`)
    }
  }

  /** Shape of a dataset without reading it. */
  shape(path: string): number[] {
    const d = this.entity(path)
    if (!(d instanceof h5wasm.Dataset)) throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${this.label}: /${path} is not a dataset`)
    return [...(d.shape ?? [])]
  }

  /** A numeric dataset as float32 (float64 and integer data are converted; float16 decoded). */
  readFloat32(path: string): StoredArray {
    const d = this.entity(path)
    if (!(d instanceof h5wasm.Dataset)) throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${this.label}: /${path} is not a dataset`)
    let value: unknown
    try {
      value = d.value
    } catch (error) {
      throw new AmpsUserError('FILE_INVALID', `${this.label}: dataset /${path} cannot be read (HDF5: ${hdf5Reason(error)})`, {
        suggestions: ['Copy or download the file again; if Keras wrote it, save the model again'],
      })
    }
    const shape = [...(d.shape ?? [])]
    const meta = d.metadata as {type: number; size: number}
    const bf16 = this.stringAttr(path, 'dtype') === 'bfloat16'
    let data: Float32Array
    if (value instanceof Float32Array) data = value
    else if (bf16 && (value instanceof Uint16Array || value instanceof Uint8Array)) data = decodeBfloat16(value)
    else if (meta.type === 1 && meta.size === 2 && (value instanceof Uint16Array || value instanceof Uint8Array)) data = decodeFloat16(value)
    else if (
      value instanceof Float64Array ||
      value instanceof Int32Array ||
      value instanceof Int16Array ||
      value instanceof Int8Array ||
      value instanceof Uint8Array ||
      value instanceof Uint16Array ||
      value instanceof Uint32Array
    ) {
      data = Float32Array.from(value)
    } else if (typeof value === 'number') data = Float32Array.of(value)
    else throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${this.label}: dataset /${path} does not hold numbers`)
    const count = shape.reduce((a, b) => a * b, 1)
    if (data.length !== count) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${this.label}: dataset /${path} holds ${data.length} values for shape ${JSON.stringify(shape)}`)
    }
    return {shape, data}
  }
}

function halfBits(value: Uint16Array | Uint8Array): Uint16Array {
  return value instanceof Uint16Array ? value : new Uint16Array(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength))
}

function decodeFloat16(value: Uint16Array | Uint8Array): Float32Array {
  const bits = halfBits(value)
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i]
    const sign = h & 0x8000 ? -1 : 1
    const exp = (h >> 10) & 0x1f
    const frac = h & 0x3ff
    out[i] = exp === 0 ? sign * 2 ** -14 * (frac / 1024) : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * 2 ** (exp - 15) * (1 + frac / 1024)
  }
  return out
}

function decodeBfloat16(value: Uint16Array | Uint8Array): Float32Array {
  const bits = halfBits(value)
  const u32 = new Uint32Array(bits.length)
  for (let i = 0; i < bits.length; i++) u32[i] = bits[i] << 16
  return new Float32Array(u32.buffer)
}

/** Opens a file on disk, runs `fn`, always closes it. */
export async function withH5<T>(path: string, label: string, fn: (h5: H5Reader) => T | Promise<T>): Promise<T> {
  const h5 = await H5Reader.open(path, label)
  try {
    return await fn(h5)
  } finally {
    h5.close()
  }
}

/** Same, for HDF5 bytes held in memory (written to a private temp file that is removed afterwards). */
export async function withH5Bytes<T>(bytes: Uint8Array, label: string, fn: (h5: H5Reader) => T | Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'amps-h5-'))
  try {
    const file = join(dir, 'weights.h5')
    writeFileSync(file, bytes)
    return await withH5(file, label, fn)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}
