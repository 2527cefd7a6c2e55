/**
 * The discrete-event core: BATCH-style buffer → one function instance per batch per stage
 * (scale-out, no queueing between batches) → per-stage instance pools with keep-alive.
 *
 * Time is in ms. Because batches never wait for each other and each stage has its own pool, the
 * events decompose: batches are formed in one pass over the arrivals, then each stage's
 * invocations are processed in order of their start time at that stage (a sweep over that stage's
 * events), which is exactly the order a global event queue would visit them in.
 *
 * Per batch of k, per stage s (client-side orchestration: a coordinator calls stage 1, then 2, …):
 *   start_s  = (s = 1 ? dispatch : end_{s−1}) + unbilled_s(k)   (Invoke round trip and the client's
 *                                                               S3 at the model's ends; not billed)
 *   end_s    = start_s + [initLatency_s if cold] + handler_s(k, u)
 *   billed_s = ceil(handler_s(k, u) + [initBilled_s if cold])    (1-ms granularity)
 *   done     = end_S
 * and every request of the batch has latency done − its arrival.
 *
 * Pools: an instance is busy from start_s to end_s. At start_s the most recently freed idle
 * instance (LIFO) is reused if it has been idle for less than keep-alive; instances idle for
 * keep-alive or longer are gone. Otherwise a new instance cold-starts (INIT billed).
 */
import {InvalidProblemError} from '../errors.js'
import {billInvocation, type PlatformModel} from './platform.js'
import type {Rng} from './rng.js'
import {quantileOf} from '../cost/spread.js'
import type {StageModel} from './service.js'

export interface Batches {
  /** index of each batch's first request; length count + 1 (the last entry is the request count) */
  start: Uint32Array
  /** dispatch time of each batch (ms) */
  dispatchMs: Float64Array
  count: number
}

/**
 * BATCH semantics: the first request into an empty buffer starts a timer of T ms; the buffer is
 * dispatched when it holds B requests (at the B-th arrival) or when the timer fires (at t0 + T),
 * whichever comes first. A request arriving exactly at t0 + T goes into the next batch.
 * `arrivalsMs` must be ascending.
 */
export function formBatches(arrivalsMs: Float64Array, size: number, timeoutMs: number): Batches {
  if (!Number.isInteger(size) || size < 1) throw new InvalidProblemError(`batch size must be an integer >= 1, got ${size}`)
  if (!(timeoutMs >= 0) || !Number.isFinite(timeoutMs)) throw new InvalidProblemError(`batch timeout must be >= 0 ms, got ${timeoutMs}`)
  const n = arrivalsMs.length
  const start = new Uint32Array(n + 1)
  const dispatchMs = new Float64Array(n)
  let count = 0
  let i = 0
  while (i < n) {
    const t0 = arrivalsMs[i]
    const deadline = t0 + timeoutMs
    let j = i + 1
    while (j < n && j - i < size && arrivalsMs[j] < deadline) {
      if (arrivalsMs[j] < arrivalsMs[j - 1]) throw new InvalidProblemError('arrival times must be ascending')
      j++
    }
    start[count] = i
    dispatchMs[count] = j - i === size ? arrivalsMs[j - 1] : deadline
    count++
    i = j
  }
  start[count] = n
  return {start: start.slice(0, count + 1), dispatchMs: dispatchMs.slice(0, count), count}
}

export interface StageOutcome {
  invocations: number
  coldStarts: number
  peakConcurrency: number
  billedMs: number
  durationUsd: number
  requestUsd: number
  s3Usd: number
  /** handler time actually spent (INIT included), ms */
  busyMs: number
}

export interface EngineResult {
  /** latency (ms) of each counted request (those of batches from `firstCountedBatch` on), in arrival order */
  latenciesMs: Float64Array
  /** batches opened before the warm-up ended are simulated but not counted */
  firstCountedBatch: number
  batches: Batches
  stages: StageOutcome[]
  /** 1 where at least one stage of the batch cold-started (all batches) */
  coldBatch: Uint8Array
}

export interface EngineOptions {
  stages: StageModel[]
  batchSize: number
  batchTimeoutMs: number
  keepAliveMs: number
  /** batches whose first request arrived before this are simulated but left out of every count (ms) */
  warmupMs?: number
  platform: PlatformModel
  /**
   * per stage, environments already warm (idle since t = 0) when the run starts, as a deployment
   * pre-warmed by deploy is (default none: a fresh deployment whose first batches are cold)
   */
  warmEnvironments?: number[]
  /** service-time draws (one uniform per stage invocation) */
  rng: Rng
  onProgress?: (fraction: number) => void
}

/** Min-heap of numbers (instance free times). */
class MinHeap {
  private a: Float64Array = new Float64Array(64)
  size = 0
  peek(): number {
    return this.a[0]
  }
  push(x: number): void {
    if (this.size === this.a.length) {
      const b = new Float64Array(this.a.length * 2)
      b.set(this.a)
      this.a = b
    }
    let i = this.size++
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.a[p] <= x) break
      this.a[i] = this.a[p]
      i = p
    }
    this.a[i] = x
  }
  pop(): number {
    const top = this.a[0]
    const x = this.a[--this.size]
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= this.size) break
      if (c + 1 < this.size && this.a[c + 1] < this.a[c]) c++
      if (this.a[c] >= x) break
      this.a[i] = this.a[c]
      i = c
    }
    this.a[i] = x
    return top
  }
}

