/**
 * Compiled stage curves: the cost model of src/cost/model.ts for one (architecture, batch size B,
 * batch-size distribution), in the form the solvers need.
 *
 * On every memory segment g between the model's breakpoints, a stage's handler time at batch k is
 * T_k(m) = A_kg + B_kg/m exactly (B_kg ≥ 0, T non-increasing in m), with A and B prefix sums over
 * layer positions plus per-stage constants (codec and runtime JSON per boundary, S3, invoke
 * overhead). So for a stage:
 * - latency(m) = ceil(T_B(m)) + unbilled is a non-increasing step function of m; the smallest memory
 *   meeting a latency y is found by inverting A + B/m ≤ y on the right segment (no grid search);
 * - expected cost per batch C(m) = fee + P·m·Σ_k π_k·ceil(T_k(m)) is linear increasing in m on each
 *   "cell" where every ceil(T_k) is constant; cells start where some T_k crosses a whole ms.
 *
 * Exactness lemma used by both solvers: for any memory m, let m' be the largest cell start ≤ m (or
 * the smallest memory meeting the latency cap, if larger). Then latency(m') = latency(m) and
 * C(m') ≤ C(m). So an optimal stage memory can always be taken from {smallest memory meeting the
 * latency cap} ∪ {cell starts above it}, and the enumeration may stop as soon as the continuous
 * lower bound fee + P·m·Σ π T_k(m) (linear per segment) of everything further right reaches the
 * cost cap. `cheapestMemoryForBudget` is that search with a moving cap.
 */
import {InvalidProblemError} from '../errors.js'
import type {BatchSupport} from './batching.js'
import {billedMs} from './billing.js'
import {type CostModel, type StageRange, FETCHED_WEIGHTS_RSS_PER_MB, MB, weightsNeedS3} from './model.js'
import {layerSegmentCoefficients, mediansAtBatch} from './timing.js'

/**
 * min over m in [lo, hi] of pa·m + mb/m (pa, mb ≥ 0): the smaller end, or 2·√(pa·mb) at
 * m = √(mb/pa) when that lies inside. The memory-continuous core of every Lagrangian bound.
 */
export function minLinearPlusInverse(pa: number, mb: number, lo: number, hi: number): number {
  const v = Math.min(pa * lo + mb / lo, pa * hi + mb / hi)
  if (pa > 0 && mb > 0) {
    const m = Math.sqrt(mb / pa)
    if (m > lo && m < hi) return Math.min(v, 2 * Math.sqrt(pa * mb))
  }
  return v
}

/** One memory option of one stage. */
export interface StageOption {
  memoryMb: number
  /** billed ms at batch B + unbilled client-side ms */
  latencyMs: number
  /** expected cost per batch (USD) */
  costUsd: number
}

export class CompiledCosts {
  readonly model: CostModel
  /** the plan's batch size (latency and hand-offs are sized for it) */
  readonly B: number
  /** compiled batch sizes: the cost support, plus B */
  readonly ks: number[]
  /** probability of each compiled batch size (0 for B when it has no mass) */
  readonly pi: number[]
  readonly kB: number
  readonly J: number
  readonly bp: Float64Array
  /** segment g lies below one full vCPU (codec slowed by 1769/m) */
  readonly belowF: Uint8Array
  /** boundaries (positions): −1, valid cuts…, L−1 */
  readonly nodes: number[]
  readonly nodeBytes: Float64Array
  readonly nodeS3: Uint8Array
  /** per node: ms per sample at one vCPU to take in / give out its tensors (CostModel.boundaryCodecMs at B) */
  readonly nodeCodecIn: Float64Array
  readonly nodeCodecOut: Float64Array
  /** prefix sums over positions of a and b per (k index, segment): index ki*J+g, length L+1 */
  readonly prefA: Float64Array[]
  readonly prefB: Float64Array[]
  /** π-weighted prefix sums per segment (continuous cost lower bound) */
  readonly prefAbar: Float64Array[]
  readonly prefBbar: Float64Array[]
  readonly gridMax: number
  /** segment index of gridMax */
  readonly gTop: number
  /** Σπ_k and Σπ_k·k over the compiled sizes */
  readonly sPi: number
  readonly sPiK: number
  // per (ki, node): S3 GET / PUT ms when that boundary goes through S3 (else 0): index ki*(N+1)+node
  private readonly getMs: Float64Array
  private readonly putMs: Float64Array
  // π-weighted versions per node
  private readonly getBar: Float64Array
  private readonly putBar: Float64Array
  private readonly overheadMs: number
  private readonly hopMs: number
  private readonly clientPutMs: number
  private readonly clientGetMs: number
  private readonly s3PairUsd: number
  private readonly memBase: number
  private readonly memPerWeightByte: number
  private readonly memPerActByte: number
  private readonly packageLimit: number
  private readonly runtimeBytes: number
  /** scratch output of coef() */
  readonly tmp: Float64Array
  /** prefix over positions of each layer's time at gridMax, batch B */
  private readonly prefTop: Float64Array
  private readonly timeoutMs: number
  private readonly topCodecFactor: number

