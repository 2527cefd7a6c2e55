import {Args, Flags} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {numberFlag, rateFlag} from '../flags.js'
import {type CostEstimate, estimateCost} from '../plan/estimate.js'
import {loadPriceTable} from '../cost/prices.js'
import {AmpsUserError} from '../errors.js'
import {readPlan} from '../plan/schema.js'
import {renderEstimate} from '../plan/render.js'

export default class EstimateCost extends BaseCommand {
  static summary = "Estimate a plan's monthly cost, per stage, against its baselines and an always-on endpoint"

  static description = `Prices a plan.json for a month of traffic: per stage the invocations, billed GB-seconds (each invocation rounded up to 1 ms, averaged over the batch sizes the plan's batching produces at this rate), duration charges with AWS's monthly price tiers, request fees, S3 hand-off requests, INIT charges for cold starts (billed since August 2025) and /tmp (free up to 512 MB). --free-tier takes AWS's monthly free tier off (1M requests, 400,000 GB-s).

It then prices the plan's baselines for the same traffic, the cheapest always-on SageMaker real-time instance that holds the model and keeps up (a third-party price transcription, see the note), and a table over 0.1× to 10× the rate showing the batched plan next to the best unbatched one, so you can see where batching starts to pay and where the batch timeout makes the SLO slip.`

  static examples = [
    {description: "At the plan's own rate", command: '<%= config.bin %> <%= command.id %> plan.json'},
    {description: 'At 50 requests/s with the free tier', command: '<%= config.bin %> <%= command.id %> plan.json --rate 50 --free-tier'},
    {
      description: 'For 10 million requests a month, machine-readable',
      command: '<%= config.bin %> <%= command.id %> plan.json --requests-per-month 10000000 --json',
    },
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    rate: rateFlag({
      description: "requests per second, > 0 (default: the plan's rate)",
      exclusive: ['requests-per-month'],
      zeroHint: 'no traffic costs nothing; give the expected requests/s, e.g. --rate 10, or --requests-per-month',
    })(),
    'requests-per-month': numberFlag({description: 'requests per month (730 hours)', exclusive: ['rate'], rule: {gt: 0, example: '10000000'}})(),
    'free-tier': Flags.boolean({description: "take AWS's monthly free tier off", default: false}),
    prices: Flags.string({description: 'JSON file overriding figures of the built-in price table'}),
  }

  async run(): Promise<CostEstimate> {
    const {args, flags} = await this.parse(EstimateCost)
    const plan = readPlan(args.plan)
    // the plan's region picks the built-in table (as `amps plan --region` did); --prices overrides figures
    const prices = loadPriceTable(flags.prices, plan.inputs.region)
    const ratePerSecond = flags.rate
    const requestsPerMonth = flags['requests-per-month']
    if (ratePerSecond === undefined && requestsPerMonth === undefined && !(plan.inputs.ratePerSecond > 0)) {
      throw new AmpsUserError('FLAG_INVALID', `${args.plan} was planned without a rate: say how much traffic to price`, {
        suggestions: ['pass --rate <requests/s> or --requests-per-month <n>'],
      })
    }
    const estimate = estimateCost(plan, {prices, ratePerSecond, requestsPerMonth, freeTier: flags['free-tier']})
    if (!this.jsonEnabled()) this.log(renderEstimate(estimate))
    return estimate
  }
}
