import {Args, Flags, ux} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {rateFlag} from '../flags.js'
import {loadPriceTable} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import type {Profile} from '../profile/types.js'
import {type ArrivalSpec, burstyParams, DEFAULT_MAX_REQUESTS, type SimulationResult, SimulationInputError, simulatePlan} from '../simulate/index.js'
import {planRateForSimulation, profilePathFromPlan, readPlanForSimulation, readProfileForSimulation, readTraceFile} from '../simulate/load.js'
import {renderSimulation} from '../simulate/report.js'
import {warmEnvironments} from '../plan/prewarm.js'

const DEFAULT_DURATION_S = 3600
/** when --duration is not given, keep a default run to about this many requests */
const DEFAULT_REQUEST_BUDGET = 1_000_000

export default class Simulate extends BaseCommand {
  static summary = 'Simulate a plan under a stream of requests and compare with its analytic prediction'

  static description = `Runs a discrete-event simulation of the plan as deployed: requests arrive (Poisson, a bursty two-state process, or a recorded trace), wait in a BATCH-style buffer that dispatches at B requests or T ms after the first one, and each batch runs through the chain of stages on its own function instances (scale-out, no queueing between batches). Stage times are drawn from the spread the profile measured (min/p10/median/p90/max, interpolated to the stage's memory and the batch size); instances stay warm for --keep-alive-s after their last use, otherwise the next batch pays a cold start (INIT, billed). Billing is per invocation, rounded up to 1 ms, plus request fees and S3 hand-offs.

Without --rate or --trace it simulates Poisson arrivals at the rate the plan was made for; a plan made without a rate (amps plan with no --rate) has none, so give --rate or --trace. The profile comes from --profile-file, else the one the plan records (the profile.json given to amps plan, or the profiler's cache entry when amps plan profiled the model); without one, every batch takes the stage's predictedMs (no measured spread).

It prints latency percentiles, the SLO miss rate, cost per 1M requests, the batch-size histogram, cold starts and the peak number of instances per stage, next to what the plan predicted analytically and the |error| between the two (like for like for Poisson arrivals at the plan's rate; for a plan made without a rate, at any Poisson rate when its batch size is 1). The same --seed always gives the same result.

The run starts as \`amps deploy\` leaves a deployment: each stage pre-warmed with as many idle environments as the plan's rate needs (a batch meets a busy pool with probability ≤ 0.1 %; one per stage for a plan made without a rate; in --json as warmEnvironments). --cold starts with no warm environment instead (a deployment made with --no-prewarm, or one idle past the keep-alive). When more than 1 % of the counted requests met a cold start while the pools grew, a warning suggests a --warmup-s that leaves the start out, so the percentiles reflect steady state (also in --json as warmup.suggestedS).

Bursty arrivals alternate between a HIGH rate (--burst-factor × the mean rate, for --burst-high-s on average) and a LOW rate chosen so the long-run mean stays at --rate (for --burst-low-s on average). A trace is a CSV with one column of arrival timestamps; a header such as "time_ms" or "time_s" sets the unit, otherwise --trace-unit, otherwise integers are read as ms and decimals as seconds.`

