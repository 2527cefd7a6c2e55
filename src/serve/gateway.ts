/**
 * `amps serve`: an HTTP gateway in front of a deployed chain that speaks TensorFlow Serving's REST
 * API, batches requests as the plan says (src/serve/batcher.ts), adapts B and T to the observed
 * rate and to the latencies and stage times it measures (src/serve/adaptive.ts on the planner's
 * models in src/serve/policy.ts) and exports Prometheus metrics.
 *
 * Why fastify (not node:http): it enforces the body limit while reading, before any parsing (413),
 * parses JSON with prototype-poisoning protection, routes TF Serving's `/v1/models/<name>:predict`
 * paths, and funnels every error through one handler, so each failure gets a clear status and a
 * `{"error": …}` body. Its overhead per request is a few tens of µs (see the serve bench).
 *
 * Endpoints: POST /v1/models/<name>:predict (also /versions/1:predict), GET /v1/models/<name>
 * (status), GET /v1/models/<name>/metadata (signature, as TF Serving), GET /healthz, GET /metrics
 * (Prometheus text), GET /v1/stats (the same figures as JSON, for `amps load`).
 * Answers: 400 malformed JSON / wrong shape or dtype (naming the problem), 401 without the bearer
 * token (when one is set), 404 unknown model, 413 body over the limit, 429 + Retry-After when the
 * queue is full, 502 a stage failed (its message, naming the stage), 503 while shutting down, 504
 * past the request deadline. Throttling (429 / TooManyRequestsException from a stage) is retried
 * with backoff in deploy/client/batch-invoke.ts before it could become a 502.
 * Security: binds 127.0.0.1 unless told otherwise; any other address needs a bearer token, compared
 * in constant time. Request data only ever becomes tensors: nothing reaches a shell or a path.
 */
import {createHash, timingSafeEqual} from 'node:crypto'
import {existsSync, statSync} from 'node:fs'
import {basename} from 'node:path'

import Fastify, {type FastifyInstance, type FastifyReply, type FastifyRequest} from 'fastify'
import {Counter, Gauge, Histogram, Registry} from 'prom-client'

import {createBatchInvoker, type Row} from '../../deploy/client/batch-invoke.js'
import type {ChainOptions, ChainResult} from '../../deploy/client/coordinator.js'
import {readDeployment} from '../../deploy/state/deployment.js'
import {readPlanForDeploy} from '../../deploy/state/plan-input.js'
import type {DeploymentState} from '../../deploy/state/types.js'
import {lambdaCostUsd} from '../cost/model.js'
import {loadPriceTable, type PriceTable} from '../cost/prices.js'
import {AmpsUserError, isAmpsUserError} from '../errors.js'
import type {TensorInfo} from '../model/types.js'
import type {Plan} from '../plan/types.js'
import {readProfile} from '../profile/io.js'
import {Batcher, type BatchPolicy, QueueFullError} from './batcher.js'
import {AdaptiveController} from './adaptive.js'
import {type DeployedChain, deployedChain, evaluatePolicy} from './policy.js'
import {startSolveWorker} from './solve-worker.js'
import {RequestError, parsePredictBody, predictResponse, tfDtype} from './tensors.js'

export interface GatewayOptions {
  deploymentPath: string
  /** default 127.0.0.1; anything else needs `token` */
  host?: string
  /** default 8080; 0 picks a free port */
  port?: number
  /** the SLO for misses and adaptive batching (ms; default: the plan's) */
  sloMs?: number
  /** keep the plan's B and T (no adaptation) */
  fixed?: boolean
  /** serve with this B and T instead of the plan's (implies fixed; maxBatch 1 = no batching) */
  batch?: {maxBatch: number; timeoutMs: number}
  /** instances waiting at most before 429 (default 1024) */
  maxQueue?: number
  /** batches in flight at most (default 8) */
  maxConcurrency?: number
  /** bearer token; required when host is not loopback */
  token?: string
  /** request body limit (bytes, default 32 MiB) */
  bodyLimitBytes?: number
  /** a request's deadline (ms, default 30,000): past it, 504 */
  deadlineMs?: number
  /** a steady rate is estimated over this sliding window (s, default 10); a step restarts it */
  windowS?: number
  /** how often the adaptive controller looks at the rate (ms, default 1000) */
  adaptEveryMs?: number
  /** progress and policy changes (stderr in the CLI) */
  log?: (line: string) => void
  chain?: ChainOptions
  prices?: PriceTable
}

