/**
 * One local execution environment (bundled to <stateDir>/runner.mjs; started by the stage's front
 * process, deploy/targets/local/front.ts, as `node runner.mjs <functionName> --amps-deployment=<id> --amps-env=<n>`
 * with its config in AMPS_RUNNER_CONFIG and a node IPC channel to the front). It
 *  1. joins its own cgroups (memory limit, CPU quota; the shell that started it already did),
 *  2. drops root (setgid/setuid to the configured user, e.g. nobody) where the OS allows,
 *  3. imports the stage bundle's index.mjs (the same file Lambda runs: INIT happens here),
 *  4. says {type: 'ready', initMs} (or {type: 'error'}) to the front, then answers one invocation
 *     at a time: {type: 'invoke', id, body, tail} → {type: 'result', id, status, headers, body}
 *     as Lambda's Invoke API would answer it (a thrown error: 200 + X-Amz-Function-Error Unhandled
 *     + {errorType, errorMessage, trace}; a result over the payload limit: Function.ResponseSizeTooLarge),
 *     and logs Lambda's REPORT line after each (Duration from the event as received to the serialised
 *     result; the first one also carries "Init Duration", the cold start),
 *  5. exits when the front goes away (its IPC channel closes), so an environment never outlives its stage.
 * It has no socket of its own: only the front (which checks the deployment's token) can reach it.
 */
import {randomUUID} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

import {jsonBody, parseJsonBody} from '../../../src/stage/json-body.js'
import {EnvExchange} from './exchange.js'
import {reportLine, type FromEnv, type RunnerConfig, type ToEnv} from './protocol.js'

type Handler = (event: unknown, context: object) => Promise<unknown>

/** this environment's exchange files (exchange.ts), when the front gave it some */
let exchange: EnvExchange | undefined

function send(message: FromEnv): void {
  if (process.connected) process.send?.(message)
}

/** The request body: inline in the message, or in the exchange file. */
function requestBody(m: ToEnv): Buffer {
  if (m.body) return Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength)
  if (!exchange) throw new Error('the request body is in an exchange file, but this environment has none')
  return exchange.takeRequest(m.bodyBytes ?? 0)
}

/** A result message with a large body put in the exchange file (inline when there is none or it is full). */
function resultMessage(r: FromEnv): FromEnv {
  if (r.type !== 'result' || !r.body) return r
  const bodyBytes = exchange?.putResult(r.body)
  if (bodyBytes === undefined) return r
  const {body: _inFile, ...rest} = r
  return {...rest, bodyBytes}
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.AMPS_RUNNER_CONFIG ?? '{}') as RunnerConfig
  delete process.env.AMPS_RUNNER_CONFIG
  // the front went away (destroy, crash, kill -9): an environment never outlives its stage
  process.on('disconnect', () => process.exit(0))
  try {
    for (const cg of config.cgroups) writeFileSync(join(cg, 'cgroup.procs'), String(process.pid))
    // the exchange files are the front's (root's when it drops to nobody): opened before dropping
    if (config.exchange) exchange = EnvExchange.open(config.exchange)
    if (config.user && process.getuid?.() === 0) {
      process.setgroups?.([config.user.gid])
      process.setgid?.(config.user.gid)
      process.setuid?.(config.user.uid)
    }
    process.env.AMPS_STAGE_DIR = config.bundleDir
    process.env.AMPS_WASM_DIR = config.bundleDir
    if (config.handoffDir) process.env.AMPS_HANDOFF_DIR = config.handoffDir
    process.env.AMPS_MAX_PAYLOAD_BYTES = String(config.maxPayloadBytes)
    process.env.AWS_LAMBDA_FUNCTION_NAME = config.functionName
    process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = String(config.memoryMb)
    process.env.AWS_LAMBDA_FUNCTION_TIMEOUT = String(config.timeoutSec)
    const t0 = performance.now()
    const mod = (await import(pathToFileURL(join(config.bundleDir, 'index.mjs')).href)) as {handler: Handler; init?: object}
    const importMs = performance.now() - t0
    if (typeof mod.handler !== 'function') throw new Error(`${config.bundleDir}/index.mjs does not export handler`)
    // performance.now() counts from the process's start: node boot + import + model load + warm-up
    const initMs = performance.now()
    let first = true
    process.on('message', (m: ToEnv) => {
      if (m?.type !== 'invoke') return
      const init = first ? initMs : undefined
      first = false
      void invoke(config, mod.handler, m, init).then(
        (r) => send(resultMessage(r)),
        (error: Error) =>
          send({
            type: 'result',
            id: m.id,
            status: 500,
            headers: {'x-amzn-ErrorType': 'ServiceException'},
            body: Buffer.from(JSON.stringify({Type: 'Service', message: error.message})),
          }),
      )
    })
    send({type: 'ready', pid: process.pid, initMs, importMs, init: mod.init ?? null, uid: process.getuid?.() ?? -1})
  } catch (error) {
    const e = error as Error
    console.error(e.stack ?? String(e))
    send({type: 'error', pid: process.pid, error: `${e.name}: ${e.message}`})
    setTimeout(() => process.exit(1), 50)
  }
}

