/**
 * Lower bounds shared by the solvers. Each is a valid relaxation, so pruning with it never cuts off
 * an optimal solution.
 *
 * - Time to go from node j (exact): the fastest completion, every stage at its largest memory
 *   (stage latency is non-increasing in memory), stage-count limits ignored.
 * - Cost to go from node j with r ms left, Lagrangian: for any μ ≥ 0 and any completion,
 *   Σ C_e ≥ Σ (C_e + μ·latency_e) − μ·r ≥ Φ_μ(j) − μ·r, where Φ_μ(j) is a lower bound of
 *   min over completions of Σ_e (C_e + μ·latency_e). Two versions of Φ:
 *   * per layer (cheap, any μ): each layer at its own best memory, one stage's fixed costs;
 *     valid because ceil ≥ identity, all other stage terms are non-negative, and a stage's one
 *     memory is one choice of the per-layer minimum;
 *   * per stage (tight): a backward shortest path whose edge weight is min over continuous
 *     m ∈ [memory need, max] of fee + P·m·Σπ_k T_k(m) + μ·(T_B(m) + unbilled) (convex per segment:
 *     P·Ā·m + μ·b/m + const, minimised at √(μb/(PĀ)) clipped) — computed for μ = 0 and a few μ
 *     around the root's best per-layer multiplier.
 *   The bound used is the max over all of them.
 */
import type {CompiledCosts} from '../src/cost/curve.js'

const now = (): number => globalThis.performance.now()

/**
 * A stage-level Lagrangian bound computed for one batch-size distribution. It stays valid for any
 * distribution that is larger in the stochastic order (same B, longer timeout): a batch's cost is
 * non-decreasing in its size, so every stage weight can only grow.
 */
export interface StageBound {
  mu: number
  phi: Float64Array
  next: Int32Array
  /** the successor lists recorded with the first multiplier (see Bounds.successors) */
  successors?: {lists: Int32Array[]; values: Float64Array[]; slack: number}
}

/** Exact minimum latency to the sink from every node, and a fastest successor: depends on B only. */
export interface TimeBounds {
  timeToGo: Float64Array
  fastestNext: Int32Array
}

export function timeBounds(c: CompiledCosts): TimeBounds {
  const N = c.nodes.length - 1
  const timeToGo = new Float64Array(N + 1).fill(Infinity)
  const fastestNext = new Int32Array(N + 1).fill(-1)
  timeToGo[N] = 0
  for (let j = N - 1; j >= 0; j--) {
    let best = Infinity
    let arg = -1
    for (let k = j + 1; k <= N; k++) {
      if (c.memoryNeed(j, k) === null) break
      if (timeToGo[k] === Infinity) continue
      const v = c.edgeMinLatency(j, k) + timeToGo[k]
      if (v < best) ((best = v), (arg = k))
    }
    timeToGo[j] = best
    fastestNext[j] = arg
  }
  return {timeToGo, fastestNext}
}

export class Bounds {
  readonly c: CompiledCosts
  readonly N: number
  /** exact minimum latency of any completion from node j (0 at the sink) */
  readonly timeToGo: Float64Array
  /** successor of node j on a fastest completion (-1 at the sink or when none) */
  readonly fastestNext: Int32Array
  /** per stage multiplier: successor of node j on the Lagrangian-shortest completion */
  readonly stageNext: Int32Array[] = []
  readonly mus: number[]
  /** per-layer: per μ, prefix over positions of φ_μ(p) */
  readonly prefPhi: Float64Array[]
  /** per-layer: per μ, the per-stage constant */
  readonly stageConst: number[]
  /** per-stage: multipliers and Φ̂_μ(j) */
  readonly stageMus: number[] = []
  readonly stagePhi: Float64Array[] = []
  readonly buildMs: number
  readonly stageTimeConst: number
  private _timeFrom?: Float64Array

  /** the root's best multiplier (per-layer), when a budget was given */
  muStar?: number
  /** the stage multipliers are stage-level (false: per-layer stand-ins, cheaper and weaker) */
  stageLevel = true

