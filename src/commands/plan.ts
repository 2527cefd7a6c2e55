import {Args, Flags} from '@oclif/core'
import {existsSync} from 'node:fs'
import {cpus} from 'node:os'

import {BaseCommand} from '../base-command.js'
import {numberFlag, outputFlag, PERCENTILE_RULE, rateFlag, SLO_RULE} from '../flags.js'
import {loadPriceTable, priceTableForRegion} from '../cost/prices.js'
import {AmpsUserError, InvalidProblemError} from '../errors.js'
import {PLAN_DEFAULTS, checkPlanOptions, planFromProfile, writePlan} from '../plan/index.js'
import {applyBackend, checkProfileBackend, chooseModelBackend, DEFAULT_BACKEND, pricesForBackend} from '../plan/backend.js'
import {classifyPlanInput, loadPlanInput} from '../plan/input.js'
import {renderPlan} from '../plan/render.js'
import {planFormat} from '../plan/schema.js'
import {serialise} from '../files/format.js'
import type {Arch, Plan as PlanJson} from '../plan/types.js'
import type {StageBackend} from '../stage/spec.js'
import type {PriceTable} from '../cost/prices.js'
import {correctionFor, exceedsCores, predictedStageMs, VERIFY_TOLERANCE} from '../plan/calibrate.js'
import {applyCorrections} from '../profile/corrections.js'
import {writeProfile} from '../profile/io.js'
import type {Profile} from '../profile/types.js'
import {table} from '../util/format.js'

export default class Plan extends BaseCommand {
  static summary = 'Find the cheapest split × memory × architecture × batching that meets a latency SLO'

  static description = `Reads a profile (or profiles the model first) and searches every way to run the model as a chain of Lambda functions: where to cut it (any valid cut point), how much memory each function gets (any 1-MB value), x86_64 or arm64, and how to batch requests (dispatch at B requests or T ms after the first one). It picks the plan with the lowest expected cost per request whose latency at the chosen percentile stays within --slo.

For a fixed architecture and batch setting the choice of cuts and memories is solved exactly, by a DP over cut points with Pareto fronts (--solver fast, the default) or a MILP (--solver milp); both are tested against brute force. Batch size and timeout are searched by branch and bound around them. Latency counts the batch wait at the percentile (exact for Poisson arrivals at --rate), each stage's billed time at the full batch, and the Invoke round trips; cost counts billed ms (rounded up to 1 ms) × memory × price, request fees and S3 hand-offs for tensors over the 6 MB payload limit, averaged over the batch-size distribution.

The plan is compared with three baselines on the same profile and prices: one function with the cheapest memory meeting the SLO (what AWS Lambda Power Tuning would find), cuts + memory without batching (AMPS-Inf), and one function at the largest memory. If no plan can meet the SLO, the error says the fastest achievable latency and the cheapest plan at it.

plan.json records the profile it was made from (the profile.json given, or the profiler's cache entry under $AMPS_CACHE_DIR/profiles when a model is given), which amps simulate reads for the measured spread of each stage's time.`

