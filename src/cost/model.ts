/**
 * The cost and latency model of one stage (a contiguous range of layers in one Lambda function),
 * pure functions over a Profile and a PriceTable. No I/O, no tfjs.
 *
 * Time of a layer at memory m, batch k (ms), from the profile's measured TimingPoints:
 * - per memory setting, linear in k between measured batch sizes (below the smallest:
 *   proportional; above the largest: along the last slope, never below proportional) — the same
 *   rule as the simulator; measured values are first made non-decreasing in k (more samples never
 *   take less time; anything else is noise);
 * - between measured memory settings, linear in 1/m (time ∝ 1/CPU share), after making the values
 *   non-increasing in m (more CPU never slows a layer down);
 * - outside the measured memory range, the CPU-share model ms(m) = ms(m₀)·s(m)/s(m₀) with
 *   s(m) = 1 / min(m/1769, threads): ms(1769)·max(1, 1769/m) for a single-threaded backend (wasm),
 *   and up to `threads` vCPUs for a multi-threaded one (tfjs-node);
 * - above the highest measured memory of a backend whose threads grow with memory (ONNX Runtime:
 *   one per vCPU up to 6, env.maxThreads) when it was measured above one vCPU: each layer's own
 *   parallel efficiency, Amdahl's serial fraction fitted to its 1-vCPU and multi-thread times
 *   (src/cost/timing.ts threadFit). A plan marks the memories where that goes beyond the threads
 *   measured (threadsExtrapolated).
 * So on every memory segment between the breakpoints {measured memories, 1769, 1769·threads,
 * 1769·maxThreads} a layer's time is exactly a + b/m with b ≥ 0, which the solver exploits.
 *
 * Every layer's ms is multiplied by the profile's fusedFactor (runtime.fusedFactor, 1 when absent):
 * a stage runs its layers fused in one model.predict, which costs a few % more than the sum of
 * the layers timed one by one (the profiler measures both, in CPU time).
 *
 * Handler time of a stage (billed) = Σ layer ms + codec (decode input + encode output, base64
 * tensors, single-threaded JS: codecMsPerMb·MB·max(1, 1769/m); for a hand-off inline in the
 * event, also the runtime's JSON.parse of the event and JSON.stringify of the result:
 * json{Parse,Stringify}MsPerMb·MB·max(1, 1769/m)) + the handler's fixed per-invoke cost + S3 GET
 * of its input / PUT of its output when that hand-off goes through S3.
 * Stage latency = billed handler ms (1-ms rounding: predictions are made at billing resolution)
 * + the client's Invoke round trip (+ the client's own S3 PUT/GET at the model's input/output).
 * Cost of one invocation = ceil-ms × m/1024 GB × price + request fee (+ S3 request fees).
 */
import {InvalidProblemError} from '../errors.js'
import type {Arch} from '../platform/lambda.js'
import type {Profile} from '../profile/types.js'
import {ortThreadsForMemory} from '../runtime/ort.js'
import type {BatchSupport} from './batching.js'
import {billedMs} from './billing.js'
import {buildSparseMax, computeLiveBytes, rangeMax} from './liveness.js'
import {type PriceTable, firstTierUsdPerGbS, fitsInline, requestUsd} from './prices.js'
import {type LayerTiming, type TimingEnv, cfsWallMs, codecSlowdown, layerMsAt, layerTiming, scaleTiming} from './timing.js'

export {billedMs, lambdaCostUsd, type LambdaCost} from './billing.js'
export {batchSupport, type BatchSupport} from './batching.js'
export {computeLiveBytes} from './liveness.js'
export {
  cfsWallMs,
  cfsWallMsExact,
  codecSlowdown,
  cpuSlowdown,
  layerMsAt,
  layerSegmentCoefficients,
  layerTiming,
  mediansAtBatch,
  scaleTiming,
  type LayerTiming,
  type TimingEnv,
} from './timing.js'

export const MB = 1048576

// ---------------------------------------------------------------------------------------------
// The stage model over a profile

