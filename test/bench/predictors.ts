/**
 * Stage-time predictors compared in the prediction section. `model` is the planner's CostModel as
 * it stands. The others are candidate corrections, written here (not in src/cost or src/profile,
 * which other engineers own) so their effect is measured before anyone changes the model:
 *
 * - `fused`: the CostModel's Σ layer ms scaled by the profile's own whole-model check: the median
 *   over its (memory, batch) points of wholeModelMs / sumLayersMs (profile.calibration). The profiler times each layer's `apply` on its own; a stage runs
 *   `model.predict` over all of its layers, which also pays the graph executor's bookkeeping, the
 *   disposal of every intermediate tensor (outside the profiler's timed region) and the read-back of
 *   the outputs.
 * - `fused+json`: `fused` plus what the Lambda runtime does around the handler and bills: parse
 *   the event (JSON with base64 tensors) and stringify the result. Costed per MB of raw tensor in
 *   and out (measured by `measurePayloadJson` below, CPU time including GC, like codecMsPerMb) and
 *   slowed down by the same max(1, 1769/m) as the codec. Compared with the round trip, which is the
 *   local stand-in for the billed duration (the stage process is busy from reading the request to
 *   writing the response).
 */
import {CostModel, MB, codecSlowdown, type StageRange} from '../../src/cost/model.js'
import type {Profile} from '../../src/profile/types.js'

export interface StagePrediction {
  computeMs: number
  codecMs: number
  overheadMs: number
  /** runtime JSON parse/stringify of the payload (0 for predictors without it) */
  jsonMs: number
  handlerMs: number
}

export interface PredictorContext {
  cm: CostModel
  profile: Profile
  /** per raw MB of tensor: JSON.parse of the event, JSON.stringify of the result (CPU ms at one vCPU) */
  json: PayloadJsonCost
}

export type Predictor = (ctx: PredictorContext, range: StageRange, memoryMb: number, batch: number) => StagePrediction

/** The planner's model unchanged: CostModel.handlerMs and its parts. */
export const planner: Predictor = ({cm, profile}, range, memoryMb, batch) => ({
  computeMs: cm.computeMs(range, memoryMb, batch),
  codecMs: cm.codecMs(range, memoryMb, batch),
  overheadMs: profile.runtime.invokeOverheadMs,
  jsonMs: 0,
  handlerMs: cm.handlerMs(range, memoryMb, batch),
})

/**
 * The median over the profile's (memory, batch) points of wholeModelMs / sumLayersMs (1 without
 * calibration). One number per profile: single points are noisy (the whole-model run is a wall
 * time, so a busy machine inflates it), the median of 8–16 of them is not.
 */
export function fusedFactor(profile: Profile): number {
  const r = (profile.calibration ?? []).filter((c) => c.sumLayersMs > 0 && c.wholeModelMs > 0).map((c) => c.wholeModelMs / c.sumLayersMs).sort((a, b) => a - b)
  if (r.length === 0) return 1
  return r.length % 2 ? r[(r.length - 1) / 2] : (r[r.length / 2 - 1] + r[r.length / 2]) / 2
}

export const fused: Predictor = (ctx, range, memoryMb, batch) => {
  const p = planner(ctx, range, memoryMb, batch)
  const computeMs = p.computeMs * fusedFactor(ctx.profile)
  return {...p, computeMs, handlerMs: p.handlerMs - p.computeMs + computeMs}
}

export const fusedJson: Predictor = (ctx, range, memoryMb, batch) => {
  const p = fused(ctx, range, memoryMb, batch)
  const inMb = (ctx.cm.bytesAt(range.first - 1) * batch) / MB
  const outMb = (ctx.cm.bytesAt(range.last) * batch) / MB
  const jsonMs = (inMb * ctx.json.parseMsPerMb + outMb * ctx.json.stringifyMsPerMb) * codecSlowdown(memoryMb, ctx.cm.env.fullVcpuMb)
  return {...p, jsonMs, handlerMs: p.handlerMs + jsonMs}
}

export const PREDICTORS = {
  model: planner,
  fused,
  'fused+json': fusedJson,
} satisfies Record<string, Predictor>

export type PredictorName = keyof typeof PREDICTORS

export interface PayloadJsonCost {
  parseMsPerMb: number
  stringifyMsPerMb: number
}

/**
 * CPU ms per raw MB of float32 tensor for what the Lambda runtime does around a stage handler:
 * JSON.parse of the request body (base64 tensors, as deploy/codec encodes them) and JSON.stringify
 * of the result plus its conversion to bytes. Mean over repeated calls at 2 MB, GC included (like
 * the profiler's codecMsPerMb), in this process at full speed.
 */
export async function measurePayloadJson(): Promise<PayloadJsonCost> {
  const codec = await import('../../deploy/codec.js')
  const cpu = (): number => {
    const c = process.cpuUsage()
    return (c.user + c.system) / 1000
  }
  const mb = 2
  const n = (mb * MB) / 4
  const data = new Float32Array(n)
  for (let i = 0; i < n; i++) data[i] = Math.sin(i) * 1000
  const wire = codec.encodeInline({id: 'x', dtype: 'float32', shape: [n], data})
  const body = Buffer.from(JSON.stringify({tensors: [wire], handoff: {kind: 'dir', path: '/tmp/amps-handoff'}, requestId: 'bench'}))
  let parse = 0
  let stringify = 0
  let check = 0
  const runs = 20
  for (let r = -3; r < runs; r++) {
    const c0 = cpu()
    const event = JSON.parse(body.toString('utf8')) as {tensors: unknown[]}
    const c1 = cpu()
    const text = JSON.stringify({stage: {index: 0, name: 'bench'}, tensors: event.tensors, metrics: {handlerMs: 1}})
    const bytes = Buffer.from(text)
    const c2 = cpu()
    check += bytes.length
    if (r >= 0) {
      parse += c1 - c0
      stringify += c2 - c1
    }
  }
  if (!(check > 0)) throw new Error('payload probe produced nothing')
  return {parseMsPerMb: parse / runs / mb, stringifyMsPerMb: stringify / runs / mb}
}