  static examples = [
    {description: 'Plan from a profile for a 300 ms p99 SLO at 20 requests/s', command: '<%= config.bin %> <%= command.id %> profile.json --slo 300 --rate 20'},
    {
      description: 'Profile and plan a Keras model, arm64 only, at most 3 stages',
      command: '<%= config.bin %> <%= command.id %> model.h5 --slo 1000 --arch arm64 --max-stages 3',
    },
    {
      description: 'Plan on TensorFlow.js (wasm) instead of ONNX Runtime, e.g. for a layer that does not export to ONNX',
      command: '<%= config.bin %> <%= command.id %> model.h5 --slo 1000 --rate 10 --backend wasm',
    },
    {
      description: 'Exactly two stages, hard latency bound, MILP solver, JSON',
      command: '<%= config.bin %> <%= command.id %> profile.json --slo 800 --stages 2 --percentile 100 --solver milp --json',
    },
    {
      description:
        "Run the chosen stages locally (same quotas, the plan's batch size) before answering; a stage off by > 10 % is corrected in profile.json and the plan re-solved",
      command: '<%= config.bin %> <%= command.id %> profile.json --slo 300 --rate 20 --verify',
    },
    {
      description: 'The same on real AWS Lambda (temporary functions, deleted after; its cost is printed first)',
      command: '<%= config.bin %> <%= command.id %> profile.json --slo 300 --rate 20 --verify aws --create-role',
    },
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
    percentile: numberFlag({description: 'latency percentile the SLO applies to (100 = hard bound)', rule: PERCENTILE_RULE})({
      default: PLAN_DEFAULTS.percentile,
    }),
    arch: Flags.option({options: ['auto', 'x86_64', 'arm64'] as const, description: 'function architecture (auto: consider both)', default: 'auto' as const})(),
    replicas: Flags.integer({
      description: 'amps serve replicas sharing --rate behind a load balancer: each batches --rate ÷ N (the plan records that share)',
      default: 1,
      min: 1,
    }),
    'max-batch': Flags.integer({description: `largest batch size to consider (default ${PLAN_DEFAULTS.maxBatch})`}),
    stages: Flags.integer({description: 'use exactly this many stages'}),
    'max-stages': Flags.integer({description: 'use at most this many stages', default: PLAN_DEFAULTS.maxStages}),
    region: Flags.string({
      description: "AWS region: its built-in dated price table (src/cost/prices.ts PRICE_TABLES), else us-east-1's with a note; --prices overrides figures",
      default: 'us-east-1',
    }),
    prices: Flags.string({description: 'JSON file overriding figures of the built-in price table (partial; see src/cost/prices.ts)'}),
    solver: Flags.option({options: ['auto', 'fast', 'milp'] as const, description: 'inner solver', default: 'auto' as const})(),
    'time-limit': Flags.integer({
      description: 'seconds the planning may take; past it amps returns the best plan found and says it is not proven optimal',
      default: PLAN_DEFAULTS.timeLimitMs / 1000,
      min: 1,
    }),
    output: outputFlag({description: 'where to write plan.json', default: 'plan.json'}),
    verify: Flags.option({
      options: ['local', 'aws'] as const,
      description:
        "after solving, run the chosen stages (local runtime, or temporary AWS Lambda functions) at the plan's batch size and compare each stage's median Duration with its prediction; a stage off by more than 10 % is corrected in the profile (saved, reused by later plans) and the plan re-solved. Bare --verify means local",
    })(),
    'verify-requests': Flags.integer({description: 'measured requests per stage for --verify (after 5 warm-up ones)', default: 15, min: 3}),
    'aws-profile': Flags.string({description: '--verify aws: AWS profile (~/.aws/config; default AWS_PROFILE)', dependsOn: ['verify']}),
    'endpoint-url': Flags.string({description: '--verify aws: send every API call to this URL (LocalStack, a proxy)', dependsOn: ['verify']}),
    'role-arn': Flags.string({description: '--verify aws: execution role ARN for the temporary functions', exclusive: ['create-role'], dependsOn: ['verify']}),
    'create-role': Flags.boolean({
      description: '--verify aws: create a temporary execution role (deleted after)',
      exclusive: ['role-arn'],
      dependsOn: ['verify'],
    }),
    backend: Flags.option({
      options: ['onnx', 'wasm'] as const,
      description:
        'what the stages run on: onnx (onnxruntime-node, the default when every layer exports) or wasm (TensorFlow.js); from a profile.json, the backend it was measured with',
    })(),
  }