export interface CostModelOptions {
  arch: Arch
  prices: PriceTable
  /** compute-time multiplier for `arch` relative to the profiling machine (default 1) */
  timeFactor?: number
  /** memory domain (defaults: the Lambda limits) */
  memoryMinMb?: number
  memoryMaxMb?: number
  memoryStepMb?: number
  /**
   * the CFS period (ms) the function's CPU quota is enforced with, or a function of its memory
   * (the local target stretches it below 177 MB): when set, handlerMs counts the period effect
   * (src/cost/timing.ts cfsWallMs: work that fits in one period's quota runs at full speed);
   * unset: the fluid model, time ∝ 1769/m, which the solver's compiled curves use
   */
  cfsPeriodMs?: number | ((memoryMb: number) => number)
  /**
   * wall ms that `cpuMs` of full-speed work takes under the CPU quota of `memoryMb` (below one
   * vCPU), as measured on the platform that runs the stage (deploy/targets/local/throttle.ts for
   * the local target); takes precedence over cfsPeriodMs
   */
  quotaWallMs?: (cpuMs: number, memoryMb: number) => number
  /**
   * what wraps the handler: Lambda's managed Node runtime (`lambda`, the default), which runs the
   * event and the result through JSON.parse / JSON.stringify, or the local target's runner
   * (`local`), which splices the base64 tensors around the JSON (profile.runtime.localJson*MsPerMb)
   */
  runtime?: 'lambda' | 'local'
}

/** A stage is the layer positions [first..last]; its input crosses boundary first−1, its output boundary last. */
export interface StageRange {
  first: number
  last: number
}

export interface StageEvaluation {
  memoryMb: number
  batch: number
  /** handler time (ms, unrounded) */
  handlerMs: number
  billedMs: number
  /** billed ms + unbilled client-side latency */
  latencyMs: number
  /** cost of one invocation with a batch of `batch` (USD) */
  costUsd: number
}

/**
 * Everything about stages of one profile at one architecture and price table. Positions are
 * layer indices 0..L-1 (topological order); boundaries are −1 (model input), valid cut positions,
 * and L−1 (model output).
 */
export class CostModel {
  readonly profile: Profile
  readonly prices: PriceTable
  readonly arch: Arch
  readonly env: TimingEnv
  readonly L: number
  /** every layer's time is multiplied by this (the profile's fusedFactor; 1 without one) */
  readonly fusedFactor: number
  /** per layer position, its timing with fusedFactor applied */
  readonly timings: LayerTiming[]
  readonly memoryMinMb: number
  readonly memoryMaxMb: number
  readonly memoryStepMb: number
  /** USD per MB·ms of billed duration (first tier) */
  readonly usdPerMbMs: number
  readonly requestUsd: number
  readonly s3PutUsd: number
  readonly s3GetUsd: number
  readonly granularityMs: number
  /** unzipped runtime + handler bytes of a stage on this architecture (packaging.runtimeBytesArm64 on arm64 when set) */
  readonly runtimeBytes: number
  /** boundary position → bytes per sample crossing it */
  readonly boundaryBytes: Map<number, number>
  /** boundary position → tensor ids crossing it */
  readonly boundaryTensors: Map<number, string[]>
  /** prefix sums of weight bytes over positions: weightPrefix[p] = Σ_{q<p} */
  readonly weightPrefix: Float64Array
  /** stored ÷ run-time (float32) weight bytes of the model: 0.25 for uint8-quantized weights */
  readonly storedWeightRatio: number
  /** bytes alive while layer p runs (its inputs and everything crossing, plus its output) */
  readonly liveBytes: Float64Array
  private readonly sparse: Float64Array[]
  readonly breakpoints: number[]
  /** CFS period (ms) at a memory size, when handlerMs counts the period effect */
  readonly cfsPeriodMs?: (memoryMb: number) => number
  readonly quotaWallMs?: (cpuMs: number, memoryMb: number) => number
  readonly runtime: 'lambda' | 'local'