  /**
   * `options.stageLevel: false` starts with the cheap per-layer bound in place of the stage-level
   * one; call upgrade() when the search needs the tighter bound.
   */
  constructor(
    c: CompiledCosts,
    budgetMs?: number,
    shared?: TimeBounds,
    options: {stageLevel?: boolean; reuse?: StageBound[]} = {},
  ) {
    const t0 = now()
    this.c = c
    const model = c.model
    const L = model.L
    const J = c.J
    const K = c.ks.length
    const P = model.usdPerMbMs
    const gm = c.gridMax
    const mMin = model.memoryMinMb
    const overhead = model.profile.runtime.invokeOverheadMs
    const hop = model.prices.latency.invokeRoundTripMs.value
    this.stageTimeConst = overhead + hop
    const N = c.nodes.length - 1
    this.N = N

    // exact time to go: backward DP over edges at their fastest (depends on B only: shareable)
    const tb = shared ?? timeBounds(c)
    this.timeToGo = tb.timeToGo
    this.fastestNext = tb.fastestNext

    // per-layer Lagrangian
    this.mus = [0]
    for (let e = 0; e <= 15; e++) this.mus.push(P * Math.pow(3, e))
    const U = this.mus.length
    this.prefPhi = this.mus.map(() => new Float64Array(L + 1))
    this.stageConst = this.mus.map((mu) => model.requestUsd + P * mMin * c.sPi * overhead + mu * (overhead + hop))
    const best = new Float64Array(U)
    // per layer and segment: π-weighted a, b and the batch-B a, b
    this.layAb = new Float64Array(L * J)
    this.layBb = new Float64Array(L * J)
    this.layaB = new Float64Array(L * J)
    this.laybB = new Float64Array(L * J)
    for (let p = 0; p < L; p++) {
      best.fill(Infinity)
      for (let g = 0; g < J; g++) {
        const lo = Math.max(c.bp[g], mMin)
        const hi = Math.min(c.bp[g + 1], gm)
        if (hi < lo) continue
        const Ab = c.prefAbar[g][p + 1] - c.prefAbar[g][p]
        const Bb = c.prefBbar[g][p + 1] - c.prefBbar[g][p]
        const x = c.kB * J + g
        const aB = c.prefA[x][p + 1] - c.prefA[x][p]
        const bB = c.prefB[x][p + 1] - c.prefB[x][p]
        this.layAb[p * J + g] = Ab
        this.layBb[p * J + g] = Bb
        this.layaB[p * J + g] = aB
        this.laybB[p * J + g] = bB
        const pa = P * Ab
        for (let u = 0; u < U; u++) {
          const mu = this.mus[u]
          const mb = mu * bB
          let v = Math.min(pa * lo + mb / lo, pa * hi + mb / hi)
          if (pa > 0 && mb > 0) {
            const m = Math.sqrt(mb / pa)
            if (m > lo && m < hi) v = Math.min(v, 2 * Math.sqrt(pa * mb))
          }
          v += P * Bb + mu * aB
          if (v < best[u]) best[u] = v
        }
      }
      for (let u = 0; u < U; u++) this.prefPhi[u][p + 1] = this.prefPhi[u][p] + (Number.isFinite(best[u]) ? best[u] : 0)
    }

    // per-stage Lagrangian around the root's best multiplier
    if (budgetMs !== undefined && Number.isFinite(this.timeToGo[0])) {
      let uStar = 0
      let vStar = -Infinity
      for (let u = 0; u < U; u++) {
        const v = this.prefPhi[u][L] + this.stageConst[u] - this.mus[u] * budgetMs
        if (v > vStar) ((vStar = v), (uStar = u))
      }
      const mu = this.mus[uStar]
      this.muStar = this.refineMultiplier(mu, budgetMs)
      if (options.reuse && options.reuse.length > 0) {
        for (const r of options.reuse) {
          this.stageMus.push(r.mu)
          this.stagePhi.push(r.phi)
          this.stageNext.push(r.next)
        }
        const first = options.reuse[0].successors
        if (first) {
          this.successors = first.lists
          this.successorValues = first.values
          this.successorSlack = first.slack
        }
      } else if (options.stageLevel === false) this.addPerLayerMultiplier(this.muStar)
      else {
        this.addStageMultiplier(this.muStar)
        this.level = 1
      }
    }
    this.buildMs = now() - t0
  }

