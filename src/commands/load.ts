import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {runLoad, type LoadReport} from '../serve/load.js'

export default class Load extends BaseCommand {
  static summary = 'Send open-loop traffic to a served model and report latency, SLO misses, errors and cost'

  static description = `An open-loop load generator: requests leave at arrival times drawn up front (Poisson, bursty, or a recorded trace), whether or not earlier ones were answered, so queueing shows in the latencies (a fixed number of connections waiting for answers would hide it). It learns the model's input shape from GET <url>/metadata and sends seeded random instances of that shape to <url>:predict (TensorFlow Serving REST API).

It reports the achieved rate, p50/p95/p99 latency of the answered requests, the SLO miss rate (answered later than --slo, or not 200), errors by HTTP status with a message each, and how late the generator itself sent (it kept up when that is small). Against \`amps serve\` it also reads the gateway's /v1/stats before and after: the run's cost from the billed ms of every stage invocation, the mean batch size, and the batching policy before and after.

Bounded: at most --max-requests requests and --duration seconds (plus one request timeout to collect answers). Use it on 127.0.0.1 or on servers you run.`

  static examples = [
    {
      description: '20 req/s for 30 s against the local gateway',
      command: '<%= config.bin %> <%= command.id %> http://127.0.0.1:8080/v1/models/tiny-cnn --rate 20 --duration 30 --slo 100',
    },
    {
      description: 'Bursty traffic (3× peaks), machine-readable',
      command: '<%= config.bin %> <%= command.id %> http://127.0.0.1:8080/v1/models/tiny-cnn --rate 10 --duration 60 --arrival bursty --json',
    },
    {
      description: 'Replay recorded arrival times',
      command: '<%= config.bin %> <%= command.id %> http://127.0.0.1:8080/v1/models/tiny-cnn --arrival trace --trace arrivals.csv',
    },
  ]

  static args = {
    url: Args.string({description: 'model URL, http://host:port/v1/models/<name> (or an amps gateway http://host:port)', required: true}),
  }

  static flags = {
    rate: Flags.string({description: 'mean arrival rate, requests per second (not with a trace)'}),
    duration: Flags.string({description: 'seconds to send for (a trace: cut at this many seconds)'}),
    arrival: Flags.option({options: ['poisson', 'bursty', 'trace'] as const, default: 'poisson' as const, description: 'arrival process'})(),
    trace: Flags.string({description: 'CSV of arrival timestamps for --arrival trace'}),
    seed: Flags.integer({description: 'seed of the arrivals and the random inputs', default: 1}),
    slo: Flags.integer({description: 'latency SLO in ms: report the share of requests over it', min: 1}),
    instances: Flags.integer({description: 'instances per request', default: 1, min: 1}),
    'max-requests': Flags.integer({description: 'refuse to send more than this many requests', default: 100_000, min: 1}),
    timeout: Flags.integer({description: 'per-request timeout in ms', default: 30_000, min: 1}),
    token: Flags.string({description: 'bearer token (default AMPS_SERVE_TOKEN)', env: 'AMPS_SERVE_TOKEN'}),
  }

  async run(): Promise<LoadReport> {
    const {args, flags} = await this.parse(Load)
    const num = (name: string, v: string | undefined): number | undefined => {
      if (v === undefined) return undefined
      const x = Number(v)
      if (!Number.isFinite(x) || x <= 0) this.error(`--${name} must be a positive number, got ${v}`, {exit: 2})
      return x
    }
    const r = await runLoad({
      url: args.url,
      ratePerSecond: num('rate', flags.rate),
      durationS: num('duration', flags.duration),
      arrival: flags.trace ? 'trace' : flags.arrival,
      traceFile: flags.trace,
      seed: flags.seed,
      sloMs: flags.slo,
      token: flags.token,
      instances: flags.instances,
      maxRequests: flags['max-requests'],
      timeoutMs: flags.timeout,
      log: (line) => this.note(line),
    })
    if (!this.jsonEnabled()) {
      const f = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '-')
      this.log(
        `${r.sent} requests (${r.arrival}) to ${r.url}: achieved ${r.achievedRate.toFixed(2)} req/s of ${r.requestedRate.toFixed(2)}; ${r.ok} answered 200`,
      )
      this.log(`latency ms: p50 ${f(r.latencyMs.p50)}, p95 ${f(r.latencyMs.p95)}, p99 ${f(r.latencyMs.p99)}, max ${f(r.latencyMs.max)}`)
      if (r.sloMissRate !== undefined) this.log(`SLO ${r.sloMs} ms: ${(100 * r.sloMissRate).toFixed(2)} % missed`)
      this.log(
        `status: ${Object.entries(r.byStatus)
          .map(([s, c]) => `${s === '0' ? 'no answer' : s} × ${c}`)
          .join(', ')}`,
      )
      for (const [s, m] of Object.entries(r.errors)) this.log(`  ${s === '0' ? 'no answer' : s}: ${m}`)
      if (r.gateway) {
        const g = r.gateway
        this.log(
          `gateway: ${g.instances} instances in ${g.batches} batches (mean ${g.meanBatchSize.toFixed(2)}), B/T ${g.policyBefore.maxBatch}/${g.policyBefore.timeoutMs} ms → ${g.policyAfter.maxBatch}/${g.policyAfter.timeoutMs} ms`,
        )
        this.log(
          `cost from billed ms: $${g.costUsd.toExponential(3)} for this run, $${g.costPerMillionUsd.toFixed(4)} per 1M (${Object.entries(g.billedMsByStage)
            .map(([s, ms]) => `${s} ${ms} ms`)
            .join(', ')})`,
        )
      }
      if (r.sendLagMs.p99 > 20)
        this.log(`note: the generator sent up to ${f(r.sendLagMs.max)} ms late (p99 ${f(r.sendLagMs.p99)}): this machine was too busy to keep the schedule`)
    }
    return r
  }
}
