/**
 * Per-stage service-time model for the simulator.
 *
 * For a stage [firstIndex..lastIndex] at memory m and batch k we build five summary statistics
 * (min, p10, median, p90, max) of the stage's compute time:
 *   1. each layer's TimingPoints are interpolated to (m, k): linearly in k between measured batch
 *      sizes (beyond the largest, along the slope of the last two points, clamped at
 *      zero; below the smallest, proportionally), and linearly in 1/m between measured
 *      memories (outside the measured range, by the cost model's CPU-share rule and thread fit, src/cost/timing.ts);
 *      the plan's batch size should be one the profile measured, so extrapolation in k is rare;
 *   2. the stage statistic is the sum of its layers' statistics.
 * One uniform u ~ U(0,1) is drawn per stage invocation and mapped through the piecewise-linear
 * quantile function through (0, min), (0.1, p10), (0.5, median), (0.9, p90), (1, max). Using the
 * same u for every layer of the stage (comonotone layers: an invocation that is slow is slow in
 * every layer, as CPU contention is) is what makes "sum of the layers' quantiles" the quantile of
 * the stage time. It overstates the spread a little compared with independent layers.
 *
 * The median itself comes from the planner's cost model (src/cost/model.ts CostModel), so the
 * simulator and the analytic prediction agree by construction: the handler time at (m, k) is
 * CostModel.handlerMs (Σ layer medians + codec + the handler's fixed cost + S3 GET/PUT of its
 * hand-offs), and the profile's spread only shapes the compute part around it:
 *   q-statistic = handlerMs + computeMs · (spread_q / spread_median − 1).
 * Time outside the handler (Invoke round trip, the client's S3 at the model's ends), INIT (billed)
 * and the full cold-start latency (INIT + platform) are CostModel.unbilledMs / coldStart too.
 */
import {CostModel, type StageRange} from '../cost/model.js'
import type {PriceTable} from '../cost/prices.js'
import {computeSpread, type Spread} from '../cost/spread.js'
import {InvalidProblemError} from '../errors.js'
import type {Arch, Plan} from '../plan/types.js'
import type {LayerProfile, Profile} from '../profile/types.js'

/** A thrown mismatch between plan and profile that the user can fix. */
export class SimulationInputError extends InvalidProblemError {
  constructor(message: string) {
    super(message)
    Object.setPrototypeOf(this, new.target.prototype)
    this.name = 'SimulationInputError'
  }
}

/** Everything the engine needs about one stage. */
export interface StageModel {
  index: number
  name: string
  memoryMb: number
  arch: Arch
  /** spreads of the handler (billed) time in ms, INIT excluded, for batch k = 1..B at index k */
  handlerSpread: Spread[]
  /** time outside the handler for batch k (Invoke round trip, client S3 at the model's ends), ms */
  unbilledMs: number[]
  /** INIT time billed on a cold start (ms) */
  initBilledMs: number
  /** full cold-start latency added to the invocation (INIT + platform), ms */
  initLatencyMs: number
  /** S3 request fees per batch attributed to this stage (USD) */
  s3UsdPerBatch: number
  /** where the spread came from */
  source: 'profile' | 'plan'
  /** the plan's predictedMs and this model's median handler time at k = B, for a consistency check */
  planPredictedMs: number
  modelMedianMsAtB: number
}

export interface StageModelOptions {
  prices: PriceTable
}

function wrap<T>(fn: () => T, context: string): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof InvalidProblemError && !(error instanceof SimulationInputError)) throw new SimulationInputError(`${context}: ${error.message}`)
    throw error
  }
}

/**
 * Build the stage models from a plan and (optionally) its profile. Without a profile every batch
 * size takes the stage's predictedMs (a deterministic, conservative stand-in: the plan only records
 * the time of a full batch), the Invoke round trip comes from the price table, a cold start costs
 * the stage's coldStartMs with its initMs billed (plans without them: plan.predicted.coldStartMs,
 * billed in full), and S3 fees follow the plan's hand-off flags.
 */
