/**
 * The front of one local stage (bundled to <stateDir>/front.mjs, started detached by `amps deploy`
 * as `node front.mjs <functionName> <config.json> --amps-deployment=<id>`): what the Lambda service
 * is to a function. It owns the stage's port on 127.0.0.1 and serves the Lambda Invoke REST API:
 *   POST /2015-03-31/functions/<name>/invocations   → dispatched to an idle execution environment
 *   GET  /2015-03-31/functions/<name>               → GetFunction-like health answer (+ its environments)
 * Every request must carry the deployment's token (x-amps-local-token; 403 without it).
 *
 * Environments (deploy/targets/local/runner.ts) are a pool, as Lambda gives each concurrent request its own:
 * - an idle one serves the request; when all are busy a new one starts (its own process, its own
 *   memory limit and CPU quota cgroup under the stage's group, its INIT is a cold start, reported
 *   in its first REPORT line as "Init Duration"), up to `concurrency` (Lambda's reserved
 *   concurrency); past it: HTTP 429 TooManyRequestsException, as Lambda answers.
 * - the function's Timeout is enforced here, outside the environment (a hung or stopped environment
 *   cannot enforce its own): the environment is killed and the caller gets Lambda's timeout error
 *   (200, X-Amz-Function-Error: Unhandled, errorType Sandbox.Timedout, "Task timed out after X seconds").
 * - an environment that dies mid-request gives Runtime.ExitError for that request; the next request
 *   starts a fresh one.
 * - idle environments are reaped after `keepAliveMs`.
 * - SIGTERM/SIGINT: every environment is killed, their cgroups removed, then the front exits.
 * Why a front process rather than one port per environment: the stage keeps one stable endpoint
 * (the coordinator, the gateway and any @aws-sdk/client-lambda client with an endpoint override work
 * unchanged), throttling and timeouts are decided where Lambda decides them, and environments have
 * no socket at all (an IPC channel to the front), so nothing can reach them around the token check.
 */
