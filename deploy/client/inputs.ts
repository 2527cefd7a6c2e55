/**
 * Inputs for `amps invoke` and what it prints about outputs.
 *
 * --input forms:
 *   random          seeded uniform [0, 1) (int32 inputs: 0..9), batch 1 unless --batch
 *   file.png        decoded with pngjs, resized (bilinear) to the model's H×W, scaled to [0, 1];
 *                   channels_last input [batch, H, W, C] with C = 1 (luma), 3 (RGB) or 4 (RGBA)
 *   file.npy        NumPy array (little-endian f4/f8/i4/i8/u1, C order), cast to the input dtype
 *   file.json       a nested number array, {"shape": [...], "data": [...]}, an object of those
 *                   keyed by input id, or the wire format {"tensors": [{id, dtype, shape, b64}]}
 * An array without the batch dimension gets one (batch 1).
 */
import {readFileSync, existsSync} from 'node:fs'
import {extname} from 'node:path'

import {PNG} from 'pngjs'

import {AmpsUserError} from '../../src/errors.js'
import type {TensorInfo} from '../../src/model/types.js'
import {checkWireTensor, decodeTensor, elementCount, type RawTensor, type WireDtype} from '../../src/stage/codec.js'
import {seededRandom} from '../../src/util/random.js'

export interface InputOptions {
  batch?: number
  seed?: number
}

function wireDtype(t: TensorInfo): WireDtype {
  return t.dtype === 'int32' ? 'int32' : 'float32'
}

function concreteShape(t: TensorInfo, batch: number, what: string): number[] {
  const rest = t.shape.slice(1)
  if (rest.some((d) => d === null)) {
    throw new AmpsUserError('FLAG_INVALID', `input "${t.id}" has unknown dimensions [${t.shape.map((d) => d ?? '?')}]; ${what} needs a fixed shape`, {
      suggestions: ['Pass --input file.npy or file.json with the exact shape.'],
    })
  }
  return [batch, ...(rest as number[])]
}

export function randomInputs(inputs: TensorInfo[], options: InputOptions = {}): RawTensor[] {
  const rand = seededRandom(options.seed ?? 42)
  return inputs.map((t) => {
    const shape = concreteShape(t, options.batch ?? 1, '--input random')
    const n = elementCount(shape)
    const dtype = wireDtype(t)
    const data = dtype === 'int32' ? Int32Array.from({length: n}, () => Math.floor(rand() * 10)) : Float32Array.from({length: n}, () => rand())
    return {id: t.id, dtype, shape, data}
  })
}

/** Reads --input: 'random' or a .png/.npy/.json file, shaped for the model's inputs. */
export async function readInputs(spec: string, inputs: TensorInfo[], options: InputOptions = {}): Promise<RawTensor[]> {
  if (spec === 'random') return randomInputs(inputs, options)
  const tensors = await readInputFile(spec, inputs)
  for (const t of tensors) {
    let bad = 0
    for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) bad++
    if (bad > 0) {
      throw new AmpsUserError(
        'PAYLOAD_INVALID',
        `input "${t.id}" from ${spec} holds ${bad} NaN or infinite value(s) of ${t.data.length}; the model would answer NaN`,
        {
          suggestions: ['Clean the input (replace NaN/Inf) and invoke again.'],
        },
      )
    }
  }
  return tensors
}

async function readInputFile(spec: string, inputs: TensorInfo[]): Promise<RawTensor[]> {
  if (!existsSync(spec)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `input file not found: ${spec}`, {suggestions: ['Pass --input random, or a .png, .npy or .json file.']})
  }
  const ext = extname(spec).toLowerCase()
  if (ext === '.png') return [readPng(spec, single(inputs, 'a PNG'))]
  if (ext === '.npy') {
    const t = single(inputs, 'a .npy file')
    return [fitTensor(parseNpy(readFileSync(spec), spec), t, spec)]
  }
  if (ext === '.json') return readJsonInput(spec, inputs)
  throw new AmpsUserError('FLAG_INVALID', `--input ${spec}: expected random, .png, .npy or .json`)
}

function single(inputs: TensorInfo[], what: string): TensorInfo {
  if (inputs.length !== 1) {
    throw new AmpsUserError('FLAG_INVALID', `the model takes ${inputs.length} inputs (${inputs.map((i) => i.id).join(', ')}); ${what} gives one`, {
      suggestions: ['Pass a .json input keyed by input id.'],
    })
  }
  return inputs[0]
}