  /**
   * `shareFrom`: an instance for the same model and B whose batch sizes include dist's; its
   * per-size arrays are shared and only the π-weighted ones are computed (see withDistribution).
   */
  constructor(model: CostModel, B: number, dist: BatchSupport, shareFrom?: CompiledCosts) {
    let ks: number[]
    let pi: number[]
    if (shareFrom) {
      ks = shareFrom.ks
      pi = ks.map(() => 0)
      dist.ks.forEach((k, i) => {
        const ki = ks.indexOf(k)
        if (ki < 0) throw new InvalidProblemError(`batch size ${k} was not compiled (have ${ks.join(',')})`)
        pi[ki] = dist.pi[i]
      })
    } else {
      ks = [...dist.ks]
      pi = [...dist.pi]
      if (ks.some((k) => k > B)) throw new InvalidProblemError(`batch support ${ks.join(',')} exceeds B = ${B}`)
      if (!ks.includes(B)) {
        ks.push(B)
        pi.push(0)
      }
    }
    let sPi = 0
    let sPiK = 0
    pi.forEach((p, ki) => ((sPi += p), (sPiK += p * ks[ki])))
    const F = model.env.fullVcpuMb
    const bp = shareFrom ? shareFrom.bp : Float64Array.from(model.breakpoints)
    const J = bp.length - 1
    const nodes = shareFrom ? shareFrom.nodes : model.boundaries()
    const nodeBytes = shareFrom ? shareFrom.nodeBytes : Float64Array.from(nodes.map((q) => model.bytesAt(q)))
    const nodeS3 = shareFrom ? shareFrom.nodeS3 : Uint8Array.from(nodes.map((q) => (model.viaS3(q, B) ? 1 : 0)))
    const L = model.L
    const K = ks.length
    const n = nodes.length
    let getMs: Float64Array
    let putMs: Float64Array
    let prefA: Float64Array[]
    let prefB: Float64Array[]
    if (shareFrom) {
      getMs = shareFrom.getMs
      putMs = shareFrom.putMs
      prefA = shareFrom.prefA
      prefB = shareFrom.prefB
    } else {
      getMs = new Float64Array(K * n)
      putMs = new Float64Array(K * n)
      for (let ki = 0; ki < K; ki++) {
        for (let v = 0; v < n; v++) {
          if (nodeS3[v] !== 1) continue
          getMs[ki * n + v] = model.s3Ms('get', nodeBytes[v] * ks[ki])
          putMs[ki * n + v] = model.s3Ms('put', nodeBytes[v] * ks[ki])
        }
      }
      prefA = []
      prefB = []
      for (let x = 0; x < K * J; x++) {
        prefA.push(new Float64Array(L + 1))
        prefB.push(new Float64Array(L + 1))
      }
      for (let p = 0; p < L; p++) {
        const t = model.timings[p]
        for (let ki = 0; ki < K; ki++) {
          const v = t.memories.length > 0 ? mediansAtBatch(t, ks[ki]) : []
          for (let g = 0; g < J; g++) {
            const {a, b} = layerSegmentCoefficients(t, v, bp[g], bp[g + 1], model.env)
            const x = ki * J + g
            prefA[x][p + 1] = prefA[x][p] + a
            prefB[x][p + 1] = prefB[x][p] + b
          }
        }
      }
    }
    const rt = model.profile.runtime
    const gridMax = model.gridMax()
    // every field assigned here, in one order, on both paths (one hidden class)
    this.model = model
    this.B = B
    this.ks = ks
    this.pi = pi
    this.kB = ks.indexOf(B)
    this.sPi = sPi
    this.sPiK = sPiK
    this.J = J
    this.bp = bp
    this.belowF = shareFrom ? shareFrom.belowF : Uint8Array.from({length: J}, (_, g) => ((bp[g] + bp[g + 1]) / 2 < F ? 1 : 0))
    this.nodes = nodes
    this.nodeBytes = nodeBytes
    this.nodeS3 = nodeS3
    this.nodeCodecIn = shareFrom ? shareFrom.nodeCodecIn : Float64Array.from(nodes.map((q) => model.boundaryCodecMs(q, 'in', B)))
    this.nodeCodecOut = shareFrom ? shareFrom.nodeCodecOut : Float64Array.from(nodes.map((q) => model.boundaryCodecMs(q, 'out', B)))
    this.gridMax = gridMax
    this.gTop = this.segmentOf(gridMax)
    this.getMs = getMs
    this.putMs = putMs
    this.prefA = prefA
    this.prefB = prefB
    this.overheadMs = rt.invokeOverheadMs
    this.hopMs = model.prices.latency.invokeRoundTripMs.value
    this.clientPutMs = nodeS3[0] === 1 ? model.s3Ms('put', nodeBytes[0] * B) : 0
    this.clientGetMs = nodeS3[n - 1] === 1 ? model.s3Ms('get', nodeBytes[n - 1] * B) : 0
    this.s3PairUsd = model.s3PutUsd + model.s3GetUsd
    this.memBase = rt.baselineRssMb + (rt.modelFixedRssMb ?? 0)
    this.memPerWeightByte = rt.rssPerWeightMb / MB
    this.memPerActByte = (rt.rssPerActivationMb * B) / MB
    this.packageLimit = model.prices.limits.unzippedPackageBytes.value
    this.runtimeBytes = model.runtimeBytes
    this.timeoutMs = model.prices.limits.timeoutS.value * 1000
    this.topCodecFactor = Math.max(1, F / gridMax)
    this.tmp = new Float64Array(2)
    const w = this.weighted(pi)
    this.getBar = w.getBar
    this.putBar = w.putBar
    this.prefAbar = w.prefAbar
    this.prefBbar = w.prefBbar
    if (shareFrom) this.prefTop = shareFrom.prefTop
    else {
      this.prefTop = new Float64Array(L + 1)
      const xTop = this.kB * J + this.gTop
      for (let p = 0; p < L; p++) {
        this.prefTop[p + 1] = this.prefTop[p] + (prefA[xTop][p + 1] - prefA[xTop][p]) + (prefB[xTop][p + 1] - prefB[xTop][p]) / gridMax
      }
    }
  }

