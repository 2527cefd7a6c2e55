/**
 * `amps load`: an OPEN-loop load generator for a TF Serving style endpoint (amps serve, or any
 * server with the same REST API). Requests leave on their own clock, at arrival times drawn up
 * front (Poisson, bursty MMPP-2, or a recorded trace: src/simulate/arrivals.ts, the simulator's
 * generators), whether or not earlier ones were answered; a closed loop of N connections would wait
 * for answers and hide the queueing it should measure. Bounded in count (--max-requests) and time
 * (--duration + one request timeout).
 *
 * It reads the model's input shape from GET <url>/metadata and sends seeded random instances of
 * that shape; reports the achieved rate, p50/p95/p99, the SLO miss rate and errors by HTTP status;
 * and, from an amps gateway's GET /v1/stats before and after, the run's cost from the billed ms the
 * gateway recorded.
 */
import {AmpsUserError} from '../errors.js'
import {burstyArrivals, burstyParams, poissonArrivals} from '../simulate/arrivals.js'
import {readTraceFile} from '../simulate/load.js'
import {createRng, STREAM} from '../simulate/rng.js'
import {seededRandom} from '../util/random.js'
import type {GatewayStats} from './gateway.js'

export interface LoadOptions {
  /** http://host:port/v1/models/<name> (a trailing :predict is accepted), or http://host:port of an amps gateway */
  url: string
  ratePerSecond?: number
  durationS?: number
  arrival?: 'poisson' | 'bursty' | 'trace'
  traceFile?: string
  seed?: number
  sloMs?: number
  token?: string
  /** instances per request (default 1) */
  instances?: number
  /** at most this many requests (default 100,000) */
  maxRequests?: number
  /** per request (ms, default 30,000) */
  timeoutMs?: number
  /** programmatic arrival times (ms from the start), instead of rate/duration/arrival (the bench's rate steps) */
  arrivalsMs?: Float64Array
  /** keep every request's send time, latency and status in the report (samples) */
  keepSamples?: boolean
  /** called at these ms from the start with the gateway's /v1/stats (phase boundaries) */
  statsAtMs?: number[]
  log?: (line: string) => void
}

export interface LoadReport {
  schemaVersion: 1
  url: string
  model: string
  arrival: string
  seed: number
  requestedRate: number
  durationS: number
  sent: number
  /** requests sent ÷ the span they were sent over (req/s) */
  achievedRate: number
  ok: number
  /** answered with 200 per second of the run */
  throughput: number
  latencyMs: {p50: number; p95: number; p99: number; max: number; mean: number}
  sloMs?: number
  /** requests not answered 200 within the SLO, ÷ sent */
  sloMissRate?: number
  byStatus: Record<string, number>
  /** a few error messages, by status */
  errors: Record<string, string>
  /** how late the generator sent requests behind their arrival times (ms): it kept up if small */
  sendLagMs: {p99: number; max: number}
  /** from the gateway's /v1/stats (absent when the server is not an amps gateway) */
  gateway?: {
    instances: number
    batches: number
    meanBatchSize: number
    costUsd: number
    costPerMillionUsd: number
    billedMsByStage: Record<string, number>
    policyBefore: {maxBatch: number; timeoutMs: number}
    policyAfter: {maxBatch: number; timeoutMs: number}
    sloMisses: number
  }
  samples?: {atMs: number; ms: number; status: number}[]
  /** the gateway's /v1/stats at each of statsAtMs (undefined where it did not answer) */
  statsAt?: (GatewayStats | undefined)[]
}

const MAX_DURATION_S = 3600

function flagError(message: string, suggestions: string[] = []): AmpsUserError {
  return new AmpsUserError('FLAG_INVALID', message, {suggestions})
}

/** Arrival times (ms from the start) for the options, bounded by maxRequests. */
export function loadArrivals(o: LoadOptions): {timesMs: Float64Array; label: string; rate: number; durationS: number} {
  const seed = o.seed ?? 1
  const max = o.maxRequests ?? 100_000
  if (o.arrivalsMs) {
    const durationS = o.durationS ?? Math.max(0.001, (o.arrivalsMs.at(-1) ?? 0) / 1000)
    return {timesMs: o.arrivalsMs.slice(0, max), label: 'given arrival times', rate: Math.min(max, o.arrivalsMs.length) / durationS, durationS}
  }
  if (o.arrival === 'trace' || o.traceFile) {
    if (!o.traceFile) throw flagError('--arrival trace needs --trace <file.csv>')
    const t = readTraceFile(o.traceFile, {maxRows: max})
    const times = o.durationS ? t.timesMs.filter((x) => x < o.durationS! * 1000) : t.timesMs
    const durationS = o.durationS ?? Math.max(t.spanS, 0.001)
    return {timesMs: times, label: `trace ${o.traceFile}`, rate: times.length / durationS, durationS}
  }
  const rate = o.ratePerSecond
  const durationS = o.durationS
  if (!(rate !== undefined && Number.isFinite(rate) && rate > 0)) throw flagError(`--rate must be a positive number of requests per second, got ${rate}`)
  if (!(durationS !== undefined && Number.isFinite(durationS) && durationS > 0 && durationS <= MAX_DURATION_S)) {
    throw flagError(`--duration must be between 0 and ${MAX_DURATION_S} s, got ${durationS}`)
  }
  if (rate * durationS > max) {
    throw flagError(`${rate} req/s for ${durationS} s is ${Math.round(rate * durationS)} requests, more than --max-requests ${max}`, [
      'shorten --duration, or raise --max-requests',
    ])
  }
  const rng = createRng(seed, STREAM.arrivals)
  const timesMs = o.arrival === 'bursty' ? burstyArrivals(burstyParams(rate), durationS, rng) : poissonArrivals(rate, durationS, rng)
  return {
    timesMs: timesMs.length > max ? timesMs.slice(0, max) : timesMs,
    label: o.arrival === 'bursty' ? 'bursty (MMPP-2, 3× peaks)' : 'poisson',
    rate,
    durationS,
  }
}