  async run(): Promise<PlanJson> {
    // a bare --verify (last, or followed by another flag or the model) means --verify local
    const at = this.argv.indexOf('--verify')
    if (at >= 0 && !['local', 'aws'].includes(this.argv[at + 1] ?? '')) this.argv.splice(at + 1, 0, 'local')
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
    const regional = priceTableForRegion(flags.region)
    if (regional.note && !flags.prices) this.note(`note: ${regional.note}`)

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
    const profile = await loadPlanInput(
      input,
      (p) => {
        const event = p as {phase?: string; path?: string}
        if ((event.phase === 'cache-hit' || event.phase === 'cache-miss') && event.path) cachedProfile = event.path
        if (event.phase === 'cache-hit') this.note(`Using the cached profile ${event.path}`)
      },
      backend === 'onnx' ? 'onnx' : undefined,
    )
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
    if (profile.corrections?.length)
      this.note(`Applying ${profile.corrections.length} measured stage correction(s) saved by --verify in ${profilePath ?? 'the profile'}`)
    const solve = (p: typeof profile): PlanJson => {
      try {
        return applyBackend(planFromProfile(applyCorrections(p), options), backend)
      } catch (error) {
        if (error instanceof InvalidProblemError) throw new AmpsUserError('PROFILE_INVALID', error.message)
        throw error
      }
    }
    let plan = solve(profile)
    const out = flags.output
    writePlan(out, plan)
    if (flags.verify) plan = await this.verify(plan, profile, {target: flags.verify, out, profilePath, prices, solve, flags})
    if (!this.jsonEnabled()) {
      this.log(renderPlan(plan))
      this.log(`\nwrote ${out}`)
    }
    // --json prints exactly what plan.json holds (kind and version first)
    return JSON.parse(serialise(planFormat, plan)) as PlanJson
  }

