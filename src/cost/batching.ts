/**
 * BATCH semantics (Ali et al., SC20) under Poisson arrivals, computed exactly.
 *
 * A buffer opens a batch with the first request that arrives while it is empty and dispatches the
 * batch when it holds B requests or T ms after that first arrival, whichever is first. Each batch
 * gets its own function instance (no queueing between batches), and the next batch opens with the
 * next arrival after dispatch. With Poisson arrivals at λ requests/s the batches are i.i.d.
 * (memorylessness), so per-request averages follow from one batch by renewal–reward.
 *
 * Let N(x) be the number of arrivals in x ms after the first one (Poisson with mean λx/1000) and
 * A_j the time of the j-th of them (A_0 = 0).
 * - Batch size K = min(B, 1 + N(T)):  P(K = k) = P(N(T) = k−1) for k < B, P(K = B) = P(N(T) ≥ B−1).
 * - Dispatch time D = min(T, A_{B−1}); request j (present iff A_j ≤ T) waits D − A_j.
 * - Let G_n(x) = P(N(x) ≥ n) = P(A_n ≤ x). Conditioning on A_j = s and using independent
 *   increments, for 0 ≤ w < T:
 *     P(request j present and waits ≤ w) = [G_j(T) − G_j(T−w)] + G_j(T−w) · G_{B−1−j}(w)
 *   and the wait of a random request (renewal–reward: E[#requests in a batch with wait ≤ w]/E[K]) is
 *     F_W(w) = Σ_{j=0}^{B−1} P_j(w) / E[K],  E[K] = Σ_{j=0}^{B−1} G_j(T),  F_W(w) = 1 for w ≥ T.
 *   F_W has an atom at 0 (the request that fills a batch) and one at T (the first request of a batch
 *   that timed out).
 * - The p-quantile of the wait is found by bisection on this exact CDF (to 1e-9 ms); p = 100 gives
 *   the hard bound T (when a batch can time out).
 *
 * Pure functions, no I/O.
 */
import {InvalidProblemError, assert} from '../errors.js'
import {seededRandom} from '../util/random.js'

/** ln(n!) for n = 0..max, cached. */
const logFactorials: number[] = [0]
function logFactorial(n: number): number {
  for (let i = logFactorials.length; i <= n; i++) logFactorials.push(logFactorials[i - 1] + Math.log(i))
  return logFactorials[n]
}

/** P(Poisson(mean) = n) for n = 0..count-1. */
export function poissonPmf(mean: number, count: number): number[] {
  const out = new Array<number>(count).fill(0)
  if (count <= 0) return out
  if (mean === 0) {
    out[0] = 1
    return out
  }
  const logMean = Math.log(mean)
  for (let n = 0; n < count; n++) out[n] = Math.exp(-mean + n * logMean - logFactorial(n))
  return out
}

/** [G_0(x), …, G_{count-1}(x)] with G_n = P(Poisson(mean) ≥ n). */
export function poissonTail(mean: number, count: number): number[] {
  const pmf = poissonPmf(mean, count)
  const out = new Array<number>(count)
  let below = 0
  for (let n = 0; n < count; n++) {
    out[n] = Math.max(0, 1 - below)
    below += pmf[n]
  }
  return out
}

function check(ratePerSecond: number, maxBatch: number, timeoutMs: number): void {
  if (!(ratePerSecond >= 0) || !Number.isFinite(ratePerSecond)) throw new InvalidProblemError(`rate must be >= 0 requests/s, got ${ratePerSecond}`)
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new InvalidProblemError(`batch size must be an integer >= 1, got ${maxBatch}`)
  if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) throw new InvalidProblemError(`batch timeout must be >= 0 ms, got ${timeoutMs}`)
}

export interface BatchPolicy {
  /** requests per second (Poisson) */
  ratePerSecond: number
  /** B: dispatch when the batch holds this many */
  maxBatch: number
  /** T: dispatch this long after the batch's first request (ms) */
  timeoutMs: number
}