  /**
   * Golden-section search (in log μ, around the grid's best) for the μ maximising the per-layer
   * root bound Φ_μ(0) − μ·budget; any μ is valid, a good one makes the stage-level bound tight.
   */
  private refineMultiplier(muGrid: number, budgetMs: number): number {
    if (muGrid === 0) return 0
    const value = (mu: number): number => this.perLayerRoot(mu) - mu * budgetMs
    let a = Math.log(muGrid / 3)
    let b = Math.log(muGrid * 3)
    const r = (Math.sqrt(5) - 1) / 2
    let x1 = b - r * (b - a)
    let x2 = a + r * (b - a)
    let f1 = value(Math.exp(x1))
    let f2 = value(Math.exp(x2))
    for (let it = 0; it < 12; it++) {
      if (f1 < f2) {
        a = x1
        x1 = x2
        f1 = f2
        x2 = a + r * (b - a)
        f2 = value(Math.exp(x2))
      } else {
        b = x2
        x2 = x1
        f2 = f1
        x1 = b - r * (b - a)
        f1 = value(Math.exp(x1))
      }
    }
    const best = Math.exp((a + b) / 2)
    return value(best) >= value(muGrid) ? best : muGrid
  }

  /**
   * Layer p's share of Φ_μ: min over the feasible memory grid segments of P·A·m + μ·B/m (+ the
   * segment's constants), the convex minimum 2·√(P·A·μ·B) where it falls inside a segment.
   * Infinity when no segment is feasible.
   */
  private layerMin(p: number, mu: number): number {
    const c = this.c
    const J = c.J
    const P = c.model.usdPerMbMs
    const mMin = c.model.memoryMinMb
    let best = Infinity
    for (let g = 0; g < J; g++) {
      const lo = Math.max(c.bp[g], mMin)
      const hi = Math.min(c.bp[g + 1], c.gridMax)
      if (hi < lo) continue
      const y = p * J + g
      const pa = P * this.layAb[y]
      const mb = mu * this.laybB[y]
      let v = Math.min(pa * lo + mb / lo, pa * hi + mb / hi)
      if (pa > 0 && mb > 0) {
        const m = Math.sqrt(mb / pa)
        if (m > lo && m < hi) v = Math.min(v, 2 * Math.sqrt(pa * mb))
      }
      v += P * this.layBb[y] + mu * this.layaB[y]
      if (v < best) best = v
    }
    return best
  }

  /** Per-layer Φ_μ(0) for an arbitrary μ (O(L·J) from the per-layer arrays). */
  private perLayerRoot(mu: number): number {
    const c = this.c
    const model = c.model
    const L = model.L
    const P = model.usdPerMbMs
    const mMin = model.memoryMinMb
    let total = model.requestUsd + P * mMin * c.sPi * model.profile.runtime.invokeOverheadMs + mu * this.stageTimeConst
    for (let p = 0; p < L; p++) {
      const best = this.layerMin(p, mu)
      if (Number.isFinite(best)) total += best
    }
    return total
  }

  private readonly layAb: Float64Array
  private readonly layBb: Float64Array
  private readonly layaB: Float64Array
  private readonly laybB: Float64Array

  /** The stage-level bounds (for reuse at longer timeouts), or [] when only stand-ins exist. */
  stageBounds(): StageBound[] {
    if (this.level === 0) return []
    return this.stageMus.map((mu, u) => ({
      mu,
      phi: this.stagePhi[u],
      next: this.stageNext[u],
      ...(u === 0 && this.successors ? {successors: {lists: this.successors, values: this.successorValues!, slack: this.successorSlack}} : {}),
    }))
  }

