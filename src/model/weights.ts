/**
 * Byte arithmetic on TF.js weight manifests: how many bytes each entry occupies in the weight
 * buffer (quantized entries are smaller), and slicing a buffer down to a subset of entries.
 */
import type {io} from '../runtime/tfjs.js'

import {AmpsUserError} from '../errors.js'

type WeightSpec = io.WeightsManifestEntry

const STORED_BYTES: Record<string, number> = {float32: 4, int32: 4, bool: 1}
const QUANTIZED_BYTES: Record<string, number> = {uint8: 1, uint16: 2, float16: 2}

export function elementCount(shape: number[]): number {
  let n = 1
  for (const d of shape) n *= d
  return n
}

/** Bytes one manifest entry occupies in the weight buffer; throws a user error on dtypes tfjs cannot decode. */
export function storedByteLength(spec: WeightSpec): number {
  const n = elementCount(spec.shape)
  if (spec.quantization) {
    const b = QUANTIZED_BYTES[spec.quantization.dtype]
    if (b === undefined) {
      throw new AmpsUserError(
        'MODEL_WEIGHTS_INVALID',
        `weight ${spec.name} is quantized as ${String(spec.quantization.dtype)}; TensorFlow.js reads only uint8, uint16 and float16`,
      )
    }
    return n * b
  }
  const b = STORED_BYTES[spec.dtype]
  if (b === undefined) {
    throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `weight ${spec.name} has dtype ${String(spec.dtype)}; amps supports float32, int32 and bool weights`)
  }
  return n * b
}

/** Bytes one entry occupies at run time once dequantized (float32/int32: 4 per element, bool: 1). */
export function runtimeByteLength(spec: WeightSpec): number {
  return elementCount(spec.shape) * (spec.dtype === 'bool' ? 1 : 4)
}

/** Joins tfjs WeightData (one buffer or several) into one ArrayBuffer. */
export function joinWeightData(data: ArrayBuffer | ArrayBuffer[]): ArrayBuffer {
  if (!Array.isArray(data)) return data
  if (data.length === 1) return data[0]
  const total = data.reduce((s, b) => s + b.byteLength, 0)
  const out = new Uint8Array(total)
  let at = 0
  for (const b of data) {
    out.set(new Uint8Array(b), at)
    at += b.byteLength
  }
  return out.buffer
}

/** Byte offset of every entry in the buffer, in manifest order. */
export function weightOffsets(specs: WeightSpec[]): {offset: number; length: number}[] {
  let at = 0
  return specs.map((s) => {
    const length = storedByteLength(s)
    const r = {offset: at, length}
    at += length
    return r
  })
}

/** Keeps the entries `keep` accepts, with their bytes, in manifest order. */
export function selectWeights(
  specs: WeightSpec[],
  data: ArrayBuffer,
  keep: (spec: WeightSpec, index: number) => boolean,
): {weightSpecs: WeightSpec[]; weightData: ArrayBuffer} {
  const offsets = weightOffsets(specs)
  const kept: number[] = []
  let total = 0
  specs.forEach((s, i) => {
    if (keep(s, i)) {
      kept.push(i)
      total += offsets[i].length
    }
  })
  // everything kept: the buffer as it is (no copy of a model's weights)
  if (kept.length === specs.length && total === data.byteLength) return {weightSpecs: specs.map((s) => ({...s})), weightData: data}
  const out = new Uint8Array(total)
  const src = new Uint8Array(data)
  let at = 0
  for (const i of kept) {
    const {offset, length} = offsets[i]
    out.set(src.subarray(offset, offset + length), at)
    at += length
  }
  return {weightSpecs: kept.map((i) => ({...specs[i]})), weightData: out.buffer}
}

/** The first float32 entry holding NaN or ±Infinity, with how many such values it holds. */
export function nonFiniteWeight(specs: WeightSpec[], data: ArrayBuffer): {name: string; count: number; total: number} | undefined {
  const offsets = weightOffsets(specs)
  for (const [i, s] of specs.entries()) {
    if (s.dtype !== 'float32' || s.quantization) continue
    const {offset, length} = offsets[i]
    // the buffer's float32 entries need not be 4-byte aligned after quantized or bool entries
    const values = offset % 4 === 0 ? new Float32Array(data, offset, length / 4) : new Float32Array(data.slice(offset, offset + length))
    let count = 0
    for (let j = 0; j < values.length; j++) if (!Number.isFinite(values[j])) count++
    if (count > 0) return {name: s.name, count, total: values.length}
  }
  return undefined
}