  constructor(profile: Profile, options: CostModelOptions) {
    const {prices} = options
    this.profile = profile
    this.prices = prices
    this.arch = options.arch
    this.L = profile.layers.length
    if (this.L === 0) throw new InvalidProblemError('the profile has no layers')
    profile.layers.forEach((l, i) => {
      if (l.index !== i) throw new InvalidProblemError(`profile layer ${i} (${l.name}) has index ${l.index}; layers must be in position order`)
    })
    const fullVcpuMb = prices.limits.fullVcpuMemoryMb.value
    const threads = Math.max(1, Math.min(profile.environment.threads || 1, prices.limits.maxVcpus.value))
    const topMeasuredMb = Math.max(0, ...profile.memoryMb)
    this.env = {
      fullVcpuMb,
      threads,
      // ONNX Runtime runs one intra-op thread per vCPU up to 6 (src/runtime/ort.ts); a profile
      // measures as many as this machine's cores allow, the cost model fits the rest (threadFit)
      maxThreads:
        profile.environment.backend === 'onnx'
          ? Math.max(threads, Math.min(ortThreadsForMemory(prices.limits.memoryMaxMb.value), prices.limits.maxVcpus.value))
          : threads,
      measuredThreads: profile.environment.quotaMethod === 'modelled' ? 1 : Math.max(1, Math.min(threads, Math.ceil(topMeasuredMb / fullVcpuMb - 1e-9))),
      timeFactor: options.timeFactor ?? 1,
    }
    const fused = profile.runtime.fusedFactor
    this.fusedFactor = fused !== undefined && Number.isFinite(fused) && fused > 0 ? fused : 1
    this.timings = profile.layers.map((l) => scaleTiming(layerTiming(l.timing), this.fusedFactor))
    this.memoryMinMb = options.memoryMinMb ?? prices.limits.memoryMinMb.value
    this.memoryMaxMb = options.memoryMaxMb ?? prices.limits.memoryMaxMb.value
    this.memoryStepMb = options.memoryStepMb ?? prices.limits.memoryStepMb.value
    if (!(this.memoryMinMb >= 1 && this.memoryMaxMb >= this.memoryMinMb && this.memoryStepMb >= 1)) {
      throw new InvalidProblemError(`bad memory domain ${this.memoryMinMb}..${this.memoryMaxMb} step ${this.memoryStepMb}`)
    }
    this.usdPerMbMs = firstTierUsdPerGbS(prices, this.arch) / 1024 / 1000
    this.requestUsd = requestUsd(prices)
    this.s3PutUsd = prices.s3.putUsdPerThousand.value / 1000
    this.s3GetUsd = prices.s3.getUsdPerThousand.value / 1000
    this.granularityMs = prices.lambda.billingGranularityMs.value
    this.runtimeBytes = runtimeBytesFor(prices, this.arch)
    this.runtime = options.runtime ?? 'lambda'
    this.quotaWallMs = options.quotaWallMs
    const period = options.cfsPeriodMs
    if (period !== undefined) this.cfsPeriodMs = typeof period === 'number' ? () => period : period

    this.boundaryBytes = new Map()
    this.boundaryTensors = new Map()
    this.boundaryBytes.set(
      -1,
      profile.inputs.reduce((s, t) => s + t.bytesPerSample, 0),
    )
    this.boundaryTensors.set(
      -1,
      profile.inputs.map((t) => t.id),
    )
    for (const c of profile.cuts) {
      if (c.after < 0 || c.after >= this.L - 1) continue
      this.boundaryBytes.set(c.after, c.bytesPerSample)
      this.boundaryTensors.set(
        c.after,
        c.tensors.map((t) => t.id),
      )
    }
    this.boundaryBytes.set(
      this.L - 1,
      profile.outputs.reduce((s, t) => s + t.bytesPerSample, 0),
    )
    this.boundaryTensors.set(
      this.L - 1,
      profile.outputs.map((t) => t.id),
    )

    const {weightBytes, storedWeightBytes} = profile.model
    this.storedWeightRatio = weightBytes > 0 && storedWeightBytes > 0 ? Math.min(1, storedWeightBytes / weightBytes) : 1
    this.weightPrefix = new Float64Array(this.L + 1)
    for (let p = 0; p < this.L; p++) this.weightPrefix[p + 1] = this.weightPrefix[p] + profile.layers[p].weightBytes
    this.liveBytes = computeLiveBytes(profile)
    this.sparse = buildSparseMax(this.liveBytes)

    const bp = new Set<number>([this.memoryMinMb, this.memoryMaxMb])
    const add = (m: number): void => {
      if (m > this.memoryMinMb && m < this.memoryMaxMb) bp.add(m)
    }
    for (const t of this.timings) for (const m of t.memories) add(m)
    add(this.env.fullVcpuMb)
    add(this.env.fullVcpuMb * this.env.threads)
    add(this.env.fullVcpuMb * (this.env.maxThreads ?? this.env.threads))
    this.breakpoints = [...bp].sort((a, b) => a - b)
  }