  /** How many times upgrade() has tightened the bound. */
  level = 0

  /**
   * Tighten the cost-to-go bound: replace per-layer stand-ins, or a bound reused from another
   * timeout, by this problem's own stage-level bound at the root's multiplier (O(n²·J)).
   * Returns false when it already has one.
   */
  upgrade(): boolean {
    if (this.level >= 1) return false
    const t0 = now()
    const mu = this.muStar ?? this.stageMus[0] ?? 0
    this.stageMus.length = 0
    this.stagePhi.length = 0
    this.stageNext.length = 0
    this.successors = undefined
    this.successorValues = undefined
    this.addStageMultiplier(mu)
    this.level = 1
    this.stageLevel = true
    ;(this as {buildMs: number}).buildMs += now() - t0
    return true
  }

  /** Per-layer Φ_μ as a stand-in for the stage-level one (cheap, weaker). */
  addPerLayerMultiplier(mu: number): void {
    this.stageLevel = false
    const c = this.c
    const N = this.N
    const L = c.model.L
    const phi = new Float64Array(N + 1)
    // per-layer suffix sums for this μ
    const suffix = new Float64Array(L + 1)
    const P = c.model.usdPerMbMs
    for (let p = L - 1; p >= 0; p--) {
      const best = this.layerMin(p, mu)
      suffix[p] = suffix[p + 1] + (Number.isFinite(best) ? best : 0)
    }
    const stageC = c.model.requestUsd + P * c.model.memoryMinMb * c.sPi * c.model.profile.runtime.invokeOverheadMs + mu * this.stageTimeConst
    for (let j = 0; j < N; j++) phi[j] = suffix[c.nodes[j] + 1] + stageC
    phi[N] = 0
    this.stageMus.push(mu)
    this.stagePhi.push(phi)
    this.stageNext.push(new Int32Array(N + 1).fill(-1))
  }

  /** Compute Φ̂_μ for every node (backward shortest path with Lagrangian stage weights). */
  addStageMultiplier(mu: number): void {
    const c = this.c
    const N = this.N
    const phi = new Float64Array(N + 1).fill(Infinity)
    const next = new Int32Array(N + 1).fill(-1)
    phi[N] = 0
    // the first multiplier also records, per node, the successors within `listSlack` of the best
    // completion (valid for any label there while UB − root bound ≤ listSlack)
    const record = this.stageMus.length === 0 && this.successors === undefined
    const slack = record ? 0.01 * Math.max(0, this.perLayerRoot(mu)) : 0
    const lists: Int32Array[] = record ? new Array<Int32Array>(N + 1) : []
    const values: Float64Array[] = record ? new Array<Float64Array>(N + 1) : []
    const vals = new Float64Array(N + 1)
    for (let j = N - 1; j >= 0; j--) {
      let best = Infinity
      let arg = -1
      const last = c.edgeLagrangianRow(j, mu, vals)
      for (let k = j + 1; k <= last; k++) {
        const v = vals[k] + phi[k]
        vals[k] = v
        if (v < best) ((best = v), (arg = k))
      }
      phi[j] = best
      next[j] = arg
      if (record) {
        let count = 0
        for (let k = j + 1; k <= last; k++) if (vals[k] <= best + slack) count++
        const list = new Int32Array(count)
        const v = new Float64Array(count)
        count = 0
        for (let k = j + 1; k <= last; k++) {
          if (vals[k] > best + slack) continue
          v[count] = vals[k]
          list[count++] = k
        }
        lists[j] = list
        values[j] = v
      }
    }
    if (record) {
      lists[N] = new Int32Array(0)
      values[N] = new Float64Array(0)
      this.successors = lists
      this.successorValues = values
      this.successorSlack = slack
    }
    this.stageMus.push(mu)
    this.stagePhi.push(phi)
    this.stageNext.push(next)
  }