/** Mean number of arrivals after the first one within the timeout. */
function meanArrivals(p: BatchPolicy, xMs: number): number {
  return (p.ratePerSecond * xMs) / 1000
}

/**
 * Exact distribution of the batch size: `probabilities[k-1] = P(K = k)` for k = 1..B.
 * B = 1 or T = 0 or λ = 0 gives K = 1.
 */
export function batchSizeDistribution(policy: BatchPolicy): number[] {
  check(policy.ratePerSecond, policy.maxBatch, policy.timeoutMs)
  const B = policy.maxBatch
  const pmf = poissonPmf(meanArrivals(policy, policy.timeoutMs), B)
  const out = new Array<number>(B).fill(0)
  let below = 0
  for (let k = 1; k < B; k++) {
    out[k - 1] = pmf[k - 1]
    below += pmf[k - 1]
  }
  out[B - 1] = Math.max(0, 1 - below)
  return out
}

/** E[K] = Σ_{j<B} P(N(T) ≥ j). */
export function expectedBatchSize(policy: BatchPolicy): number {
  check(policy.ratePerSecond, policy.maxBatch, policy.timeoutMs)
  return poissonTail(meanArrivals(policy, policy.timeoutMs), policy.maxBatch).reduce((a, b) => a + b, 0)
}

/**
 * P(wait ≤ w) for a request picked at random from the long-run stream (exact; see module docs).
 */
export function waitCdf(policy: BatchPolicy, waitMs: number): number {
  check(policy.ratePerSecond, policy.maxBatch, policy.timeoutMs)
  const {maxBatch: B, timeoutMs: T} = policy
  if (waitMs < 0) return 0
  if (B === 1 || T === 0 || policy.ratePerSecond === 0) return 1
  if (waitMs >= T) return 1
  const gT = poissonTail(meanArrivals(policy, T), B)
  const gTw = poissonTail(meanArrivals(policy, T - waitMs), B)
  const gw = poissonTail(meanArrivals(policy, waitMs), B)
  let expectedK = 0
  let mass = 0
  for (let j = 0; j < B; j++) {
    expectedK += gT[j]
    mass += gT[j] - gTw[j] + gTw[j] * gw[B - 1 - j]
  }
  return Math.min(1, mass / expectedK)
}

/** Mean wait of a random request (ms), by integrating 1 − F_W numerically on the exact CDF. */
export function meanWaitMs(policy: BatchPolicy, steps = 400): number {
  const T = policy.timeoutMs
  if (policy.maxBatch === 1 || T === 0 || policy.ratePerSecond === 0) return 0
  // Simpson's rule on [0, T) of the survival function.
  const n = steps % 2 === 0 ? steps : steps + 1
  const h = T / n
  let sum = 0
  for (let i = 0; i <= n; i++) {
    const w = i === n ? T * (1 - 1e-12) : i * h
    const s = 1 - waitCdf(policy, w)
    sum += (i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2) * s
  }
  return (sum * h) / 3
}

/**
 * The p-th percentile of a random request's wait in the buffer (ms), p in (0, 100]. Solved by
 * bisection on the exact CDF to `toleranceMs`; p = 100 returns the hard bound (T when a batch can
 * time out, 0 when batches never wait).
 */
export function waitPercentileMs(policy: BatchPolicy, percentile: number, toleranceMs = 1e-9): number {
  check(policy.ratePerSecond, policy.maxBatch, policy.timeoutMs)
  if (!(percentile > 0 && percentile <= 100)) throw new InvalidProblemError(`percentile must be in (0, 100], got ${percentile}`)
  const {maxBatch: B, timeoutMs: T} = policy
  if (B === 1 || T === 0 || policy.ratePerSecond === 0) return 0
  const p = percentile / 100
  if (waitCdf(policy, 0) >= p) return 0
  // Just below T: if the CDF has not reached p there, the atom at T decides.
  const justBelow = T * (1 - 1e-12)
  if (waitCdf(policy, justBelow) < p) return T
  let lo = 0
  let hi = justBelow
  while (hi - lo > toleranceMs && hi - lo > 1e-15 * T) {
    const mid = (lo + hi) / 2
    if (waitCdf(policy, mid) >= p) hi = mid
    else lo = mid
  }
  return hi
}

