/**
 * An exported stage split into its graph and its weights (ONNX external data): what a stage whose
 * weights do not fit its package ships (the graph, kilobytes) and what it fetches at INIT (one
 * blob). Every initializer of at least EXTERNAL_MIN_BYTES moves to the blob, 64-byte aligned, and
 * its TensorProto says where (data_location EXTERNAL, external_data location / offset / length);
 * small constants (shapes, scalars) stay in the graph. ONNX Runtime reads the blob from memory:
 * `externalData: [{path: location, data: blob}]` (src/runtime/ort.ts createSession).
 */
import {createRequire} from 'node:module'

import type {onnx as OnnxNs} from 'onnx-proto'

const require = createRequire(import.meta.url)
const {onnx} = require('onnx-proto') as {onnx: typeof OnnxNs}

/** Initializers smaller than this stay inside the graph. */
export const EXTERNAL_MIN_BYTES = 1024
const ALIGN = 64

export interface SplitOnnx {
  /** ModelProto whose large initializers point into `location` */
  graph: Uint8Array
  /** the weights blob: every moved initializer's raw bytes at its recorded offset */
  weights: Uint8Array
  /** initializers moved */
  moved: number
}

/** Moves the large initializers of an encoded ModelProto to one external-data blob named `location`. */
export function splitOnnxWeights(model: Uint8Array, location: string): SplitOnnx {
  const proto = onnx.ModelProto.decode(model)
  const inits = proto.graph?.initializer ?? []
  let size = 0
  const places: {t: OnnxNs.ITensorProto; raw: Uint8Array; offset: number}[] = []
  for (const t of inits) {
    const raw = t.rawData
    if (!raw || raw.length < EXTERNAL_MIN_BYTES) continue
    const offset = Math.ceil(size / ALIGN) * ALIGN
    places.push({t, raw, offset})
    size = offset + raw.length
  }
  const weights = new Uint8Array(size)
  for (const {t, raw, offset} of places) {
    weights.set(raw, offset)
    t.rawData = new Uint8Array(0)
    t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL
    t.externalData = [
      {key: 'location', value: location},
      {key: 'offset', value: String(offset)},
      {key: 'length', value: String(raw.length)},
    ]
  }
  return {graph: onnx.ModelProto.encode(proto).finish(), weights, moved: places.length}
}
