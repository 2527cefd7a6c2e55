/**
 * The adaptive batching controller of `amps serve` (the default mode): it keeps B and T at the
 * cheapest choice that meets the SLO at the observed rate, and checks that promise against what the
 * gateway measures (MLProxy adapts on measured latency; BATCH re-solves its buffer's model online).
 * Four parts, each a small class fed with timestamps by the gateway (pure: no clock of its own, so
 * the tests drive it with synthetic arrivals, stage times and latencies):
 *
 * - RateTracker: the arrival rate of the current regime. A step in the rate is found by a
 *   two-segment Poisson likelihood-ratio test over the last seconds of arrivals (the split that
 *   best explains them as two rates; a change when the log-likelihood ratio passes a threshold),
 *   and the estimate then counts only the arrivals after the split: a step is followed within a
 *   second or two and is not mistaken for burstiness. Only repeated changes within the long window
 *   (an on/off stream) make the stream "bursty": then the long window's rate, its dispersion and
 *   its low/high phase rates are used, as before.
 * - StageCorrection: each stage's measured Duration by batch size, against the model's handler
 *   time for that batch size: the median ratio corrects the model's stage times (latency, spread
 *   and billed ms) before every solve. Unseen batch sizes take the nearest measured one's ratio,
 *   or past the largest measured, the largest ratio seen (measured stage time at a large batch
 *   tends to exceed the prediction).
 * - LatencyFeedback: the end-to-end latency of the requests answered since the last policy
 *   change. The solver aims at a budget SLO × (1 − margin). More misses than the percentile allows
 *   back the margin off at once (a single miss by a step of 4 points, more by how far the measured
 *   percentile sits over the budget, at most 12 points); a quiet stretch (the measured percentile under the SLO less 5 %) relaxes it, one step
 *   every few seconds (a point, a tenth of the way to the floor, or half the measured gap, the
 *   most of these), down to a floor below zero: a pessimistic model is corrected too.
 * - AdaptiveController: decides when to re-solve (a detected rate change, a drift of the regime's
 *   rate, a backoff, a relaxed margin, a changed correction), solves with the corrected model at the
 *   budget, never picks something dearer than the plan's fixed B, T when that meets the budget at
 *   the observed rate (both costed by the corrected model; another choice must be 3 % cheaper, as
 *   the model's cost is not exact), and keeps the current choice unless the
 *   new one is cheaper by a margin or the current one misses the budget (hysteresis). On a backoff
 *   it cuts T at once by the overshoot, before the re-solve. Every change is returned with its cause.
 */
import type {TailStage} from '../plan/tail.js'
import {assessPolicy, type BatchChoice, type DeployedChain, type Evaluation, solvePolicyAsync, type SolveResult} from './policy.js'

// ---------------------------------------------------------------------------------------------- rate

export interface RateEstimate {
  /** instances/s: the current regime's rate (bursty: the long window's) */
  rate: number
  /** instances counted for it, and over how many seconds */
  count: number
  spanS: number
  /** a change was detected by this call (the regime now starts at `regimeStartMs`) */
  changed: boolean
  /** the rate before the change (when changed) */
  previousRate?: number
  regimeStartMs: number
  /** index of dispersion of per-second counts (within the regime; bursty: the long window) */
  dispersion: number
  /** repeated changes within the long window: an on/off stream */
  bursty: boolean
  /** 10th and 90th percentiles of per-second counts over the long window */
  lowRate: number
  highRate: number
}

export interface RateTrackerOptions {
  /** history kept, and the window of a bursty stream's figures (ms, default 30,000) */
  longMs: number
  /** a stable regime's rate counts at most this far back (ms, default 10,000) */
  regimeMs: number
  /** the change test looks this far back (ms, default 5,000) */
  detectMs: number
  /** log-likelihood ratio over which a split is a change (default 10: about e^10 : 1) */
  threshold: number
  /** shortest segment either side of a split (ms, default 300) */
  minSideMs: number
  /** this many changes within longMs make the stream bursty (default 4: a step up and back down is two) */
  burstyChanges: number
}