/**
 * A lower bound of the p-th wait percentile valid for every timeout T in [t1, t2] (the percentile
 * itself is not monotone in T: a longer timeout fills more batches, and each full batch adds a
 * request that waits 0). For w < t1 ≤ T, each term of F_W(w; T) satisfies
 * G_j(T) − G_j(T−w)·(1 − G_{B−1−j}(w)) ≤ G_j(t2) − G_j(t1−w)·(1 − G_{B−1−j}(w)), and
 * E[K](T) ≥ E[K](t1); the quantile of that upper CDF bounds every w_p(T) from below.
 */
export function waitPercentileLowerBound(ratePerSecond: number, maxBatch: number, t1: number, t2: number, percentile: number): number {
  if (maxBatch === 1 || !(ratePerSecond > 0) || t1 <= 0) return 0
  if (t2 <= t1) return waitPercentileMs({ratePerSecond, maxBatch, timeoutMs: t1}, percentile)
  const B = maxBatch
  const p = percentile / 100
  const mean = (x: number): number => (ratePerSecond * x) / 1000
  const ek1 = poissonTail(mean(t1), B).reduce((a, b) => a + b, 0)
  const g2 = poissonTail(mean(t2), B)
  const upper = (w: number): number => {
    const gA = poissonTail(mean(t1 - w), B)
    const gw = poissonTail(mean(w), B)
    let num = 0
    for (let j = 0; j < B; j++) num += g2[j] - gA[j] * (1 - gw[B - 1 - j])
    return Math.min(1, num / ek1)
  }
  if (upper(0) >= p) return 0
  const justBelow = t1 * (1 - 1e-12)
  if (upper(justBelow) < p) return t1
  let lo = 0
  let hi = justBelow
  while (hi - lo > 1e-9 && hi - lo > 1e-15 * t1) {
    const mid = (lo + hi) / 2
    if (upper(mid) >= p) hi = mid
    else lo = mid
  }
  return lo
}

/** Batches dispatched per second. */
export function batchesPerSecond(policy: BatchPolicy): number {
  return policy.ratePerSecond / expectedBatchSize(policy)
}

/** Dispatch-epoch samples of the busy count for batched policies (fixed seed: a plan always gets the same number). */
export const BUSY_SAMPLES = 20_000
/**
 * Random draws one busyAtDispatch call may make (~40–80 ms): where many invocations overlap (a
 * high rate and long stages) each sample needs many gaps, so fewer samples are taken, never under
 * BUSY_MIN_SAMPLES. The busy count is then large and concentrated, so its probabilities are still
 * read well; only tails under 1/samples read as 0. Typical plans stay at BUSY_SAMPLES.
 */
export const BUSY_DRAW_BUDGET = 4_000_000
export const BUSY_MIN_SAMPLES = 2_000

/**
 * atLeast[j] = P(N ≥ j) for the number N of earlier invocations of a stage still running when a
 * batch is dispatched, each running `serviceMs`: N ≥ j when the last j gaps between dispatches sum
 * to less than serviceMs. A gap is the wait for the next request after a dispatch (Exp(λ)) plus the
 * time that batch takes to fill, min(T, A_{B−1}) (module docs); the gaps are i.i.d. Without
 * batching (B = 1 or T = 0) dispatches are the Poisson arrivals and N is Poisson with mean
 * λ·serviceMs (exact); with batching, from up to BUSY_SAMPLES sampled runs of gaps (fewer where a
 * run needs many gaps: BUSY_DRAW_BUDGET; probabilities below 1/samples read as 0).
 */