  /** π-weighted arrays for probabilities `pi` aligned with this.ks. */
  private weighted(pi: number[]): {getBar: Float64Array; putBar: Float64Array; prefAbar: Float64Array[]; prefBbar: Float64Array[]} {
    const L = this.model.L
    const J = this.J
    const K = this.ks.length
    const n = this.nodes.length
    const getBar = new Float64Array(n)
    const putBar = new Float64Array(n)
    const prefAbar = Array.from({length: J}, () => new Float64Array(L + 1))
    const prefBbar = Array.from({length: J}, () => new Float64Array(L + 1))
    for (let ki = 0; ki < K; ki++) {
      if (pi[ki] === 0) continue
      for (let v = 0; v < n; v++) {
        getBar[v] += pi[ki] * this.getMs[ki * n + v]
        putBar[v] += pi[ki] * this.putMs[ki * n + v]
      }
      for (let g = 0; g < J; g++) {
        const A = this.prefA[ki * J + g]
        const Bp = this.prefB[ki * J + g]
        const a = prefAbar[g]
        const b = prefBbar[g]
        for (let p = 1; p <= L; p++) {
          a[p] += pi[ki] * A[p]
          b[p] += pi[ki] * Bp[p]
        }
      }
    }
    return {getBar, putBar, prefAbar, prefBbar}
  }

  /**
   * The same compiled model under another batch-size distribution (its sizes must be among this
   * one's): shares the per-size arrays, recomputes only the π-weighted ones (O(L·J·K)).
   */
  withDistribution(dist: BatchSupport): CompiledCosts {
    return new CompiledCosts(this.model, this.B, dist, this)
  }