  /**
   * Per node, the successors k with w(j,k) + Φ̂(k) ≤ Φ̂(j) + successorSlack under the first stage
   * multiplier μ. For any label (c, t) at j that can still beat UB, every useful successor k
   * satisfies c + μt + w(j,k) + Φ̂(k) − μ·budget < UB, and c + μt ≥ Φ̂(0) − Φ̂(j) (a chain through j
   * is a chain), so w(j,k) + Φ̂(k) < Φ̂(j) + (UB − (Φ̂(0) − μ·budget)): the lists are complete
   * whenever that root gap is at most successorSlack.
   */
  successors?: Int32Array[]
  /** w(j,k) + Φ̂(k) for each listed successor (in node order) */
  successorValues?: Float64Array[]
  successorSlack = 0

  /** Root gap bound usable with `successors`: the lists are complete when UB − rootLowerBound() ≤ successorSlack. */
  rootLowerBound(budgetMs: number): number {
    if (this.stagePhi.length === 0) return -Infinity
    return this.stagePhi[0][0] - this.stageMus[0] * budgetMs
  }

  /** Lower bound on the cost of any completion from node j with at most `remainingMs` of latency. */
  costToGo(j: number, remainingMs: number): number {
    const N = this.N
    if (j === N) return remainingMs >= -1e-9 ? 0 : Infinity
    if (remainingMs < this.timeToGo[j] - 1e-9) return Infinity
    const L = this.c.model.L
    const from = this.c.nodes[j] + 1
    let best = 0
    for (let u = 0; u < this.mus.length; u++) {
      const v = this.prefPhi[u][L] - this.prefPhi[u][from] + this.stageConst[u] - this.mus[u] * remainingMs
      if (v > best) best = v
    }
    for (let u = 0; u < this.stageMus.length; u++) {
      const v = this.stagePhi[u][j] - this.stageMus[u] * remainingMs
      if (v > best) best = v
    }
    return best
  }

  /** Lower bound (μ = 0, per layer) on the cost of the layers (q_i, q_j] run as one stage. */
  edgeCostLower(i: number, j: number): number {
    const c = this.c
    return this.prefPhi[0][c.nodes[j] + 1] - this.prefPhi[0][c.nodes[i] + 1] + this.stageConst[0]
  }

  /** Exact minimum latency of any chain from the source to node i (computed on first use). */
  timeFrom(i: number): number {
    if (!this._timeFrom) {
      const c = this.c
      const N = this.N
      const tf = new Float64Array(N + 1).fill(Infinity)
      tf[0] = 0
      for (let a = 0; a < N; a++) {
        if (tf[a] === Infinity) continue
        for (let b = a + 1; b <= N; b++) {
          if (c.memoryNeed(a, b) === null) break
          const v = tf[a] + c.edgeMinLatency(a, b)
          if (v < tf[b]) tf[b] = v
        }
      }
      this._timeFrom = tf
    }
    return this._timeFrom[i]
  }

  /**
   * Forward Lagrangian: for stage multiplier u, Ψ_u(i) ≤ min over chains from the source to i of
   * Σ_e (C_e + μ·latency_e) (computed on first use).
   */
  stagePhiFrom(u: number): Float64Array {
    let f = this._stageFrom[u]
    if (!f) {
      const c = this.c
      const N = this.N
      const mu = this.stageMus[u]
      f = new Float64Array(N + 1).fill(Infinity)
      f[0] = 0
      for (let a = 0; a < N; a++) {
        if (f[a] === Infinity) continue
        for (let b = a + 1; b <= N; b++) {
          if (c.memoryNeed(a, b) === null) break
          const v = f[a] + c.edgeLagrangian(a, b, mu)
          if (v < f[b]) f[b] = v
        }
      }
      this._stageFrom[u] = f
    }
    return f
  }

  private readonly _stageFrom: Float64Array[] = []

  /** Lower bound (μ = 0, per layer) on the cost of any path from the source to node i. */
  costFrom(i: number): number {
    if (i === 0) return 0
    return this.prefPhi[0][this.c.nodes[i] + 1] + this.stageConst[0]
  }
}