const RATE_DEFAULTS: RateTrackerOptions = {longMs: 30_000, regimeMs: 10_000, detectMs: 5000, threshold: 10, minSideMs: 300, burstyChanges: 4}

const nLogRate = (n: number, t: number): number => (n > 0 && t > 0 ? n * Math.log(n / t) : 0)

export class RateTracker {
  readonly o: RateTrackerOptions
  private times: number[] = []
  private changes: number[] = []
  private regimeStart: number
  private readonly start: number

  constructor(now: number, options: Partial<RateTrackerOptions> = {}) {
    this.o = {...RATE_DEFAULTS, ...options}
    this.start = now
    this.regimeStart = now
  }

  add(now: number, count = 1): void {
    for (let i = 0; i < count; i++) this.times.push(now)
  }

  private trim(now: number): void {
    const cut = now - this.o.longMs
    let i = 0
    while (i < this.times.length && this.times[i] < cut) i++
    if (i > 0) this.times.splice(0, i)
    while (this.changes.length > 0 && this.changes[0] < cut) this.changes.shift()
  }

  /** Index of the first arrival at or after t. */
  private from(t: number): number {
    let lo = 0
    let hi = this.times.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.times[mid] < t) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /**
   * The best split of the arrivals in [w0, now] into two Poisson segments: the split time and the
   * log-likelihood ratio of two rates over one. Splits are tried at each arrival (it opens the
   * second segment) and just after it (it closes the first).
   */
  private bestSplit(w0: number, now: number): {at: number; llr: number} {
    const i0 = this.from(w0)
    const n = this.times.length - i0
    const L = now - w0
    const whole = nLogRate(n, L)
    let best = {at: now, llr: 0}
    const consider = (at: number, n1: number) => {
      const t1 = at - w0
      const t2 = now - at
      if (t1 < this.o.minSideMs || t2 < this.o.minSideMs) return
      const llr = nLogRate(n1, t1) + nLogRate(n - n1, t2) - whole
      if (llr > best.llr) best = {at, llr}
    }
    for (let j = 0; j < n; j++) {
      const t = this.times[i0 + j]
      consider(t, j) // arrival j opens the second segment
      consider(t + 1e-3, j + 1) // arrival j closes the first
    }
    if (n === 0) return best
    // no arrival since the last one: a stream that stopped
    consider(this.times[this.times.length - 1] + 1e-3, n)
    return best
  }

  estimate(now: number): RateEstimate {
    this.trim(now)
    let changed = false
    let previousRate: number | undefined
    const w0 = Math.max(this.regimeStart, now - this.o.detectMs)
    if (now - w0 >= 2 * this.o.minSideMs) {
      const split = this.bestSplit(w0, now)
      if (split.llr > this.o.threshold) {
        const before = this.regimeRate(split.at)
        previousRate = before
        this.regimeStart = split.at
        this.changes.push(now)
        changed = true
      }
    }
    const {rate, count, spanS} = this.regimeFigures(now)
    const longSpan = Math.min(this.o.longMs, now - this.start)
    const bursty = this.changes.length >= this.o.burstyChanges
    const longStats = perSecond(this.times, now, longSpan)
    const regimeStats = perSecond(this.times, now, Math.min(now - this.regimeStart, this.o.regimeMs))
    if (bursty) {
      const n = this.times.length
      return {
        rate: longSpan > 0 ? (n / longSpan) * 1000 : 0,
        count: n,
        spanS: longSpan / 1000,
        changed,
        previousRate,
        regimeStartMs: this.regimeStart,
        dispersion: longStats.dispersion,
        bursty,
        lowRate: longStats.low,
        highRate: longStats.high,
      }
    }
    return {
      rate,
      count,
      spanS,
      changed,
      previousRate,
      regimeStartMs: this.regimeStart,
      dispersion: regimeStats.dispersion,
      bursty,
      lowRate: longStats.low,
      highRate: longStats.high,
    }
  }

  /** The rate of the regime that ended at `end` (its last regimeMs). */
  private regimeRate(end: number): number {
    const start = Math.max(this.regimeStart, end - this.o.regimeMs)
    const n = this.from(end) - this.from(start)
    return end > start ? (n / (end - start)) * 1000 : 0
  }

