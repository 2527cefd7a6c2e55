import {availableParallelism} from 'node:os'
import {relative} from 'node:path'

import {Args, Flags} from '@oclif/core'

import {formatBytes} from '../../deploy/bundle/bundle.js'
import {deployPlan, type DeployReport} from '../../deploy/deploy-plan.js'
import {exitOnInterrupt} from '../util/interrupt.js'
import {defaultConcurrency} from '../../deploy/targets/local/index.js'
import {parseTags} from '../../deploy/targets/aws/tags.js'
import {BaseCommand} from '../base-command.js'
import {outputFlag} from '../flags.js'
import {table} from '../util/format.js'

export default class Deploy extends BaseCommand {
  static summary = 'Bundle each stage of a plan and deploy the chain (local processes or AWS Lambda)'

  static description = `Builds one bundle per plan stage: the shared handler with tfjs and its wasm backend (esbuild, minified), the stage's own layers as model.json and only its weights as weights.bin, zipped deterministically. Sizes are measured, checked against Lambda's limits (250 MB unzipped is refused; zips over 50 MB upload through S3) and recorded in deployment.json (stages[].zipBytes and unzippedBytes); the plan.json given is never rewritten.

--target local (the default) runs every stage on 127.0.0.1 behind the Lambda Invoke REST API as Lambda runs a function: a pool of execution environments (node processes, each with the stage's memory as a hard limit and memory/1769 of a CPU core: cgroups where writable, else a heap limit), a new one (a cold start) when all are busy, up to --concurrency per stage; past it the stage answers 429 TooManyRequestsException. Idle environments end after a keep-alive (AMPS_LOCAL_KEEP_ALIVE_MS, default 10 min); the function's Timeout is enforced. Stages run without the deployer's environment (no AWS credentials), as nobody where the OS allows, and answer only requests carrying the deployment's token (kept in deployment.json, mode 0600). Ctrl-C stops what the run started and exits 130. --target aws creates or updates one Lambda function per stage.

deployment.json records what was deployed and is rewritten after every step. Running deploy again with the same plan keeps healthy stages, restarts dead ones and replaces changed ones.`

  static examples = [
    {description: 'Deploy locally', command: '<%= config.bin %> <%= command.id %> plan.json'},
    {description: 'Measure the bundles without starting anything', command: '<%= config.bin %> <%= command.id %> plan.json --dry-run'},
    {description: 'Deploy to AWS Lambda in a region', command: '<%= config.bin %> <%= command.id %> plan.json --target aws --region eu-west-1'},
    {
      description: 'Locally, at most 2 concurrent executions per stage (the rest get 429)',
      command: '<%= config.bin %> <%= command.id %> plan.json --concurrency 2',
    },
    {
      description: 'Deploy without starting warm environments (the first requests pay cold starts)',
      command: '<%= config.bin %> <%= command.id %> plan.json --no-prewarm',
    },
    {
      description: 'Use a model at another path, write the state elsewhere',
      command: '<%= config.bin %> <%= command.id %> plan.json --model ./model -o prod.json --json',
    },
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    target: Flags.option({options: ['local', 'aws'] as const, default: 'local' as const, description: 'where to deploy'})(),
    model: Flags.string({description: "model path (default: the plan's model.source)"}),
    output: outputFlag({
      description: 'deployment file to write (--out: the old name, still accepted)',
      default: 'deployment.json',
      aliases: ['out'],
      deprecateAliases: true,
    }),
    'dry-run': Flags.boolean({description: 'build and measure the bundles, then stop (aws: list the API calls it would make)'}),
    region: Flags.string({
      description: "AWS region (default, as the AWS CLI: AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config; else the plan's, with a note)",
    }),
    profile: Flags.string({description: 'AWS profile (~/.aws/config; default AWS_PROFILE, else default)'}),
    'endpoint-url': Flags.string({description: 'AWS: send every API call to this URL (LocalStack, a proxy; default AWS_ENDPOINT_URL)'}),
    tags: Flags.string({description: 'AWS: key=value tag for every function, role and bucket amps creates (repeatable)', multiple: true}),
    'role-arn': Flags.string({description: 'AWS: execution role ARN to use', exclusive: ['create-role']}),
    'create-role': Flags.boolean({description: 'AWS: create a least-privilege execution role (destroy deletes it)', exclusive: ['role-arn']}),
    bucket: Flags.string({description: 'AWS: S3 bucket for large zips and hand-offs'}),
    prewarm: Flags.boolean({
      default: true,
      allowNo: true,
      description:
        "after deploying, start as many execution environments per stage as the plan's rate needs (a batch meets a busy pool with probability ≤ 0.1 %; 1 without a rate) with warm-up invocations that compute nothing, so the first user requests are not cold starts; --no-prewarm skips",
    }),
    concurrency: Flags.integer({
      min: 1,
      max: 64,
      description: `local: execution environments per stage at most (Lambda's reserved concurrency; default: as many as the machine's cores carry at the stage's CPU quota, e.g. ${defaultConcurrency(1024)} at 1024 MB here)`,
    }),
  }

