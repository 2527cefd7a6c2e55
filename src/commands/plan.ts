import {Args, Flags} from '@oclif/core'
import {existsSync} from 'node:fs'

import {BaseCommand} from '../base-command.js'
import {numberFlag, outputFlag, PERCENTILE_RULE, rateFlag, SLO_RULE} from '../flags.js'
import {loadPriceTable} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {PLAN_DEFAULTS, checkPlanOptions, planFromProfile, writePlan} from '../plan/index.js'
import {applyBackend, checkProfileBackend, chooseModelBackend, DEFAULT_BACKEND, pricesForBackend} from '../plan/backend.js'
import {classifyPlanInput, loadPlanInput} from '../plan/input.js'
import {renderPlan} from '../plan/render.js'
import {planFormat} from '../plan/schema.js'
import {serialise} from '../files/format.js'
import type {Arch, Plan as PlanJson} from '../plan/types.js'
import type {StageBackend} from '../stage/spec.js'

export default class Plan extends BaseCommand {
  static summary = 'Find the cheapest split × memory × architecture × batching that meets a latency SLO'

  static description = `Reads a profile (or profiles the model first) and searches every way to run the model as a chain of Lambda functions: where to cut it (any valid cut point), how much memory each function gets (any 1-MB value), x86_64 or arm64, and how to batch requests (dispatch at B requests or T ms after the first one). It picks the plan with the lowest expected cost per request whose latency at the chosen percentile stays within --slo.

For a fixed architecture and batch setting the choice of cuts and memories is solved exactly, by a DP over cut points with Pareto fronts (--solver fast, the default) or a MILP (--solver milp); both are tested against brute force. Batch size and timeout are searched by branch and bound around them. Latency counts the batch wait at the percentile (exact for Poisson arrivals at --rate), each stage's billed time at the full batch, and the Invoke round trips; cost counts billed ms (rounded up to 1 ms) × memory × price, request fees and S3 hand-offs for tensors over the 6 MB payload limit, averaged over the batch-size distribution.

The plan is compared with three baselines on the same profile and prices: one function with the cheapest memory meeting the SLO (what AWS Lambda Power Tuning would find), cuts + memory without batching (AMPS-Inf), and one function at the largest memory. If no plan can meet the SLO, the error says the fastest achievable latency and the cheapest plan at it.

plan.json records the profile it was made from (the profile.json given, or the profiler's cache entry under $AMPS_CACHE_DIR/profiles when a model is given), which amps simulate reads for the measured spread of each stage's time.`

  static examples = [
    {description: 'Plan from a profile for a 300 ms p99 SLO at 20 requests/s', command: '<%= config.bin %> <%= command.id %> profile.json --slo 300 --rate 20'},
    {description: 'Profile and plan a Keras model, arm64 only, at most 3 stages', command: '<%= config.bin %> <%= command.id %> model.h5 --slo 1000 --arch arm64 --max-stages 3'},
    {description: 'Plan on TensorFlow.js (wasm) instead of ONNX Runtime, e.g. for a layer that does not export to ONNX', command: '<%= config.bin %> <%= command.id %> model.h5 --slo 1000 --rate 10 --backend wasm'},
    {description: 'Exactly two stages, hard latency bound, MILP solver, JSON', command: '<%= config.bin %> <%= command.id %> profile.json --slo 800 --stages 2 --percentile 100 --solver milp --json'},
  ]

  static args = {
    model: Args.string({description: 'profile.json from `amps profile`, or a model: model.json (or its directory), .h5, .keras', required: true}),
  }