export function runEngine(arrivalsMs: Float64Array, o: EngineOptions): EngineResult {
  const B = o.batchSize
  for (const st of o.stages) {
    if (st.handlerSpread.length < B + 1 || st.unbilledMs.length < B + 1)
      throw new InvalidProblemError(`stage ${st.name}: no service model for batch sizes up to ${B}`)
  }
  if (!(o.keepAliveMs >= 0)) throw new InvalidProblemError(`keep-alive must be >= 0, got ${o.keepAliveMs}`)
  const batches = formBatches(arrivalsMs, B, o.batchTimeoutMs)
  const nb = batches.count
  const warmupMs = o.warmupMs ?? 0
  let b0 = 0
  while (b0 < nb && arrivalsMs[batches.start[b0]] < warmupMs) b0++
  const S = o.stages.length
  const totalWork = nb * S + arrivalsMs.length
  let work = 0
  let nextReport = 1 << 18
  const progress = (): void => {
    if (o.onProgress && work >= nextReport) {
      nextReport = work + (1 << 18)
      o.onProgress(work / totalWork)
    }
  }

  const size = (b: number): number => batches.start[b + 1] - batches.start[b]
  let t = new Float64Array(nb) // arrival time at the current stage's function
  for (let b = 0; b < nb; b++) t[b] = batches.dispatchMs[b] + o.stages[0].unbilledMs[size(b)]
  const end = new Float64Array(nb)
  const handler = new Float64Array(nb)
  const outcomes: StageOutcome[] = []
  const coldBatch = new Uint8Array(nb)
  let order: Uint32Array | undefined

  for (let s = 0; s < S; s++) {
    const st = o.stages[s]
    // Draw service times in batch order so the draws do not depend on event order.
    for (let b = 0; b < nb; b++) handler[b] = quantileOf(st.handlerSpread[size(b)], o.rng.next())
    // Visit this stage's invocations in time order (sort only when the previous stage reordered).
    let inOrder = true
    for (let b = 1; b < nb; b++) {
      if (t[b] < t[b - 1]) {
        inOrder = false
        break
      }
    }
    if (!inOrder) {
      order ??= new Uint32Array(nb)
      for (let b = 0; b < nb; b++) order[b] = b
      const tt = t
      order.sort((x, y) => tt[x] - tt[y] || x - y)
    }
    const busy = new MinHeap()
    let idle = new Float64Array(64) // free times, ascending; [head, top) are alive
    let head = 0
    const warm = Math.max(0, Math.floor(o.warmEnvironments?.[s] ?? 0))
    if (warm > idle.length) idle = new Float64Array(warm * 2)
    let top = warm // free since t = 0
    const out: StageOutcome = {invocations: nb - b0, coldStarts: 0, peakConcurrency: 0, billedMs: 0, durationUsd: 0, requestUsd: 0, s3Usd: 0, busyMs: 0}
    for (let r = 0; r < nb; r++) {
      const b = inOrder ? r : order![r]
      const now = t[b]
      while (busy.size > 0 && busy.peek() <= now) {
        if (top === idle.length) {
          const live = idle.subarray(head, top)
          const grown = new Float64Array(Math.max(64, live.length * 2))
          grown.set(live)
          idle = grown
          top -= head
          head = 0
        }
        idle[top++] = busy.pop()
      }
      while (head < top && now - idle[head] >= o.keepAliveMs) head++
      let dur = handler[b]
      const cold = head === top
      if (!cold) {
        top-- // most recently used warm instance
      } else {
        coldBatch[b] = 1
        dur += st.initLatencyMs
      }
      end[b] = now + dur
      busy.push(end[b])
      work++
      progress()
      if (b < b0) continue
      if (cold) out.coldStarts++
      if (busy.size > out.peakConcurrency) out.peakConcurrency = busy.size
      const bill = billInvocation(o.platform, st.memoryMb, st.arch, handler[b], cold ? st.initBilledMs : 0)
      out.billedMs += bill.billedMs
      out.durationUsd += bill.durationUsd
      out.requestUsd += bill.requestUsd
      out.busyMs += dur
      out.s3Usd += st.s3UsdPerBatch
    }
    outcomes.push(out)
    // Next stage's arrival = this stage's end + the time outside its handler.
    if (s + 1 < S) {
      const next = new Float64Array(nb)
      for (let b = 0; b < nb; b++) next[b] = end[b] + o.stages[s + 1].unbilledMs[size(b)]
      t = next
    }
  }

  const skipped = nb === 0 ? 0 : batches.start[b0]
  const latenciesMs = new Float64Array(arrivalsMs.length - skipped)
  for (let b = b0; b < nb; b++) {
    const i0 = batches.start[b]
    const i1 = batches.start[b + 1]
    const done = end[b]
    for (let i = i0; i < i1; i++) latenciesMs[i - skipped] = done - arrivalsMs[i]
    work += i1 - i0
    progress()
  }
  o.onProgress?.(1)
  return {latenciesMs, firstCountedBatch: b0, batches, stages: outcomes, coldBatch}
}
