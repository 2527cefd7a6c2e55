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
import {type CompiledCosts, minLinearPlusInverse} from '../src/cost/curve.js'

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
      if (v < best) {
        best = v
        arg = k
      }
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
  constructor(c: CompiledCosts, budgetMs?: number, shared?: TimeBounds, options: {stageLevel?: boolean; reuse?: StageBound[]} = {}) {
    const t0 = now()
    this.c = c
    const model = c.model
    const L = model.L
    const J = c.J
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
          const v = minLinearPlusInverse(pa, mb, lo, hi) + P * Bb + mu * aB
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
        if (v > vStar) {
          vStar = v
          uStar = u
        }
      }
      const mu = this.mus[uStar]
      this.muStar = this.refineMultiplier(mu, budgetMs)
      if (options.reuse && options.reuse.length > 0) {
        for (const r of options.reuse) {
          this.stageMus.push(r.mu)
          this.stagePhi.push(r.phi)
          this.stageNext.push(r.next)
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
      const v = minLinearPlusInverse(pa, mb, lo, hi) + P * this.layBb[y] + mu * this.layaB[y]
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
    }))
  }

  /** How many times upgrade() has tightened the bound. */
  level = 0

  /**
   * Tighten the cost-to-go bound: replace per-layer stand-ins, or a bound reused from another
   * timeout, by this problem's own stage-level bound at the root's multiplier, or at `muHint`
   * (O(n²·J)). Returns false when it already has one.
   */
  upgrade(muHint?: number): boolean {
    if (this.level >= 1) return false
    const t0 = now()
    const mu = muHint ?? this.muStar ?? this.stageMus[0] ?? 0
    this.stageMus.length = 0
    this.stagePhi.length = 0
    this.stageNext.length = 0
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
    const r = this.stagePass(mu)
    this.stageMus.push(mu)
    this.stagePhi.push(r.phi)
    this.stageNext.push(r.next)
  }

  /** One backward Lagrangian shortest-path pass at μ (O(n²·J)). */
  private stagePass(mu: number): {phi: Float64Array; next: Int32Array} {
    const c = this.c
    const N = this.N
    const phi = new Float64Array(N + 1).fill(Infinity)
    const next = new Int32Array(N + 1).fill(-1)
    phi[N] = 0
    const vals = this.rowBuffer ?? (this.rowBuffer = new Float64Array(N + 1))
    for (let j = N - 1; j >= 0; j--) {
      let best = Infinity
      let arg = -1
      const last = c.edgeLagrangianRow(j, mu, vals)
      for (let k = j + 1; k <= last; k++) {
        const v = vals[k] + phi[k]
        if (v < best) {
          best = v
          arg = k
        }
      }
      phi[j] = best
      next[j] = arg
    }
    this.passes++
    return {phi, next}
  }

  private rowBuffer?: Float64Array
  /** O(n²) Lagrangian passes run so far (construction, upgrade, tighten) */
  passes = 0

  /** The chain a successor array describes from the source (node indices), or null when it breaks off. */
  chainOf(next: Int32Array): number[] | null {
    const N = this.N
    const path = [0]
    while (path[path.length - 1] !== N) {
      const v = next[path[path.length - 1]]
      if (v <= path[path.length - 1] || v > N) return null
      path.push(v)
    }
    return path
  }

  /**
   * Σ_{e∈P} w_e(μ) − μ·budget for each chain P, minimised over the chains: an upper envelope of the
   * stage-level root bound at every μ (the bound is a minimum over all chains), cheap to evaluate.
   * Returns the μ maximising it (golden section over log μ in [lo, hi], and μ = 0) and its value.
   */
  envelopeArgmax(budgetMs: number, chains: number[][], muCenter: number): {mu: number; top: number} {
    const c = this.c
    const envelope = (mu: number): number => {
      let m = Infinity
      for (const p of chains) {
        let v = -mu * budgetMs
        for (let x = 0; x + 1 < p.length; x++) v += c.edgeLagrangian(p[x], p[x + 1], mu)
        if (v < m) m = v
      }
      return m
    }
    const P = c.model.usdPerMbMs
    let a = Math.log(muCenter > 0 ? muCenter / 30 : P)
    let b = Math.log(muCenter > 0 ? muCenter * 30 : P * Math.pow(3, 15))
    const r = (Math.sqrt(5) - 1) / 2
    let x1 = b - r * (b - a)
    let x2 = a + r * (b - a)
    let f1 = envelope(Math.exp(x1))
    let f2 = envelope(Math.exp(x2))
    for (let it = 0; it < 40; it++) {
      if (f1 < f2) {
        a = x1
        x1 = x2
        f1 = f2
        x2 = a + r * (b - a)
        f2 = envelope(Math.exp(x2))
      } else {
        b = x2
        x2 = x1
        f2 = f1
        x1 = b - r * (b - a)
        f1 = envelope(Math.exp(x1))
      }
    }
    let mu = Math.exp((a + b) / 2)
    let top = envelope(mu)
    const atZero = envelope(0)
    if (atZero > top) {
      mu = 0
      top = atZero
    }
    return {mu, top}
  }

  /**
   * Raise the stage-level root bound Φ̂_μ(0) − μ·budget by choosing μ (it is concave in μ, and the
   * per-layer μ it starts from can be far from its maximum when the budget is tight). Cutting
   * planes: every pass yields a chain P whose Σ_{e∈P} w_e(μ) − μ·budget is an upper envelope of
   * the bound for all μ (cheap: ≤ a few edges); the next μ maximises the lowest envelope (seeded
   * with `chains`, e.g. the incumbent's). Stops after `maxPasses` passes, or when the envelope
   * shows no μ can gain more than `relTol` of `upperUsd − bound` (the gap to a known feasible
   * cost). The best multiplier replaces the first. Returns the number of passes run. Needs the
   * stage-level bound (level ≥ 1).
   */
  tighten(budgetMs: number, upperUsd: number, maxPasses = 4, relTol = 0.05, chains: number[][] = []): number {
    if (this.level < 1 || this.stageMus.length === 0 || !Number.isFinite(upperUsd)) return 0
    const envelopes = [...chains]
    const addPath = (next: Int32Array): void => {
      const p = this.chainOf(next)
      if (p) envelopes.push(p)
    }
    let bestMu = this.stageMus[0]
    let bestVal = this.stagePhi[0][0] - bestMu * budgetMs
    let bestPass: {phi: Float64Array; next: Int32Array} | null = null
    addPath(this.stageNext[0])
    const center = bestMu
    let runs = 0
    for (; runs < maxPasses; runs++) {
      const {mu, top} = this.envelopeArgmax(budgetMs, envelopes, center)
      const gap = upperUsd - bestVal
      if (!(gap > 0) || top - bestVal <= relTol * gap) break
      const pass = this.stagePass(mu)
      const val = pass.phi[0] - mu * budgetMs
      addPath(pass.next)
      if (val > bestVal) {
        bestVal = val
        bestMu = mu
        bestPass = pass
      }
    }
    if (bestPass) {
      this.stageMus[0] = bestMu
      this.stagePhi[0] = bestPass.phi
      this.stageNext[0] = bestPass.next
    }
    return runs
  }

  /**
   * Φ̂_{μ0}(0) − μ0·budget for the first stage multiplier μ0: a lower bound on the optimum, and the
   * root of the successor screen in solveFast — for any label (c, t) at node j that can still beat
   * UB, every useful successor k has w(j,k) + Φ̂(k) < Φ̂(j) + (UB − rootLowerBound): c + μt + w(j,k)
   * + Φ̂(k) − μ·budget < UB, and c + μt ≥ Φ̂(0) − Φ̂(j) (a chain through j is a chain). Holds for a
   * bound reused from a shorter timeout too (its weights are lower everywhere).
   */
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
