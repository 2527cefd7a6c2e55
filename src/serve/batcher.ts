/**
 * BATCH's buffer in front of the chain (Ali et al., SC20), as the planner assumes it: a batch opens
 * with the first instance that finds the buffer empty and is dispatched when it holds B instances or
 * T ms after that first one, whichever comes first. Several batches may be in flight at once (each
 * Lambda invocation gets its own environment), up to maxConcurrency; a batch that is due while every
 * slot is busy goes as soon as one frees. A request with k instances counts k; one larger than B is
 * split across consecutive batches; each request resolves with exactly its own rows, in order, once
 * every batch carrying one of them has answered (or fails with the first batch error).
 * Independent of HTTP and of the chain (the invoke function is given), so it is testable alone.
 */
import type {Row} from '../../deploy/client/batch-invoke.js'

export interface BatchPolicy {
  maxBatch: number
  timeoutMs: number
}

export class QueueFullError extends Error {
  constructor(
    readonly queued: number,
    readonly limit: number,
  ) {
    super(`the queue holds ${queued} instances (limit ${limit})`)
    this.name = 'QueueFullError'
  }
}

interface Pending {
  results: (Row | undefined)[]
  remaining: number
  done: boolean
  resolve: (rows: Row[]) => void
  reject: (error: unknown) => void
}

interface Item {
  req: Pending
  index: number
  row: Row
  arrivedAt: number
}

export interface BatchOutcome<M> {
  size: number
  /** ms from the batch's first instance to its dispatch */
  waitedMs: number
  meta?: M
  error?: unknown
}

export interface BatcherOptions<M> {
  invoke: (rows: Row[]) => Promise<{rows: Row[]; meta?: M}>
  policy: () => BatchPolicy
  /** instances waiting (not yet dispatched) at most; more → QueueFullError */
  maxQueue: number
  /** batches in flight at most */
  maxConcurrency: number
  onBatch?: (outcome: BatchOutcome<M>) => void
  now?: () => number
}

export interface Submitted {
  promise: Promise<Row[]>
  /** gives up on the request: its waiting rows leave the queue; in-flight ones are ignored */
  cancel(): void
}

export class Batcher<M = unknown> {
  private queue: Item[] = []
  private timer: NodeJS.Timeout | undefined
  private timerAt = Infinity
  private inFlight = 0
  private draining = false
  private idleWaiters: (() => void)[] = []
  private readonly now: () => number

  constructor(private readonly o: BatcherOptions<M>) {
    this.now = o.now ?? (() => performance.now())
  }

  get queued(): number {
    return this.queue.length
  }

  get inflight(): number {
    return this.inFlight
  }

  submit(rows: Row[]): Submitted {
    if (this.queue.length + rows.length > this.o.maxQueue) throw new QueueFullError(this.queue.length, this.o.maxQueue)
    let req!: Pending
    const promise = new Promise<Row[]>((resolve, reject) => {
      req = {results: new Array(rows.length), remaining: rows.length, done: false, resolve, reject}
    })
    const at = this.now()
    rows.forEach((row, index) => this.queue.push({req, index, row, arrivedAt: at}))
    this.schedule()
    return {
      promise,
      cancel: () => {
        if (req.done) return
        req.done = true
        this.queue = this.queue.filter((it) => it.req !== req)
        this.schedule()
      },
    }
  }

  /** Dispatch whatever waits without waiting for T (drain on shutdown; also after a policy change). */
  flush(): void {
    this.draining = true
    this.schedule()
  }

  /** Resolves when nothing waits and nothing is in flight. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /** Re-evaluates what is due (call after the policy changed). */
  schedule(): void {
    const {maxBatch, timeoutMs} = this.o.policy()
    const B = Math.max(1, maxBatch)
    while (this.queue.length > 0 && this.inFlight < this.o.maxConcurrency) {
      const dueAt = this.queue[0].arrivedAt + (B === 1 ? 0 : timeoutMs)
      if (this.queue.length >= B || this.draining || this.now() >= dueAt) {
        this.dispatch(this.queue.splice(0, B))
      } else {
        this.arm(dueAt)
        break
      }
    }
    if (this.queue.length === 0 || this.inFlight >= this.o.maxConcurrency) this.disarm()
    if (this.queue.length === 0 && this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w()
  }

  private arm(at: number): void {
    if (this.timer && this.timerAt <= at) return
    this.disarm()
    this.timerAt = at
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.timerAt = Infinity
        this.schedule()
      },
      Math.max(0, at - this.now()),
    )
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
  }

  private dispatch(items: Item[]): void {
    this.inFlight++
    const waitedMs = this.now() - items[0].arrivedAt
    this.o
      .invoke(items.map((it) => it.row))
      .then(
        (out) => {
          items.forEach((it, i) => {
            const req = it.req
            if (req.done) return
            req.results[it.index] = out.rows[i]
            if (--req.remaining === 0) {
              req.done = true
              req.resolve(req.results as Row[])
            }
          })
          this.o.onBatch?.({size: items.length, waitedMs, meta: out.meta})
        },
        (error: unknown) => {
          for (const it of items) {
            if (it.req.done) continue
            it.req.done = true
            it.req.reject(error)
          }
          // the request's other rows still waiting are dropped: its caller already has the error
          this.queue = this.queue.filter((it) => !it.req.done)
          this.o.onBatch?.({size: items.length, waitedMs, error})
        },
      )
      .finally(() => {
        this.inFlight--
        this.schedule()
      })
  }
}