  /**
   * --verify: run the plan's stages, report measured vs predicted, and when a stage is off by more
   * than VERIFY_TOLERANCE save its correction with the profile and re-solve. Returns the final plan
   * (written to `out`), with its `verification` record.
   */
  private async verify(
    plan: PlanJson,
    profile: Profile,
    o: {
      target: 'local' | 'aws'
      out: string
      profilePath?: string
      prices: PriceTable
      solve: (p: Profile) => PlanJson
      flags: {region: string; 'verify-requests': number; 'aws-profile'?: string; 'endpoint-url'?: string; 'role-arn'?: string; 'create-role'?: boolean}
    },
  ): Promise<PlanJson> {
    const {verifyPlan, verificationCostUsd, VERIFY_WARM_REQUESTS} = await import('../../deploy/verify-plan.js')
    const {exitOnInterrupt} = await import('../util/interrupt.js')
    const measured = o.flags['verify-requests']
    if (o.target === 'aws') {
      this.note(
        `--verify aws: ${plan.stages.length} temporary function(s), ${VERIFY_WARM_REQUESTS + measured} batches of ${plan.batch.size}: about $${verificationCostUsd(plan, VERIFY_WARM_REQUESTS + measured).toFixed(6)} (plan prices, one INIT per stage), all deleted after`,
      )
    }
    this.note(`Verifying the plan's ${plan.stages.length} stage(s) on the ${o.target} target…`)
    exitOnInterrupt((line) => this.note(line))
    const result = await verifyPlan({
      plan,
      planPath: o.out,
      target: o.target,
      measured,
      aws:
        o.target === 'aws'
          ? {
              region: o.flags.region,
              profile: o.flags['aws-profile'],
              endpointUrl: o.flags['endpoint-url'],
              roleArn: o.flags['role-arn'],
              createRole: o.flags['create-role'],
            }
          : undefined,
      log: (l) => this.note(l),
    })
    // the local target runs a stage its own way (spliced JSON, its CFS period): measured there, a stage
    // is set against what the model predicts for that target, and corrected on the same terms
    let model = {}
    if (o.target === 'local') {
      const {localCostModel, localThrottle} = await import('../../deploy/targets/local/throttle.js')
      model = localCostModel(
        await localThrottle(
          plan.stages.map((s) => s.memoryMb),
          (l) => this.note(l),
        ),
      )
    }
    const before = applyCorrections(profile)
    if (o.target === 'local') {
      for (const s of result.stages) {
        s.predictedMs = Math.round(predictedStageMs(before, plan.stages[s.index], result.batch, o.prices, 1, model) * 1000) / 1000
        s.error = s.predictedMs > 0 ? (s.measuredMs - s.predictedMs) / s.predictedMs : 0
      }
    }
    const cores = cpus().length
    const beyondCores = o.target === 'local' ? result.stages.filter((s) => exceedsCores(plan.stages[s.index], cores)) : []
    const off = result.stages.filter((s) => Math.abs(s.error) > VERIFY_TOLERANCE && !beyondCores.includes(s))
    const lines = [`Verification (${o.target}, batch ${result.batch}, ${result.warm} warm-up + ${result.measured} measured requests, median Duration):`]
    lines.push(
      table(
        ['stage', 'layers', 'memory', 'predicted ms', 'measured ms', 'error', ''],
        result.stages.map((s) => [
          s.name,
          `${s.firstIndex}–${s.lastIndex}`,
          `${s.memoryMb} MB`,
          s.predictedMs.toFixed(2),
          s.measuredMs.toFixed(2),
          `${s.error >= 0 ? '+' : ''}${(s.error * 100).toFixed(1)} %`,
          beyondCores.includes(s) ? 'not checkable here' : Math.abs(s.error) > VERIFY_TOLERANCE ? 'OFF' : 'ok',
        ]),
      ),
    )
    if (beyondCores.length > 0) {
      lines.push(
        `${beyondCores.map((s) => `${s.name} (${plan.stages[s.index].threads} threads)`).join(', ')}: more threads than this machine's ${cores} cores, so measured here it is not a check of its prediction; not corrected (verify on AWS: --verify aws)`,
      )
    }
    let final = plan
    if (off.length > 0) {
      const corrections = off.map((s) =>
        correctionFor(before, plan.stages[s.index], result.batch, s.measuredMs, {prices: o.prices, target: o.target, samples: s.samples, model}),
      )
      const corrected: Profile = {...profile, corrections: [...(profile.corrections ?? []), ...corrections]}
      final = o.solve(corrected)
      lines.push(
        `${off.length} stage(s) off by more than ${VERIFY_TOLERANCE * 100} %: ${corrections.map((c) => `layers ${c.firstIndex}–${c.lastIndex} × ${c.factor.toFixed(3)}`).join(', ')}; re-solved:`,
      )
      lines.push(...describeChange(plan, final).map((l) => `  ${l}`))
      if (o.profilePath) {
        writeProfile(o.profilePath, corrected)
        lines.push(`saved the correction(s) in ${o.profilePath} (used by every later plan from it)`)
      } else lines.push('the profile has no file to save the corrections in (pass a profile.json to keep them)')
    } else lines.push(`every stage within ${VERIFY_TOLERANCE * 100} % of its prediction: plan unchanged`)
    final = {
      ...final,
      verification: {
        target: o.target,
        batch: result.batch,
        stages: result.stages.map((s) => ({
          index: s.index,
          predictedMs: s.predictedMs,
          measuredMs: Math.round(s.measuredMs * 1000) / 1000,
          error: Math.round(s.error * 10000) / 10000,
          samples: s.samples,
        })),
        resolved: off.length > 0,
        ...(off.length > 0
          ? {
              previous: {
                memoriesMb: plan.stages.map((s) => s.memoryMb),
                batch: plan.batch,
                costPerMillionUsd: plan.predicted.costPerMillionUsd,
                latencyMs: plan.predicted.latencyMs,
              },
            }
          : {}),
        ...(o.target === 'aws' ? {costUsd: result.costUsd} : {}),
      },
    }
    writePlan(o.out, final)
    if (!this.jsonEnabled()) this.log(lines.join('\n') + '\n')
    return final
  }
}

/** What re-solving changed, one line per figure that differs (or that nothing did). */
export function describeChange(a: PlanJson, b: PlanJson): string[] {
  const out: string[] = []
  const stagesOf = (p: PlanJson): string => p.stages.map((s) => `${s.layers.firstIndex}–${s.layers.lastIndex} @ ${s.memoryMb} MB ${s.arch}`).join(', ')
  if (stagesOf(a) !== stagesOf(b)) out.push(`stages: ${stagesOf(a)} → ${stagesOf(b)}`)
  if (a.batch.size !== b.batch.size || a.batch.timeoutMs !== b.batch.timeoutMs)
    out.push(`batching: B=${a.batch.size}, T=${a.batch.timeoutMs} ms → B=${b.batch.size}, T=${b.batch.timeoutMs} ms`)
  out.push(`cost: $${a.predicted.costPerMillionUsd.toFixed(4)}/1M → $${b.predicted.costPerMillionUsd.toFixed(4)}/1M`)
  out.push(`p${a.inputs.percentile} latency: ${a.predicted.latencyMs.toFixed(1)} ms → ${b.predicted.latencyMs.toFixed(1)} ms`)
  return out
}
