/**
 * A small builder over onnx-proto's generated protobuf types (ONNX 1.10, opset 13 here): nodes,
 * float32/int64 initializers, float32/int32 value infos with a symbolic batch dimension, and the encoded
 * ModelProto bytes.
 */
import {createRequire} from 'node:module'

import type {onnx as OnnxNs} from 'onnx-proto'

const require = createRequire(import.meta.url)
const {onnx} = require('onnx-proto') as {onnx: typeof OnnxNs}

/** The opset every exported model declares (≤ 15: Conv, Resize, Pad/Slice/Clip with tensor inputs, Softmax on one axis). */
export const OPSET = 13

export type AttrValue = number | string | number[] | {f: number} | {floats: number[]}

const AT = onnx.AttributeProto.AttributeType
const DT = onnx.TensorProto.DataType

/** Element types a stage's graph inputs and outputs can have (Keras' int32 token/index inputs besides float32). */
export type OnnxDtype = 'float32' | 'int32'

/** TensorProto element type of an OnnxDtype (for value infos and the Cast node's `to`). */
export const ELEM: Record<OnnxDtype, number> = {float32: DT.FLOAT, int32: DT.INT32}

function attribute(name: string, v: AttrValue): OnnxNs.IAttributeProto {
  if (typeof v === 'string') return {name, type: AT.STRING, s: new TextEncoder().encode(v)}
  if (typeof v === 'number') return Number.isInteger(v) ? {name, type: AT.INT, i: v} : {name, type: AT.FLOAT, f: v}
  if (Array.isArray(v)) return {name, type: AT.INTS, ints: v}
  if ('f' in v) return {name, type: AT.FLOAT, f: v.f}
  return {name, type: AT.FLOATS, floats: v.floats}
}

export class GraphBuilder {
  readonly nodes: OnnxNs.INodeProto[] = []
  readonly initializers: OnnxNs.ITensorProto[] = []
  readonly inputs: OnnxNs.IValueInfoProto[] = []
  readonly outputs: OnnxNs.IValueInfoProto[] = []
  /** prefix of every node name from now on (the exporter sets `@L<position>@` per layer) */
  tag = ''
  private used = new Set<string>()
  private consts = new Map<string, string>()

  /** A fresh value name starting with `base`. */
  name(base: string): string {
    let n = base
    for (let i = 1; this.used.has(n); i++) n = `${base}_${i}`
    this.used.add(n)
    return n
  }

  reserve(name: string): void {
    this.used.add(name)
  }

  /** Adds a node with one output (named after `base`) and returns the output's name. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, base = opType.toLowerCase(), output?: string): string {
    const out = output ?? this.name(`${this.tag}${base}`)
    this.nodes.push({
      opType,
      input: inputs,
      output: [out],
      name: this.name(`${this.tag}${out}/${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    })
    return out
  }

  floatTensor(base: string, dims: number[], data: Float32Array): string {
    const name = this.name(base)
    const copy = new Uint8Array(data.byteLength)
    copy.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
    this.initializers.push({name, dims, dataType: DT.FLOAT, rawData: copy})
    return name
  }

  /** A shared int64 constant (1-D unless `scalar`). */
  int64s(values: number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`
    const have = this.consts.get(key)
    if (have) return have
    const data = new BigInt64Array(values.map((v) => BigInt(v)))
    const name = this.name('const_i64')
    this.initializers.push({name, dims: scalar ? [] : [values.length], dataType: DT.INT64, rawData: new Uint8Array(data.buffer)})
    this.consts.set(key, name)
    return name
  }

  /** A shared float32 scalar constant. */
  scalar(v: number): string {
    const key = `f32:${v}`
    const have = this.consts.get(key)
    if (have) return have
    const name = this.floatTensor('const_f32', [], new Float32Array([v]))
    this.consts.set(key, name)
    return name
  }

  valueInfo(name: string, shape: (number | null)[], dtype: OnnxDtype = 'float32'): OnnxNs.IValueInfoProto {
    return {
      name,
      type: {tensorType: {elemType: ELEM[dtype], shape: {dim: shape.map((d) => (d === null || d < 0 ? {dimParam: 'batch'} : {dimValue: d}))}}},
    }
  }

  encode(graphName: string, docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 7,
      producerName: 'amps',
      producerVersion: '1',
      docString,
      opsetImport: [{domain: '', version: OPSET}],
      graph: {
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    })
    return onnx.ModelProto.encode(model).finish()
  }
}