/** The model URL and the gateway's base, from what the user typed. */
export function parseLoadUrl(raw: string): {base: string; modelPath?: string} {
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    throw flagError(`not a URL: ${raw}`, ['e.g. http://127.0.0.1:8080/v1/models/tiny-cnn'])
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw flagError(`only http:// and https:// URLs, got ${u.protocol}`)
  const path = u.pathname.replace(/:predict$/, '').replace(/\/+$/, '')
  const m = /^\/v1\/models\/([^/]+)(?:\/versions\/\d+)?$/.exec(path)
  if (path !== '' && !m) throw flagError(`${raw} is not a model URL`, ['give http://host:port/v1/models/<name> (TF Serving REST API)'])
  return {base: u.origin, modelPath: m ? `/v1/models/${m[1]}` : undefined}
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

interface Signature {
  inputs: Record<string, {dtype: string; tensor_shape: {dim: {size: string}[]}}>
}

/** Random instances (seeded) matching the model's inputs: one nested array, or an object per input. */
function makeInstance(sig: Signature, rnd: () => number): unknown {
  const entries = Object.entries(sig.inputs)
  const one = (spec: {dtype: string; tensor_shape: {dim: {size: string}[]}}) => {
    const dims = spec.tensor_shape.dim.slice(1).map((d) => Math.max(1, Number(d.size)))
    const build = (depth: number): unknown =>
      depth === dims.length
        ? spec.dtype === 'DT_INT32'
          ? Math.floor(rnd() * 10)
          : Math.round(rnd() * 1e4) / 1e4
        : Array.from({length: dims[depth]}, () => build(depth + 1))
    return build(0)
  }
  return entries.length === 1 ? one(entries[0][1]) : Object.fromEntries(entries.map(([k, v]) => [k, one(v)]))
}

/** The parts of TF Serving's metadata answer (and of an error answer) the generator reads. */
interface MetadataBody {
  error?: string
  metadata?: {signature_def?: {signature_def?: {serving_default?: Signature}}}
}

async function getJson<T>(url: string, headers: Record<string, string>): Promise<{status: number; body: T | undefined}> {
  const res = await fetch(url, {headers, signal: AbortSignal.timeout(10_000)})
  let body: T | undefined
  try {
    body = await res.json()
  } catch {
    body = undefined
  }
  return {status: res.status, body}
}

export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? (() => {})
  const {base, modelPath: given} = parseLoadUrl(o.url)
  const headers: Record<string, string> = o.token ? {authorization: `Bearer ${o.token}`} : {}
  const arrivals = loadArrivals(o)
  const seed = o.seed ?? 1
  const timeoutMs = o.timeoutMs ?? 30_000
  const k = o.instances ?? 1
  if (!(Number.isInteger(k) && k >= 1)) throw flagError(`--instances must be a positive integer, got ${k}`)

  const statsOf = async (): Promise<GatewayStats | undefined> => {
    try {
      const r = await getJson<GatewayStats>(`${base}/v1/stats`, headers)
      return r.status === 200 && r.body && typeof r.body.costUsd === 'number' ? (r.body as GatewayStats) : undefined
    } catch {
      return undefined
    }
  }
  let modelPath = given
  let before: GatewayStats | undefined
  try {
    before = await statsOf()
  } catch {
    before = undefined
  }
  if (!modelPath) {
    if (!before) throw flagError(`${base} is not an amps gateway (no /v1/stats): give the model URL`, [`${base}/v1/models/<name>`])
    modelPath = `/v1/models/${before.model}`
  }
  let meta
  try {
    meta = await getJson<MetadataBody>(`${base}${modelPath}/metadata`, headers)
  } catch (error) {
    throw new AmpsUserError('FLAG_INVALID', `cannot reach ${base}: ${(error as Error).message}`, {
      suggestions: ['is `amps serve` running? check the URL and port'],
    })
  }
  if (meta.status === 401) throw flagError(`${base} wants a bearer token: pass --token or set AMPS_SERVE_TOKEN`)
  const sig: Signature | undefined = meta.body?.metadata?.signature_def?.signature_def?.serving_default
  if (meta.status !== 200 || !sig?.inputs) {
    throw flagError(
      `GET ${base}${modelPath}/metadata answered ${meta.status}${meta.body?.error ? `: ${meta.body.error}` : ''}; cannot learn the model's input shape`,
    )
  }
  const model = modelPath.split('/').pop()!
  const rnd = seededRandom(seed)
  const bodies = Array.from({length: 8}, () => JSON.stringify({instances: Array.from({length: k}, () => makeInstance(sig, rnd))}))
  const predictUrl = `${base}${modelPath}:predict`

  const n = arrivals.timesMs.length
  log(`${n} requests (${arrivals.label}, ${arrivals.rate.toFixed(1)} req/s for ${arrivals.durationS} s) to ${predictUrl}`)
  const latencies: number[] = []
  const lags: number[] = []
  const byStatus: Record<string, number> = {}
  const errors: Record<string, string> = {}
  let ok = 0
  let missed = 0
  const pending: Promise<void>[] = []
  const t0 = performance.now()
  let lastSend = t0
  const samples: {atMs: number; ms: number; status: number}[] = []
  const statsAt: Promise<GatewayStats | undefined>[] = (o.statsAtMs ?? []).map(
    (at) => new Promise((resolve) => setTimeout(() => void statsOf().then(resolve), Math.max(0, at - (performance.now() - t0)))),
  )
  const send = async (i: number): Promise<void> => {
    const start = performance.now()
    lags.push(start - t0 - arrivals.timesMs[i])
    lastSend = start
    let status = 0
    let message = ''
    try {
      const res = await fetch(predictUrl, {
        method: 'POST',
        headers: {...headers, 'content-type': 'application/json'},
        body: bodies[i % bodies.length],
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await res.text()
      status = res.status
      if (status !== 200) {
        try {
          message = (JSON.parse(text) as {error?: string}).error ?? text.slice(0, 200)
        } catch {
          message = text.slice(0, 200)
        }
      }
    } catch (error) {
      const e = error as Error & {cause?: {code?: string}}
      message = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message)
    }
    const ms = performance.now() - start
    if (o.keepSamples) samples.push({atMs: arrivals.timesMs[i], ms, status})
    byStatus[status] = (byStatus[status] ?? 0) + 1
    if (status === 200) {
      ok++
      latencies.push(ms)
    } else errors[status] ??= message
    if (status !== 200 || (o.sloMs !== undefined && ms > o.sloMs)) missed++
  }
  let lastProgress = t0
  for (let i = 0; i < n; i++) {
    const due = t0 + arrivals.timesMs[i]
    const wait = due - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    pending.push(send(i))
    if (performance.now() - lastProgress > 5000) {
      lastProgress = performance.now()
      log(`${i + 1}/${n} sent, ${ok} answered`)
    }
  }
  const spanMs = Math.max(lastSend - t0, 1)
  await Promise.all(pending)
  const statsAtDone = await Promise.all(statsAt)
  const after = before ? await statsOf() : undefined
  latencies.sort((a, b) => a - b)
  lags.sort((a, b) => a - b)
  const report: LoadReport = {
    schemaVersion: 1,
    url: predictUrl,
    model,
    arrival: arrivals.label,
    seed,
    requestedRate: arrivals.rate,
    durationS: arrivals.durationS,
    sent: n,
    achievedRate: n > 1 ? ((n - 1) / spanMs) * 1000 : n,
    ok,
    throughput: ok / arrivals.durationS,
    latencyMs: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies.at(-1) ?? NaN,
      mean: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN,
    },
    byStatus,
    errors,
    sendLagMs: {p99: percentile(lags, 99), max: lags.at(-1) ?? NaN},
  }
  if (o.keepSamples) report.samples = samples.sort((a, b) => a.atMs - b.atMs)
  if (o.statsAtMs) report.statsAt = statsAtDone
  if (o.sloMs !== undefined) {
    report.sloMs = o.sloMs
    report.sloMissRate = n > 0 ? missed / n : 0
  }
  if (before && after) {
    const instances = after.instances - before.instances
    const costUsd = after.costUsd - before.costUsd
    const billed: Record<string, number> = {}
    for (const s of after.stages) billed[s.name] = s.billedMs - (before.stages.find((x) => x.name === s.name)?.billedMs ?? 0)
    report.gateway = {
      instances,
      batches: after.batches - before.batches,
      meanBatchSize: after.batches > before.batches ? instances / (after.batches - before.batches) : 0,
      costUsd,
      costPerMillionUsd: instances > 0 ? (costUsd / instances) * 1e6 : 0,
      billedMsByStage: billed,
      policyBefore: {maxBatch: before.policy.maxBatch, timeoutMs: before.policy.timeoutMs},
      policyAfter: {maxBatch: after.policy.maxBatch, timeoutMs: after.policy.timeoutMs},
      sloMisses: after.sloMisses - before.sloMisses,
    }
  }
  return report
}