  /** Segment index g with bp[g] ≤ m (< bp[g+1] except at the top). */
  segmentOf(m: number): number {
    const bp = this.bp
    let lo = 0
    let hi = this.J - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (bp[mid] <= m) lo = mid
      else hi = mid - 1
    }
    return lo
  }

  /** Node index → stage range of the edge (i, j). */
  range(i: number, j: number): StageRange {
    return {first: this.nodes[i] + 1, last: this.nodes[j]}
  }

  /**
   * Handler-time coefficients of edge (i, j) at compiled batch index ki on segment g:
   * T = tmp[0] + tmp[1]/m. (ki = -1: the π-weighted mixture Σπ_k T_k.)
   */
  coef(i: number, j: number, ki: number, g: number): Float64Array {
    const lo = this.nodes[i] + 1
    const hi = this.nodes[j] + 1
    const n = this.nodes.length
    let a: number
    let b: number
    let codec: number
    if (ki >= 0) {
      const x = ki * this.J + g
      a = this.prefA[x][hi] - this.prefA[x][lo] + this.overheadMs + this.getMs[ki * n + i] + this.putMs[ki * n + j]
      b = this.prefB[x][hi] - this.prefB[x][lo]
      codec = (this.nodeCodecIn[i] + this.nodeCodecOut[j]) * this.ks[ki]
    } else {
      a = this.prefAbar[g][hi] - this.prefAbar[g][lo] + this.sPi * this.overheadMs + this.getBar[i] + this.putBar[j]
      b = this.prefBbar[g][hi] - this.prefBbar[g][lo]
      codec = (this.nodeCodecIn[i] + this.nodeCodecOut[j]) * this.sPiK
    }
    if (this.belowF[g] === 1) b += codec * this.model.env.fullVcpuMb
    else a += codec
    this.tmp[0] = a
    this.tmp[1] = b
    return this.tmp
  }

  /** Handler ms of edge (i, j) at compiled batch index ki and memory m. */
  timeAt(i: number, j: number, ki: number, m: number): number {
    const t = this.coef(i, j, ki, this.segmentOf(m))
    return t[0] + t[1] / m
  }

  /** Request + S3 request fees per batch of edge (i, j). */
  fixedUsd(i: number, j: number): number {
    let usd = this.model.requestUsd
    if (this.nodeS3[j] === 1) usd += this.s3PairUsd
    if (i === 0 && this.nodeS3[0] === 1) usd += this.s3PairUsd
    return usd
  }

  /** Unbilled latency of edge (i, j): Invoke round trip + the client's S3 PUT/GET at the model's ends. */
  unbilled(i: number, j: number): number {
    let t = this.hopMs
    if (i === 0) t += this.clientPutMs
    if (j === this.nodes.length - 1) t += this.clientGetMs
    return t
  }

  /**
   * Smallest feasible grid memory of edge (i, j) from memory need and package size alone (the
   * INIT and timeout limits are applied by EdgeCurve), or null. Non-decreasing in j for fixed i.
   */
  memoryNeed(i: number, j: number): number | null {
    const first = this.nodes[i] + 1
    const last = this.nodes[j]
    const model = this.model
    const w = model.weightPrefix[last + 1] - model.weightPrefix[first]
    // a one-layer stage over the package limit fetches its weights from S3 at INIT (CostModel.weightsFromS3)
    const fetched = this.runtimeBytes + w > this.packageLimit
    if (fetched && !this.weightsFromS3(i, j)) return null
    return model.gridCeil(this.memBase + w * this.memPerWeightByte + model.peakBetween(first, last) * this.memPerActByte + this.fetchedMb(fetched, w))
  }

  /** INIT ms of stage (i, j) at full CPU (before the max(1, 1769/m) slowdown). */
  initMsAtFullCpu(i: number, j: number): number {
    const model = this.model
    const rt = model.profile.runtime
    const w = model.weightPrefix[this.nodes[j] + 1] - model.weightPrefix[this.nodes[i] + 1]
    const s3 = this.weightsFromS3(i, j) ? model.s3WeightsMs(Math.ceil(w * model.storedWeightRatio)) : 0
    return (rt.runtimeInitMs + (rt.loadMsPerWeightMb * w) / MB) * model.env.timeFactor + s3
  }

  /** The fetched blob's MB in a stage's memory (CostModel.requiredMemoryMb), 0 when its weights ship in the package. */
  private fetchedMb(fetched: boolean, w: number): number {
    return fetched ? (Math.ceil(w * this.model.storedWeightRatio) / MB) * FETCHED_WEIGHTS_RSS_PER_MB : 0
  }

  /** Whether stage (i, j) fetches its weights from S3 because they do not fit in its package. */
  weightsFromS3(i: number, j: number): boolean {
    const model = this.model
    if (this.nodes[i] + 1 !== this.nodes[j]) return false
    const w = model.weightPrefix[this.nodes[j] + 1] - model.weightPrefix[this.nodes[i] + 1]
    return weightsNeedS3(Math.ceil(w * model.storedWeightRatio), model.prices, model.arch)
  }

  /** The bound stage (i, j)'s INIT must meet (CostModel.initLimitMs). */
  initLimitFor(i: number, j: number): number {
    return this.model.initLimitMs(this.weightsFromS3(i, j))
  }

  /**
   * Fastest latency of edge (i, j) (at the largest memory), or Infinity when the stage cannot run
   * (memory, package, 900 s timeout or 10 s INIT limit).
   */
  edgeMinLatency(i: number, j: number): number {
    if (this.memoryNeed(i, j) === null) return Infinity
    const n = this.nodes.length
    const ki = this.kB
    const codec = (this.nodeCodecIn[i] + this.nodeCodecOut[j]) * this.B * this.topCodecFactor
    const t = this.prefTop[this.nodes[j] + 1] - this.prefTop[this.nodes[i] + 1] + this.overheadMs + this.getMs[ki * n + i] + this.putMs[ki * n + j] + codec
    if (t > this.timeoutMs) return Infinity
    if (this.initMsAtFullCpu(i, j) * this.topCodecFactor > this.initLimitFor(i, j)) return Infinity
    return billedMs(t, this.model.granularityMs) + this.unbilled(i, j)
  }

  /**
   * Lagrangian lower bound of stage (i, j): min over continuous m in [memory need, gridMax] of
   * fee + P·m·Σπ_k T_k(m) + μ·(T_B(m) + unbilled) — a valid lower bound of min_m [C(m) + μ·latency(m)]
   * (ceil ≥ identity). Infinity when the stage cannot hold its layers.
   */
  edgeLagrangian(i: number, j: number, mu: number): number {
    const mLo = this.memoryNeed(i, j)
    if (mLo === null) return Infinity
    const P = this.model.usdPerMbMs
    const fixed = this.fixedUsd(i, j) + mu * this.unbilled(i, j)
    let best = Infinity
    const gHi = this.gTop
    for (let g = this.segmentOf(mLo); g <= gHi; g++) {
      const lo = Math.max(this.bp[g], mLo)
      const hi = Math.min(this.bp[g + 1], this.gridMax)
      if (hi < lo) continue
      let t = this.coef(i, j, -1, g)
      const Ab = t[0]
      const Bb = t[1]
      t = this.coef(i, j, this.kB, g)
      const aB = t[0]
      const bB = t[1]
      const pa = P * Ab
      const mb = mu * bB
      const c0 = P * Bb + mu * aB
      const v = minLinearPlusInverse(pa, mb, lo, hi) + c0
      if (v < best) best = v
    }
    return best + fixed
  }

  /**
   * edgeLagrangian(i, j, μ) for every j > i whose stage fits memory and package, written to
   * out[j]; returns the last such j (i when none). Same arithmetic as edgeLagrangian, inlined for
   * the O(n²) bound passes.
   */
  edgeLagrangianRow(i: number, mu: number, out: Float64Array): number {
    const model = this.model
    const P = model.usdPerMbMs
    const J = this.J
    const n = this.nodes.length
    const N = n - 1
    const lo = this.nodes[i] + 1
    const wp = model.weightPrefix
    const kB = this.kB
    const F = model.env.fullVcpuMb
    const codecBar = this.sPiK
    const codecB = this.ks[kB]
    const fixedBar0 = this.sPi * this.overheadMs + this.getBar[i]
    const fixedB0 = this.overheadMs + this.getMs[kB * n + i]
    const fee0 = model.requestUsd + (i === 0 && this.nodeS3[0] === 1 ? this.s3PairUsd : 0)
    const unb0 = this.hopMs + (i === 0 ? this.clientPutMs : 0)
    const bp = this.bp
    const gridMax = this.gridMax
    const gTop = this.gTop
    let last = i
    for (let j = i + 1; j <= N; j++) {
      const lastPos = this.nodes[j]
      const w = wp[lastPos + 1] - wp[lo]
      const fetched = this.runtimeBytes + w > this.packageLimit
      if (fetched && !this.weightsFromS3(i, j)) break
      const mLo = model.gridCeil(this.memBase + w * this.memPerWeightByte + model.peakBetween(lo, lastPos) * this.memPerActByte + this.fetchedMb(fetched, w))
      if (mLo === null) break
      last = j
      const hi1 = lastPos + 1
      const codec = this.nodeCodecIn[i] + this.nodeCodecOut[j]
      const fixedBar = fixedBar0 + this.putBar[j]
      const fixedB = fixedB0 + this.putMs[kB * n + j]
      let best = Infinity
      for (let g = this.segmentOf(mLo); g <= gTop; g++) {
        const sLo = bp[g] > mLo ? bp[g] : mLo
        const sHi = bp[g + 1] < gridMax ? bp[g + 1] : gridMax
        if (sHi < sLo) continue
        const x = kB * J + g
        let Ab = this.prefAbar[g][hi1] - this.prefAbar[g][lo] + fixedBar
        let Bb = this.prefBbar[g][hi1] - this.prefBbar[g][lo]
        let aB = this.prefA[x][hi1] - this.prefA[x][lo] + fixedB
        let bB = this.prefB[x][hi1] - this.prefB[x][lo]
        if (this.belowF[g] === 1) {
          Bb += codec * codecBar * F
          bB += codec * codecB * F
        } else {
          Ab += codec * codecBar
          aB += codec * codecB
        }
        const pa = P * Ab
        const mb = mu * bB
        const v = minLinearPlusInverse(pa, mb, sLo, sHi) + P * Bb + mu * aB
        if (v < best) best = v
      }
      const fee = fee0 + (this.nodeS3[j] === 1 ? this.s3PairUsd : 0)
      const unb = unb0 + (j === N ? this.clientGetMs : 0)
      out[j] = best + fee + mu * unb
    }
    return last
  }

  /** The analytic curve of stage (i, j) (node indices), or null when no memory can hold it. */
  edge(i: number, j: number): EdgeCurve | null {
    if (!(i >= 0 && j > i && j < this.nodes.length)) throw new InvalidProblemError(`bad edge ${i}->${j}`)
    const e = new EdgeCurve(this, i, j)
    return e.mLo === null ? null : e
  }
}

