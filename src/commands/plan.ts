import {Args, Flags} from '@oclif/core'
import {existsSync} from 'node:fs'
import {resolve} from 'node:path'

import {BaseCommand} from '../base-command.js'
import {loadPriceTable} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {PLAN_DEFAULTS, checkPlanOptions, planFromProfile, writePlan} from '../plan/index.js'
import {classifyPlanInput, loadPlanInput} from '../plan/input.js'
import {renderPlan} from '../plan/render.js'
import type {Arch, Plan as PlanJson} from '../plan/types.js'

export default class Plan extends BaseCommand {
  static summary = 'Find the cheapest split × memory × architecture × batching that meets a latency SLO'

  static description = `Reads a profile (or profiles the model first) and searches every way to run the model as a chain of Lambda functions: where to cut it (any valid cut point), how much memory each function gets (any 1-MB value), x86_64 or arm64, and how to batch requests (dispatch at B requests or T ms after the first one). It picks the plan with the lowest expected cost per request whose latency at the chosen percentile stays within --slo.

For a fixed architecture and batch setting the choice of cuts and memories is solved exactly, by a DP over cut points with Pareto fronts (--solver fast, the default) or a MILP (--solver milp); both are tested against brute force. Batch size and timeout are searched by branch and bound around them. Latency counts the batch wait at the percentile (exact for Poisson arrivals at --rate), each stage's billed time at the full batch, and the Invoke round trips; cost counts billed ms (rounded up to 1 ms) × memory × price, request fees and S3 hand-offs for tensors over the 6 MB payload limit, averaged over the batch-size distribution.

The plan is compared with three baselines on the same profile and prices: one function with the cheapest memory meeting the SLO (what AWS Lambda Power Tuning would find), cuts + memory without batching (AMPS-Inf), and one function at the largest memory. If no plan can meet the SLO, the error says the fastest achievable latency and the cheapest plan at it.

plan.json records the profile it was made from (the profile.json given, or the profiler's cache entry under $AMPS_CACHE_DIR/profiles when a model is given), which amps simulate reads for the measured spread of each stage's time.`

  static examples = [
    {description: 'Plan from a profile for a 300 ms p99 SLO at 20 requests/s', command: '<%= config.bin %> <%= command.id %> profile.json --slo 300 --rate 20'},
    {description: 'Profile and plan a Keras model, arm64 only, at most 3 stages', command: '<%= config.bin %> <%= command.id %> model.h5 --slo 1000 --arch arm64 --max-stages 3'},
    {description: 'Exactly two stages, hard latency bound, MILP solver, JSON', command: '<%= config.bin %> <%= command.id %> profile.json --slo 800 --stages 2 --percentile 100 --solver milp --json'},
  ]

  static args = {
    model: Args.string({description: 'profile.json from `amps profile`, or a model: model.json (or its directory), .h5, .keras', required: true}),
  }

  static flags = {
    slo: Flags.string({description: 'latency objective in ms at --percentile', required: true}),
    rate: Flags.string({description: 'mean request rate (requests/s, Poisson); without it there is no batching, and amps simulate will ask for a rate'}),
    percentile: Flags.string({description: 'latency percentile the SLO applies to (100 = hard bound)', default: String(PLAN_DEFAULTS.percentile)}),
    arch: Flags.option({options: ['auto', 'x86_64', 'arm64'] as const, description: 'function architecture (auto: consider both)', default: 'auto' as const})(),
    'max-batch': Flags.integer({description: `largest batch size to consider (default ${PLAN_DEFAULTS.maxBatch})`}),
    stages: Flags.integer({description: 'use exactly this many stages'}),
    'max-stages': Flags.integer({description: 'use at most this many stages', default: PLAN_DEFAULTS.maxStages}),
    region: Flags.string({description: 'AWS region (prices are us-east-1 unless --prices says otherwise)', default: 'us-east-1'}),
    prices: Flags.string({description: 'JSON file overriding figures of the built-in price table (partial; see src/cost/prices.ts)'}),
    solver: Flags.option({options: ['auto', 'fast', 'milp'] as const, description: 'inner solver', default: 'auto' as const})(),
    'time-limit': Flags.integer({description: 'seconds the planning may take; past it amps returns the best plan found and says it is not proven optimal', default: PLAN_DEFAULTS.timeLimitMs / 1000, min: 1}),
    output: Flags.string({char: 'o', description: 'where to write plan.json', default: 'plan.json'}),
  }