  /**
   * The memory above which a stage runs more threads than any measurement of the profile did (its
   * time there comes from each layer's fitted parallel efficiency, src/cost/timing.ts threadFit):
   * 1,769 MB × the measured threads, or null for a backend that never runs more (wasm).
   */
  threadsMeasuredUpToMb(): number | null {
    const measured = this.env.measuredThreads ?? this.env.threads
    return (this.env.maxThreads ?? this.env.threads) > measured ? this.env.fullVcpuMb * measured : null
  }

  /** Whether a stage at `memoryMb` relies on extrapolated thread scaling (see threadsMeasuredUpToMb). */
  threadsExtrapolated(memoryMb: number): boolean {
    const upTo = this.threadsMeasuredUpToMb()
    return upTo !== null && memoryMb > upTo
  }

  /** Boundaries where the model may be cut, plus −1 and L−1, ascending. */
  boundaries(): number[] {
    return [...this.boundaryBytes.keys()].sort((a, b) => a - b)
  }

  isBoundary(q: number): boolean {
    return this.boundaryBytes.has(q)
  }

  bytesAt(q: number): number {
    const b = this.boundaryBytes.get(q)
    if (b === undefined) throw new InvalidProblemError(`no valid cut after layer position ${q}`)
    return b
  }

  /** Does the tensor set crossing boundary q for a batch of `batch` go through S3? */
  viaS3(q: number, batch: number): boolean {
    return !fitsInline(this.prices, this.bytesAt(q) * batch)
  }

  /** S3 transfer time of `bytes` (ms). */
  s3Ms(op: 'put' | 'get', bytes: number): number {
    const lat = this.prices.latency
    return (op === 'put' ? lat.s3PutMs.value : lat.s3GetMs.value) + (bytes / MB / lat.s3MbPerS.value) * 1000
  }

  weightsBytes(s: StageRange): number {
    return this.weightPrefix[s.last + 1] - this.weightPrefix[s.first]
  }

  /** Peak live activation bytes per sample while the stage runs. */
  peakActivationBytes(s: StageRange): number {
    return rangeMax(this.sparse, s.first, s.last)
  }

  /** Same as peakActivationBytes for positions [first..last], without allocating. */
  peakBetween(first: number, last: number): number {
    return rangeMax(this.sparse, first, last)
  }

  /**
   * Memory a stage needs for a batch of `batch` (MB, unrounded): measured baseline + weights +
   * activations, + the fetched blob for a stage whose weights come from S3 (FETCHED_WEIGHTS_RSS_PER_MB).
   */
  requiredMemoryMb(s: StageRange, batch: number): number {
    const r = this.profile.runtime
    return (
      r.baselineRssMb +
      (r.modelFixedRssMb ?? 0) +
      (this.weightsBytes(s) / MB) * r.rssPerWeightMb +
      ((this.peakActivationBytes(s) * batch) / MB) * r.rssPerActivationMb +
      (this.weightsFromS3(s) ? (this.storedWeightsBytes(s) / MB) * FETCHED_WEIGHTS_RSS_PER_MB : 0)
    )
  }

  /** Smallest memory of the domain grid at or above `mb`, or null when above the maximum. */
  gridCeil(mb: number): number | null {
    if (mb <= this.memoryMinMb) return this.memoryMinMb
    const m = this.memoryMinMb + Math.ceil((mb - this.memoryMinMb) / this.memoryStepMb - 1e-12) * this.memoryStepMb
    return m <= this.memoryMaxMb ? m : null
  }

