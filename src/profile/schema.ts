/**
 * The one schema of profile.json (zod, through the src/files kit): every field a reader relies on,
 * each problem named by its dotted path (`"layers[3].timing[0].medianMs": expected a number ≥ 0,
 * got "fast"`), reported as one AmpsUserError PROFILE_INVALID. Unknown extra fields are allowed (newer
 * writers may add optional fields).
 */
import {defineFormat, validateAs} from '../files/format.js'
import {bool, list, num, obj, oneOf, str, z} from '../files/zod.js'
import {PROFILE_VERSION, type Profile} from './types.js'

const nullableDim = z.union([z.null(), num({min: 0, int: true})], {error: 'expected an integer ≥ 0 or null'})

const tensorInfo = obj({
  id: str(),
  shape: list(nullableDim),
  dtype: oneOf(['float32', 'int32', 'bool']),
  bytesPerSample: num({min: 0}),
})

const timingPoint = obj({
  memoryMb: num({gt: 0}),
  batch: num({min: 1, int: true}),
  medianMs: num({min: 0}),
  p10Ms: num({min: 0}),
  p90Ms: num({min: 0}),
  minMs: num({min: 0}),
  maxMs: num({min: 0}),
  repeats: num({min: 0, int: true}),
  modelled: bool(),
})

const layerProfile = obj({
  index: num({min: 0, int: true}),
  name: str(),
  className: str(),
  inbound: list(str()),
  params: num({min: 0, int: true}),
  weightBytes: num({min: 0}),
  outputShape: list(nullableDim),
  outputBytes: num({min: 0}),
  macs: num({min: 0}),
  macsEstimated: bool(),
  timing: list(timingPoint),
})

const cutPoint = obj({
  after: num({min: 0, int: true}),
  afterLayer: str(),
  tensors: list(tensorInfo),
  bytesPerSample: num({min: 0}),
})

const calibrationPoint = obj({
  memoryMb: num({gt: 0}),
  batch: num({min: 1, int: true}),
  sumLayersMs: num({min: 0}),
  wholeModelMs: num({min: 0}),
  chainWallMs: num({min: 0}),
  ratio: num({min: 0}),
  throttledMs: num({min: 0}).optional(),
  wholeModelCpuMs: num({min: 0}).optional(),
})

const correction = obj({
  firstIndex: num({min: 0, int: true}),
  lastIndex: num({min: 0, int: true}),
  memoryMb: num({gt: 0}),
  batch: num({min: 1, int: true}),
  arch: oneOf(['x86_64', 'arm64']),
  target: oneOf(['local', 'aws']),
  predictedMs: num({min: 0}),
  measuredMs: num({min: 0}),
  factor: num({gt: 0}),
  samples: num({min: 0, int: true}),
  measuredAt: str(),
})

export const profileSchema = obj({
  version: num({int: true}),
  model: obj({
    name: str(),
    sha256: str(),
    format: oneOf(['tfjs-layers', 'keras-h5', 'keras-v3']),
    source: str(),
    layers: num({min: 0, int: true}),
    params: num({min: 0, int: true}),
    weightBytes: num({min: 0}),
    storedWeightBytes: num({min: 0}),
    macs: num({min: 0}),
  }),
  inputs: list(tensorInfo, {nonEmpty: true}),
  outputs: list(tensorInfo, {nonEmpty: true}),
  environment: obj({
    backend: oneOf(['tensorflow', 'wasm', 'cpu', 'onnx']),
    threads: num({min: 1, int: true}),
    node: str(),
    cpu: str(),
    quotaMethod: oneOf(['cgroup-v1', 'cgroup-v2', 'modelled']),
    measuredAt: str(),
    ampsVersion: str(),
    cfsPeriodUs: num({min: 1}).optional(),
    layerTiming: oneOf(['cpu-fluid', 'wall-fluid']).optional(),
  }),
  batchSizes: list(num({min: 1, int: true}), {nonEmpty: true}),
  memoryMb: list(num({gt: 0}), {nonEmpty: true}),
  layers: list(layerProfile, {nonEmpty: true}),
  cuts: list(cutPoint),
  wholeModel: list(timingPoint),
  runtime: obj({
    baselineRssMb: num({min: 0}),
    rssPerWeightMb: num({min: 0}),
    rssPerActivationMb: num({min: 0}),
    runtimeInitMs: num({min: 0}),
    loadMsPerWeightMb: num({min: 0}),
    invokeOverheadMs: num({min: 0}),
    codecMsPerMb: num({min: 0}),
    modelFixedRssMb: num({min: 0}).optional(),
    peakActivationBytesPerSample: num({min: 0}).optional(),
    coldFirstPredictMs: num({min: 0}).optional(),
    fusedFactor: num({gt: 0}).optional(),
    jsonParseMsPerMb: num({min: 0}).optional(),
    jsonStringifyMsPerMb: num({min: 0}).optional(),
    localJsonParseMsPerMb: num({min: 0}).optional(),
    localJsonStringifyMsPerMb: num({min: 0}).optional(),
  }),
  warnings: list(str()),
  calibration: list(calibrationPoint).optional(),
  corrections: list(correction).optional(),
})

/** Cross-field rules the shapes alone cannot say. */
function consistency(p: Profile): string[] {
  const out: string[] = []
  if (p.model.layers !== p.layers.length) out.push(`"model.layers": says ${p.model.layers} but layers has ${p.layers.length} entries`)
  p.layers.forEach((l, i) => {
    if (l.index !== i) out.push(`"layers[${i}].index": expected ${i} (layers are in topological order), got ${l.index}`)
    for (const m of p.memoryMb) {
      for (const b of p.batchSizes) {
        if (!l.timing.some((t) => t.memoryMb === m && t.batch === b)) {
          out.push(`"layers[${i}].timing": no entry for ${m} MB × batch ${b} (memoryMb × batchSizes must all be present)`)
          return
        }
      }
    }
    l.timing.forEach((t, j) => {
      if (t.p10Ms > t.medianMs + 1e-9 || t.medianMs > t.p90Ms + 1e-9 || t.minMs > t.p10Ms + 1e-9 || t.p90Ms > t.maxMs + 1e-9) {
        out.push(`"layers[${i}].timing[${j}]": expected minMs ≤ p10Ms ≤ medianMs ≤ p90Ms ≤ maxMs`)
      }
    })
  })
  p.corrections?.forEach((c, i) => {
    if (c.firstIndex > c.lastIndex || c.lastIndex >= p.layers.length)
      out.push(`"corrections[${i}]": layers ${c.firstIndex}..${c.lastIndex} are not a range of the model's ${p.layers.length} layers`)
  })
  p.cuts.forEach((c, i) => {
    if (c.after >= p.layers.length - 1) out.push(`"cuts[${i}].after": ${c.after} leaves nothing after the cut (model has ${p.layers.length} layers)`)
    else if (p.layers[c.after] && p.layers[c.after].name !== c.afterLayer) {
      out.push(`"cuts[${i}].afterLayer": position ${c.after} is ${p.layers[c.after].name}, not ${c.afterLayer}`)
    }
  })
  return out
}

export const profileFormat = defineFormat<Profile>({
  kind: 'profile',
  version: PROFILE_VERSION,
  schema: profileSchema,
  code: 'PROFILE_INVALID',
  remake: 'profile the model again: amps profile <model> -o {file}',
  check: consistency,
})

/** Validates parsed JSON as a Profile; `file` names it in the error. */
export function validateProfile(raw: unknown, file: string): Profile {
  return validateAs(profileFormat, raw, file)
}