  static examples = [
    {description: "Simulate an hour at the plan's own rate", command: '<%= config.bin %> <%= command.id %> plan.json'},
    {
      description: 'Ten minutes of bursty traffic at 50 requests/s',
      command: '<%= config.bin %> <%= command.id %> plan.json --rate 50 --duration 600 --arrivals bursty',
    },
    {description: 'A plan made without --rate: say what traffic to simulate', command: '<%= config.bin %> <%= command.id %> plan.json --rate 5'},
    {description: 'Replay recorded arrivals, machine-readable', command: '<%= config.bin %> <%= command.id %> plan.json --trace arrivals.csv --json'},
    {description: 'Another seed and a short keep-alive', command: '<%= config.bin %> <%= command.id %> plan.json --seed 7 --keep-alive-s 60'},
    {
      description: 'A deployment made with --no-prewarm: start from empty pools, every first batch cold',
      command: '<%= config.bin %> <%= command.id %> plan.json --cold',
    },
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    'profile-file': Flags.string({description: 'profile.json with the measured spread (default: the profile the plan records)'}),
    rate: rateFlag({
      description: "mean arrival rate, requests per second, > 0 (default: the plan's rate; required for a plan made without --rate, unless --trace)",
      exclusive: ['trace'],
      zeroHint: 'no arrivals means nothing to simulate; give the requests/s to simulate, e.g. --rate 10, or --trace arrivals.csv',
    })(),
    duration: Flags.string({
      description: `simulated time in seconds (default ${DEFAULT_DURATION_S}, shortened to about ${DEFAULT_REQUEST_BUDGET.toLocaleString('en-US')} requests)`,
      exclusive: ['trace'],
    }),
    trace: Flags.string({description: 'CSV of arrival timestamps to replay instead of generating arrivals'}),
    'trace-unit': Flags.option({options: ['s', 'ms'] as const, description: 'unit of the trace timestamps (default: from the header, else guessed)'})(),
    arrivals: Flags.option({options: ['poisson', 'bursty'] as const, default: 'poisson' as const, description: 'arrival process', exclusive: ['trace']})(),
    'burst-factor': Flags.string({description: 'bursty: HIGH rate as a multiple of the mean rate', default: '3'}),
    'burst-high-s': Flags.string({description: 'bursty: mean time in the HIGH state (s)', default: '10'}),
    'burst-low-s': Flags.string({description: 'bursty: mean time in the LOW state (s)', default: '30'}),
    seed: Flags.integer({description: 'random seed: the same seed gives the same result', default: 1}),
    'keep-alive-s': Flags.string({description: "how long an idle instance stays warm (s; default: the price table's keep-alive, as the plan assumed)"}),
    'warmup-s': Flags.string({description: 'leave the batches opened in the first N seconds out of the statistics', default: '0'}),
    cold: Flags.boolean({
      description: 'start with no warm environment (a deployment made with `amps deploy --no-prewarm`) instead of the pools deploy pre-warms',
      exclusive: ['prewarm'],
    }),
    prewarm: Flags.boolean({
      description:
        "start each stage with the warm environments `amps deploy` starts (enough for the plan's rate: a batch meets a busy pool with probability ≤ 0.1 %); the default",
      hidden: true,
    }),
    prices: Flags.string({description: 'JSON file overriding prices or platform latencies (same format as `amps plan --prices`)'}),
    'max-requests': Flags.integer({description: 'refuse runs larger than this many requests', default: DEFAULT_MAX_REQUESTS, min: 1}),
  }

