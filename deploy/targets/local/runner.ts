/**
 * The program a local stage process runs (bundled by esbuild into the local state directory and
 * started as `node runner.mjs <functionName> <config.json>`). It
 *  1. joins its cgroups (memory limit, CPU quota) before loading anything,
 *  2. imports the stage bundle's index.mjs (the same file Lambda runs: init happens here),
 *  3. serves the Lambda Invoke REST API on 127.0.0.1:
 *       POST /2015-03-31/functions/<name>/invocations   → the handler's result (200), or on a thrown
 *            error 200 + `X-Amz-Function-Error: Unhandled` + {errorType, errorMessage, trace}
 *       GET  /2015-03-31/functions/<name>               → a GetFunction-like health answer
 *     with Lambda's payload limits (6,291,456 B request → 413 RequestTooLargeException; larger
 *     responses → Function.ResponseSizeTooLarge), one request at a time like one environment,
 *     and after each invocation Lambda's REPORT line in its log ("Duration: … ms Billed Duration:
 *     … ms …", the duration running from parsing the event to the serialised result, as Lambda
 *     bills it), returned base64 in X-Amz-Log-Result when the caller asks for LogType Tail,
 *  4. writes a ready file {pid, port, importMs, init} (or {error}) for `amps deploy`.
 */
import {randomUUID} from 'node:crypto'
import {readFileSync, renameSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'

export interface RunnerConfig {
  functionName: string
  bundleDir: string
  readyFile: string
  /** cgroup directories to join (their cgroup.procs) */
  cgroups: string[]
  host: string
  /** port to try first (0 = any free port) */
  port: number
  handoffDir?: string
  memoryMb: number
  timeoutSec: number
  maxPayloadBytes: number
}

type Handler = (event: unknown, context: object) => Promise<unknown>

function writeReady(file: string, value: object): void {
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(value))
  renameSync(tmp, file)
}

async function main(): Promise<void> {
  const configPath = process.argv[3]
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as RunnerConfig
  try {
    for (const cg of config.cgroups) writeFileSync(join(cg, 'cgroup.procs'), String(process.pid))
    process.env.AMPS_STAGE_DIR = config.bundleDir
    process.env.AMPS_WASM_DIR = config.bundleDir
    if (config.handoffDir) process.env.AMPS_HANDOFF_DIR = config.handoffDir
    process.env.AWS_LAMBDA_FUNCTION_NAME = config.functionName
    process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE = String(config.memoryMb)
    const t0 = performance.now()
    const mod = (await import(pathToFileURL(join(config.bundleDir, 'index.mjs')).href)) as {handler: Handler; init?: object}
    const importMs = performance.now() - t0
    if (typeof mod.handler !== 'function') throw new Error(`${config.bundleDir}/index.mjs does not export handler`)
    const port = await serve(config, mod.handler)
    writeReady(config.readyFile, {pid: process.pid, port, importMs, init: mod.init ?? null, startedAt: new Date().toISOString()})
  } catch (error) {
    const e = error as Error
    console.error(e.stack ?? String(e))
    writeReady(config.readyFile, {pid: process.pid, error: `${e.name}: ${e.message}`})
    process.exit(1)
  }
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers})
  res.end(text)
}

function awsError(res: ServerResponse, status: number, type: string, message: string): void {
  json(res, status, {Type: 'User', message}, {'x-amzn-ErrorType': type})
}

