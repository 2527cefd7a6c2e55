/**
 * Turns what the measuring child reported into profile.json. Pure functions (no I/O), so the
 * arithmetic is unit-tested by hand-worked numbers.
 */
import type {LayerGraph} from '../model/types.js'
import {LAMBDA} from '../platform/lambda.js'
import {measuredThreads} from './ort-runner.js'
import type {PointResult, RuntimeProbe, WorkerInfo} from './protocol.js'
import {median, sum, summarize} from './stats.js'
import {PROFILE_VERSION, type CalibrationPoint, type LayerProfile, type Profile, type TimingPoint} from './types.js'

const MB = 1024 * 1024

/**
 * ms one layer sample costs at a CPU fraction f = m/1769, from the process CPU time c and wall
 * time w of the sample taken under that quota.
 *
 * Under a CFS quota the group receives exactly f CPU-seconds per second over any stretch of
 * several periods, so a run of work needing c CPU-ms takes c/f ms of wall time on average
 * (the "fluid" limit a stage of many layers sees). A single short layer's wall time is instead
 * c (it ran inside the quota) or c + the throttle gap, so it is not used directly. For a
 * single-threaded backend (wasm in Node) the process also cannot beat one CPU: above 1769 MB the
 * time stays c (c includes GC helper threads, a slight overestimate there). A multi-threaded
 * backend can, so its time is max(w, c/f).
 */
export function layerSampleMs(cpuMs: number, wallMs: number, fraction: number, threads: number): number {
  if (!(fraction > 0)) throw new RangeError(`CPU fraction must be > 0, got ${fraction}`)
  return threads > 1 ? Math.max(wallMs, cpuMs / fraction) : cpuMs / Math.min(1, fraction)
}

/**
 * An ONNX Runtime whole-model run's time from its process CPU ms c, at CPU share f with the
 * session's `threads`: c ÷ min(f, threads) (the fluid time of c CPU-ms of work spread over the
 * threads within the quota). Not the run's wall time: that counts the time other tenants of a
 * shared machine held the CPU, which a Lambda stage does not have (fusedFactorOf compares this with
 * Σ of the nodes' median kernel times).
 */
export function ortWholeModelMs(cpuMs: number, fraction: number, threads: number): number {
  if (!(fraction > 0)) throw new RangeError(`CPU fraction must be > 0, got ${fraction}`)
  return cpuMs / Math.min(fraction, Math.max(1, threads))
}

/** The model used where no quota can be set: ms(m) = ms(ref)·max(1, 1769/m). */
export function modelledScale(memoryMb: number): number {
  return Math.max(1, LAMBDA.fullVcpuMemoryMb / memoryMb)
}

function timingPoint(memoryMb: number, batch: number, samples: number[], modelled: boolean): TimingPoint {
  return {memoryMb, batch, ...summarize(samples), modelled}
}

export interface AssembleInput {
  graph: LayerGraph
  source: string
  info: WorkerInfo
  probe: RuntimeProbe
  points: PointResult[]
  batchSizes: number[]
  memoryMb: number[]
  quotaMethod: Profile['environment']['quotaMethod']
  cfsPeriodUs?: number
  /** ms the kernel throttled the child per (memory, batch) point, keyed `${m}x${b}` */
  throttledMs?: Map<string, number>
  ampsVersion: string
  measuredAt: string
  warnings: string[]
}