  static flags = {
    slo: numberFlag({description: 'latency objective in ms at --percentile', rule: SLO_RULE})({required: true}),
    rate: rateFlag({
      description: 'mean request rate (requests/s, Poisson, > 0); without it there is no batching, and amps simulate will ask for a rate',
      zeroHint: 'leave --rate out to plan for sporadic requests (no batching), or give the expected requests/s, e.g. --rate 10',
    })(),
    percentile: numberFlag({description: 'latency percentile the SLO applies to (100 = hard bound)', rule: PERCENTILE_RULE})({default: PLAN_DEFAULTS.percentile}),
    arch: Flags.option({options: ['auto', 'x86_64', 'arm64'] as const, description: 'function architecture (auto: consider both)', default: 'auto' as const})(),
    replicas: Flags.integer({description: 'amps serve replicas sharing --rate behind a load balancer: each batches --rate ÷ N (the plan records that share)', default: 1, min: 1}),
    'max-batch': Flags.integer({description: `largest batch size to consider (default ${PLAN_DEFAULTS.maxBatch})`}),
    stages: Flags.integer({description: 'use exactly this many stages'}),
    'max-stages': Flags.integer({description: 'use at most this many stages', default: PLAN_DEFAULTS.maxStages}),
    region: Flags.string({description: "AWS region: its built-in dated price table (src/cost/prices.ts PRICE_TABLES), else us-east-1's with a note; --prices overrides figures", default: 'us-east-1'}),
    prices: Flags.string({description: 'JSON file overriding figures of the built-in price table (partial; see src/cost/prices.ts)'}),
    solver: Flags.option({options: ['auto', 'fast', 'milp'] as const, description: 'inner solver', default: 'auto' as const})(),
    'time-limit': Flags.integer({description: 'seconds the planning may take; past it amps returns the best plan found and says it is not proven optimal', default: PLAN_DEFAULTS.timeLimitMs / 1000, min: 1}),
    output: outputFlag({description: 'where to write plan.json', default: 'plan.json'}),
    backend: Flags.option({
      options: ['onnx', 'wasm'] as const,
      description: 'what the stages run on: onnx (onnxruntime-node, the default when every layer exports) or wasm (TensorFlow.js); from a profile.json, the backend it was measured with',
    })(),
  }

  async run(): Promise<PlanJson> {
    const {args, flags} = await this.parse(Plan)
    const sloMs = flags.slo
    const percentile = flags.percentile
    const rate = flags.rate ?? 0
    const maxBatch = flags['max-batch'] ?? PLAN_DEFAULTS.maxBatch
    if (rate === 0 && flags.rate !== undefined && flags['max-batch'] !== undefined && flags['max-batch'] > 1) {
      throw new AmpsUserError('FLAG_INVALID', 'batching needs a request rate: --rate 0 with --max-batch > 1 has nothing to batch', {
        suggestions: ['give the expected --rate in requests/s', 'or drop --max-batch'],
      })
    }
    if (maxBatch < 1) throw new AmpsUserError('FLAG_INVALID', `--max-batch must be >= 1, got ${maxBatch}`)
    if (flags['max-stages'] < 1) throw new AmpsUserError('FLAG_INVALID', `--max-stages must be >= 1, got ${flags['max-stages']}`)
    if (flags.stages !== undefined && flags.stages < 1) throw new AmpsUserError('FLAG_INVALID', `--stages must be >= 1, got ${flags.stages}`)
    let prices = loadPriceTable(flags.prices, flags.region)

    const input = classifyPlanInput(args.model)
    let backend: StageBackend = flags.backend ?? DEFAULT_BACKEND
    if (input.kind === 'model') {
      const {loadModel} = await import('../model/index.js')
      const choice = await chooseModelBackend(await loadModel(input.path), flags.backend)
      backend = choice.backend
      if (choice.note) this.note(choice.note)
      this.note(`Profiling ${args.model} on the ${backend} backend (cached after the first time)…`)
    }
    // A model is profiled through the profiler's cache: remember the cache entry, so the plan can
    // point `amps simulate` at the measured spread the way it does for a profile.json given here.
    let cachedProfile: string | undefined
    const profile = await loadPlanInput(input, (p) => {
      const event = p as {phase?: string; path?: string}
      if ((event.phase === 'cache-hit' || event.phase === 'cache-miss') && event.path) cachedProfile = event.path
      if (event.phase === 'cache-hit') this.note(`Using the cached profile ${event.path}`)
    }, backend === 'onnx' ? 'onnx' : undefined)
    if (input.kind === 'profile') backend = checkProfileBackend(profile, flags.backend, args.model)
    prices = pricesForBackend(prices, backend)
    const profilePath = input.kind === 'profile' ? input.path : cachedProfile && existsSync(cachedProfile) ? cachedProfile : undefined
    const options = {
      sloMs,
      percentile,
      ratePerSecond: rate,
      replicas: flags.replicas,
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
      plan = applyBackend(planFromProfile(profile, options), backend)
    } catch (error) {
      if (error instanceof InvalidProblemError) throw new AmpsUserError('PROFILE_INVALID', error.message)
      throw error
    }
    const out = flags.output
    writePlan(out, plan)
    if (!this.jsonEnabled()) {
      this.log(renderPlan(plan))
      this.log(`\nwrote ${out}`)
    }
    // --json prints exactly what plan.json holds (kind and version first)
    return JSON.parse(serialise(planFormat, plan)) as PlanJson
  }
}