import {spawn, type ChildProcess} from 'node:child_process'
import {closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'

import {createCpuGroup, createMemoryGroup, removeGroup} from './cgroup.js'
import {LOCAL_TOKEN_HEADER, tokenMatches} from './confine.js'
import {FrontExchange} from './exchange.js'
import {reportLine, type FromEnv, type RunnerConfig, type ToEnv} from './protocol.js'

export interface FrontConfig {
  functionName: string
  stageName?: string
  deploymentId: string
  bundleDir: string
  runnerPath: string
  readyFile: string
  logPath: string
  host: string
  /** port to try first (0 = any free port) */
  port: number
  handoffDir?: string
  memoryMb: number
  timeoutSec: number
  maxPayloadBytes: number
  /** most environments at once (Lambda's reserved concurrency) */
  concurrency: number
  /** an idle environment is ended after this long */
  keepAliveMs: number
  /** stage-level cgroups (names under amps/ in each controller) environments get their own group under */
  memoryGroup?: string
  cpuGroup?: string
  /** node flags for environments (the heap limit when there is no memory cgroup) */
  nodeArgs: string[]
  user?: {uid: number; gid: number}
  /** the environment an environment process starts with (already minimal) */
  env: Record<string, string>
  /** the deployment's exchange folder on a tmpfs (exchange.ts); without it bodies go inline over IPC */
  exchangeDir?: string
}

interface Env {
  n: number
  child: ChildProcess
  pid: number
  state: 'starting' | 'idle' | 'busy' | 'dead'
  ready: Promise<void>
  startedAt: number
  lastUsed: number
  invocations: number
  initMs?: number
  uid?: number
  cgroups: string[]
  /** the invocation in flight: resolves with the environment's answer or how it died */
  pending?: {id: number; resolve: (r: Answer) => void}
  exit?: string
  /** its exchange files, when it has them */
  exchange?: FrontExchange
}

type Answer = {status: number; headers: Record<string, string>; body: Buffer}

const config = JSON.parse(readFileSync(process.argv[3], 'utf8')) as FrontConfig
const token = process.env.AMPS_LOCAL_TOKEN ?? ''
delete process.env.AMPS_LOCAL_TOKEN
const envs: Env[] = []
let seq = 0
let invocationSeq = 0
let closing = false

function writeReady(value: object): void {
  const tmp = `${config.readyFile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(value))
  renameSync(tmp, config.readyFile)
}

function live(): Env[] {
  return envs.filter((e) => e.state !== 'dead')
}

function startEnv(): Env {
  const n = ++seq
  const cgroups: string[] = []
  if (config.memoryGroup) cgroups.push(createMemoryGroup(`${config.memoryGroup}/env-${n}`, config.memoryMb).path)
  if (config.cpuGroup) cgroups.push(createCpuGroup(`${config.cpuGroup}/env-${n}`, config.memoryMb).path)
  const exchange = config.exchangeDir ? FrontExchange.create(config.exchangeDir, config.functionName, n, config.maxPayloadBytes) : undefined
  const runnerConfig: RunnerConfig = {
    functionName: config.functionName,
    bundleDir: config.bundleDir,
    cgroups,
    handoffDir: config.handoffDir,
    memoryMb: config.memoryMb,
    timeoutSec: config.timeoutSec,
    maxPayloadBytes: config.maxPayloadBytes,
    user: config.user,
    exchange: exchange?.paths,
  }
  const logFd = openSync(config.logPath, 'a')
  const nodeCommand = [
    process.execPath,
    ...config.nodeArgs,
    config.runnerPath,
    config.functionName,
    `--amps-deployment=${config.deploymentId}`,
    `--amps-env=${n}`,
  ]
  // join the cgroups before node starts (a shell that execs node keeps the pid), so everything the
  // process allocates is charged to its group
  const [command, args] =
    cgroups.length > 0
      ? ['/bin/sh', ['-c', 'for g in $AMPS_JOIN_CGROUPS; do echo $$ > "$g/cgroup.procs" || exit 97; done; exec "$@"', 'amps-env', ...nodeCommand]]
      : [nodeCommand[0], nodeCommand.slice(1)]
  const child = spawn(command, args, {
    stdio: ['ignore', logFd, logFd, 'ipc'],
    serialization: 'advanced',
    env: {...config.env, AMPS_JOIN_CGROUPS: cgroups.join(' '), AMPS_DEPLOYMENT_ID: config.deploymentId, AMPS_RUNNER_CONFIG: JSON.stringify(runnerConfig)},
  })
  closeSync(logFd)
  const env: Env = {
    n,
    child,
    pid: child.pid ?? -1,
    state: 'starting',
    ready: Promise.resolve(),
    startedAt: Date.now(),
    lastUsed: Date.now(),
    invocations: 0,
    cgroups,
    exchange,
  }
  env.ready = new Promise<void>((resolveReady, rejectReady) => {
    child.on('message', (m: FromEnv) => {
      if (m.type === 'ready') {
        env.initMs = m.initMs
        env.uid = m.uid
        if (env.state === 'starting') env.state = 'idle'
        resolveReady()
      } else if (m.type === 'error') {
        env.exit = m.error
        rejectReady(new Error(m.error))
      } else if (m.type === 'result' && env.pending?.id === m.id) {
        const p = env.pending
        env.pending = undefined
        let body: Buffer
        try {
          body = m.body ? Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength) : env.exchange!.takeResult(m.bodyBytes ?? 0)
        } catch (error) {
          p.resolve(awsError(500, 'ServiceException', `could not read the result of ${config.functionName}: ${(error as Error).message}`))
          return
        }
        p.resolve({status: m.status, headers: m.headers, body})
      }
    })
    child.on('exit', (code, signal) => {
      const how = signal
        ? `signal: ${signal === 'SIGKILL' ? 'killed' : signal}`
        : code === 97
          ? `could not join its cgroups (${cgroups.join(', ')})`
          : `exit status ${code}`
      env.exit ??= how
      env.state = 'dead'
      rejectReady(new Error(`environment ${n} (pid ${env.pid}) ended during init: ${env.exit}`))
      if (env.pending) {
        const p = env.pending
        env.pending = undefined
        p.resolve(functionError('Runtime.ExitError', `RequestId: ${p.id} Error: Runtime exited with error: ${how}`))
      }
      env.exchange?.close()
      setTimeout(() => {
        for (const g of cgroups) removeGroup(g)
        const i = envs.indexOf(env)
        if (i >= 0) envs.splice(i, 1)
      }, 50)
    })
  })
  env.ready.catch(() => {})
  envs.push(env)
  return env
}

function kill(env: Env, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    env.child.kill(signal)
  } catch {
    // gone
  }
}

function functionError(errorType: string, errorMessage: string, extra: Record<string, string> = {}): Answer {
  return {
    status: 200,
    headers: {'Content-Type': 'application/json', 'X-Amz-Function-Error': 'Unhandled', 'X-Amz-Executed-Version': '$LATEST', ...extra},
    body: Buffer.from(JSON.stringify({errorType, errorMessage})),
  }
}

function awsError(status: number, type: string, message: string, extra: object = {}, headers: Record<string, string> = {}): Answer {
  return {
    status,
    headers: {'Content-Type': 'application/json', 'x-amzn-ErrorType': type, ...headers},
    body: Buffer.from(JSON.stringify({Type: 'User', message, ...extra})),
  }
}

function answer(res: ServerResponse, a: Answer): void {
  res.writeHead(a.status, {...a.headers, 'Content-Length': a.body.length})
  res.end(a.body)
}

/** An idle environment, a new one when all are busy, or undefined at the concurrency limit. */
function acquire(): Env | undefined {
  const idle = envs.find((e) => e.state === 'idle')
  if (idle) {
    idle.state = 'busy'
    return idle
  }
  if (live().length >= config.concurrency) return undefined
  const env = startEnv()
  env.state = 'busy'
  return env
}

/** A request body as it arrived: its chunks (a large one goes to the exchange file without being joined first). */
type Body = {chunks: Buffer[]; size: number}

async function dispatch(body: Body, tail: boolean): Promise<Answer> {
  const env = acquire()
  if (!env) {
    return awsError(
      429,
      'TooManyRequestsException',
      `Rate Exceeded. ${config.stageName ?? config.functionName} has ${config.concurrency} execution environment${config.concurrency > 1 ? 's' : ''} (its concurrency limit), all busy.`,
      {Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded', retryAfterSeconds: '1'},
      {'Retry-After': '1'},
    )
  }
  // an environment that never finishes INIT must not hold its slot forever: Lambda bounds an
  // on-demand init by the function's Timeout (we add 10 s for the local runtime's own boot)
  let initTimer: NodeJS.Timeout | undefined
  try {
    await Promise.race([
      env.ready,
      new Promise<never>((_, reject) => {
        initTimer = setTimeout(
          () => {
            env.exit = `init did not finish within ${config.timeoutSec + 10} s`
            kill(env)
            reject(new Error(env.exit))
          },
          (config.timeoutSec + 10) * 1000,
        )
      }),
    ])
  } catch (error) {
    return functionError('Runtime.InitError', `environment of ${config.functionName} failed to start: ${(error as Error).message}`)
  } finally {
    clearTimeout(initTimer)
  }
  if (env.state === 'dead') return functionError('Runtime.ExitError', `Runtime exited with error: ${env.exit ?? 'unknown'}`)
  const id = ++invocationSeq
  const t0 = performance.now()
  const timeoutMs = config.timeoutSec * 1000
  let timer: NodeJS.Timeout | undefined
  const result = await new Promise<Answer>((resolveAnswer) => {
    env.pending = {id, resolve: resolveAnswer}
    timer = setTimeout(() => {
      if (env.pending?.id !== id) return
      env.pending = undefined
      env.exit = 'timed out'
      kill(env)
      const requestId = `local-${process.pid}-${id}`
      const line = reportLine(requestId, performance.now() - t0, config.memoryMb, 0, undefined, 'timeout')
      console.log(line)
      const logHeader: Record<string, string> = tail ? {'X-Amz-Log-Result': Buffer.from(`${line}\n`).toString('base64')} : {}
      resolveAnswer(
        functionError('Sandbox.Timedout', `RequestId: ${requestId} Error: Task timed out after ${config.timeoutSec.toFixed(2)} seconds`, {
          'x-amzn-RequestId': requestId,
          ...logHeader,
        }),
      )
    }, timeoutMs)
    // a large body through the exchange file (its length in the message), else inline
    const bodyBytes = env.exchange?.putRequest(body.chunks, body.size)
    const message: ToEnv =
      bodyBytes === undefined
        ? {type: 'invoke', id, body: body.chunks.length === 1 ? body.chunks[0] : Buffer.concat(body.chunks, body.size), tail}
        : {type: 'invoke', id, bodyBytes, tail}
    try {
      env.child.send(message)
    } catch (error) {
      env.pending = undefined
      resolveAnswer(functionError('Runtime.ExitError', `Runtime exited with error: ${(error as Error).message}`))
    }
  })
  clearTimeout(timer)
  env.invocations++
  env.lastUsed = Date.now()
  if (env.state === 'busy') env.state = 'idle'
  return result
}

function readBody(req: IncomingMessage, limit: number): Promise<Body | undefined> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) tooLarge = true
      else chunks.push(c)
    })
    req.on('end', () => resolveBody(tooLarge ? undefined : {chunks, size}))
    req.on('error', reject)
  })
}

function health(): object {
  return {
    Configuration: {
      FunctionName: config.functionName,
      State: 'Active',
      LastUpdateStatus: 'Successful',
      MemorySize: config.memoryMb,
      Timeout: config.timeoutSec,
    },
    Concurrency: {ReservedConcurrentExecutions: config.concurrency},
    amps: {
      pid: process.pid,
      deploymentId: config.deploymentId,
      keepAliveMs: config.keepAliveMs,
      environments: live().map((e) => ({n: e.n, pid: e.pid, state: e.state, invocations: e.invocations, initMs: e.initMs, uid: e.uid, cgroups: e.cgroups})),
    },
  }
}

const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/
const functionPath = /^\/2015-03-31\/functions\/([^/]+)$/

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  if (token && !tokenMatches(req.headers[LOCAL_TOKEN_HEADER], token)) {
    req.resume()
    answer(
      res,
      awsError(
        403,
        'AccessDeniedException',
        `this local stage answers only its deployment's clients: send the ${LOCAL_TOKEN_HEADER} header from deployment.json`,
      ),
    )
    return
  }
  const inv = invokePath.exec(url.pathname)
  const fn = functionPath.exec(url.pathname)
  const name = decodeURIComponent((inv ?? fn)?.[1] ?? '')
  if ((inv || fn) && name !== config.functionName && !name.endsWith(`:function:${config.functionName}`)) {
    req.resume()
    answer(res, awsError(404, 'ResourceNotFoundException', `Function not found: ${name} (this local stage serves ${config.functionName})`))
    return
  }
  if (fn && req.method === 'GET') {
    answer(res, {status: 200, headers: {'Content-Type': 'application/json'}, body: Buffer.from(JSON.stringify(health()))})
    return
  }
  if (!inv || req.method !== 'POST') {
    req.resume()
    answer(res, awsError(404, 'UnknownOperationException', `${req.method} ${url.pathname} is not served by the local Lambda runtime`))
    return
  }
  readBody(req, config.maxPayloadBytes)
    .then(async (body) => {
      if (body === undefined) {
        answer(res, awsError(413, 'RequestTooLargeException', `Request must be smaller than ${config.maxPayloadBytes} bytes for the InvokeFunction operation`))
        return
      }
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse')
      if (type === 'DryRun') {
        res.writeHead(204)
        res.end()
        return
      }
      if (closing) {
        answer(res, awsError(503, 'ServiceException', `${config.functionName} is shutting down`))
        return
      }
      answer(res, await dispatch(body, String(req.headers['x-amz-log-type'] ?? '').toLowerCase() === 'tail'))
    })
    .catch((error: Error) => answer(res, awsError(500, 'ServiceException', error.message)))
})
server.keepAliveTimeout = 60_000