/** Expands the measured points to one TimingPoint per (memory, batch) for every layer and the whole model. */
export function assembleProfile(input: AssembleInput): Profile {
  const {graph, info, probe, points, batchSizes, memoryMb} = input
  const modelled = input.quotaMethod === 'modelled'
  const warnings = [...graph.warnings, ...input.warnings]
  const find = (m: number, b: number): PointResult => {
    const p = modelled ? points.find((q) => q.batch === b) : points.find((q) => q.batch === b && q.memoryMb === m)
    if (!p) throw new Error(`no measurement for ${m} MB × batch ${b}`)
    return p
  }

  // per layer index → timing points, in memory-major then batch order
  const timing = new Map<number, TimingPoint[]>()
  const wholeModel: TimingPoint[] = []
  const calibration: CalibrationPoint[] = []
  for (const m of memoryMb) {
    for (const b of batchSizes) {
      const p = find(m, b)
      const scale = modelled ? modelledScale(m) : 1
      const derived = modelled || p.derivedFrom !== undefined
      let sumLayers = 0
      for (const l of p.layers) {
        const samples = l.cpuMs.map((c, i) => layerSampleMs(c, l.wallMs[i], p.fraction, info.threads) * scale)
        const tp = timingPoint(m, b, samples, derived)
        sumLayers += tp.medianMs
        const list = timing.get(l.index) ?? []
        list.push(tp)
        timing.set(l.index, list)
      }
      const whole = timingPoint(
        m,
        b,
        p.wholeWallMs.map((w) => w * scale),
        derived,
      )
      wholeModel.push(whole)
      const chainWall = median(p.chainWallMs) * scale
      const wholeCpu =
        p.wholeCpuMs.length === 0
          ? NaN
          : info.backend === 'onnx'
            ? median(p.wholeCpuMs.map((c) => ortWholeModelMs(c, p.fraction, measuredThreads(m)))) * scale
            : median(p.wholeCpuMs.map((c, i) => layerSampleMs(c, p.wholeWallMs[i] ?? 0, p.fraction, info.threads))) * scale
      const throttled = input.throttledMs?.get(`${m}x${b}`)
      calibration.push({
        memoryMb: m,
        batch: b,
        sumLayersMs: round3(sumLayers),
        wholeModelMs: whole.medianMs,
        chainWallMs: round3(chainWall),
        ratio: round3(sumLayers / whole.medianMs),
        ...(throttled === undefined ? {} : {throttledMs: round3(throttled)}),
        ...(Number.isFinite(wholeCpu) ? {wholeModelCpuMs: round3(wholeCpu)} : {}),
      })
      if (p.tensorsAfter !== p.tensorsBefore) {
        warnings.push(`${p.tensorsAfter - p.tensorsBefore} tensors leaked while measuring ${m} MB × batch ${b} (a layer keeps intermediates)`)
      }
    }
  }
  const off = calibration.filter((c) => Math.abs(c.ratio - 1) > 0.25)
  if (off.length) {
    warnings.push(
      `Σ layer times differ from the whole model by more than 25% at ${off.map((c) => `${c.memoryMb} MB × ${c.batch}`).join(', ')}` +
        ' (a busy machine inflates whole-model wall times; profile again when it is idle)',
    )
  }

  const layers: LayerProfile[] = graph.layers.map((l) => ({
    index: l.index,
    name: l.name,
    className: l.className,
    inbound: l.inbound,
    params: l.params,
    weightBytes: l.weightBytes,
    outputShape: l.outputs[0]?.shape ?? [],
    outputBytes: sum(l.outputs.map((o) => o.bytesPerSample)),
    macs: l.macs,
    macsEstimated: l.macsEstimated,
    // input layers do no work: zero time at every point, so every layer has the same points
    timing:
      timing.get(l.index) ??
      memoryMb.flatMap((m) => batchSizes.map((b) => ({memoryMb: m, batch: b, medianMs: 0, p10Ms: 0, p90Ms: 0, minMs: 0, maxMs: 0, repeats: 0, modelled}))),
  }))

  const fused = fusedFactorOf(calibration)
  const weightMb = graph.totals.weightBytes / MB
  const probeBatch = probe.probeBatch
  const activationGrowthMb = ((probeBatch - 1) * probe.peakActivationBytesPerSample) / MB
  const firstModelMb = Math.max(0, probe.loadedRssBytes - probe.baselineRssBytes) / MB
  const secondModelMb = Math.max(0, probe.secondModelRssBytes - probe.loadedRssBytes) / MB
  const rssPerWeightMb = weightMb > 0 ? secondModelMb / weightMb : 0
  const modelFixedRssMb = Math.max(0, firstModelMb - secondModelMb)
  const rssPerActivationMb = activationGrowthMb > 0 ? Math.max(0, probe.rssProbeBatchBytes - probe.rssBatch1Bytes) / MB / activationGrowthMb : 0
  if (weightMb < 8) warnings.push(`rssPerWeightMb comes from only ${weightMb.toFixed(1)} MB of weights; it is rough`)
  if (activationGrowthMb < 8) {
    warnings.push(`rssPerActivationMb comes from only ${activationGrowthMb.toFixed(1)} MB of activations; it is rough`)
  }

  return {
    version: PROFILE_VERSION,
    model: {
      name: graph.name,
      sha256: graph.sha256,
      format: graph.format,
      source: input.source,
      layers: graph.layers.length,
      params: graph.totals.params,
      weightBytes: graph.totals.weightBytes,
      storedWeightBytes: graph.totals.storedWeightBytes,
      macs: graph.totals.macs,
    },
    inputs: graph.inputs,
    outputs: graph.outputs,
    environment: {
      backend: info.backend,
      threads: info.threads,
      node: info.node,
      cpu: info.cpu,
      quotaMethod: input.quotaMethod,
      ...(input.cfsPeriodUs ? {cfsPeriodUs: input.cfsPeriodUs} : {}),
      layerTiming: info.threads > 1 ? 'wall-fluid' : 'cpu-fluid',
      measuredAt: input.measuredAt,
      ampsVersion: input.ampsVersion,
    },
    batchSizes,
    memoryMb,
    layers,
    cuts: graph.cuts,
    wholeModel,
    calibration,
    runtime: {
      baselineRssMb: round3(probe.baselineRssBytes / MB),
      rssPerWeightMb: round3(rssPerWeightMb),
      rssPerActivationMb: round3(rssPerActivationMb),
      runtimeInitMs: round3(probe.runtimeInitMs),
      loadMsPerWeightMb: round3(weightMb > 0 ? probe.loadMs / weightMb : 0),
      invokeOverheadMs: round3(probe.invokeOverheadMs),
      codecMsPerMb: round3(probe.codecMsPerMb),
      modelFixedRssMb: round3(modelFixedRssMb),
      peakActivationBytesPerSample: probe.peakActivationBytesPerSample,
      coldFirstPredictMs: round3(probe.coldFirstPredictMs),
      ...(fused === undefined ? {} : {fusedFactor: round3(fused)}),
      ...(Number.isFinite(probe.jsonParseMsPerMb) ? {jsonParseMsPerMb: round3(probe.jsonParseMsPerMb)} : {}),
      ...(Number.isFinite(probe.jsonStringifyMsPerMb) ? {jsonStringifyMsPerMb: round3(probe.jsonStringifyMsPerMb)} : {}),
      ...(Number.isFinite(probe.localJsonParseMsPerMb) ? {localJsonParseMsPerMb: round3(probe.localJsonParseMsPerMb)} : {}),
      ...(Number.isFinite(probe.localJsonStringifyMsPerMb) ? {localJsonStringifyMsPerMb: round3(probe.localJsonStringifyMsPerMb)} : {}),
    },
    warnings,
  }
}

/**
 * Median over the points of wholeModelCpuMs / sumLayersMs: what one fused model.predict costs
 * relative to Σ of its layers timed one by one (undefined without CPU-time whole-model samples).
 * CPU time, not wall: a busy machine inflates wall times, not the work done.
 */
export function fusedFactorOf(calibration: readonly CalibrationPoint[]): number | undefined {
  const r = calibration.filter((c) => c.sumLayersMs > 0 && (c.wholeModelCpuMs ?? 0) > 0).map((c) => c.wholeModelCpuMs! / c.sumLayersMs)
  return r.length > 0 ? median(r) : undefined
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
