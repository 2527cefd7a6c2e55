import {Args, Flags} from '@oclif/core'

import {readDeployment} from '../../deploy/state/deployment.js'
import {readPlanForDeploy} from '../../deploy/state/plan-input.js'
import {BaseCommand} from '../base-command.js'
import {startGateway, type GatewayStats} from '../serve/gateway.js'

export default class Serve extends BaseCommand {
  static summary = 'Serve a deployed chain over HTTP (TensorFlow Serving REST API), batching requests as the plan says'

  static description = `Starts a gateway in front of the deployment (local or AWS) that speaks TensorFlow Serving's REST API: POST /v1/models/<name>:predict with {"instances": [...]} (row format; answers {"predictions": [...]}) or {"inputs": ...} (columnar; answers {"outputs": ...}), GET /v1/models/<name> (status) and /v1/models/<name>/metadata (input and output shapes), GET /healthz, GET /metrics (Prometheus) and GET /v1/stats (the same as JSON).

Requests are batched as the plan assumes: a batch goes when it holds B instances or T ms after its first one, several batches in flight at once (--max-concurrency); a request with k instances counts k, and one larger than B is split and reassembled. By default the gateway adapts B and T: it follows the arrival rate (a 10 s window, restarted when it detects a step), corrects the planner's stage times with the Durations it measures per batch size, and re-solves B and T for the deployed stages with the planner's own models so the SLO's percentile holds, with a margin, at the lowest cost. Measured misses shrink the latency budget at once (and cut T); a quiet stretch relaxes it slowly. It never picks something dearer than the plan's B and T when those meet the budget at the observed rate, and it changes only for a clear gain; every change is logged with its cause. --fixed keeps the plan's B and T.

Answers: 400 bad JSON, shape or dtype (naming the problem); 401 without the token; 413 body over --max-body; 429 + Retry-After when --max-queue instances already wait; 502 when a stage fails (its message); 504 past --deadline. A throttled stage (429) is retried with backoff. SIGTERM/SIGINT: stops accepting, finishes the batches in flight, exits 0.

Binds 127.0.0.1 unless --host says otherwise; any other address needs a bearer token (--token or AMPS_SERVE_TOKEN; /healthz stays open). The gateway keeps no state but its queue: for more throughput run N replicas behind any HTTP load balancer and plan with \`amps plan --replicas N\` (each replica batches 1/N of the rate).

Logs go to stderr. With --json, stdout gets one JSON line when the gateway listens ({"event":"listening","url",…}) and one when it stops ({"event":"stopped","stats":{…}}).`

  static examples = [
    {description: 'Serve the local deployment on http://127.0.0.1:8080', command: '<%= config.bin %> <%= command.id %> deployment.json'},
    {
      description: 'Keep the plan’s batch size and timeout, at most 200 waiting instances',
      command: '<%= config.bin %> <%= command.id %> deployment.json --fixed --max-queue 200',
    },
    {
      description: 'Listen on every interface (needs a token)',
      command: 'AMPS_SERVE_TOKEN=$(openssl rand -hex 32) <%= config.bin %> <%= command.id %> deployment.json --host 0.0.0.0',
    },
    {
      description: 'Then, from another shell',
      command: 'curl -s localhost:8080/v1/models/tiny-cnn/metadata; <%= config.bin %> load http://127.0.0.1:8080/v1/models/tiny-cnn --rate 20 --duration 30',
    },
  ]

  static args = {
    deployment: Args.string({description: 'deployment.json written by `amps deploy`', required: true}),
  }

  static flags = {
    port: Flags.integer({description: 'port to listen on (0: any free port)', default: 8080, min: 0, max: 65535}),
    host: Flags.string({description: 'address to bind; anything but loopback needs --token', default: '127.0.0.1'}),
    slo: Flags.integer({description: "latency SLO in ms for misses and adaptive batching (default: the plan's)", min: 1}),
    fixed: Flags.boolean({description: "keep the plan's batch size and timeout (no adaptive batching)"}),
    'batch-size': Flags.integer({description: "serve with this batch size B instead of the plan's (implies --fixed; 1 = no batching)", min: 1}),
    'batch-timeout': Flags.integer({description: "with --batch-size: the batch timeout T in ms (default the plan's)", min: 0, dependsOn: ['batch-size']}),
    'max-queue': Flags.integer({description: 'instances allowed to wait for a batch; beyond, 429', default: 1024, min: 1}),
    'max-concurrency': Flags.integer({description: 'batches in flight at once (Lambda runs each in its own environment)', default: 8, min: 1}),
    token: Flags.string({description: 'bearer token clients must send (Authorization: Bearer …); default AMPS_SERVE_TOKEN', env: 'AMPS_SERVE_TOKEN'}),
    deadline: Flags.integer({description: "a request's deadline in ms; past it, 504", default: 30_000, min: 1}),
    'max-body': Flags.integer({description: 'request body limit in MB; beyond, 413', default: 32, min: 1}),
    profile: Flags.string({description: 'AWS profile (~/.aws/config) for AWS deployments'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Serve)
    const json = this.jsonEnabled()
    const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`)
    const gw = await startGateway({
      deploymentPath: args.deployment,
      host: flags.host,
      port: flags.port,
      sloMs: flags.slo,
      fixed: flags.fixed,
      batch:
        flags['batch-size'] === undefined
          ? undefined
          : {maxBatch: flags['batch-size'], timeoutMs: flags['batch-size'] === 1 ? 0 : (flags['batch-timeout'] ?? readPlanTimeout(args.deployment))},
      maxQueue: flags['max-queue'],
      maxConcurrency: flags['max-concurrency'],
      token: flags.token,
      deadlineMs: flags.deadline,
      bodyLimitBytes: flags['max-body'] * 1048576,
      chain: flags.profile ? {profile: flags.profile} : undefined,
      log,
    })
    const line = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n')
    if (json) line({event: 'listening', url: gw.url, host: gw.host, port: gw.port, model: gw.stats().model, pid: process.pid})
    else this.log(`listening on ${gw.url}; stop with Ctrl-C`)
    const stats = await new Promise<GatewayStats>((resolve) => {
      const stop = (signal: string) => {
        log(`${signal}: not accepting new requests; finishing ${gw.stats().queued} queued instances and ${gw.stats().inflight} batches in flight`)
        process.once(signal as NodeJS.Signals, () => {
          log(`${signal} again: exiting without draining`)
          process.exit(1)
        })
        void gw.close().then(() => resolve(gw.stats()))
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
    log(
      `stopped: ${stats.requests} requests, ${stats.instances} instances in ${stats.batches} batches, ${stats.sloMisses} SLO misses, $${stats.costPerMillionUsd.toFixed(4)} per 1M from billed ms`,
    )
    if (json) line({event: 'stopped', stats})
  }
}

/** The plan's batch timeout for --batch-size without --batch-timeout (0 when the plan is gone). */
function readPlanTimeout(deploymentPath: string): number {
  try {
    return readPlanForDeploy(readDeployment(deploymentPath).planPath).batch.timeoutMs
  } catch {
    return 0
  }
}
