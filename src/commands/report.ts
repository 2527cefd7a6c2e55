import {Args, Flags} from '@oclif/core'

import {readDeployment} from '../../deploy/state/deployment.js'
import {BaseCommand} from '../base-command.js'
import {outputFlag, rateFlag} from '../flags.js'
import {loadPriceTable} from '../cost/prices.js'
import {type ReportResult, writeReport} from '../report/index.js'
import {DEFAULT_MAX_REQUESTS} from '../simulate/index.js'
import {readPlanForSimulation} from '../simulate/load.js'

export default class Report extends BaseCommand {
  static summary = 'Write one self-contained HTML report of a plan: cost vs SLO, time and cost vs memory, a batch timeline, simulated latency'

  static description = `Draws what amps computed for a plan, in one HTML file that opens from disk with no network (Chart.js, the data and the script are inline):

- cost per 1M requests against the latency SLO: the plan's own problem solved again by the planner at SLOs from 0.4× to 3× the plan's, the chosen plan marked, each baseline beside it (held to the same SLO);
- for each stage, its time per batch and its cost per 1M requests against memory, as AWS Lambda Power Tuning draws them, from amps' cost model;
- a timeline of one batch through the chain: the wait in the batch buffer, and per stage the invoke round trip, the compute and the hand-off;
- with --simulate, the latency distribution of a simulated run (amps simulate, Poisson arrivals at the plan's rate) with the SLO line;
- the plan's tables (stages, baselines, prediction) and, with --deployment, the deployed functions.

The frontier and the Power-Tuning charts need the profile the plan was made from (plan.json records it; --profile-file gives another). Re-solving takes about as long as amps plan took, once per SLO (--frontier-points sets how many).`

  static examples = [
    {description: 'The report of a plan', command: '<%= config.bin %> <%= command.id %> plan.json -o report.html'},
    {
      description: 'With the simulated latency distribution and the deployed functions',
      command: '<%= config.bin %> <%= command.id %> plan.json --simulate --deployment deployment.json',
    },
    {
      description: 'A plan made without --rate: say what traffic to simulate',
      command: '<%= config.bin %> <%= command.id %> plan.json --simulate --rate 20 --seed 7',
    },
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    output: outputFlag({description: 'where to write the HTML file', default: 'report.html'}),
    deployment: Flags.string({description: 'deployment.json written by `amps deploy`: adds the deployed functions'}),
    simulate: Flags.boolean({description: 'simulate the plan and draw its latency distribution', default: false}),
    rate: rateFlag({
      description: "with --simulate: requests per second, > 0 (default: the plan's rate)",
      zeroHint: 'give the requests/s to simulate, e.g. --rate 10',
    })({dependsOn: ['simulate']}),
    duration: Flags.integer({
      description: `with --simulate: simulated seconds (default: 600, or fewer to stay near 200,000 requests)`,
      min: 1,
      dependsOn: ['simulate'],
    }),
    seed: Flags.integer({description: 'with --simulate: random seed', default: 1}),
    'frontier-points': Flags.integer({
      description: 'SLOs to re-solve the plan at for the cost-vs-SLO chart (0: leave the chart out)',
      default: 11,
      min: 0,
      max: 11,
    }),
    'profile-file': Flags.string({description: 'profile.json to use instead of the one the plan records'}),
    prices: Flags.string({description: 'JSON file overriding figures of the built-in price table'}),
  }

  async run(): Promise<ReportResult> {
    const {args, flags} = await this.parse(Report)
    const rate = flags.rate
    const deployment = flags.deployment ? readDeployment(flags.deployment) : undefined
    const result = writeReport({
      planPath: args.plan,
      outPath: flags.output,
      // the plan's region picks the built-in table (as `amps plan --region` did)
      prices: loadPriceTable(flags.prices, readPlanForSimulation(args.plan).inputs.region),
      profilePath: flags['profile-file'],
      frontierPoints: flags['frontier-points'],
      deployment,
      simulate: flags.simulate ? {ratePerSecond: rate, durationS: flags.duration, seed: flags.seed, maxRequests: DEFAULT_MAX_REQUESTS} : undefined,
      onProgress: (m) => this.note(m),
    })
    if (!this.jsonEnabled()) {
      for (const n of result.notes) this.warn(n)
      this.log(`wrote ${result.output} (${(result.bytes / 1024).toFixed(0)} kB; charts: ${result.charts.join(', ')})`)
    }
    return result
  }
}
