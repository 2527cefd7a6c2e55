/**
 * The BATCH buffer alone (src/serve/batcher.ts) with an invoke function that records what it was
 * given and answers each row with its own value: dispatch at B or T after the first instance,
 * splitting and reassembling requests larger than B, several batches in flight up to the limit,
 * queue bound, cancel, errors reaching exactly the requests of the failed batch, drain.
 */
import {describe, expect, it} from 'vitest'

import type {Row} from '../../deploy/client/batch-invoke.js'
import {Batcher, QueueFullError} from '../../src/serve/batcher.js'

const row = (v: number): Row => [{id: 'x', dtype: 'float32', shape: [1], data: Float32Array.of(v)}]
const val = (r: Row) => r[0].data[0]
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function harness(opts: {B: number; T: number; maxConcurrency?: number; maxQueue?: number; delayMs?: number; fail?: (rows: number[]) => boolean}) {
  const batches: number[][] = []
  let inflight = 0
  let peak = 0
  const b = new Batcher({
    invoke: async (rows) => {
      const vs = rows.map(val)
      batches.push(vs)
      inflight++
      peak = Math.max(peak, inflight)
      await sleep(opts.delayMs ?? 5)
      inflight--
      if (opts.fail?.(vs)) throw new Error(`batch ${vs.join(',')} failed`)
      return {rows: vs.map((v) => row(v * 10))}
    },
    policy: () => ({maxBatch: opts.B, timeoutMs: opts.T}),
    maxQueue: opts.maxQueue ?? 1000,
    maxConcurrency: opts.maxConcurrency ?? 4,
  })
  return {b, batches, peak: () => peak}
}

describe('Batcher (BATCH semantics)', () => {
  it('dispatches a full batch at once and a partial one T ms after its first instance', async () => {
    const {b, batches} = harness({B: 3, T: 300})
    const full = Promise.all([1, 2, 3].map((v) => b.submit([row(v)]).promise))
    const partial = b.submit([row(4)]).promise
    expect((await full).map((r) => val(r[0]))).toEqual([10, 20, 30])
    // the full batch came back while the partial one still waits for its T: it did not wait T
    expect(b.queued).toBe(1)
    expect(val((await partial)[0])).toBe(40)
    expect(batches).toEqual([[1, 2, 3], [4]])
  })

  it('splits a request larger than B across batches and gives each caller exactly its rows in order', async () => {
    const {b, batches} = harness({B: 4, T: 5})
    const big = b.submit([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(row)).promise
    const small = b.submit([row(11), row(12)]).promise
    const [r1, r2] = await Promise.all([big, small])
    expect(r1.map(val)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    expect(r2.map(val)).toEqual([110, 120])
    expect(batches).toEqual([
      [1, 2, 3, 4],
      [5, 6, 7, 8],
      [9, 10, 11, 12],
    ])
  })

  it('keeps several batches in flight, never more than maxConcurrency', async () => {
    const {b, peak} = harness({B: 2, T: 1, maxConcurrency: 3, delayMs: 20})
    const all = await Promise.all(Array.from({length: 20}, (_, i) => b.submit([row(i)]).promise))
    expect(all.map((r) => val(r[0]))).toEqual(Array.from({length: 20}, (_, i) => i * 10))
    expect(peak()).toBe(3)
  })

  it('refuses past maxQueue instead of dropping, and cancel takes waiting rows out', async () => {
    const {b} = harness({B: 10, T: 1000, maxQueue: 5})
    const a = b.submit([row(1), row(2), row(3)])
    expect(() => b.submit([row(4), row(5), row(6)])).toThrow(QueueFullError)
    a.cancel()
    expect(b.queued).toBe(0)
    const c = b.submit([row(7)])
    b.flush()
    expect(val((await c.promise)[0])).toBe(70)
  })

  it('a failed batch fails exactly its requests (all of a split request), the others still answer', async () => {
    const {b} = harness({B: 2, T: 1, fail: (vs) => vs.includes(3)})
    const r1 = b.submit([row(1), row(2)]).promise
    const r2 = b.submit([row(3), row(4), row(5)]).promise // 3,4 fail; so does the whole request
    const r3 = b.submit([row(6)]).promise
    expect((await r1).map(val)).toEqual([10, 20])
    await expect(r2).rejects.toThrow(/batch 3,4 failed/)
    expect((await r3).map(val)).toEqual([60])
  })

  it('flush sends what waits at once and idle() resolves when everything answered', async () => {
    const {b, batches} = harness({B: 8, T: 60_000})
    const p = b.submit([row(1), row(2)]).promise
    b.flush()
    await b.idle()
    expect((await p).map(val)).toEqual([10, 20])
    expect(batches).toEqual([[1, 2]])
  })
})