export function buildStageModels(plan: Plan, profile: Profile | undefined, options: StageModelOptions): {models: StageModel[]; warnings: string[]} {
  const B = plan.batch.size
  const {prices} = options
  const stages = plan.stages
  const warnings: string[] = []
  if (stages.length === 0) throw new SimulationInputError('the plan has no stages')
  const models: StageModel[] = []
  const costModels = new Map<Arch, CostModel>()
  const costModel = (arch: Arch): CostModel => {
    let cm = costModels.get(arch)
    if (!cm) {
      cm = wrap(() => new CostModel(profile!, {arch, prices}), 'the profile cannot be costed')
      costModels.set(arch, cm)
    }
    return cm
  }

  for (let s = 0; s < stages.length; s++) {
    const st = stages[s]
    const handlerSpread: Spread[] = [[0, 0, 0, 0, 0]]
    const unbilledMs: number[] = [0]
    let initBilledMs: number
    let initLatencyMs: number
    let s3UsdPerBatch: number
    if (profile) {
      const range: StageRange = {first: st.layers.firstIndex, last: st.layers.lastIndex}
      const layers: LayerProfile[] = []
      for (let i = range.first; i <= range.last; i++) {
        const l = profile.layers[i]
        if (!l || l.index !== i) throw new SimulationInputError(`stage ${st.name}: layer position ${i} is not in the profile`)
        layers.push(l)
      }
      if (layers[0].name !== st.layers.first || layers[layers.length - 1].name !== st.layers.last) {
        throw new SimulationInputError(
          `stage ${st.name}: the plan says layers ${st.layers.first}..${st.layers.last} at positions ${range.first}..${range.last}, the profile has ${layers[0].name}..${layers[layers.length - 1].name} there`,
        )
      }
      const cm = costModel(st.arch)
      const context = `stage ${st.name}`
      for (let k = 1; k <= B; k++) {
        const handler = wrap(() => cm.handlerMs(range, st.memoryMb, k, B), context)
        const compute = cm.computeMs(range, st.memoryMb, k)
        const shape = computeSpread(layers, st.memoryMb, k, cm.env)
        handlerSpread.push(
          shape[2] > 0 ? (shape.map((x) => Math.max(0, handler + compute * (x / shape[2] - 1))) as Spread) : [handler, handler, handler, handler, handler],
        )
        unbilledMs.push(cm.unbilledMs(range, k, B))
      }
      const cold = cm.coldStart(range, st.memoryMb)
      initBilledMs = cold.billedMs
      initLatencyMs = cold.latencyMs
      s3UsdPerBatch = cm.s3RequestUsd(range, B)
      const viaS3 = cm.viaS3(range.last, B)
      if (viaS3 !== (st.handoff === 's3')) {
        warnings.push(
          `stage ${st.name}: the plan hands off ${st.handoff}, the cost model says ${viaS3 ? 's3' : 'inline'} for ${B} samples; simulating ${viaS3 ? 's3' : 'inline'}`,
        )
      }
    } else {
      const roundTrip = prices.latency.invokeRoundTripMs.value
      for (let k = 1; k <= B; k++) {
        const t = st.predictedMs
        handlerSpread.push([t, t, t, t, t])
        unbilledMs.push(roundTrip)
      }
      // the stage's own cold start as the plan recorded it (older plans: the chain's, billed in full)
      initBilledMs = st.initMs ?? plan.predicted.coldStartMs
      initLatencyMs = st.coldStartMs ?? plan.predicted.coldStartMs
      s3UsdPerBatch = st.handoff === 's3' ? (prices.s3.putUsdPerThousand.value + prices.s3.getUsdPerThousand.value) / 1000 : 0
    }
    models.push({
      index: st.index,
      name: st.name,
      memoryMb: st.memoryMb,
      arch: st.arch,
      handlerSpread,
      unbilledMs,
      initBilledMs,
      initLatencyMs,
      s3UsdPerBatch,
      source: profile ? 'profile' : 'plan',
      planPredictedMs: st.predictedMs,
      modelMedianMsAtB: handlerSpread[B][2],
    })
  }
  return {models, warnings}
}