  private regimeFigures(now: number): {rate: number; count: number; spanS: number} {
    const start = Math.max(this.regimeStart, now - this.o.regimeMs)
    const count = this.times.length - this.from(start)
    const span = now - start
    return {rate: span > 0 ? (count / span) * 1000 : 0, count, spanS: span / 1000}
  }
}

/** Per-second counts over the last spanMs before now: index of dispersion and 10th/90th percentiles. */
function perSecond(times: number[], now: number, spanMs: number): {dispersion: number; low: number; high: number} {
  const bins = Math.max(1, Math.round(spanMs / 1000))
  const counts = new Array<number>(bins).fill(0)
  for (let i = times.length - 1; i >= 0; i--) {
    const b = Math.floor((now - times[i]) / 1000)
    if (b >= bins) break
    counts[b]++
  }
  const mean = counts.reduce((a, b) => a + b, 0) / bins
  const variance = counts.reduce((a, c) => a + (c - mean) ** 2, 0) / Math.max(1, bins - 1)
  const sorted = [...counts].sort((a, b) => a - b)
  const q = (p: number) => sorted[Math.min(bins - 1, Math.floor(p * bins))]
  return {dispersion: bins >= 3 && mean > 0 ? variance / mean : 1, low: q(0.1), high: q(0.9)}
}

// ----------------------------------------------------------------------------------- stage times

/**
 * Measured ÷ modelled stage time by batch size. `predict(stage, k)` is the model's handler time of
 * stage `stage` for a batch of k (ms); `add` records a measured Duration.
 */
export class StageCorrection {
  private samples = new Map<string, number[]>()
  private observed: Set<number>[]
  /** bumped when a factor may have changed (a new sample) */
  version = 0

  constructor(
    private readonly predict: (stage: number, k: number) => number,
    readonly stageCount: number,
    readonly o = {keep: 64, minSamples: 5, lo: 0.5, hi: 5},
  ) {
    this.observed = Array.from({length: stageCount}, () => new Set<number>())
  }

  add(stage: number, k: number, durationMs: number): void {
    if (!(stage >= 0 && stage < this.stageCount) || !(k >= 1) || !(durationMs >= 0) || !Number.isFinite(durationMs)) return
    const key = `${stage}/${k}`
    const list = this.samples.get(key) ?? []
    list.push(durationMs)
    if (list.length > this.o.keep) list.shift()
    this.samples.set(key, list)
    this.observed[stage].add(k)
    this.version++
  }

  /** The median measured ÷ modelled ratio at k, when k has enough samples. */
  private ratioAt(stage: number, k: number): number | undefined {
    const list = this.samples.get(`${stage}/${k}`)
    if (!list || list.length < this.o.minSamples) return undefined
    const p = this.predict(stage, k)
    if (!(p > 0)) return undefined
    const sorted = [...list].sort((a, b) => a - b)
    const mid = sorted.length >> 1
    const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    return median / p
  }

  /** The factor for stage `stage` at a batch of k (1 when nothing was measured). */
  factor(stage: number, k: number): number {
    const ratios: {k: number; r: number}[] = []
    for (const kk of this.observed[stage] ?? []) {
      const r = this.ratioAt(stage, kk)
      if (r !== undefined) ratios.push({k: kk, r})
    }
    if (ratios.length === 0) return 1
    ratios.sort((a, b) => a.k - b.k)
    let f: number
    const exact = ratios.find((x) => x.k === k)
    if (exact) f = exact.r
    else if (k > ratios[ratios.length - 1].k) f = Math.max(...ratios.map((x) => x.r))
    else if (k < ratios[0].k) f = ratios[0].r
    else {
      const hi = ratios.findIndex((x) => x.k > k)
      const a = ratios[hi - 1]
      const b = ratios[hi]
      f = a.r + ((b.r - a.r) * (k - a.k)) / (b.k - a.k)
    }
    return Math.min(this.o.hi, Math.max(this.o.lo, f))
  }

