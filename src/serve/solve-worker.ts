/**
 * The adaptive controller's re-solve (src/serve/policy.ts solvePolicy: ~50–70 evaluations of the
 * tail model, each ~15 ms of CPU) off the gateway's event loop, in a worker thread: run on the
 * event loop, even in slices, it delays the batch timers and the answers by up to a slice each.
 * The worker rebuilds the deployed chain from the plan and its profile once; each request carries
 * the rate(s), the latency budget and the measured ÷ modelled stage-time factors (stage × batch
 * size 1..maxBatch). The same file is the worker's entry (it runs only inside a worker started here).
 * Where no compiled worker file exists (the TypeScript sources under a test runner), startSolveWorker
 * returns undefined and the controller solves in-process.
 */
import {fileURLToPath} from 'node:url'
import {isMainThread, parentPort, Worker, workerData} from 'node:worker_threads'

import type {PriceTable} from '../cost/prices.js'
import type {Plan} from '../plan/types.js'
import {readProfile} from '../profile/io.js'
import {type DeployedChain, deployedChain, solvePolicy, type SolveResult} from './policy.js'

interface Init {
  ampsSolveWorker: true
  plan: Plan
  profilePath: string
  prices: PriceTable
  sloMs: number
}

interface Request {
  id: number
  rate: number
  also: number[]
  budgetMs: number
  /** factors[stage][k − 1], k = 1..maxBatch; null: the model as profiled */
  factors: number[][] | null
}

type Reply = {id: number; result: SolveResult} | {id: number; error: string}

export interface SolveWorker {
  solve(chain: DeployedChain, rate: number, also: number[]): Promise<SolveResult>
  close(): Promise<void>
}

export function startSolveWorker(init: Omit<Init, 'ampsSolveWorker'>): SolveWorker | undefined {
  const file = fileURLToPath(import.meta.url)
  if (!file.endsWith('.js')) return undefined
  const worker = new Worker(file, {workerData: {...init, ampsSolveWorker: true} satisfies Init})
  worker.unref()
  const waiting = new Map<number, {resolve: (r: SolveResult) => void; reject: (e: Error) => void}>()
  let next = 0
  let failed: Error | undefined
  const failAll = (e: Error) => {
    failed = e
    for (const w of waiting.values()) w.reject(e)
    waiting.clear()
  }
  worker.on('message', (m: Reply) => {
    const w = waiting.get(m.id)
    if (!w) return
    waiting.delete(m.id)
    if ('result' in m) w.resolve(m.result)
    else w.reject(new Error(m.error))
  })
  worker.on('error', (e: Error) => failAll(e))
  worker.on('exit', (code) => failAll(new Error(`the solver thread exited (${code})`)))
  return {
    solve(chain, rate, also) {
      if (failed) return Promise.reject(failed)
      const scale = chain.stageScale
      const factors = scale ? chain.stages.map((_, i) => Array.from({length: chain.maxBatch}, (_, k) => scale(i, k + 1))) : null
      const id = next++
      return new Promise<SolveResult>((resolve, reject) => {
        waiting.set(id, {resolve, reject})
        worker.postMessage({id, rate, also, budgetMs: chain.sloMs, factors} satisfies Request)
      })
    },
    async close() {
      await worker.terminate()
    },
  }
}

// ------------------------------------------------------------------------------ the worker's side

if (!isMainThread && parentPort && (workerData as Init | undefined)?.ampsSolveWorker) {
  const init = workerData as Init
  const base = deployedChain(init.plan, readProfile(init.profilePath), init.prices, init.sloMs)
  const port = parentPort
  // one cache per factor table, as the controller keeps one per correction
  let lastKey = ''
  let cache = base.cache
  port.on('message', (m: Request) => {
    try {
      const key = JSON.stringify(m.factors)
      if (key !== lastKey) {
        lastKey = key
        cache = new Map()
      }
      const f = m.factors
      const chain: DeployedChain = {
        ...base,
        sloMs: m.budgetMs,
        cache,
        ...(f ? {stageScale: (i: number, k: number) => f[i]?.[Math.min(k, f[i].length) - 1] ?? 1} : {}),
      }
      port.postMessage({id: m.id, result: solvePolicy(chain, m.rate, m.also)} satisfies Reply)
    } catch (error) {
      port.postMessage({id: m.id, error: (error as Error).message} satisfies Reply)
    }
  })
}