  /** Largest grid memory (≤ memoryMaxMb). */
  gridMax(): number {
    return this.memoryMinMb + Math.floor((this.memoryMaxMb - this.memoryMinMb) / this.memoryStepMb) * this.memoryStepMb
  }

  /** Smallest feasible grid memory for the stage at batch `batch`, or null. */
  minimumMemoryMb(s: StageRange, batch: number): number | null {
    return this.gridCeil(this.requiredMemoryMb(s, batch))
  }

  /**
   * Predicted unzipped package bytes: runtime + handler + the stage's weights as the model stores them
   * (the bundle ships quantized weights quantized; weightsBytes() is their float32 size at run time).
   */
  packageBytes(s: StageRange): number {
    return this.runtimeBytes + (this.weightsFromS3(s) ? 0 : this.storedWeightsBytes(s))
  }

  /** The stage's weights as the model stores them (quantized stay quantized). */
  storedWeightsBytes(s: StageRange): number {
    return Math.ceil(this.weightsBytes(s) * this.storedWeightRatio)
  }

  /**
   * A stage of one layer whose weights alone would not fit in the unzipped package limit (no cut can
   * help it: VGG16's fc1 holds 411 MB of float32) keeps them in S3 and fetches them when it starts (one GET at the assumed S3 throughput, added to its INIT; the package then
   * holds only the runtime). Such an INIT may exceed the 10 s on-demand INIT limit: Lambda then
   * runs it again inside the first invocation under the function timeout, so it is bounded by the
   * timeout instead (see initLimitMs).
   */
  weightsFromS3(s: StageRange): boolean {
    return s.first === s.last && weightsNeedS3(this.storedWeightsBytes(s), this.prices, this.arch)
  }

  /** ms to fetch `storedBytes` of weights from S3 (first byte + throughput), 0 for none. */
  s3WeightsMs(storedBytes: number): number {
    return storedBytes > 0 ? this.s3Ms('get', storedBytes) : 0
  }

  /** The bound a stage's INIT must meet: the INIT limit, or the function timeout when its weights come from S3. */
  initLimitMs(fromS3: boolean): number {
    return (fromS3 ? this.prices.limits.timeoutS.value : this.prices.limits.initMaxS.value) * 1000
  }

  packageFits(s: StageRange): boolean {
    return this.packageBytes(s) <= this.prices.limits.unzippedPackageBytes.value
  }

  /** Σ layer ms of the stage (definitional: layer by layer). */
  computeMs(s: StageRange, memoryMb: number, batch: number): number {
    let sum = 0
    for (let p = s.first; p <= s.last; p++) sum += layerMsAt(this.timings[p], memoryMb, batch, this.env)
    return sum
  }

  /**
   * ms per sample at one full vCPU (before the max(1, 1769/m) slowdown) for a stage to take in
   * (`in`) or give out (`out`) the tensors crossing boundary q: its own decode/encode, plus the
   * runtime's JSON.parse of the event / JSON.stringify of the result when the hand-off is inline
   * (at `handoffBatch`; an S3 hand-off carries only a key in the JSON), the way `runtime` does it.
   */
  boundaryCodecMs(q: number, dir: 'in' | 'out', handoffBatch: number): number {
    const r = this.profile.runtime
    const lambda = dir === 'in' ? r.jsonParseMsPerMb : r.jsonStringifyMsPerMb
    const local = dir === 'in' ? r.localJsonParseMsPerMb : r.localJsonStringifyMsPerMb
    const json = this.viaS3(q, handoffBatch) ? 0 : ((this.runtime === 'local' ? (local ?? lambda) : lambda) ?? 0)
    return (this.bytesAt(q) / MB) * (r.codecMsPerMb + json) * this.env.timeFactor
  }

  /** Codec (and runtime JSON) ms of the stage's input and output for a batch (single-threaded). */
  codecMs(s: StageRange, memoryMb: number, batch: number, handoffBatch = batch): number {
    const perSample = this.boundaryCodecMs(s.first - 1, 'in', handoffBatch) + this.boundaryCodecMs(s.last, 'out', handoffBatch)
    return perSample * batch * codecSlowdown(memoryMb, this.env.fullVcpuMb)
  }