  async run(): Promise<DeployReport> {
    const {args, flags} = await this.parse(Deploy)
    const json = this.jsonEnabled()
    exitOnInterrupt((line) => this.note(line))
    // progress as plain lines on stderr, each written when it happens (CI logs, --json, pipes)
    this.note(`Deploying ${args.plan} (${flags.target}${flags['dry-run'] ? ', dry run' : ''})…`)
    let report: DeployReport
    try {
      report = await deployPlan({
        planPath: args.plan,
        modelPath: flags.model,
        target: flags.target,
        out: flags.output,
        concurrency: flags.concurrency,
        dryRun: flags['dry-run'],
        prewarm: flags.prewarm,
        aws:
          flags.target === 'aws'
            ? {
                region: flags.region,
                profile: flags.profile,
                endpointUrl: flags['endpoint-url'],
                tags: flags.tags ? parseTags(flags.tags) : undefined,
                roleArn: flags['role-arn'],
                createRole: flags['create-role'],
                bucket: flags.bucket,
              }
            : undefined,
        log: (line) => this.note(line),
      })
    } catch (error) {
      this.note('Deploying failed')
      throw error
    }
    this.note('Deployed')
    if (!json) {
      this.log(
        table(
          ['stage', 'function', 'MB', 'unzipped', 'zipped', 'of 250 MB', 'status', 'warm (INIT ms)'],
          report.stages.map((s) => [
            s.name,
            s.functionName,
            String(s.memoryMb),
            formatBytes(s.unzippedBytes),
            formatBytes(s.zipBytes),
            `${(100 * s.fractionOfLimit).toFixed(2)}%`,
            `${s.action ?? ''}${s.port ? ` 127.0.0.1:${s.port} pid ${s.pid}` : ''}${s.concurrency !== undefined ? ` ≤${s.concurrency} env` : ''}${s.initMs !== undefined ? ` init ${s.initMs.toFixed(0)} ms` : ''}`,
            s.prewarm
              ? `${s.prewarm.warm} of ${s.prewarm.requested}${s.prewarm.initMs.length > 0 ? ` (${s.prewarm.initMs.map((x) => x.toFixed(0)).join('/')})` : ''}${s.prewarm.failed > 0 ? `, ${s.prewarm.failed} failed` : ''}`
              : '—',
          ]),
        ),
      )
      for (const s of report.stages.filter((x) => x.weights))
        this.log(`${s.name}: its ${formatBytes(s.weights!.bytes)} of weights are not in the package; the function fetches them at INIT (${s.weights!.key})`)
      const limits = [...new Set(report.stages.map((s) => s.concurrency).filter((c) => c !== undefined))]
      if (limits.length > 0) {
        this.log(
          `each stage runs at most ${limits.join('/')} execution environment${limits.length === 1 && limits[0] === 1 ? '' : 's'} at once (${flags.concurrency ? '--concurrency' : `default for ${availableParallelism()} cores at the stages' CPU quotas; change with --concurrency N`}); more concurrent requests get 429 TooManyRequestsException`,
        )
      }
      if (report.deploymentPath)
        this.log(`wrote ${report.deploymentPath}; try: amps invoke ${relative(process.cwd(), flags.output) || flags.output} --input random --compare`)
    }
    return report
  }
}
