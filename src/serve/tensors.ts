/**
 * TensorFlow Serving's REST request and response bodies ↔ rows of tensors, validated against the
 * model's input shapes and dtypes. Every problem is a RequestError naming the instance, the input
 * and what is wrong; the gateway answers it with 400.
 *
 * Row format:      {"instances": [inst, …]}, inst = nested array (one input) or {"<input>": nested, …}
 *                  → {"predictions": [pred, …]}, pred = nested array (one output) or {"<output>": nested}
 * Columnar format: {"inputs": nested with the batch axis} or {"inputs": {"<input>": nested, …}}
 *                  → {"outputs": nested with the batch axis} or {"outputs": {"<output>": nested}}
 *                  (as TF Serving answers a columnar request)
 */
import type {RawTensor} from '../stage/codec.js'
import type {Row} from '../../deploy/client/batch-invoke.js'
import type {TensorInfo} from '../model/types.js'

export class RequestError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message)
    this.name = 'RequestError'
  }
}

/** Input/output names a client may use for a tensor id: the id and the id without its ":0". */
function names(info: TensorInfo): string[] {
  const bare = info.id.replace(/:\d+$/, '')
  return bare === info.id ? [info.id] : [info.id, bare]
}

const shapeText = (s: (number | null)[]) => `[${s.map((d) => (d === null || d < 0 ? '?' : d)).join(', ')}]`

/** Flattens a nested array of the given shape (null = any size) into a typed array; throws RequestError. */
function flatten(value: unknown, shape: (number | null)[], dtype: string, where: string): {data: Float32Array | Int32Array; shape: number[]} {
  const dims: number[] = []
  const out: number[] = []
  // the index path is kept as numbers and only turned into text for an error message
  const at: number[] = []
  const pathText = (depth: number) =>
    at
      .slice(0, depth)
      .map((i) => `[${i}]`)
      .join('')
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new RequestError(`${where}${pathText(depth)}: expected a finite number, got ${JSON.stringify(v)?.slice(0, 40) ?? String(v)}`)
      if (dtype === 'int32' && !Number.isInteger(v)) throw new RequestError(`${where}${pathText(depth)}: the input is int32 but got ${v}`)
      out.push(v)
      return
    }
    if (!Array.isArray(v))
      throw new RequestError(
        `${where}${pathText(depth)}: expected an array of rank ${shape.length - depth} (shape ${shapeText(shape)}), got ${typeof v === 'number' ? 'a number' : JSON.stringify(v)?.slice(0, 40)}`,
      )
    const want = shape[depth]
    if (dims[depth] === undefined) {
      if (want !== null && want >= 0 && v.length !== want)
        throw new RequestError(`${where}: dimension ${depth} has ${v.length} elements, the model expects ${want} (shape ${shapeText(shape)})`)
      dims[depth] = v.length
    } else if (v.length !== dims[depth])
      throw new RequestError(`${where}${pathText(depth)}: ragged array (${v.length} elements where ${dims[depth]} were before)`)
    for (let i = 0; i < v.length; i++) {
      at[depth] = i
      walk(v[i], depth + 1)
    }
  }
  walk(value, 0)
  return {data: dtype === 'int32' ? Int32Array.from(out) : Float32Array.from(out), shape: dims}
}

/** The model's inputs of one instance from a client's value (nested array, or object by input name). */
function instanceRow(value: unknown, inputs: TensorInfo[], where: string): Row {
  if (inputs.length === 1 && Array.isArray(value)) return [tensorOf(value, inputs[0], where)]
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new RequestError(
      `${where}: expected ${inputs.length === 1 ? `a nested array of shape ${shapeText(inputs[0].shape.slice(1))}` : `an object with the inputs ${inputs.map((i) => `"${names(i).at(-1)}"`).join(', ')}`}`,
    )
  }
  const obj = value as Record<string, unknown>
  const known = new Set(inputs.flatMap(names))
  const extra = Object.keys(obj).filter((k) => !known.has(k))
  if (extra.length > 0)
    throw new RequestError(
      `${where}: unknown input ${extra.map((k) => `"${k.slice(0, 40)}"`).join(', ')}; the model's inputs are ${inputs.map((i) => `"${names(i).at(-1)}"`).join(', ')}`,
    )
  return inputs.map((info) => {
    const key = names(info).find((n) => n in obj)
    if (key === undefined) throw new RequestError(`${where}: missing input "${names(info).at(-1)}"`)
    return tensorOf(obj[key], info, `${where}.${key}`)
  })
}