/** Ends an invocation as Lambda does: logs its REPORT line, and returns it as X-Amz-Log-Result when the caller asked for the log tail. */
function report(requestId: string, t0: number, memoryMb: number, tail: boolean, initMs: number | undefined): Record<string, string> {
  const line = reportLine(requestId, performance.now() - t0, memoryMb, Math.ceil(process.resourceUsage().maxRSS / 1024), initMs)
  console.log(line)
  return tail ? {'X-Amz-Log-Result': Buffer.from(`${line}\n`).toString('base64')} : {}
}

function jsonResult(id: number, status: number, body: unknown, headers: Record<string, string>): FromEnv {
  return {type: 'result', id, status, headers: {'Content-Type': 'application/json', ...headers}, body: Buffer.from(JSON.stringify(body))}
}

async function invoke(config: RunnerConfig, handler: Handler, m: ToEnv, initMs: number | undefined): Promise<FromEnv> {
  const body = requestBody(m)
  const t0 = performance.now()
  let event: unknown
  try {
    // JSON.parse's result, without running the tensors' base64 text through the JSON parser
    event = body.length === 0 ? {} : parseJsonBody(body)
  } catch {
    return jsonResult(m.id, 400, {Type: 'User', message: 'Could not parse request body into json'}, {'x-amzn-ErrorType': 'InvalidRequestContentException'})
  }
  const requestId = randomUUID()
  const deadline = Date.now() + config.timeoutSec * 1000
  const headers = {'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId}
  const context = {
    awsRequestId: requestId,
    functionName: config.functionName,
    functionVersion: '$LATEST',
    memoryLimitInMB: String(config.memoryMb),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  }
  let result: unknown
  try {
    result = await handler(event, context)
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error))
    console.error(`${requestId} ${e.name}: ${e.message}`)
    const logHeaders = report(requestId, t0, config.memoryMb, m.tail, initMs)
    return jsonResult(
      m.id,
      200,
      {errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n')},
      {...headers, ...logHeaders, 'X-Amz-Function-Error': 'Unhandled'},
    )
  }
  // JSON.stringify's bytes, with the tensors' base64 text copied in rather than serialised
  const bytes = jsonBody(result ?? null)
  // JSON.stringify gave undefined (the handler returned a function or a symbol): fail as before, with
  // Buffer.byteLength's ERR_INVALID_ARG_TYPE (a 500 ServiceException to the caller)
  if (!bytes) return Buffer.byteLength(undefined as never) as never
  const logHeaders = report(requestId, t0, config.memoryMb, m.tail, initMs)
  if (bytes.length > config.maxPayloadBytes) {
    return jsonResult(
      m.id,
      200,
      {
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${config.maxPayloadBytes} bytes).`,
      },
      {...headers, ...logHeaders, 'X-Amz-Function-Error': 'Unhandled'},
    )
  }
  return {type: 'result', id: m.id, status: 200, headers: {'Content-Type': 'application/json', ...headers, ...logHeaders}, body: bytes}
}

await main()