export interface StageStats {
  name: string
  memoryMb?: number
  invocations: number
  billedMs: number
  durationMs: number
}

export interface GatewayStats {
  model: string
  target: 'local' | 'aws'
  mode: 'adaptive' | 'fixed'
  policy: BatchPolicy & {
    rate: number
    dispersion: number
    feasible: boolean
    predictedLatencyMs?: number
    predictedCostPerMillionUsd?: number
    /** adaptive: the latency the controller aims at (SLO × (1 − margin), ms) and the margin */
    budgetMs?: number
    margin?: number
  }
  sloMs: number
  percentile: number
  requests: number
  byStatus: Record<string, number>
  instances: number
  batches: number
  sloMisses: number
  throttleRetries: number
  stages: StageStats[]
  /** Σ billed cost of every stage invocation so far (USD; first-tier prices, no free tier) */
  costUsd: number
  /** costUsd ÷ instances answered × 1e6 */
  costPerMillionUsd: number
  queued: number
  inflight: number
}

export interface Gateway {
  url: string
  host: string
  port: number
  app: FastifyInstance
  stats(): GatewayStats
  policy(): BatchPolicy
  /** stop accepting, finish what is queued and in flight, close */
  close(): Promise<void>
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost'])

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** Constant-time comparison of a presented bearer token with the expected one (hashes: equal lengths). */
export function tokenMatches(presented: string | undefined, expected: string): boolean {
  const a = createHash('sha256')
    .update(presented ?? '')
    .digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b) && presented !== undefined
}

function flagError(message: string, suggestions: string[] = []): AmpsUserError {
  return new AmpsUserError('FLAG_INVALID', message, {suggestions})
}