  /**
   * Handler (billed) time of one invocation with a batch of `batch`; hand-off modes are decided at
   * `handoffBatch` (the plan's B) so one stage always uses the same mode.
   */
  handlerMs(s: StageRange, memoryMb: number, batch: number, handoffBatch = batch): number {
    const qa = s.first - 1
    const qb = s.last
    let t = this.quotaMs(this.computeMs(s, memoryMb, batch) + this.codecMs(s, memoryMb, batch, handoffBatch), memoryMb) + this.profile.runtime.invokeOverheadMs
    if (this.viaS3(qa, handoffBatch)) t += this.s3Ms('get', this.bytesAt(qa) * batch)
    if (this.viaS3(qb, handoffBatch)) t += this.s3Ms('put', this.bytesAt(qb) * batch)
    return t
  }

  /**
   * Wall ms under the CPU quota of work that takes `fluidMs` by the fluid model: below one vCPU,
   * the platform's measured curve for its full-speed CPU fluidMs·m/1769 when there is one
   * (quotaWallMs), else with a CFS period the period-aware time (never more than fluidMs), else
   * unchanged.
   */
  quotaMs(fluidMs: number, memoryMb: number): number {
    const f = memoryMb / this.env.fullVcpuMb
    if (f >= 1) return fluidMs
    if (this.quotaWallMs) return this.quotaWallMs(fluidMs * f, memoryMb)
    if (!this.cfsPeriodMs) return fluidMs
    return cfsWallMs(fluidMs * f, f, this.cfsPeriodMs(memoryMb))
  }

  /** Latency outside the handler: Invoke round trip, plus the client's S3 PUT/GET at the model's ends. */
  unbilledMs(s: StageRange, batch: number, handoffBatch = batch): number {
    let t = this.prices.latency.invokeRoundTripMs.value
    if (s.first === 0 && this.viaS3(-1, handoffBatch)) t += this.s3Ms('put', this.bytesAt(-1) * batch)
    if (s.last === this.L - 1 && this.viaS3(this.L - 1, handoffBatch)) t += this.s3Ms('get', this.bytesAt(this.L - 1) * batch)
    return t
  }

  /** S3 request fees per batch attributed to the stage: its output boundary (PUT+GET), and the model input for the first stage. */
  s3RequestUsd(s: StageRange, handoffBatch: number): number {
    let usd = 0
    if (this.viaS3(s.last, handoffBatch)) usd += this.s3PutUsd + this.s3GetUsd
    if (s.first === 0 && this.viaS3(-1, handoffBatch)) usd += this.s3PutUsd + this.s3GetUsd
    return usd
  }

  /** Everything about one invocation of the stage (definitional). */
  evaluate(s: StageRange, memoryMb: number, batch: number, handoffBatch = batch): StageEvaluation {
    const handler = this.handlerMs(s, memoryMb, batch, handoffBatch)
    const billed = billedMs(handler, this.granularityMs)
    return {
      memoryMb,
      batch,
      handlerMs: handler,
      billedMs: billed,
      latencyMs: billed + this.unbilledMs(s, batch, handoffBatch),
      costUsd: this.usdPerMbMs * memoryMb * billed + this.requestUsd + this.s3RequestUsd(s, handoffBatch),
    }
  }

  /**
   * Expected cost per batch of the stage when batch sizes follow `dist` (k = dist.ks[i] with
   * probability dist.pi[i]) and hand-offs are sized for `handoffBatch` (definitional).
   */
  expectedCostUsd(s: StageRange, memoryMb: number, dist: BatchSupport, handoffBatch: number): number {
    let dur = 0
    for (let i = 0; i < dist.ks.length; i++) {
      dur += dist.pi[i] * billedMs(this.handlerMs(s, memoryMb, dist.ks[i], handoffBatch), this.granularityMs)
    }
    return this.usdPerMbMs * memoryMb * dur + this.requestUsd + this.s3RequestUsd(s, handoffBatch)
  }