  async run(): Promise<PlanJson> {
    const {args, flags} = await this.parse(Plan)
    const sloMs = numberFlag('--slo', flags.slo)
    if (!(sloMs > 0)) throw new AmpsUserError('FLAG_INVALID', `--slo must be a positive number of milliseconds, got ${flags.slo}`)
    const percentile = numberFlag('--percentile', flags.percentile)
    if (!(percentile > 0 && percentile <= 100)) throw new AmpsUserError('FLAG_INVALID', `--percentile must be in (0, 100], got ${flags.percentile}`)
    const rate = flags.rate === undefined ? 0 : numberFlag('--rate', flags.rate)
    if (!(rate >= 0)) throw new AmpsUserError('FLAG_INVALID', `--rate must be >= 0 requests/s, got ${flags.rate}`)
    const maxBatch = flags['max-batch'] ?? PLAN_DEFAULTS.maxBatch
    if (rate === 0 && flags.rate !== undefined && flags['max-batch'] !== undefined && flags['max-batch'] > 1) {
      throw new AmpsUserError('FLAG_INVALID', 'batching needs a request rate: --rate 0 with --max-batch > 1 has nothing to batch', {
        suggestions: ['give the expected --rate in requests/s', 'or drop --max-batch'],
      })
    }
    if (maxBatch < 1) throw new AmpsUserError('FLAG_INVALID', `--max-batch must be >= 1, got ${maxBatch}`)
    if (flags['max-stages'] < 1) throw new AmpsUserError('FLAG_INVALID', `--max-stages must be >= 1, got ${flags['max-stages']}`)
    if (flags.stages !== undefined && flags.stages < 1) throw new AmpsUserError('FLAG_INVALID', `--stages must be >= 1, got ${flags.stages}`)
    const prices = loadPriceTable(flags.prices)

    const input = classifyPlanInput(args.model)
    if (input.kind === 'model') this.note(`Profiling ${args.model} (cached after the first time)…`)
    // A model is profiled through the profiler's cache: remember the cache entry, so the plan can
    // point `amps simulate` at the measured spread the way it does for a profile.json given here.
    let cachedProfile: string | undefined
    const profile = await loadPlanInput(input, (p) => {
      const event = p as {phase?: string; path?: string}
      if ((event.phase === 'cache-hit' || event.phase === 'cache-miss') && event.path) cachedProfile = event.path
      if (event.phase === 'cache-hit') this.note(`Using the cached profile ${event.path}`)
    })
    const profilePath = input.kind === 'profile' ? input.path : cachedProfile && existsSync(cachedProfile) ? cachedProfile : undefined
    const options = {
      sloMs,
      percentile,
      ratePerSecond: rate,
      arch: flags.arch as Arch | 'auto',
      maxBatch,
      stages: flags.stages,
      maxStages: flags.stages !== undefined ? Math.max(flags.stages, flags['max-stages']) : flags['max-stages'],
      region: flags.region,
      prices,
      solver: flags.solver,
      timeLimitMs: flags['time-limit'] * 1000,
      profilePath,
    }
    checkPlanOptions(profile, options)
    this.note(`Planning ${profile.model.name} (${profile.layers.length} layers, ${profile.cuts.length} cut points)…`)
    let plan: PlanJson
    try {
      plan = planFromProfile(profile, options)
    } catch (error) {
      if (error instanceof InvalidProblemError) throw new AmpsUserError('PROFILE_INVALID', error.message)
      throw error
    }
    const out = resolve(flags.output)
    writePlan(out, plan)
    if (!this.jsonEnabled()) {
      this.log(renderPlan(plan))
      this.log(`\nwrote ${out}`)
    }
    return plan
  }
}

function numberFlag(flag: string, text: string): number {
  const v = Number(text)
  if (text.trim() === '' || !Number.isFinite(v)) throw new AmpsUserError('FLAG_INVALID', `${flag} must be a number, got "${text}"`)
  return v
}