/** Exact per-stage curves for one edge (stage) of the cut graph. */
export class EdgeCurve {
  readonly c: CompiledCosts
  readonly i: number
  readonly j: number
  readonly range: StageRange
  /** smallest feasible grid memory (memory need, package, 900 s timeout, 10 s INIT), null if none */
  readonly mLo: number | null
  /** A_kg, B_kg for this stage: index ki*J+g */
  readonly A: Float64Array
  readonly Bc: Float64Array
  readonly Abar: Float64Array
  readonly Bbar: Float64Array
  /** request + S3 fees per batch */
  readonly fixedUsd: number
  /** unbilled latency (ms) */
  readonly unbilledMs: number
  /** USD per MB·ms */
  readonly P: number
  readonly granularity: number
  private sufMin: Float64Array | null = null

  constructor(c: CompiledCosts, i: number, j: number) {
    this.c = c
    this.i = i
    this.j = j
    const model = c.model
    this.range = c.range(i, j)
    const J = c.J
    const K = c.ks.length
    this.A = new Float64Array(K * J)
    this.Bc = new Float64Array(K * J)
    this.Abar = new Float64Array(J)
    this.Bbar = new Float64Array(J)
    for (let g = 0; g < J; g++) {
      for (let ki = 0; ki < K; ki++) {
        const t = c.coef(i, j, ki, g)
        this.A[ki * J + g] = t[0]
        this.Bc[ki * J + g] = t[1]
      }
      const t = c.coef(i, j, -1, g)
      this.Abar[g] = t[0]
      this.Bbar[g] = t[1]
    }
    this.fixedUsd = c.fixedUsd(i, j)
    this.unbilledMs = c.unbilled(i, j)
    this.P = model.usdPerMbMs
    this.granularity = model.granularityMs

    let mLo = c.memoryNeed(i, j)
    if (mLo !== null) {
      // INIT must finish within the on-demand limit: init·max(1, F/m) ≤ limit
      const init = c.initMsAtFullCpu(i, j)
      const initLimit = c.initLimitFor(i, j)
      const F = model.env.fullVcpuMb
      if (init > initLimit) mLo = null
      else if (init * Math.max(1, F / mLo) > initLimit) mLo = model.gridCeil((init * F) / initLimit)
    }
    if (mLo !== null) {
      // the handler must finish within the function timeout at batch B
      const limit = model.prices.limits.timeoutS.value * 1000
      mLo = this.T(c.kB, mLo) <= limit ? mLo : this.smallestMemoryAtMost(c.kB, limit, mLo)
    }
    this.mLo = mLo
  }