const reaper = setInterval(
  () => {
    const now = Date.now()
    for (const e of envs)
      if (e.state === 'idle' && now - e.lastUsed > config.keepAliveMs) {
        e.state = 'dead'
        e.exit = 'reaped after keep-alive'
        kill(e, 'SIGTERM')
      }
  },
  Math.min(1000, Math.max(100, config.keepAliveMs / 4)),
)
reaper.unref()

async function shutdown(code: number): Promise<never> {
  closing = true
  server.close()
  for (const e of envs) kill(e)
  const deadline = Date.now() + 3000
  while (envs.some((e) => e.child.exitCode === null && e.child.signalCode === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 60))
  for (const e of envs) for (const g of e.cgroups) removeGroup(g)
  for (const e of envs) e.exchange?.close()
  process.exit(code)
}
process.on('SIGTERM', () => void shutdown(0))
process.on('SIGINT', () => void shutdown(0))

function listen(port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE' && port !== 0) listen(0).then(resolvePort, reject)
      else reject(error)
    })
    server.listen(port, config.host, () => {
      const addr = server.address()
      resolvePort(typeof addr === 'object' && addr ? addr.port : port)
    })
  })
}

// one environment is started (and initialised) at deploy time, like the first request's cold start
// paid up front; the rest start on demand
try {
  const first = startEnv()
  await first.ready
  const port = await listen(config.port)
  writeReady({
    pid: process.pid,
    port,
    envPid: first.pid,
    initMs: first.initMs,
    uid: first.uid,
    concurrency: config.concurrency,
    startedAt: new Date().toISOString(),
  })
} catch (error) {
  const e = error as Error
  console.error(e.stack ?? String(e))
  writeReady({pid: process.pid, error: `${e.name}: ${e.message}`})
  for (const e2 of envs) kill(e2)
  setTimeout(() => process.exit(1), 100)
}
if (!existsSync(config.readyFile)) process.exit(1)