  /** The factors of every stage at the batch sizes measured, for a log line. */
  describe(): string {
    const parts: string[] = []
    for (let s = 0; s < this.stageCount; s++) {
      const ks = [...this.observed[s]].filter((k) => this.ratioAt(s, k) !== undefined).sort((a, b) => a - b)
      if (ks.length > 0) parts.push(`stage ${s + 1}: ${ks.map((k) => `k${k}×${this.ratioAt(s, k)!.toFixed(2)}`).join(' ')}`)
    }
    return parts.join('; ')
  }
}

// -------------------------------------------------------------------------------- latency feedback

export interface FeedbackOptions {
  /**
   * start, floor and ceiling of the margin (fraction of the SLO). The floor is below 0: when the
   * measured tail stays under the SLO less `safety` while the model already predicts the budget,
   * the model is pessimistic, and the budget (in the model's terms) may pass the SLO.
   */
  initial: number
  min: number
  max: number
  /** a backoff raises the margin by at least this, at most maxStep */
  step: number
  maxStep: number
  /** relax by this much, or this fraction of the way down to the floor if that is more ... */
  relaxStep: number
  relaxFraction: number
  /** ... at most once per relaxEveryMs, and only relaxAfterMs after the last backoff */
  relaxEveryMs: number
  relaxAfterMs: number
  /** answered requests count for this long (ms) */
  windowMs: number
  /** relaxing needs the measured percentile at most SLO × (1 − safety) */
  safety: number
  /** relaxing needs this many requests since the last change */
  minRequests: number
}

const FEEDBACK_DEFAULTS: FeedbackOptions = {
  initial: 0.02,
  min: -0.15,
  safety: 0.05,
  max: 0.5,
  step: 0.04,
  maxStep: 0.12,
  relaxStep: 0.01,
  relaxFraction: 0.1,
  relaxEveryMs: 5000,
  relaxAfterMs: 20_000,
  windowMs: 20_000,
  minRequests: 20,
}

export interface FeedbackChange {
  kind: 'backoff' | 'relax'
  from: number
  to: number
  /** requests since the last policy change in the window, misses among them */
  n: number
  misses: number
  /** their latency at the percentile (ms) */
  measuredMs: number
}

export class LatencyFeedback {
  readonly o: FeedbackOptions
  margin: number
  private answered: {at: number; arrivedAt: number; ms: number; ok: boolean}[] = []
  private lastBackoff = -Infinity
  private lastRelax = -Infinity

  constructor(options: Partial<FeedbackOptions> = {}) {
    this.o = {...FEEDBACK_DEFAULTS, ...options}
    this.margin = this.o.initial
  }

  /** A request answered at `now` after `ms` (ok: a 200; a failure counts as a miss). */
  observe(now: number, ms: number, ok: boolean): void {
    this.answered.push({at: now, arrivedAt: now - ms, ms: ok ? ms : Infinity, ok})
    const cut = now - this.o.windowMs
    let i = 0
    while (i < this.answered.length && this.answered[i].at < cut) i++
    if (i > 0) this.answered.splice(0, i)
  }

  /** Latency at the percentile of the requests that arrived at or after `since`, and their misses. */
  recent(now: number, sloMs: number, percentile: number, since: number): {n: number; misses: number; measuredMs: number} {
    const xs = this.answered.filter((a) => a.arrivedAt >= since && a.at >= now - this.o.windowMs).map((a) => a.ms)
    const misses = xs.filter((ms) => ms > sloMs).length
    xs.sort((a, b) => a - b)
    const measuredMs = xs.length ? xs[Math.min(xs.length - 1, Math.max(0, Math.ceil((percentile / 100) * xs.length) - 1))] : NaN
    return {n: xs.length, misses, measuredMs}
  }