  /** Handler ms at compiled batch index ki and memory m. */
  T(ki: number, m: number): number {
    const x = ki * this.c.J + this.c.segmentOf(m)
    return this.A[x] + this.Bc[x] / m
  }

  latency(m: number): number {
    return billedMs(this.T(this.c.kB, m), this.granularity) + this.unbilledMs
  }

  /** Expected cost per batch (USD). */
  cost(m: number): number {
    const c = this.c
    let dur = 0
    for (let ki = 0; ki < c.ks.length; ki++) {
      if (c.pi[ki] > 0) dur += c.pi[ki] * billedMs(this.T(ki, m), this.granularity)
    }
    return this.fixedUsd + this.P * m * dur
  }

  option(m: number): StageOption {
    return {memoryMb: m, latencyMs: this.latency(m), costUsd: this.cost(m)}
  }

  /** Fastest latency of the stage (at the largest memory). */
  minLatency(): number {
    return this.latency(this.c.gridMax)
  }

  /** Continuous lower bound of the cost at m: fee + P·m·Σ π T_k(m). */
  lowerCostAt(m: number): number {
    const g = this.c.segmentOf(m)
    return this.fixedUsd + this.P * (this.Abar[g] * m + this.Bbar[g])
  }

  /** A lower bound of cost(m') over every grid m' ≥ m. */
  lowerCostFrom(m: number): number {
    const c = this.c
    if (this.sufMin === null) {
      const J = c.J
      const suf = new Float64Array(J + 1).fill(Infinity)
      for (let g = J - 1; g >= 0; g--) {
        const lo = this.fixedUsd + this.P * (this.Abar[g] * c.bp[g] + this.Bbar[g])
        const hi = this.fixedUsd + this.P * (this.Abar[g] * c.bp[g + 1] + this.Bbar[g])
        suf[g] = Math.min(suf[g + 1], lo, hi)
      }
      this.sufMin = suf
    }
    if (m > c.gridMax) return Infinity
    const g = c.segmentOf(m)
    const here = Math.min(this.lowerCostAt(m), this.fixedUsd + this.P * (this.Abar[g] * c.bp[g + 1] + this.Bbar[g]))
    return Math.min(here, this.sufMin[g + 1])
  }