/** Adds the batch dimension when missing, checks the shape, casts to the input dtype. */
function fitTensor(arr: {shape: number[]; data: ArrayLike<number>}, t: TensorInfo, where: string): RawTensor {
  let shape = arr.shape
  if (shape.length === t.shape.length - 1) shape = [1, ...shape]
  const want = `[${t.shape.map((d) => d ?? 'batch').join(', ')}]`
  const ok = shape.length === t.shape.length && t.shape.every((d, i) => i === 0 || d === null || d === shape[i]) && shape[0] >= 1
  if (!ok) {
    throw new AmpsUserError('FLAG_INVALID', `${where}: shape [${shape}] does not fit input "${t.id}" ${want}`, {
      suggestions: [t.shape.length === 4 ? 'For images pass a .png: it is resized to the model input.' : 'Reshape the array to the model input.'],
    })
  }
  const dtype = wireDtype(t)
  const data = dtype === 'int32' ? Int32Array.from(arr.data, (v) => Math.trunc(v)) : Float32Array.from(arr.data)
  if (data.length !== elementCount(shape))
    throw new AmpsUserError('FLAG_INVALID', `${where}: ${data.length} values but shape [${shape}] needs ${elementCount(shape)}`)
  return {id: t.id, dtype, shape, data}
}

/** Parses a NumPy .npy file (format 1.0–3.0): little-endian f4, f8, i4, i8, u1/i1, C order. */
export function parseNpy(buf: Buffer, where = 'npy'): {shape: number[]; data: Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | number[]} {
  const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])
  if (buf.length < 10 || !buf.subarray(0, 6).equals(magic)) throw new AmpsUserError('FILE_INVALID', `${where} is not a .npy file (no \\x93NUMPY magic)`)
  const major = buf[6]
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)
  const start = major === 1 ? 10 : 12
  const header = buf.subarray(start, start + headerLen).toString(major === 3 ? 'utf8' : 'latin1')
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1]
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1]
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1]
  if (!descr || !fortran || shapeText === undefined)
    throw new AmpsUserError('FILE_INVALID', `${where}: cannot read the .npy header ${JSON.stringify(header.trim())}`)
  if (fortran === 'True') throw new AmpsUserError('FILE_INVALID', `${where}: Fortran-order arrays are not supported; save with np.ascontiguousarray`)
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number)
  const n = elementCount(shape)
  const body = buf.subarray(start + headerLen)
  const copy = (bytes: number) => {
    if (body.length < n * bytes) throw new AmpsUserError('FILE_INVALID', `${where}: ${body.length} data bytes, shape [${shape}] of ${descr} needs ${n * bytes}`)
    const b = new Uint8Array(n * bytes)
    b.set(body.subarray(0, n * bytes))
    return b.buffer
  }
  switch (descr) {
    case '<f4':
      return {shape, data: new Float32Array(copy(4))}
    case '<f8':
      return {shape, data: new Float64Array(copy(8))}
    case '<i4':
      return {shape, data: new Int32Array(copy(4))}
    case '<i8': {
      const big = new BigInt64Array(copy(8))
      return {shape, data: Array.from(big, (v) => Number(v))}
    }
    case '|u1':
    case '<u1':
      return {shape, data: new Uint8Array(copy(1))}
    case '|i1':
      return {shape, data: new Int8Array(copy(1))}
    default:
      throw new AmpsUserError('FILE_INVALID', `${where}: dtype ${descr} is not supported (use float32 '<f4' or int32 '<i4')`)
  }
}

/** Bilinear resize of an RGBA image to outH × outW, `channels` of 1 (luma), 3 or 4, scaled to [0, 1]. */
export function resizeBilinear(rgba: Uint8Array, w: number, h: number, outW: number, outH: number, channels: number): Float32Array {
  const out = new Float32Array(outW * outH * channels)
  const sx = w / outW
  const sy = h / outH
  for (let y = 0; y < outH; y++) {
    // align centres (half-pixel), as tf.image.resizeBilinear with halfPixelCenters
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1)
    const y0 = Math.floor(fy)
    const y1 = Math.min(y0 + 1, h - 1)
    const dy = fy - y0
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1)
      const x0 = Math.floor(fx)
      const x1 = Math.min(x0 + 1, w - 1)
      const dx = fx - x0
      const px = (c: number) => {
        const a = rgba[(y0 * w + x0) * 4 + c]
        const b = rgba[(y0 * w + x1) * 4 + c]
        const cc = rgba[(y1 * w + x0) * 4 + c]
        const d = rgba[(y1 * w + x1) * 4 + c]
        return ((a * (1 - dx) + b * dx) * (1 - dy) + (cc * (1 - dx) + d * dx) * dy) / 255
      }
      const o = (y * outW + x) * channels
      if (channels === 1) out[o] = 0.299 * px(0) + 0.587 * px(1) + 0.114 * px(2)
      else for (let c = 0; c < channels; c++) out[o + c] = px(c)
    }
  }
  return out
}

function readPng(path: string, t: TensorInfo): RawTensor {
  if (t.shape.length !== 4)
    throw new AmpsUserError('FLAG_INVALID', `${path}: input "${t.id}" has shape [${t.shape.map((d) => d ?? '?')}], not an image [batch, H, W, C]`, {
      suggestions: ['pass --input file.npy or file.json with the shape of the model input'],
    })
  const [, h, w, c] = t.shape
  if (!h || !w || !c || ![1, 3, 4].includes(c)) {
    throw new AmpsUserError(
      'FLAG_INVALID',
      `input "${t.id}" [${t.shape.map((d) => d ?? '?')}] is not a channels-last image with fixed H, W and 1, 3 or 4 channels`,
    )
  }
  let png: PNG
  try {
    png = PNG.sync.read(readFileSync(path))
  } catch (error) {
    throw new AmpsUserError('FILE_INVALID', `${path} is not a readable PNG: ${(error as Error).message}`)
  }
  const data = resizeBilinear(png.data, png.width, png.height, w, h, c)
  return {id: t.id, dtype: 'float32', shape: [1, h, w, c], data}
}