  /**
   * Backs off when the requests since `since` (the last policy change) missed the SLO more often
   * than the percentile allows; relaxes a step after a quiet stretch. Returns the change, if any.
   */
  update(now: number, sloMs: number, percentile: number, since: number): FeedbackChange | null {
    const r = this.recent(now, sloMs, percentile, since)
    const allowed = Math.floor(r.n * (1 - percentile / 100))
    const from = this.margin
    if (r.misses > allowed) {
      const budget = sloMs * (1 - this.margin)
      const over = Number.isFinite(r.measuredMs) ? (r.measuredMs - budget) / sloMs : this.o.maxStep
      // one miss: one step (it may be an outlier); more: by how far the measured percentile is over the budget
      const inc = r.misses <= 1 ? this.o.step : Math.min(this.o.maxStep, Math.max(this.o.step, over))
      this.margin = Math.min(this.o.max, this.margin + inc)
      this.lastBackoff = now
      return this.margin !== from ? {kind: 'backoff', from, to: this.margin, ...r} : null
    }
    if (
      now - this.lastBackoff >= this.o.relaxAfterMs &&
      now - this.lastRelax >= this.o.relaxEveryMs &&
      r.n >= this.o.minRequests &&
      r.misses === 0 &&
      r.measuredMs <= sloMs * (1 - this.o.safety) &&
      this.margin > this.o.min
    ) {
      // a step, a tenth of the way to the floor, or half the measured gap under SLO × (1 − safety): the most of these
      const gap = (sloMs * (1 - this.o.safety) - r.measuredMs) / sloMs
      this.margin = Math.max(this.o.min, this.margin - Math.max(this.o.relaxStep, this.o.relaxFraction * (this.margin - this.o.min), gap / 2))
      this.lastRelax = now
      return {kind: 'relax', from, to: this.margin, ...r}
    }
    return null
  }
}

// ------------------------------------------------------------------------------------- controller

export interface ControllerOptions {
  /** the plan's B and T: where the controller starts, and the cost it must not exceed when feasible */
  fixed: BatchChoice
  rate?: Partial<RateTrackerOptions>
  feedback?: Partial<FeedbackOptions>
  /** a new choice must be this much cheaper than a current one that meets the budget (default 0.03) */
  hysteresis?: number
  /** ... and than the plan's B, T when those meet the budget (default 0.03: the model's cost is not exact) */
  fixedPreference?: number
  /** a regime's rate must move this much (fraction) from the solved one to re-solve (default 0.25) */
  drift?: number
  /** re-solve when a stage's factor at the current B moved this much (fraction; default 0.08), at most every 5 s */
  correctionDrift?: number
  /** a solve needs this much of a regime and this many arrivals (default 1,000 ms, 5) */
  minSpanMs?: number
  minCount?: number
  /** runs a re-solve (default: in-process, solvePolicyAsync; the gateway uses a worker thread) */
  solve?: (chain: DeployedChain, rate: number, also: number[]) => Promise<SolveResult>
}

export interface ControllerState {
  rate: number
  dispersion: number
  bursty: boolean
  feasible: boolean
  margin: number
  budgetMs: number
  predictedLatencyMs?: number
  predictedCostPerMillionUsd?: number
}

export interface Decision {
  from: BatchChoice
  to: BatchChoice
  /** why, in words, for the log */
  cause: string
  /** the choice as the corrected model sees it (absent for a backoff's immediate cut) */
  evaluation?: Evaluation
  /** the SLO cannot be met at the observed rate with the deployed memories */
  infeasible?: boolean
}

export class AdaptiveController {
  policy: BatchChoice
  readonly rates: RateTracker
  readonly correction: StageCorrection
  readonly feedback: LatencyFeedback
  readonly state: ControllerState
  /** notes that are not policy changes (feasibility, corrections), for the log */
  readonly notes: string[] = []
  private readonly o: Required<Omit<ControllerOptions, 'rate' | 'feedback'>>
  private solved: {rate: number; bursty: boolean; margin: number; factors: number[]; at: number} | null = null
  private pendingCause: string | null = null
  /** requests that arrived before this (the last policy change or backoff) no longer count for feedback */
  private measureSince: number
  private cache = new Map<string, TailStage[]>()
  private cacheVersion = -1
  private factorTable: number[][] = []
  private busy = false
  solves = 0
  /** the rate at which the current choice was last compared with the plan's (solve or guard) */
  checkedRate: number | undefined
  /** the last re-solve: when, at what rate, why */
  lastSolve: {at: number; rate: number; cause: string} | null = null

