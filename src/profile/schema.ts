/**
 * The one schema of profile.json: `validateProfile(raw, file)` checks every field a reader relies on,
 * gathers every problem with its dotted path (`layers[3].timing[0].medianMs: expected a number ≥ 0,
 * got "fast"`) and throws one AmpsUserError PROFILE_INVALID. Unknown extra fields are allowed (newer
 * writers may add optional fields).
 */
import {AmpsUserError} from '../errors.js'
import {PROFILE_VERSION, type Profile} from './types.js'

type Check = (value: unknown, path: string, out: string[]) => void

function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  const text = JSON.stringify(value)
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 40)}…` : text
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const num =
  (opts: {min?: number; integer?: boolean; gt?: number} = {}): Check =>
  (v, path, out) => {
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (opts.min === undefined || v >= opts.min) &&
      (opts.gt === undefined || v > opts.gt) &&
      (!opts.integer || Number.isInteger(v))
    if (!ok) {
      const what = `${opts.integer ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.gt !== undefined ? ` > ${opts.gt}` : ''}`
      out.push(`${path}: expected ${what}, got ${show(v)}`)
    }
  }
const str: Check = (v, path, out) => {
  if (typeof v !== 'string') out.push(`${path}: expected a string, got ${show(v)}`)
}
const bool: Check = (v, path, out) => {
  if (typeof v !== 'boolean') out.push(`${path}: expected true or false, got ${show(v)}`)
}
const oneOf =
  (...values: string[]): Check =>
  (v, path, out) => {
    if (typeof v !== 'string' || !values.includes(v)) out.push(`${path}: expected one of ${values.join(', ')}, got ${show(v)}`)
  }
const arr =
  (item: Check, opts: {nonEmpty?: boolean} = {}): Check =>
  (v, path, out) => {
    if (!Array.isArray(v)) return void out.push(`${path}: expected a list, got ${show(v)}`)
    if (opts.nonEmpty && v.length === 0) out.push(`${path}: expected at least one entry`)
    v.forEach((x, i) => item(x, `${path}[${i}]`, out))
  }
const nullableNum: Check = (v, path, out) => {
  if (v !== null) num({min: 0, integer: true})(v, path, out)
}
const obj =
  (fields: Record<string, Check>, optional: Record<string, Check> = {}): Check =>
  (v, path, out) => {
    if (!isObj(v)) return void out.push(`${path || 'profile'}: expected an object, got ${show(v)}`)
    const at = (k: string): string => (path ? `${path}.${k}` : k)
    for (const [k, check] of Object.entries(fields)) {
      if (!(k in v)) out.push(`${at(k)}: missing`)
      else check(v[k], at(k), out)
    }
    for (const [k, check] of Object.entries(optional)) if (k in v && v[k] !== undefined) check(v[k], at(k), out)
  }

const tensorInfo = obj({
  id: str,
  shape: arr(nullableNum),
  dtype: oneOf('float32', 'int32', 'bool'),
  bytesPerSample: num({min: 0}),
})

const timingPoint = obj({
  memoryMb: num({gt: 0}),
  batch: num({min: 1, integer: true}),
  medianMs: num({min: 0}),
  p10Ms: num({min: 0}),
  p90Ms: num({min: 0}),
  minMs: num({min: 0}),
  maxMs: num({min: 0}),
  repeats: num({min: 0, integer: true}),
  modelled: bool,
})

const layerProfile = obj({
  index: num({min: 0, integer: true}),
  name: str,
  className: str,
  inbound: arr(str),
  params: num({min: 0, integer: true}),
  weightBytes: num({min: 0}),
  outputShape: arr(nullableNum),
  outputBytes: num({min: 0}),
  macs: num({min: 0}),
  macsEstimated: bool,
  timing: arr(timingPoint),
})

const cutPoint = obj({
  after: num({min: 0, integer: true}),
  afterLayer: str,
  tensors: arr(tensorInfo),
  bytesPerSample: num({min: 0}),
})

const calibrationPoint = obj(
  {
    memoryMb: num({gt: 0}),
    batch: num({min: 1, integer: true}),
    sumLayersMs: num({min: 0}),
    wholeModelMs: num({min: 0}),
    chainWallMs: num({min: 0}),
    ratio: num({min: 0}),
  },
  {throttledMs: num({min: 0}), wholeModelCpuMs: num({min: 0})},
)

const profileShape = obj(
  {
    version: num({integer: true}),
    model: obj({
      name: str,
      sha256: str,
      format: oneOf('tfjs-layers', 'keras-h5', 'keras-v3'),
      source: str,
      layers: num({min: 0, integer: true}),
      params: num({min: 0, integer: true}),
      weightBytes: num({min: 0}),
      storedWeightBytes: num({min: 0}),
      macs: num({min: 0}),
    }),
    inputs: arr(tensorInfo, {nonEmpty: true}),
    outputs: arr(tensorInfo, {nonEmpty: true}),
    environment: obj(
      {
        backend: oneOf('tensorflow', 'wasm', 'cpu', 'onnx'),
        threads: num({min: 1, integer: true}),
        node: str,
        cpu: str,
        quotaMethod: oneOf('cgroup-v1', 'cgroup-v2', 'modelled'),
        measuredAt: str,
        ampsVersion: str,
      },
      {cfsPeriodUs: num({min: 1}), layerTiming: oneOf('cpu-fluid', 'wall-fluid')},
    ),
    batchSizes: arr(num({min: 1, integer: true}), {nonEmpty: true}),
    memoryMb: arr(num({gt: 0}), {nonEmpty: true}),
    layers: arr(layerProfile, {nonEmpty: true}),
    cuts: arr(cutPoint),
    wholeModel: arr(timingPoint),
    runtime: obj(
      {
        baselineRssMb: num({min: 0}),
        rssPerWeightMb: num({min: 0}),
        rssPerActivationMb: num({min: 0}),
        runtimeInitMs: num({min: 0}),
        loadMsPerWeightMb: num({min: 0}),
        invokeOverheadMs: num({min: 0}),
        codecMsPerMb: num({min: 0}),
      },
      {
        modelFixedRssMb: num({min: 0}),
        peakActivationBytesPerSample: num({min: 0}),
        coldFirstPredictMs: num({min: 0}),
        fusedFactor: num({gt: 0}),
        jsonParseMsPerMb: num({min: 0}),
        jsonStringifyMsPerMb: num({min: 0}),
      },
    ),
    warnings: arr(str),
  },
  {calibration: arr(calibrationPoint)},
)

/** Cross-field rules the shapes alone cannot say. */
function consistency(p: Profile, out: string[]): void {
  if (p.model.layers !== p.layers.length) out.push(`model.layers: says ${p.model.layers} but layers has ${p.layers.length} entries`)
  p.layers.forEach((l, i) => {
    if (l.index !== i) out.push(`layers[${i}].index: expected ${i} (layers are in topological order), got ${l.index}`)
    for (const m of p.memoryMb) {
      for (const b of p.batchSizes) {
        if (!l.timing.some((t) => t.memoryMb === m && t.batch === b)) {
          out.push(`layers[${i}].timing: no entry for ${m} MB × batch ${b} (memoryMb × batchSizes must all be present)`)
          return
        }
      }
    }
    l.timing.forEach((t, j) => {
      if (t.p10Ms > t.medianMs + 1e-9 || t.medianMs > t.p90Ms + 1e-9 || t.minMs > t.p10Ms + 1e-9 || t.p90Ms > t.maxMs + 1e-9) {
        out.push(`layers[${i}].timing[${j}]: expected minMs ≤ p10Ms ≤ medianMs ≤ p90Ms ≤ maxMs`)
      }
    })
  })
  p.cuts.forEach((c, i) => {
    if (c.after >= p.layers.length - 1) out.push(`cuts[${i}].after: ${c.after} leaves nothing after the cut (model has ${p.layers.length} layers)`)
    else if (p.layers[c.after] && p.layers[c.after].name !== c.afterLayer) {
      out.push(`cuts[${i}].afterLayer: position ${c.after} is ${p.layers[c.after].name}, not ${c.afterLayer}`)
    }
  })
}

/** Validates parsed JSON as a Profile; `file` names it in the error. */
export function validateProfile(raw: unknown, file: string): Profile {
  if (isObj(raw) && typeof raw.version === 'number' && raw.version !== PROFILE_VERSION) {
    throw new AmpsUserError(
      'PROFILE_INVALID',
      `${file} is profile.json version ${raw.version}; this amps reads version ${PROFILE_VERSION}`,
      {suggestions: ['Profile the model again with this amps: amps profile <model> -o ' + file]},
    )
  }
  const problems: string[] = []
  profileShape(raw, '', problems)
  if (problems.length === 0) consistency(raw as Profile, problems)
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).join('; ')
    const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''
    throw new AmpsUserError('PROFILE_INVALID', `${file} is not a valid profile: ${shown}${more}`, {
      suggestions: ['Profile the model again: amps profile <model> -o ' + file],
      details: {problems},
    })
  }
  return raw as Profile
}