function flatten(v: unknown, where: string): {shape: number[]; data: number[]} {
  const shape: number[] = []
  let cur: unknown = v
  while (Array.isArray(cur)) {
    shape.push(cur.length)
    cur = cur[0]
  }
  const data: unknown[] = []
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) for (const y of x) walk(y)
    else data.push(x)
  }
  walk(v)
  if (!data.every((x) => typeof x === 'number' && Number.isFinite(x)) || data.length !== elementCount(shape)) {
    throw new AmpsUserError('FILE_INVALID', `${where}: expected a rectangular array of numbers`)
  }
  return {shape, data: data as number[]}
}

function arrayOf(v: unknown, where: string): {shape: number[]; data: number[]} {
  if (Array.isArray(v)) return flatten(v, where)
  const o = v as {shape?: unknown; data?: unknown}
  if (o && Array.isArray(o.shape) && Array.isArray(o.data)) {
    const f = flatten(o.data, where)
    return {shape: o.shape as number[], data: f.data}
  }
  throw new AmpsUserError('FILE_INVALID', `${where}: expected a number array or {"shape": [...], "data": [...]}`)
}

async function readJsonInput(path: string, inputs: TensorInfo[]): Promise<RawTensor[]> {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('FILE_INVALID', `${path} is not valid JSON: ${(error as Error).message}`)
  }
  const o = raw as Record<string, unknown>
  if (o && typeof o === 'object' && Array.isArray(o.tensors)) {
    const byId = new Map<string, RawTensor>()
    for (const [i, w] of o.tensors.entries()) {
      try {
        const t = await decodeTensor(checkWireTensor(w, `${path} tensors[${i}]`))
        byId.set(t.id, t)
      } catch (error) {
        throw new AmpsUserError('FILE_INVALID', (error as Error).message)
      }
    }
    return inputs.map((t) => {
      const x = byId.get(t.id)
      if (!x) throw new AmpsUserError('FILE_INVALID', `${path}: no tensor "${t.id}" (the model's input)`)
      return fitTensor(x, t, `${path} "${t.id}"`)
    })
  }
  if (Array.isArray(raw) || (o && Array.isArray(o.shape))) {
    const t = single(inputs, 'one JSON array')
    return [fitTensor(arrayOf(raw, path), t, path)]
  }
  return inputs.map((t) => {
    if (!(t.id in (o ?? {})))
      throw new AmpsUserError(
        'FILE_INVALID',
        `${path}: no key "${t.id}" (the model's input${inputs.length > 1 ? 's are ' + inputs.map((i) => i.id).join(', ') : ''})`,
      )
    return fitTensor(arrayOf(o[t.id], `${path} "${t.id}"`), t, `${path} "${t.id}"`)
  })
}

export interface OutputSummary {
  id: string
  shape: number[]
  dtype: WireDtype
  min: number
  max: number
  mean: number
  /** per sample, for classifier-like outputs [batch, classes]: the 5 largest scores */
  top5?: {index: number; score: number}[][]
}

export function summarizeOutputs(outputs: RawTensor[]): OutputSummary[] {
  return outputs.map((t) => {
    let min = Infinity
    let max = -Infinity
    let sum = 0
    for (const v of t.data) {
      if (v < min) min = v
      if (v > max) max = v
      sum += v
    }
    const s: OutputSummary = {id: t.id, shape: t.shape, dtype: t.dtype, min, max, mean: sum / Math.max(1, t.data.length)}
    if (t.shape.length === 2 && t.shape[1] >= 2) {
      const k = t.shape[1]
      s.top5 = []
      for (let b = 0; b < t.shape[0]; b++) {
        const row = Array.from(t.data.subarray(b * k, (b + 1) * k), (score, index) => ({index, score}))
        row.sort((x, y) => y.score - x.score)
        s.top5.push(row.slice(0, 5))
      }
    }
    return s
  })
}

/** max |a − b| over all outputs, and max |a| (the scale the difference is judged against). */
export function maxAbsDiff(a: RawTensor[], b: RawTensor[]): {maxAbsDiff: number; maxAbsOutput: number} {
  let d = 0
  let m = 0
  for (const [i, x] of a.entries()) {
    const y = b[i]
    if (!y || y.data.length !== x.data.length) throw new Error(`output ${x.id}: shapes differ ([${x.shape}] vs [${y?.shape}])`)
    for (let j = 0; j < x.data.length; j++) {
      d = Math.max(d, Math.abs(x.data[j] - y.data[j]))
      m = Math.max(m, Math.abs(x.data[j]))
    }
  }
  return {maxAbsDiff: d, maxAbsOutput: m}
}