function tensorOf(value: unknown, info: TensorInfo, where: string): RawTensor {
  const dtype = info.dtype === 'int32' ? 'int32' : 'float32'
  const {data, shape} = flatten(value, info.shape.slice(1), dtype, where)
  return {id: info.id, dtype, shape, data}
}

export interface ParsedPredict {
  format: 'row' | 'columnar'
  rows: Row[]
}

/** Parses a :predict body into rows (one per instance), validated against the model's inputs. */
export function parsePredictBody(body: unknown, inputs: TensorInfo[]): ParsedPredict {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new RequestError('the body must be a JSON object with "instances" (row format) or "inputs" (columnar format)')
  const b = body as Record<string, unknown>
  if ('instances' in b && 'inputs' in b) throw new RequestError('give either "instances" or "inputs", not both')
  if ('instances' in b) {
    if (!Array.isArray(b.instances) || b.instances.length === 0) throw new RequestError('"instances" must be a non-empty array')
    return {format: 'row', rows: b.instances.map((inst, i) => instanceRow(inst, inputs, `instances[${i}]`))}
  }
  if ('inputs' in b) {
    const v = b.inputs
    const perInput: {info: TensorInfo; value: unknown[]}[] = []
    if (inputs.length === 1 && Array.isArray(v)) perInput.push({info: inputs[0], value: v})
    else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      for (const row of [instanceRowKeys(v as Record<string, unknown>, inputs)]) perInput.push(...row)
    } else throw new RequestError(`"inputs" must be a nested array with the batch axis first${inputs.length > 1 ? ', or an object by input name' : ''}`)
    const n = perInput[0].value.length
    if (n === 0) throw new RequestError('"inputs" has no rows (its first axis is the batch)')
    for (const p of perInput)
      if (p.value.length !== n) throw new RequestError(`"inputs": every input needs the same number of rows (${n}), "${p.info.id}" has ${p.value.length}`)
    const rows: Row[] = []
    for (let i = 0; i < n; i++) rows.push(perInput.map((p) => tensorOf(p.value[i], p.info, `inputs${perInput.length > 1 ? `.${p.info.id}` : ''}[${i}]`)))
    return {format: 'columnar', rows}
  }
  throw new RequestError('the body has neither "instances" (row format) nor "inputs" (columnar format)')
}

function instanceRowKeys(obj: Record<string, unknown>, inputs: TensorInfo[]): {info: TensorInfo; value: unknown[]}[] {
  const known = new Set(inputs.flatMap(names))
  const extra = Object.keys(obj).filter((k) => !known.has(k))
  if (extra.length > 0) throw new RequestError(`"inputs": unknown input ${extra.map((k) => `"${k.slice(0, 40)}"`).join(', ')}`)
  return inputs.map((info) => {
    const key = names(info).find((n) => n in obj)
    if (key === undefined) throw new RequestError(`"inputs": missing input "${names(info).at(-1)}"`)
    const value = obj[key]
    if (!Array.isArray(value)) throw new RequestError(`"inputs".${key}: expected a nested array with the batch axis first`)
    return {info, value}
  })
}

/** A flat typed array as a nested array of `shape`. */
export function nest(data: ArrayLike<number>, shape: number[]): unknown {
  if (shape.length === 0) return data[0]
  const build = (offset: number, depth: number): unknown[] => {
    const n = shape[depth]
    const stride = shape.slice(depth + 1).reduce((a, b) => a * b, 1)
    const out: unknown[] = new Array(n)
    for (let i = 0; i < n; i++) out[i] = depth === shape.length - 1 ? data[offset + i] : build(offset + i * stride, depth + 1)
    return out
  }
  return build(0, 0)
}

const outName = (t: RawTensor) => t.id.replace(/:\d+$/, '')

/** The response body for rows of outputs, in the request's format. */
export function predictResponse(format: 'row' | 'columnar', rows: Row[]): Record<string, unknown> {
  if (format === 'row') {
    return {
      predictions: rows.map((row) =>
        row.length === 1 ? nest(row[0].data, row[0].shape) : Object.fromEntries(row.map((t) => [outName(t), nest(t.data, t.shape)])),
      ),
    }
  }
  const per = rows[0].map((t, j) => [outName(t), rows.map((row) => nest(row[j].data, row[j].shape))] as const)
  return {outputs: per.length === 1 ? per[0][1] : Object.fromEntries(per)}
}

/** TF Serving's dtype names, for the metadata endpoint. */
export function tfDtype(dtype: string): string {
  return dtype === 'int32' ? 'DT_INT32' : 'DT_FLOAT'
}