export function busyAtDispatch(policy: BatchPolicy, serviceMs: number): number[] {
  const {ratePerSecond: rate, maxBatch: B, timeoutMs: T} = policy
  check(rate, B, T)
  const lam = rate / 1000
  if (!(serviceMs > 0) || !(rate > 0)) return [1]
  if (B === 1 || T === 0) {
    const mean = lam * serviceMs
    return poissonTail(mean, Math.ceil(mean + 12 * Math.sqrt(mean) + 20))
  }
  const rnd = seededRandom(0xc01d)
  const exp = (): number => -Math.log(1 - rnd()) / lam
  // draws per gap (the wait, then the fill, cut at T) and gaps per sample (about the mean busy count)
  const drawsPerGap = 1 + Math.min(B - 1, Math.ceil(lam * T) + 1)
  const gapsPerSample = 1 + serviceMs / (1 / lam + Math.min(T, (B - 1) / lam))
  const samples = Math.max(BUSY_MIN_SAMPLES, Math.min(BUSY_SAMPLES, Math.floor(BUSY_DRAW_BUDGET / (drawsPerGap * gapsPerSample))))
  const counts: number[] = [samples]
  for (let i = 0; i < samples; i++) {
    let sum = 0
    for (let j = 1; ; j++) {
      let fill = 0
      for (let r = 1; r < B && fill < T; r++) fill += exp()
      sum += exp() + Math.min(T, fill)
      if (sum >= serviceMs) break
      counts[j] = (counts[j] ?? 0) + 1
    }
  }
  return counts.map((c) => c / samples)
}

/**
 * Probability that an invocation of a stage finds no warm execution environment, in steady state,
 * when requests arrive as a Poisson process at `ratePerSecond` and are batched by `batch` (B, T;
 * default none), each invocation keeps an environment busy for `serviceMs`, and an environment
 * idle for `keepAliveS` is gone.
 *
 * A batch dispatched while N = j earlier ones still run (busyAtDispatch) needs a (j+1)-th
 * environment. Environments are reused most recently freed first, so the pool holds as many as the
 * most it needed within the last keep-alive (+ the service that freed the last of them): the
 * (j+1)-th is warm only if some batch in that window found ≥ j busy. Those come at
 * ν_j = a · P(N ≥ j), a the batches per second, taken as Poisson, so
 *
 *   P(cold) = Σ_j P(N = j) · exp(−ν_j · (keepAliveS + serviceMs/1000)).
 *
 * The j = 0 term is the one-environment case, exp(−a · keep-alive) for short service: a gap
 * longer than the keep-alive. The higher terms are the pool growing now and then when more
 * invocations overlap than it usually needs (each such cold start pays INIT). A deployment
 * pre-warmed by deploy (src/plan/prewarm.ts) starts with the pool full; this is the long-run rate.
 * At rate 0 every invocation is cold.
 */
export function coldStartProbability(
  ratePerSecond: number,
  keepAliveS: number,
  serviceMs = 0,
  batch: {maxBatch: number; timeoutMs: number} = {maxBatch: 1, timeoutMs: 0},
): number {
  if (!(ratePerSecond > 0)) return 1
  const policy = {ratePerSecond, ...batch}
  const a = batchesPerSecond(policy)
  const h = Math.max(0, serviceMs)
  const atLeast = busyAtDispatch(policy, h)
  const window = keepAliveS + h / 1000
  let p = 0
  for (let j = 0; j < atLeast.length; j++) p += (atLeast[j] - (atLeast[j + 1] ?? 0)) * Math.exp(-a * atLeast[j] * window)
  return Math.min(1, p)
}

/** Batch sizes with positive probability: ks ascending, pi their probabilities. */
export interface BatchSupport {
  ks: number[]
  pi: number[]
}

/** Drop batch sizes with probability below `threshold` (documented: relative effect < B·threshold). */
export function batchSupport(probabilities: number[], threshold = 1e-12): BatchSupport {
  const ks: number[] = []
  const pi: number[] = []
  probabilities.forEach((p, i) => {
    if (p >= threshold) {
      ks.push(i + 1)
      pi.push(p)
    }
  })
  assert(ks.length > 0, 'batch-size distribution has no mass')
  return {ks, pi}
}
