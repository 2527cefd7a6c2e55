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

  constructor(c: CompiledCosts, budgetMs?: number) {
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

    // exact time to go: backward DP over edges at their fastest
    this.timeToGo = new Float64Array(N + 1).fill(Infinity)
    this.fastestNext = new Int32Array(N + 1).fill(-1)
    this.timeToGo[N] = 0
    for (let j = N - 1; j >= 0; j--) {
      let best = Infinity
      let arg = -1
      for (let k = j + 1; k <= N; k++) {
        if (c.memoryNeed(j, k) === null) break
        if (this.timeToGo[k] === Infinity) continue
        const v = c.edgeMinLatency(j, k) + this.timeToGo[k]
        if (v < best) ((best = v), (arg = k))
      }
      this.timeToGo[j] = best
      this.fastestNext[j] = arg
    }

    // per-layer Lagrangian
    this.mus = [0]
    for (let e = 0; e <= 15; e++) this.mus.push(P * Math.pow(3, e))
    const U = this.mus.length
    this.prefPhi = this.mus.map(() => new Float64Array(L + 1))
    this.stageConst = this.mus.map((mu) => model.requestUsd + P * mMin * c.sPi * overhead + mu * (overhead + hop))
    const best = new Float64Array(U)
    for (let p = 0; p < L; p++) {
      best.fill(Infinity)
      for (let g = 0; g < J; g++) {
        const lo = Math.max(c.bp[g], mMin)
        const hi = Math.min(c.bp[g + 1], gm)
        if (hi < lo) continue
        let Ab = 0
        let Bb = 0
        for (let ki = 0; ki < K; ki++) {
          const x = ki * J + g
          Ab += c.pi[ki] * (c.prefA[x][p + 1] - c.prefA[x][p])
          Bb += c.pi[ki] * (c.prefB[x][p + 1] - c.prefB[x][p])
        }
        const x = c.kB * J + g
        const aB = c.prefA[x][p + 1] - c.prefA[x][p]
        const bB = c.prefB[x][p + 1] - c.prefB[x][p]
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
      this.addStageMultiplier(this.refineMultiplier(mu, budgetMs))
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
    for (let it = 0; it < 20; it++) {
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

  /** Per-layer Φ_μ(0) for an arbitrary μ (O(L·J·K)). */
  private perLayerRoot(mu: number): number {
    const c = this.c
    const model = c.model
    const L = model.L
    const J = c.J
    const K = c.ks.length
    const P = model.usdPerMbMs
    const mMin = model.memoryMinMb
    let total = model.requestUsd + P * mMin * c.sPi * model.profile.runtime.invokeOverheadMs + mu * this.stageTimeConst
    for (let p = 0; p < L; p++) {
      let best = Infinity
      for (let g = 0; g < J; g++) {
        const lo = Math.max(c.bp[g], mMin)
        const hi = Math.min(c.bp[g + 1], c.gridMax)
        if (hi < lo) continue
        let Ab = 0
        let Bb = 0
        for (let ki = 0; ki < K; ki++) {
          const x = ki * J + g
          Ab += c.pi[ki] * (c.prefA[x][p + 1] - c.prefA[x][p])
          Bb += c.pi[ki] * (c.prefB[x][p + 1] - c.prefB[x][p])
        }
        const x = c.kB * J + g
        const pa = P * Ab
        const mb = mu * (c.prefB[x][p + 1] - c.prefB[x][p])
        let v = Math.min(pa * lo + mb / lo, pa * hi + mb / hi)
        if (pa > 0 && mb > 0) {
          const m = Math.sqrt(mb / pa)
          if (m > lo && m < hi) v = Math.min(v, 2 * Math.sqrt(pa * mb))
        }
        v += P * Bb + mu * (c.prefA[x][p + 1] - c.prefA[x][p])
        if (v < best) best = v
      }
      if (Number.isFinite(best)) total += best
    }
    return total
  }

  /** Compute Φ̂_μ for every node (backward shortest path with Lagrangian stage weights). */
  addStageMultiplier(mu: number): void {
    const c = this.c
    const N = this.N
    const phi = new Float64Array(N + 1).fill(Infinity)
    const next = new Int32Array(N + 1).fill(-1)
    phi[N] = 0
    for (let j = N - 1; j >= 0; j--) {
      let best = Infinity
      let arg = -1
      for (let k = j + 1; k <= N; k++) {
        if (c.memoryNeed(j, k) === null) break
        if (phi[k] === Infinity) continue
        const v = c.edgeLagrangian(j, k, mu) + phi[k]
        if (v < best) ((best = v), (arg = k))
      }
      phi[j] = best
      next[j] = arg
    }
    this.stageMus.push(mu)
    this.stagePhi.push(phi)
    this.stageNext.push(next)
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