  /**
   * A cold start of the stage: INIT ms (runtime + model load, billed since 2025-08-01), the extra
   * ms of the first predict after loading (the stage runs it as its warm-up inside INIT, so it is
   * billed with INIT: billedMs = initMs + firstPredictMs; the profile measures it for the whole
   * model, apportioned here by the stage's share of compute), and the whole cold-start latency
   * (plus the platform's sandbox and code download).
   *
   * The platform part is the third-party fit coldStartBaseMs + coldStartMsPerPackageMb·package MB
   * for a JavaScript runtime (wasm), whose package is JS parsed and compiled at start. An ONNX stage's
   * package is ~95 % onnxruntime's native library, which is mmapped, not parsed: what it costs to
   * start is what the profile measured on that backend (runtimeInitMs: loading onnxruntime-node;
   * loadMsPerWeightMb: creating the session from the stage's weights; coldFirstPredictMs), so only
   * the fit's intercept (the sandbox) is added, not its per-MB slope.
   */
  coldStart(s: StageRange, memoryMb: number): {initMs: number; firstPredictMs: number; billedMs: number; latencyMs: number} {
    const r = this.profile.runtime
    const lat = this.prices.latency
    const slow = codecSlowdown(memoryMb, this.env.fullVcpuMb) * this.env.timeFactor
    const initMs =
      (r.runtimeInitMs + (r.loadMsPerWeightMb * this.weightsBytes(s)) / MB) * slow + (this.weightsFromS3(s) ? this.s3WeightsMs(this.storedWeightsBytes(s)) : 0)
    const firstPredictMs = (r.coldFirstPredictMs ?? 0) * this.computeShare(s) * slow
    const perPackageMb = this.profile.environment.backend === 'onnx' ? 0 : lat.coldStartMsPerPackageMb.value
    const platform = lat.coldStartBaseMs.value + (perPackageMb * this.packageBytes(s)) / MB
    // the stage runtime runs its warm-up predict inside INIT (src/stage/runtime.ts), so INIT as
    // billed is load + first predict; the platform's sandbox time is not billed
    return {initMs, firstPredictMs, billedMs: initMs + firstPredictMs, latencyMs: initMs + firstPredictMs + platform}
  }

  /** The stage's share of the whole model's compute (at one full vCPU, batch 1). */
  computeShare(s: StageRange): number {
    if (this._totalCompute === undefined) this._totalCompute = this.computeMs({first: 0, last: this.L - 1}, this.env.fullVcpuMb, 1)
    if (!(this._totalCompute > 0)) return (s.last - s.first + 1) / this.L
    return this.computeMs(s, this.env.fullVcpuMb, 1) / this._totalCompute
  }

  private _totalCompute?: number
}

/**
 * RSS (MB) a stage whose weights are fetched at INIT holds per MB of them beyond what loading them
 * from its package costs: the fetched blob itself, handed to the runtime in memory (ONNX external
 * data) rather than read from a file. Measured 2026-12 with onnxruntime-node 1.31 on a 100 MB
 * MatMul weight: peak RSS 270 MB from model.onnx, 366 MB from graph + fetched blob (+0.96 MB per
 * MB), 176 vs 270 MB after GC; rounded to 1. VGG16's fc1 stage (392 MiB fetched) on the local
 * target peaked at 1,263 MB (Max Memory Used), i.e. the runtime's baseline + 3 × its weights.
 */
export const FETCHED_WEIGHTS_RSS_PER_MB = 1

/** Whether `storedWeightBytes` of weights make a package over the unzipped limit (a one-layer stage then fetches them from S3). */
export function weightsNeedS3(storedWeightBytes: number, prices: PriceTable, arch?: Arch): boolean {
  return runtimeBytesFor(prices, arch) + storedWeightBytes > prices.limits.unzippedPackageBytes.value
}

/** Unzipped runtime + handler bytes of a stage on `arch`: packaging.runtimeBytesArm64 on arm64 when the table has it, else runtimeBytes. */
export function runtimeBytesFor(prices: PriceTable, arch?: Arch): number {
  return (arch === 'arm64' ? prices.packaging.runtimeBytesArm64?.value : undefined) ?? prices.packaging.runtimeBytes.value
}