  constructor(
    readonly chain: DeployedChain,
    now: number,
    options: ControllerOptions,
  ) {
    this.o = {hysteresis: 0.03, fixedPreference: 0.03, drift: 0.25, correctionDrift: 0.08, minSpanMs: 1000, minCount: 5, solve: solvePolicyAsync, ...options}
    this.policy = {...options.fixed}
    this.rates = new RateTracker(now, options.rate)
    this.feedback = new LatencyFeedback(options.feedback)
    this.correction = new StageCorrection((i, k) => {
      const st = chain.stages[i]
      return chain.model.handlerMs(st.range, st.memoryMb, k, k)
    }, chain.stages.length)
    this.measureSince = now
    this.state = {rate: 0, dispersion: 1, bursty: false, feasible: true, margin: this.feedback.margin, budgetMs: this.budgetMs()}
  }

  /** a current choice predicted this little over the budget still counts as meeting it (1 % of the SLO): no flapping on rate noise */
  private toleranceMs(): number {
    return 0.01 * this.chain.sloMs
  }

  budgetMs(): number {
    return this.chain.sloMs * (1 - this.feedback.margin)
  }

  arrival(now: number, count = 1): void {
    this.rates.add(now, count)
  }

  /** A predict request answered (ok: 200) after `ms`. */
  request(now: number, ms: number, ok: boolean): void {
    this.feedback.observe(now, ms, ok)
  }

  /** A batch of k came back with each stage's measured Duration (ms, in chain order). */
  batch(k: number, stageDurationsMs: (number | undefined)[]): void {
    stageDurationsMs.forEach((d, i) => {
      if (d !== undefined) this.correction.add(i, k, d)
    })
  }

  /** The chain with the measured stage times (a snapshot: batches answered during a solve do not change it), at the current budget. */
  corrected(): DeployedChain {
    if (this.cacheVersion !== this.correction.version) {
      const c = this.correction
      const kMax = this.chain.maxBatch
      this.factorTable = this.chain.stages.map((_, i) => Array.from({length: kMax}, (_, k) => c.factor(i, k + 1)))
      this.cache = new Map()
      this.cacheVersion = this.correction.version
    }
    const table = this.factorTable
    return {...this.chain, sloMs: this.budgetMs(), cache: this.cache, stageScale: (i, k) => table[i]?.[Math.min(k, table[i].length) - 1] ?? 1}
  }

  private factorsAt(B: number): number[] {
    return this.chain.stages.map((_, i) => this.correction.factor(i, B))
  }