const DEFAULTS = {port: 8080, maxQueue: 1024, maxConcurrency: 8, bodyLimitBytes: 32 * 1048576, deadlineMs: 30_000, windowS: 10, adaptEveryMs: 1000}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const log = o.log ?? (() => {})
  const host = o.host ?? '127.0.0.1'
  const token = o.token
  if (!isLoopback(host) && !token) {
    throw flagError(`--host ${host} exposes the gateway beyond this machine: give a bearer token with --token or AMPS_SERVE_TOKEN`, [
      `AMPS_SERVE_TOKEN=$(openssl rand -hex 32) amps serve … --host ${host}`,
      'or keep the default --host 127.0.0.1 and put your own proxy in front',
    ])
  }
  if (token !== undefined && token.length < 16) throw flagError('the bearer token must be at least 16 characters', ['openssl rand -hex 32 makes a good one'])
  const maxQueue = o.maxQueue ?? DEFAULTS.maxQueue
  const maxConcurrency = o.maxConcurrency ?? DEFAULTS.maxConcurrency
  const deadlineMs = o.deadlineMs ?? DEFAULTS.deadlineMs
  const bodyLimit = o.bodyLimitBytes ?? DEFAULTS.bodyLimitBytes
  for (const [name, v] of [
    ['--max-queue', maxQueue],
    ['--max-concurrency', maxConcurrency],
    ['--deadline', deadlineMs],
    ['--max-body', bodyLimit],
  ] as const) {
    if (!(Number.isFinite(v) && v >= 1)) throw flagError(`${name} must be at least 1, got ${v}`)
  }

  let deployment = readDeployment(o.deploymentPath)
  let deploymentMtime = statSync(o.deploymentPath).mtimeMs
  let plan: Plan | undefined
  if (deployment.planPath && existsSync(deployment.planPath)) plan = readPlanForDeploy(deployment.planPath)
  const modelInputs: TensorInfo[] | undefined = deployment.modelInputs
  const modelOutputs: TensorInfo[] | undefined = deployment.modelOutputs
  if (!modelInputs || modelInputs.length === 0) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${o.deploymentPath} does not record the model's inputs`, {
      suggestions: ['Run `amps deploy` again with this amps.'],
    })
  }
  const modelName = plan?.model.name ?? basename(deployment.modelPath)
  const sloMs = o.sloMs ?? plan?.inputs.sloMs
  if (sloMs !== undefined && !(sloMs > 0)) throw flagError(`--slo must be a positive number of ms, got ${sloMs}`)
  const percentile = plan?.inputs.percentile ?? 99
  // priced where it runs: an AWS deployment's region, else the region the plan was priced for
  const prices = o.prices ?? loadPriceTable(undefined, deployment.target === 'aws' ? deployment.region : plan?.inputs.region)
  const memoryOf = new Map((plan?.stages ?? []).map((s) => [s.name, s]))

  // batching policy: the plan's, then (adaptive) re-solved for the observed rate
  let policy: BatchPolicy = o.batch ?? {maxBatch: plan?.batch.size ?? 1, timeoutMs: plan?.batch.timeoutMs ?? 0}
  if (!(Number.isInteger(policy.maxBatch) && policy.maxBatch >= 1 && policy.timeoutMs >= 0))
    throw flagError(`--batch-size must be an integer >= 1 and --batch-timeout >= 0 ms`)
  let mode: 'adaptive' | 'fixed' = o.fixed || o.batch ? 'fixed' : 'adaptive'
  let chainModel: DeployedChain | undefined
  if (mode === 'adaptive') {
    const profilePath = plan?.model.profile
    if (!plan || !profilePath || !existsSync(profilePath) || sloMs === undefined) {
      log(
        `adaptive batching needs the plan and its profile (${!plan ? 'no plan' : `profile ${profilePath ?? 'not recorded'}`}${profilePath && !existsSync(profilePath) ? ' is gone' : ''}): keeping the plan's B = ${policy.maxBatch}, T = ${policy.timeoutMs} ms as with --fixed`,
      )
      mode = 'fixed'
    } else {
      chainModel = deployedChain(plan, readProfile(profilePath), prices, sloMs)
    }
  }
  const state: Omit<GatewayStats['policy'], 'maxBatch' | 'timeoutMs'> = {
    rate: 0,
    dispersion: 1,
    feasible: true,
    predictedLatencyMs: plan?.predicted.latencyMs,
    predictedCostPerMillionUsd: plan?.predicted.costPerMillionUsd,
  }

  // metrics
  const registry = new Registry()
  const reg = [registry]
  const latency = new Histogram({
    name: 'amps_serve_request_duration_seconds',
    help: 'predict requests: arrival to answer (s)',
    labelNames: ['code'],
    buckets: [0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30],
    registers: reg,
  })
  const batchSize = new Histogram({
    name: 'amps_serve_batch_size',
    help: 'instances per dispatched batch',
    buckets: [1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64],
    registers: reg,
  })
  const batchWait = new Histogram({
    name: 'amps_serve_batch_wait_seconds',
    help: "a batch's first instance to its dispatch (s)",
    buckets: [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: reg,
  })
  const sloMisses = new Counter({name: 'amps_serve_slo_misses_total', help: 'predict requests answered later than the SLO (or not at all)', registers: reg})
  const requests = new Counter({name: 'amps_serve_requests_total', help: 'predict requests by HTTP status', labelNames: ['code'], registers: reg})
  const instancesServed = new Counter({name: 'amps_serve_instances_total', help: 'instances answered with a prediction', registers: reg})
  const stageDuration = new Histogram({
    name: 'amps_serve_stage_duration_ms',
    help: "a stage invocation's Duration as the platform reports it (ms)",
    labelNames: ['stage'],
    buckets: [1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000],
    registers: reg,
  })
  const stageBilled = new Counter({name: 'amps_serve_stage_billed_ms_total', help: 'billed ms of the stage invocations', labelNames: ['stage'], registers: reg})
  const stageCalls = new Counter({name: 'amps_serve_stage_invocations_total', help: 'stage invocations', labelNames: ['stage'], registers: reg})
  const throttles = new Counter({
    name: 'amps_serve_throttle_retries_total',
    help: 'stage invocations retried after throttling (429 / TooManyRequestsException)',
    labelNames: ['stage'],
    registers: reg,
  })
  const costTotal = new Counter({
    name: 'amps_serve_cost_usd_total',
    help: 'billed cost of the stage invocations so far (USD, first-tier prices)',
    registers: reg,
  })
  const policyChanges = new Counter({name: 'amps_serve_policy_changes_total', help: 'adaptive batching changes of B or T', registers: reg})
  const stats = {
    requests: 0,
    byStatus: {} as Record<string, number>,
    instances: 0,
    batches: 0,
    sloMisses: 0,
    throttles: 0,
    costUsd: 0,
    stages: new Map<string, StageStats>(),
  }
  // the gauges below read the batcher, created further down once the chain is set up
  const held: {batcher?: Batcher<ChainResult>} = {}
  new Gauge({
    name: 'amps_serve_queue_depth',
    help: 'instances waiting for a batch',
    registers: reg,
    collect() {
      this.set(held.batcher?.queued ?? 0)
    },
  })
  new Gauge({
    name: 'amps_serve_inflight_batches',
    help: 'batches being served by the chain',
    registers: reg,
    collect() {
      this.set(held.batcher?.inflight ?? 0)
    },
  })
  new Gauge({
    name: 'amps_serve_cost_per_million_usd',
    help: 'running cost per 1M instances from billed ms (USD)',
    registers: reg,
    collect() {
      this.set(stats.instances > 0 ? (stats.costUsd / stats.instances) * 1e6 : 0)
    },
  })
  new Gauge({
    name: 'amps_serve_batch_max_size',
    help: 'B: current batch size limit',
    registers: reg,
    collect() {
      this.set(policy.maxBatch)
    },
  })
  new Gauge({
    name: 'amps_serve_batch_timeout_ms',
    help: 'T: current batch timeout (ms)',
    registers: reg,
    collect() {
      this.set(policy.timeoutMs)
    },
  })
  new Gauge({
    name: 'amps_serve_arrival_rate',
    help: 'observed arrival rate over the window (instances/s)',
    registers: reg,
    collect() {
      this.set(state.rate)
    },
  })
  new Gauge({
    name: 'amps_serve_arrival_dispersion',
    help: 'index of dispersion of per-second arrivals (1 = Poisson)',
    registers: reg,
    collect() {
      this.set(state.dispersion)
    },
  })
  new Gauge({
    name: 'amps_serve_slo_feasible',
    help: '1 when some B, T meets the SLO at the observed rate with the deployed memories, else 0 (re-plan)',
    registers: reg,
    collect() {
      this.set(state.feasible ? 1 : 0)
    },
  })
  new Gauge({
    name: 'amps_serve_predicted_latency_ms',
    help: "the policy's predicted latency at the SLO percentile (ms)",
    registers: reg,
    collect() {
      this.set(state.predictedLatencyMs ?? 0)
    },
  })
  new Gauge({
    name: 'amps_serve_predicted_cost_per_million_usd',
    help: "the policy's predicted cost per 1M requests (USD)",
    registers: reg,
    collect() {
      this.set(state.predictedCostPerMillionUsd ?? 0)
    },
  })
  new Gauge({
    name: 'amps_serve_latency_budget_ms',
    help: 'adaptive batching aims at this latency at the SLO percentile: the SLO less a margin learnt from measured misses (ms)',
    registers: reg,
    collect() {
      this.set(state.budgetMs ?? sloMs ?? 0)
    },
  })
  new Gauge({
    name: 'amps_serve_slo_ms',
    help: 'the SLO (ms)',
    registers: reg,
    collect() {
      this.set(sloMs ?? 0)
    },
  })

  // the chain: same coordinator as `amps invoke`; reloaded when deploy rewrote the file (a restarted stage)
  const retry = {
    onThrottle: (s: {stageName?: string; stageIndex: number}) => {
      stats.throttles++
      throttles.inc({stage: s.stageName ?? `stage-${s.stageIndex}`})
    },
  }
  const makeInvoker = (d: DeploymentState) => createBatchInvoker(d, {...o.chain, retry})
  let invoker = makeInvoker(deployment)
  const oldInvokers: ReturnType<typeof makeInvoker>[] = []
  const refreshDeployment = (): void => {
    try {
      const m = statSync(o.deploymentPath).mtimeMs
      if (m === deploymentMtime) return
      deploymentMtime = m
      deployment = readDeployment(o.deploymentPath)
      oldInvokers.push(invoker)
      invoker = makeInvoker(deployment)
      log(`${o.deploymentPath} changed: using the stages it lists now`)
    } catch (error) {
      log(`could not re-read ${o.deploymentPath}: ${(error as Error).message}`)
    }
  }

  const recordBatch = (result: ChainResult, size: number): void => {
    stats.batches++
    // measured stage times correct the model; a cold environment's first invocation is not typical
    controller?.batch(
      size,
      result.stages.map((s) => (s.coldStart ? undefined : (s.durationMs ?? s.handlerMs))),
    )
    let usd = 0
    for (const s of result.stages) {
      const name = s.stageName
      const billed = s.billedDurationMs ?? Math.ceil(s.durationMs ?? s.handlerMs)
      const st = stats.stages.get(name) ?? {name, memoryMb: memoryOf.get(name)?.memoryMb, invocations: 0, billedMs: 0, durationMs: 0}
      st.invocations++
      st.billedMs += billed
      st.durationMs += s.durationMs ?? s.handlerMs
      stats.stages.set(name, st)
      stageCalls.inc({stage: name})
      stageBilled.inc({stage: name}, billed)
      stageDuration.observe({stage: name}, s.durationMs ?? s.handlerMs)
      const ps = memoryOf.get(name)
      if (ps) usd += lambdaCostUsd({memoryMb: ps.memoryMb, durationMs: billed, invocations: 1, arch: ps.arch, prices}).totalUsd
    }
    stats.costUsd += usd
    costTotal.inc(usd)
    stats.instances += size
    instancesServed.inc(size)
  }

  const b = new Batcher<ChainResult>({
    invoke: async (rows: Row[]) => {
      refreshDeployment()
      const {rows: out, result} = await invoker.invokeRows(rows)
      recordBatch(result, rows.length)
      return {rows: out, meta: result}
    },
    policy: () => policy,
    maxQueue,
    maxConcurrency,
    onBatch: (b) => {
      batchSize.observe(b.size)
      batchWait.observe(b.waitedMs / 1000)
      if (b.error) refreshDeployment()
    },
  })
  held.batcher = b

  // adaptive controller: rate (with step detection), measured stage times and latencies → B, T
  // re-solves run in a worker thread (off the event loop that times the batches) when it can start
  const solver = chainModel && plan?.model.profile ? startSolveWorker({plan, profilePath: plan.model.profile, prices, sloMs: chainModel.sloMs}) : undefined
  const controller = chainModel
    ? new AdaptiveController(chainModel, performance.now(), {
        fixed: {...policy},
        rate: {regimeMs: (o.windowS ?? DEFAULTS.windowS) * 1000},
        ...(solver ? {solve: solver.solve} : {}),
      })
    : undefined
  let closed = false
  const adapt = async (): Promise<void> => {
    if (!controller || closed) return
    const wasFeasible = state.feasible
    try {
      const d = await controller.tick(performance.now())
      if (closed) return
      Object.assign(state, controller.state)
      for (const note of controller.notes.splice(0)) {
        const hint =
          !state.feasible && wasFeasible && note.startsWith('SLO: no')
            ? `; serving unbatched. Re-plan for this traffic: amps plan ${plan?.model.source ?? '<model>'} --slo ${sloMs} --rate ${state.rate.toFixed(1)}, then amps deploy`
            : ''
        log(note + hint)
      }
      if (d) {
        const e = d.evaluation
        log(
          `batching: B ${d.from.maxBatch} → ${d.to.maxBatch}, T ${d.from.timeoutMs} → ${d.to.timeoutMs} ms: ${d.cause}${e ? `: predicted p${percentile} ${e.latencyMs.toFixed(1)} ms, $${e.costPerMillionUsd.toFixed(4)} per 1M` : ''}`,
        )
        policy = d.to
        policyChanges.inc()
        b.schedule()
      }
    } catch (error) {
      log(`adaptive batching: re-solving failed (${(error as Error).message}); keeping B = ${policy.maxBatch}, T = ${policy.timeoutMs} ms`)
    }
  }
  if (chainModel && plan) {
    const e = evaluatePolicy(chainModel, policy, plan.inputs.ratePerSecond)
    state.predictedLatencyMs = e.latencyMs
    state.predictedCostPerMillionUsd = e.costPerRequestUsd * 1e6
    if (controller) {
      state.budgetMs = controller.state.budgetMs
      state.margin = controller.state.margin
    }
  }
  const adaptTimer = mode === 'adaptive' ? setInterval(() => void adapt(), o.adaptEveryMs ?? DEFAULTS.adaptEveryMs) : undefined
  adaptTimer?.unref()

  // HTTP
  let draining = false
  const app = Fastify({bodyLimit: bodyLimit, logger: false, forceCloseConnections: 'idle', return503OnClosing: true})
  app.addContentTypeParser('*', {parseAs: 'string'}, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch (error) {
      done(Object.assign(new Error(`malformed JSON: ${(error as Error).message}`), {statusCode: 400}), undefined)
    }
  })
  // while draining, every answer closes its connection (keep-alive would hold the server open)
  app.addHook('onSend', async (_req, reply) => {
    if (draining) reply.header('Connection', 'close')
  })
  const starts = new WeakMap<FastifyRequest, number>()
  app.addHook('onRequest', async (req, reply) => {
    starts.set(req, performance.now())
    if (token !== undefined && req.url !== '/healthz') {
      const h = req.headers.authorization
      const presented = typeof h === 'string' && h.startsWith('Bearer ') ? h.slice(7) : undefined
      if (!tokenMatches(presented, token)) {
        reply.code(401).header('WWW-Authenticate', 'Bearer').send({error: 'missing or wrong bearer token (Authorization: Bearer <token>)'})
        return reply
      }
    }
  })
  app.setErrorHandler((error: Error & {statusCode?: number; code?: string}, req, reply) => {
    let status = error.statusCode ?? 500
    let message = error.message
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413
      message = `the request body is over the gateway's limit of ${bodyLimit} bytes (amps serve --max-body)`
    } else if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.name === 'SyntaxError' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
      status = 400
      message = `malformed JSON: ${error.message}`
    } else if (status >= 500) log(`internal error on ${req.method} ${req.url.slice(0, 100)}: ${error.stack ?? error.message}`)
    if (req.url.includes(':predict')) count(req, status)
    reply.code(status).send({error: message})
  })
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send({error: `no such endpoint: ${req.method} ${req.url.slice(0, 100)}; try POST /v1/models/${modelName}:predict`})
  })

  const count = (req: FastifyRequest, status: number): void => {
    const ms = performance.now() - (starts.get(req) ?? performance.now())
    stats.requests++
    stats.byStatus[status] = (stats.byStatus[status] ?? 0) + 1
    requests.inc({code: String(status)})
    latency.observe({code: String(status)}, ms / 1000)
    const counts = status !== 400 && status !== 401 && status !== 404 && status !== 413
    if (sloMs !== undefined && (status !== 200 || ms > sloMs) && counts) {
      stats.sloMisses++
      sloMisses.inc()
    }
    if (counts && !draining) controller?.request(performance.now(), ms, status === 200)
  }
  const fail = (req: FastifyRequest, reply: FastifyReply, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    count(req, status)
    for (const [k, v] of Object.entries(headers)) reply.header(k, v)
    return reply.code(status).send(body)
  }
  const unknownModel = (name: string) => ({error: `model "${name.slice(0, 100)}" is not served here; this gateway serves "${modelName}"`})

  // find-my-way cannot put a literal ':' after a parameter, so TF Serving's `<name>:predict` is parsed here
  const PREDICT_PATH = /^([^/:]{1,200})(?:\/versions\/([^/:]{1,20}))?:predict$/
  const predict = async (req: FastifyRequest<{Params: {'*': string}}>, reply: FastifyReply) => {
    const m = PREDICT_PATH.exec(req.params['*'] ?? '')
    if (!m) return fail(req, reply, 404, {error: `no such endpoint: POST ${req.url.slice(0, 100)}; try POST /v1/models/${modelName}:predict`})
    const [, name, version] = m
    if (draining) return fail(req, reply, 503, {error: 'the gateway is shutting down'}, {Connection: 'close'})
    if (name !== modelName) return fail(req, reply, 404, unknownModel(name))
    if (version !== undefined && version !== '1')
      return fail(req, reply, 404, {error: `version ${version} of "${modelName}" is not served; the deployed chain is version 1`})
    let parsed
    try {
      parsed = parsePredictBody(req.body, modelInputs)
    } catch (error) {
      if (error instanceof RequestError) return fail(req, reply, error.status, {error: error.message})
      throw error
    }
    if (parsed.rows.length > maxQueue)
      return fail(req, reply, 413, {
        error: `the request has ${parsed.rows.length} instances, more than the gateway queues at once (--max-queue ${maxQueue}); split it`,
      })
    controller?.arrival(performance.now(), parsed.rows.length)
    let sub
    try {
      sub = b.submit(parsed.rows)
    } catch (error) {
      if (error instanceof QueueFullError) {
        const drainS = Math.max(1, Math.ceil(b.queued / Math.max(1, state.rate || policy.maxBatch)))
        return fail(req, reply, 429, {error: `overloaded: ${error.message}; retry after ${drainS} s`}, {'Retry-After': String(drainS)})
      }
      throw error
    }
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs)
    })
    try {
      const out = await Promise.race([sub.promise, deadline])
      if (out === 'deadline') {
        sub.cancel()
        return fail(req, reply, 504, {error: `no answer within the request deadline of ${deadlineMs} ms (amps serve --deadline)`})
      }
      count(req, 200)
      return reply.code(200).send(predictResponse(parsed.format, out))
    } catch (error) {
      const message = isAmpsUserError(error) ? error.message : `the chain failed: ${(error as Error).message}`
      const details = isAmpsUserError(error) ? error.details : undefined
      return fail(req, reply, 502, {error: message, ...(details?.functionName ? {stage: details.functionName} : {})})
    } finally {
      clearTimeout(timer)
    }
  }
  const nameParams = {type: 'object', properties: {name: {type: 'string', maxLength: 200}}, required: ['name']}
  app.post('/v1/models/*', predict)
  app.get<{Params: {name: string}}>('/v1/models/:name', {schema: {params: nameParams}}, async (req, reply) => {
    if (req.params.name !== modelName) return reply.code(404).send(unknownModel(req.params.name))
    return {model_version_status: [{version: '1', state: draining ? 'UNAVAILABLE' : 'AVAILABLE', status: {error_code: 'OK', error_message: ''}}]}
  })
  const signature = (ts: TensorInfo[] | undefined) =>
    Object.fromEntries(
      (ts ?? []).map((t) => [
        t.id.replace(/:\d+$/, ''),
        {dtype: tfDtype(t.dtype), tensor_shape: {dim: t.shape.map((d) => ({size: String(d ?? -1), name: ''})), unknown_rank: false}, name: t.id},
      ]),
    )
  app.get<{Params: {name: string}}>('/v1/models/:name/metadata', {schema: {params: nameParams}}, async (req, reply) => {
    if (req.params.name !== modelName) return reply.code(404).send(unknownModel(req.params.name))
    return {
      model_spec: {name: modelName, signature_name: '', version: '1'},
      metadata: {
        signature_def: {
          signature_def: {serving_default: {inputs: signature(modelInputs), outputs: signature(modelOutputs), method_name: 'tensorflow/serving/predict'}},
        },
      },
    }
  })
  app.get('/healthz', async (_req, reply) => (draining ? reply.code(503).send({status: 'draining'}) : {status: 'ok', model: modelName}))
  const snapshot = (): GatewayStats => ({
    model: modelName,
    target: deployment.target,
    mode,
    policy: {...policy, ...state},
    sloMs: sloMs ?? 0,
    percentile,
    requests: stats.requests,
    byStatus: {...stats.byStatus},
    instances: stats.instances,
    batches: stats.batches,
    sloMisses: stats.sloMisses,
    throttleRetries: stats.throttles,
    stages: [...stats.stages.values()].map((s) => ({...s})),
    costUsd: stats.costUsd,
    costPerMillionUsd: stats.instances > 0 ? (stats.costUsd / stats.instances) * 1e6 : 0,
    queued: b.queued,
    inflight: b.inflight,
  })
  app.get('/v1/stats', async () => snapshot())
  app.get('/metrics', async (_req, reply) => reply.header('Content-Type', registry.contentType).send(await registry.metrics()))

  try {
    await app.listen({host, port: o.port ?? DEFAULTS.port})
  } catch (error) {
    invoker.close()
    void solver?.close()
    const e = error as {code?: string}
    if (e.code === 'EADDRINUSE')
      throw flagError(`port ${o.port ?? DEFAULTS.port} on ${host} is in use`, ['pick another with --port, or --port 0 for any free port'])
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw flagError(`cannot listen on ${host}: not an address of this machine`)
    throw error
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? DEFAULTS.port)
  const shownHost = host.includes(':') ? `[${host}]` : host
  const url = `http://${shownHost}:${port}`
  log(
    `serving ${modelName} (${deployment.target}, ${deployment.stages.length} stage${deployment.stages.length === 1 ? '' : 's'}) on ${url}/v1/models/${modelName}:predict; batching ${mode}: B = ${policy.maxBatch}, T = ${policy.timeoutMs} ms${sloMs !== undefined ? `, SLO p${percentile} ${sloMs} ms` : ''}`,
  )

  let closing: Promise<void> | undefined
  return {
    url,
    host,
    port,
    app,
    stats: snapshot,
    policy: () => policy,
    close() {
      closing ??= (async () => {
        draining = true
        closed = true
        if (adaptTimer) clearInterval(adaptTimer)
        b.flush()
        // app.close() stops accepting and waits for the requests in progress; they finish as their
        // batches answer. Connections still open after that are idle keep-alives: closed, not waited for.
        const appClosed = app.close()
        await b.idle()
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 1000).unref())
        await Promise.race([appClosed, grace])
        app.server.closeAllConnections()
        await appClosed
        invoker.close()
        for (const i of oldInvokers) i.close()
        await solver?.close()
      })()
      return closing
    },
  }
}