  /**
   * Smallest grid memory m ≥ from with T_ki(m) ≤ y (+1e-9 for the billing guard), or null.
   * Analytic: find the first segment whose right end meets y, then solve A + B/m ≤ y.
   */
  smallestMemoryAtMost(ki: number, y: number, from: number): number | null {
    const c = this.c
    const model = c.model
    const target = y + 1e-9 * Math.max(1, this.granularity)
    if (from > c.gridMax) return null
    if (this.T(ki, from) <= target) return from
    if (this.T(ki, c.gridMax) > target) return null
    const J = c.J
    let g = c.segmentOf(from)
    for (; g < J; g++) {
      const right = Math.min(c.bp[g + 1], c.gridMax)
      const x = ki * J + g
      if (this.A[x] + this.Bc[x] / right <= target) break
    }
    if (g >= J) return null
    const x = ki * J + g
    const a = this.A[x]
    const b = this.Bc[x]
    let m: number
    if (b === 0 || target - a <= 0) m = Math.max(from, c.bp[g])
    else m = Math.max(from, c.bp[g], b / (target - a))
    let grid = model.gridCeil(m)
    if (grid === null) grid = c.gridMax
    const step = model.memoryStepMb
    // float fix-up against the exact evaluation
    while (grid - step >= from && this.T(ki, grid - step) <= target) grid -= step
    while (grid <= c.gridMax && this.T(ki, grid) > target) grid += step
    return grid <= c.gridMax ? grid : null
  }

  /** Smallest feasible grid memory whose latency is ≤ cap, or null. */
  smallestMemoryForLatency(cap: number): number | null {
    if (this.mLo === null) return null
    const handlerCap = Math.floor((cap - this.unbilledMs) / this.granularity + 1e-9) * this.granularity
    if (handlerCap < this.granularity) return null
    return this.smallestMemoryAtMost(this.c.kB, handlerCap, this.mLo)
  }

  /**
   * A lower bound of min over m' ≥ m of [cost(m') + μ·latency(m')] (continuous relaxation: ceil
   * dropped; convex per segment). μ = 0 gives the cost lower bound.
   */
  lagrangianFrom(m: number, mu: number): number {
    const c = this.c
    if (m > c.gridMax) return Infinity
    let suf = this.lagCache.get(mu)
    if (!suf) {
      suf = new Float64Array(c.J + 1).fill(Infinity)
      for (let g = Math.min(c.gTop, c.J - 1); g >= 0; g--) suf[g] = Math.min(suf[g + 1], this.segmentLagrangian(g, c.bp[g], mu))
      this.lagCache.set(mu, suf)
    }
    const g = c.segmentOf(m)
    return Math.min(this.segmentLagrangian(g, m, mu), suf[g + 1])
  }

  private readonly lagCache = new Map<number, Float64Array>()

  /**
   * Smallest m ≥ from where the continuous Lagrangian fee + P·m·Σπ T_k + μ·(T_B + unbilled) is below
   * `threshold` (Infinity if nowhere): every memory below it has cost + μ·latency ≥ threshold.
   */
  lagrangianWindowStart(from: number, mu: number, threshold: number): number {
    const c = this.c
    for (let g = c.segmentOf(from); g <= c.gTop; g++) {
      const lo = Math.max(from, c.bp[g])
      const hi = Math.min(c.bp[g + 1], c.gridMax)
      if (hi < lo) continue
      const x = c.kB * c.J + g
      const pa = this.P * this.Abar[g]
      const mb = mu * this.Bc[x]
      const c0 = this.P * this.Bbar[g] + this.fixedUsd + mu * (this.A[x] + this.unbilledMs)
      const f = (m: number): number => pa * m + mb / m + c0
      if (f(lo) < threshold) return lo
      // f is convex on the segment; find its minimum, then the left crossing
      let mMin: number
      if (pa > 0 && mb > 0) mMin = Math.min(hi, Math.max(lo, Math.sqrt(mb / pa)))
      else if (pa <= 0) mMin = hi
      else mMin = lo
      if (f(mMin) >= threshold) continue
      // bisection on [lo, mMin] where f decreases from ≥ threshold to < threshold
      let a = lo
      let b = mMin
      for (let it = 0; it < 60 && b - a > 1e-6; it++) {
        const mid = (a + b) / 2
        if (f(mid) < threshold) b = mid
        else a = mid
      }
      return a
    }
    return Infinity
  }