  async run(): Promise<SimulationResult> {
    const {args, flags} = await this.parse(Simulate)
    const plan = readPlanForSimulation(args.plan)
    const notes: string[] = []
    const priceTable = loadPriceTable(flags.prices, plan.inputs.region)
    if (plan.inputs.priceTableVersion && plan.inputs.priceTableVersion !== priceTable.version) {
      notes.push(`the plan was priced with table ${plan.inputs.priceTableVersion}; simulating with ${priceTable.version}`)
    }

    let profile: Profile | undefined
    const profilePath = flags['profile-file'] ?? profilePathFromPlan(plan, args.plan)
    if (flags['profile-file']) {
      const read = readProfileForSimulation(flags['profile-file'])
      profile = read.profile
      notes.push(...read.warnings)
    } else if (profilePath) {
      try {
        const read = readProfileForSimulation(profilePath)
        profile = read.profile
        notes.push(...read.warnings)
      } catch (error) {
        if (!(error instanceof AmpsUserError)) throw error
        notes.push(`could not use the plan's profile (${error.message}); falling back to the plan's predictedMs`)
      }
    } else {
      notes.push("the plan records no profile and --profile-file was not given; falling back to the plan's predictedMs")
    }
    if (profile && plan.model.sha256 && profile.model?.sha256 && plan.model.sha256 !== profile.model.sha256) {
      throw new AmpsUserError(
        'PROFILE_INVALID',
        `the profile is of a different model (sha256 ${short(profile.model.sha256)}) than the plan (${short(plan.model.sha256)})`,
        {
          suggestions: ['pass the profile the plan was made from with --profile-file'],
        },
      )
    }

    let arrivals: ArrivalSpec
    let expected: number
    if (flags.trace) {
      const trace = readTraceFile(flags.trace, {unit: flags['trace-unit'], maxRows: flags['max-requests']})
      notes.push(...trace.warnings)
      arrivals = {kind: 'trace', timesMs: trace.timesMs, source: flags.trace}
      expected = trace.timesMs.length
    } else {
      const rate = flags.rate ?? planRateForSimulation(plan, args.plan)
      let durationS: number
      if (flags.duration === undefined) {
        durationS = Math.min(DEFAULT_DURATION_S, DEFAULT_REQUEST_BUDGET / rate)
        if (durationS < DEFAULT_DURATION_S)
          notes.push(
            `simulating ${round(durationS)} s (about ${DEFAULT_REQUEST_BUDGET.toLocaleString('en-US')} requests at ${rate}/s); pass --duration for another length`,
          )
      } else {
        durationS = positive('--duration', flags.duration)
      }
      expected = rate * durationS
      if (expected > flags['max-requests']) {
        throw new AmpsUserError(
          'FLAG_INVALID',
          `${rate}/s for ${durationS} s is about ${Math.round(expected).toLocaleString('en-US')} requests, more than the limit of ${flags['max-requests'].toLocaleString('en-US')}`,
          {
            suggestions: [
              `use --duration ${Math.floor(flags['max-requests'] / rate)} or less`,
              'or raise --max-requests (memory grows with ~16 bytes per request)',
            ],
          },
        )
      }
      if (flags.arrivals === 'bursty') {
        arrivals = {
          kind: 'bursty',
          durationS,
          params: guard(() =>
            burstyParams(rate, {
              peakFactor: positive('--burst-factor', flags['burst-factor']),
              highMeanS: positive('--burst-high-s', flags['burst-high-s']),
              lowMeanS: positive('--burst-low-s', flags['burst-low-s']),
            }),
          ),
        }
      } else {
        arrivals = {kind: 'poisson', ratePerSecond: rate, durationS}
      }
    }

    const keepAliveS = flags['keep-alive-s'] === undefined ? priceTable.latency.keepAliveS.value : nonNegative('--keep-alive-s', flags['keep-alive-s'])
    const showProgress = expected > 200_000
    if (showProgress) ux.action.start(`Simulating about ${Math.round(expected).toLocaleString('en-US')} requests`, undefined, {stdout: false})
    let result: SimulationResult
    try {
      let lastShown = -1
      result = guard(() =>
        simulatePlan(plan, profile, {
          arrivals,
          seed: flags.seed,
          keepAliveS,
          warmupS: nonNegative('--warmup-s', flags['warmup-s']),
          // as deploy leaves it: warmEnvironments(plan) at the plan's own rate, whatever rate is simulated
          ...(flags.cold ? {} : {warmEnvironments: warmEnvironments(plan)}),
          prices: priceTable,
          maxRequests: flags['max-requests'],
          // Status updates only where they redraw in place (a TTY); elsewhere start/stop lines only.
          onProgress:
            showProgress && process.stderr.isTTY
              ? (fraction, phase) => {
                  const pct = Math.floor(fraction * 10) * 10
                  if (pct !== lastShown) {
                    lastShown = pct
                    ux.action.status = phase === 'arrivals' ? 'generating arrivals' : `${pct}%`
                  }
                }
              : undefined,
        }),
      )
      if (showProgress) ux.action.stop('done')
    } catch (error) {
      if (showProgress) ux.action.stop('failed')
      throw error
    }
    result.warnings.unshift(...notes)
    if (!this.jsonEnabled()) {
      this.log(renderSimulation(result))
      for (const w of result.warnings) this.warn(w)
    }
    return result
  }
}

/** Turn the pure modules' input errors into one-line user errors. */
function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (error) {
    if (error instanceof SimulationInputError)
      throw new AmpsUserError('PLAN_INVALID', error.message, {suggestions: ['check that the plan and the profile belong together']})
    if (error instanceof InvalidProblemError) throw new AmpsUserError('FLAG_INVALID', error.message)
    throw error
  }
}

function parseNumber(flag: string, text: string): number {
  const v = Number(text)
  if (text.trim() === '' || !Number.isFinite(v)) throw new AmpsUserError('FLAG_INVALID', `${flag} must be a number, got "${text}"`)
  return v
}

function positive(flag: string, text: string): number {
  const v = parseNumber(flag, text)
  if (!(v > 0)) throw new AmpsUserError('FLAG_INVALID', `${flag} must be > 0, got ${text}`)
  return v
}

function nonNegative(flag: string, text: string): number {
  const v = parseNumber(flag, text)
  if (v < 0) throw new AmpsUserError('FLAG_INVALID', `${flag} must be >= 0, got ${text}`)
  return v
}

function short(sha: string): string {
  return sha.slice(0, 12)
}

function round(x: number): number {
  return Math.round(x * 10) / 10
}