  /**
   * Looks at what was measured up to `now`; re-solves when something calls for it. Returns the
   * change of B or T it made (already in `policy`), or null. Not re-entrant: a call while a solve
   * is under way returns null.
   */
  async tick(now: number): Promise<Decision | null> {
    if (this.busy) return null
    const est = this.rates.estimate(now)
    this.state.rate = est.rate
    this.state.dispersion = est.dispersion
    this.state.bursty = est.bursty
    const rateWords = (r: number) => `${r.toFixed(1)} req/s`
    if (est.changed)
      this.pendingCause = `rate step ${rateWords(est.previousRate ?? 0)} → ${rateWords(est.rate)} detected${est.bursty ? ' (repeated changes: bursty)' : ''}`

    // feedback first: a backoff cuts T now, then re-solves at the smaller budget
    const fb = this.feedback.update(now, this.chain.sloMs, this.chain.percentile, this.measureSince)
    this.state.margin = this.feedback.margin
    this.state.budgetMs = this.budgetMs()
    let immediate: Decision | null = null
    if (fb?.kind === 'backoff') {
      const why = `${fb.misses} of ${fb.n} requests since the last change missed ${this.chain.sloMs} ms (p${this.chain.percentile} measured ${Number.isFinite(fb.measuredMs) ? fb.measuredMs.toFixed(1) : 'failed'} ms): margin ${pct(fb.from)} → ${pct(fb.to)}, budget ${this.budgetMs().toFixed(1)} ms`
      const from = this.policy
      if (from.maxBatch > 1 && from.timeoutMs > 0) {
        const over = Number.isFinite(fb.measuredMs) ? fb.measuredMs - this.budgetMs() : from.timeoutMs / 2
        const T = Math.max(Math.floor(from.timeoutMs / 2), Math.floor(from.timeoutMs - Math.max(1, over)))
        if (T !== from.timeoutMs) {
          this.policy = {maxBatch: from.maxBatch, timeoutMs: T}
          this.measureSince = now
          immediate = {from, to: this.policy, cause: `backoff: ${why}; T cut at once`}
        }
      }
      this.pendingCause = `backoff: ${why}`
      this.measureSince = now
    } else if (fb?.kind === 'relax' && this.solved && Math.abs(this.feedback.margin - this.solved.margin) >= 0.02 - 1e-9) {
      this.pendingCause ??= `relax: no misses in ${fb.n} requests (p${this.chain.percentile} ${fb.measuredMs.toFixed(1)} ms): margin ${pct(this.solved.margin)} → ${pct(fb.to)}, budget ${this.budgetMs().toFixed(1)} ms`
    }
    if (immediate) return immediate

    if (est.count < this.o.minCount || est.spanS * 1000 < this.o.minSpanMs) return null
    let cause = this.pendingCause
    if (!cause && !this.solved) cause = `observed ${rateWords(est.rate)}`
    if (!cause && this.solved) {
      const s = this.solved
      if (Math.abs(est.rate - s.rate) > this.o.drift * Math.max(s.rate, 0.5)) cause = `rate ${rateWords(s.rate)} → ${rateWords(est.rate)}`
      else if (est.bursty !== s.bursty) cause = est.bursty ? 'the stream turned bursty' : 'the stream is steady again'
      else if (now - s.at >= 5000) {
        const now_ = this.factorsAt(this.policy.maxBatch)
        const moved = now_.findIndex((f, i) => Math.abs(f / (s.factors[i] || 1) - 1) > this.o.correctionDrift)
        if (moved >= 0)
          cause = `measured stage ${moved + 1} time at B ${this.policy.maxBatch} is ${now_[moved].toFixed(2)}× the model (was ${s.factors[moved].toFixed(2)}×)`
      }
    }
    if (!cause) return this.guard(now, est)
    this.pendingCause = null
    return this.solve(now, est, cause)
  }

  /**
   * Between solves, once the rate has moved a little (5 %) since the last look: when the current
   * choice misses the budget (by more than the tolerance) at the observed rate, re-solve at the next
   * tick; when the plan's B, T meets it and the current choice is not clearly cheaper, go back to it.
   */
  private guard(now: number, est: RateEstimate): Decision | null {
    if (!this.solved || same(this.policy, this.o.fixed) || !this.state.feasible) return null
    if (this.checkedRate !== undefined && Math.abs(est.rate - this.checkedRate) <= 0.05 * Math.max(this.checkedRate, 0.5)) return null
    this.checkedRate = est.rate
    const chain = this.corrected()
    const rates = [Math.max(est.rate, 0.01), ...(est.bursty ? [Math.max(est.lowRate, 0.1), est.highRate] : [])]
    const cur = assessPolicy(chain, this.policy, rates)
    if (cur.latencyMs > chain.sloMs + this.toleranceMs()) {
      this.pendingCause = `at ${est.rate.toFixed(1)} req/s the current B, T misses the budget ${chain.sloMs.toFixed(1)} ms (predicted p${this.chain.percentile} ${cur.latencyMs.toFixed(1)} ms)`
      return null
    }
    const f = assessPolicy(chain, this.o.fixed, rates)
    if (!f.meetsSlo) return null
    // (leaving the plan's B, T needs a 3 % gain; coming back, losing half of it: a band, not a line)
    if (cur.costPerMillionUsd <= f.costPerMillionUsd * (1 - this.o.fixedPreference / 2)) return null
    const from = this.policy
    this.policy = {...this.o.fixed}
    this.measureSince = now
    this.state.predictedLatencyMs = f.latencyMs
    this.state.predictedCostPerMillionUsd = f.costPerMillionUsd
    return {
      from,
      to: this.policy,
      cause: `at ${est.rate.toFixed(1)} req/s the plan's B, T meets the budget ${chain.sloMs.toFixed(1)} ms and the current choice is not ${pct(this.o.fixedPreference / 2)} cheaper ($${f.costPerMillionUsd.toFixed(4)} vs $${cur.costPerMillionUsd.toFixed(4)} per 1M)`,
      evaluation: f,
    }
  }