  /** min over continuous m' in [from, end of segment g] of fee + P·m'·Σπ T_k + μ·(T_B + unbilled). */
  private segmentLagrangian(g: number, from: number, mu: number): number {
    const c = this.c
    const lo = Math.max(from, c.bp[g])
    const hi = Math.min(c.bp[g + 1], c.gridMax)
    if (hi < lo) return Infinity
    const x = c.kB * c.J + g
    const pa = this.P * this.Abar[g]
    const mb = mu * this.Bc[x]
    return minLinearPlusInverse(pa, mb, lo, hi) + this.P * this.Bbar[g] + this.fixedUsd + mu * (this.A[x] + this.unbilledMs)
  }

  /**
   * Visit the candidate memories (see the lemma in the module docs) with latency ≤ latencyCap, in
   * increasing memory, until `stop(m)` says no candidate at or above m can matter (it must only
   * return true when that is so, e.g. a lower bound of the cost from m reaches the incumbent).
   * Returns the number of candidates visited.
   */
  enumerate(
    latencyCap: number,
    stop: (m: number) => boolean,
    visit: (m: number, latencyMs: number, costUsd: number) => void,
    /** every memory below this is known to be useless: start at the cell containing it */
    skipBelow = 0,
  ): number {
    const mA = this.smallestMemoryForLatency(latencyCap)
    if (mA === null) return 0
    let m = mA
    const c = this.c
    const K = c.ks.length
    if (skipBelow > mA) {
      const m0 = this.c.model.gridCeil(skipBelow)
      if (m0 === null) return 0
      // the start of the cell holding m0 (the largest cell start ≤ m0, at least mA)
      let start = mA
      for (let ki = 0; ki < K; ki++) {
        if (c.pi[ki] === 0 && ki !== c.kB) continue
        const sk = this.smallestMemoryAtMost(ki, billedMs(this.T(ki, m0), this.granularity), mA)
        if (sk !== null && sk > start) start = sk
      }
      m = start
    }
    if (stop(m)) return 0
    const next = new Float64Array(K)
    const g = this.granularity
    const step = c.model.memoryStepMb
    const advance = (ki: number, from: number): number => {
      if (c.pi[ki] === 0 && ki !== c.kB) return Infinity
      const cur = billedMs(this.T(ki, from), g)
      if (cur <= g) return Infinity
      const nm = this.smallestMemoryAtMost(ki, cur - g, from + step)
      return nm === null ? Infinity : nm
    }
    for (let ki = 0; ki < K; ki++) next[ki] = advance(ki, m)
    let count = 0
    for (;;) {
      count++
      visit(m, this.latency(m), this.cost(m))
      let mn = Infinity
      for (let ki = 0; ki < K; ki++) if (next[ki] < mn) mn = next[ki]
      if (mn === Infinity) break
      if (stop(mn)) break
      m = mn
      for (let ki = 0; ki < K; ki++) if (next[ki] <= m) next[ki] = advance(ki, m)
    }
    return count
  }

  /** Every Pareto-efficient (latency, cost) option with latency ≤ cap and cost < costCap. */
  paretoOptions(latencyCap = Infinity, costCap = Infinity): StageOption[] {
    const all: StageOption[] = []
    this.enumerate(
      latencyCap,
      (m) => this.lowerCostFrom(m) >= costCap,
      (memoryMb, latencyMs, costUsd) => {
        if (costUsd < costCap) all.push({memoryMb, latencyMs, costUsd})
      },
    )
    // increasing memory ⇒ non-increasing latency; keep an option only if strictly cheaper than
    // every faster-or-equal one (scan from the fastest)
    const out: StageOption[] = []
    let best = Infinity
    for (let x = all.length - 1; x >= 0; x--) {
      const o = all[x]
      if (o.costUsd < best) {
        // same latency as the previously kept (faster-or-equal) option: replace it
        if (out.length > 0 && out[out.length - 1].latencyMs === o.latencyMs) out.pop()
        out.push(o)
        best = o.costUsd
      }
    }
    return out.reverse()
  }

  /**
   * The cheapest memory whose latency is ≤ `latencyCapMs` (exact over the 1-MB grid), or null.
   */
  cheapestMemoryForBudget(latencyCapMs: number): StageOption | null {
    let best: StageOption | null = null
    this.enumerate(
      latencyCapMs,
      (m) => best !== null && this.lowerCostFrom(m) >= (best as StageOption).costUsd,
      (memoryMb, latencyMs, costUsd) => {
        if (!best || costUsd < best.costUsd) best = {memoryMb, latencyMs, costUsd}
      },
    )
    return best
  }
}