function serve(config: RunnerConfig, handler: Handler): Promise<number> {
  let queue: Promise<void> = Promise.resolve()
  const invokePath = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/
  const functionPath = /^\/2015-03-31\/functions\/([^/]+)$/
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const inv = invokePath.exec(url.pathname)
    const fn = functionPath.exec(url.pathname)
    const name = decodeURIComponent((inv ?? fn)?.[1] ?? '')
    if ((inv || fn) && name !== config.functionName && !name.endsWith(`:function:${config.functionName}`)) {
      awsError(res, 404, 'ResourceNotFoundException', `Function not found: ${name} (this local stage serves ${config.functionName})`)
      req.resume()
      return
    }
    if (fn && req.method === 'GET') {
      json(res, 200, {
        Configuration: {FunctionName: config.functionName, State: 'Active', LastUpdateStatus: 'Successful', MemorySize: config.memoryMb, Timeout: config.timeoutSec},
        amps: {pid: process.pid},
      })
      return
    }
    if (!inv || req.method !== 'POST') {
      awsError(res, 404, 'UnknownOperationException', `${req.method} ${url.pathname} is not served by the local Lambda runtime`)
      req.resume()
      return
    }
    readBody(req, config.maxPayloadBytes)
      .then((body) => {
        if (body === undefined) {
          awsError(res, 413, 'RequestTooLargeException', `Request must be smaller than ${config.maxPayloadBytes} bytes for the InvokeFunction operation`)
          return
        }
        const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse')
        if (type === 'DryRun') {
          res.writeHead(204)
          res.end()
          return
        }
        const tail = String(req.headers['x-amz-log-type'] ?? '').toLowerCase() === 'tail'
        // one environment serves one request at a time
        queue = queue.then(() => invoke(config, handler, body, res, tail))
      })
      .catch((error: Error) => awsError(res, 500, 'ServiceException', error.message))
  })
  server.keepAliveTimeout = 60_000
  process.on('SIGTERM', () => {
    server.close()
    process.exit(0)
  })
  return new Promise((resolvePort, reject) => {
    const listen = (port: number) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE' && port !== 0) listen(0)
        else reject(error)
      })
      server.listen(port, config.host, () => {
        const addr = server.address()
        resolvePort(typeof addr === 'object' && addr ? addr.port : port)
      })
    }
    listen(config.port)
  })
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let tooLarge = false
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) tooLarge = true
      else chunks.push(c)
    })
    req.on('end', () => resolveBody(tooLarge ? undefined : Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/**
 * Lambda's per-invocation log line. Duration runs from the start of the invocation (the event as
 * received, before it is parsed) to the serialised result; billed = rounded up to 1 ms.
 */
function reportLine(requestId: string, durationMs: number, memoryMb: number): string {
  const maxUsedMb = Math.ceil(process.resourceUsage().maxRSS / 1024)
  return `REPORT RequestId: ${requestId}\tDuration: ${durationMs.toFixed(2)} ms\tBilled Duration: ${Math.max(1, Math.ceil(durationMs - 1e-9))} ms\tMemory Size: ${memoryMb} MB\tMax Memory Used: ${maxUsedMb} MB\t`
}

/** Ends an invocation as Lambda does: logs its REPORT line, and returns it as X-Amz-Log-Result when the caller asked for the log tail. */
function report(requestId: string, t0: number, memoryMb: number, tail: boolean): Record<string, string> {
  const line = reportLine(requestId, performance.now() - t0, memoryMb)
  console.log(line)
  return tail ? {'X-Amz-Log-Result': Buffer.from(`${line}\n`).toString('base64')} : {}
}

async function invoke(config: RunnerConfig, handler: Handler, body: Buffer, res: ServerResponse, tail: boolean): Promise<void> {
  const t0 = performance.now()
  let event: unknown
  try {
    event = body.length === 0 ? {} : JSON.parse(body.toString('utf8'))
  } catch {
    awsError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json')
    return
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
    const logHeaders = report(requestId, t0, config.memoryMb, tail)
    json(res, 200, {errorType: e.name || 'Error', errorMessage: e.message, trace: (e.stack ?? '').split('\n')}, {...headers, ...logHeaders, 'X-Amz-Function-Error': 'Unhandled'})
    return
  }
  const bytes = Buffer.from(JSON.stringify(result ?? null))
  const logHeaders = report(requestId, t0, config.memoryMb, tail)
  if (bytes.length > config.maxPayloadBytes) {
    json(
      res,
      200,
      {errorType: 'Function.ResponseSizeTooLarge', errorMessage: `Response payload size exceeded maximum allowed payload size (${config.maxPayloadBytes} bytes).`},
      {...headers, ...logHeaders, 'X-Amz-Function-Error': 'Unhandled'},
    )
    return
  }
  res.writeHead(200, {'Content-Type': 'application/json', 'Content-Length': bytes.length, ...headers, ...logHeaders})
  res.end(bytes)
}

await main()