  private async solve(now: number, est: RateEstimate, cause: string): Promise<Decision | null> {
    this.busy = true
    try {
      const chain = this.corrected()
      const rate = Math.max(est.rate, 0.01)
      const also = est.bursty ? [Math.max(est.lowRate, 0.1), est.highRate] : []
      const r = await this.o.solve(chain, rate, also)
      this.solves++
      this.lastSolve = {at: now, rate: est.rate, cause}
      this.checkedRate = est.rate
      const rates = [rate, ...also.filter((x) => x !== rate)]
      this.solved = {rate: est.rate, bursty: est.bursty, margin: this.feedback.margin, factors: this.factorsAt(r.best.maxBatch), at: now}
      const corr = this.correction.describe()
      const context = `at ${est.rate.toFixed(1)} req/s${est.bursty ? ` (bursty: dispersion ${est.dispersion.toFixed(1)}, phases ${est.lowRate}–${est.highRate} req/s)` : ''}, budget ${chain.sloMs.toFixed(1)} ms (SLO ${this.chain.sloMs} − ${pct(this.feedback.margin)})${corr ? `, measured/model ${corr}` : ''}`
      const wasFeasible = this.state.feasible
      this.state.feasible = r.feasible
      let choice: Evaluation = r.best
      let why = cause
      if (!r.feasible) {
        if (wasFeasible)
          this.notes.push(
            `SLO: no batch size and timeout meets p${this.chain.percentile} ≤ ${chain.sloMs.toFixed(1)} ms ${context} with the deployed memories (best: ${r.best.latencyMs.toFixed(1)} ms unbatched)`,
          )
      } else {
        if (!wasFeasible) this.notes.push(`SLO: p${this.chain.percentile} ≤ ${chain.sloMs.toFixed(1)} ms is reachable again ${context}`)
        // never dearer than the plan's B, T when those meet the budget at this rate
        const fixed = this.o.fixed
        const f = assessPolicy(chain, fixed, rates)
        if (f.meetsSlo && choice.costPerMillionUsd > f.costPerMillionUsd * (1 - this.o.fixedPreference) && !same(fixed, choice)) {
          choice = f
          why += `; the plan's B, T meets the budget and the best other choice is not ${pct(this.o.fixedPreference)} cheaper`
        }
        // hysteresis: keep a current choice that meets the budget unless the new one is clearly
        // cheaper (and never one dearer than the plan's B, T when those meet the budget)
        if (!same(this.policy, choice)) {
          const cur = assessPolicy(chain, this.policy, rates)
          const ceiling = f.meetsSlo ? f.costPerMillionUsd * (1 - this.o.fixedPreference) : Infinity
          if (
            cur.latencyMs <= chain.sloMs + this.toleranceMs() &&
            cur.costPerMillionUsd <= Math.min(ceiling, choice.costPerMillionUsd * (1 + this.o.hysteresis))
          ) {
            this.state.predictedLatencyMs = cur.latencyMs
            this.state.predictedCostPerMillionUsd = cur.costPerMillionUsd
            return null
          }
        }
      }
      this.state.predictedLatencyMs = choice.latencyMs
      this.state.predictedCostPerMillionUsd = choice.costPerMillionUsd
      const to = {maxBatch: choice.maxBatch, timeoutMs: choice.maxBatch === 1 ? 0 : choice.timeoutMs}
      if (same(to, this.policy)) return null
      const from = this.policy
      this.policy = to
      this.measureSince = now
      return {from, to, cause: `${why} (${context})`, evaluation: choice, infeasible: !r.feasible}
    } finally {
      this.busy = false
    }
  }
}

const same = (a: BatchChoice, b: BatchChoice): boolean => a.maxBatch === b.maxBatch && (a.maxBatch === 1 || a.timeoutMs === b.timeoutMs)
const pct = (x: number): string => `${+(100 * x).toFixed(1)} %`
