import {Args, Flags, ux} from '@oclif/core'

import {formatBytes} from '../../deploy/bundle/bundle.js'
import {deployPlan, type DeployReport} from '../../deploy/deploy-plan.js'
import {parseTags} from '../../deploy/targets/aws/tags.js'
import {exitOnInterrupt} from '../../deploy/interrupt.js'
import {defaultConcurrency} from '../../deploy/targets/local/index.js'
import {BaseCommand} from '../base-command.js'

export default class Deploy extends BaseCommand {
  static summary = 'Bundle each stage of a plan and deploy the chain (local processes or AWS Lambda)'

  static description = `Builds one bundle per plan stage: the shared handler with tfjs and its wasm backend (esbuild, minified), the stage's own layers as model.json and only its weights as weights.bin, zipped deterministically. Sizes are measured, checked against Lambda's limits (250 MB unzipped is refused; zips over 50 MB upload through S3) and written back into plan.json as stages[].measuredPackageBytes.

--target local (the default) runs every stage on 127.0.0.1 behind the Lambda Invoke REST API as Lambda runs a function: a pool of execution environments (node processes, each with the stage's memory as a hard limit and memory/1769 of a CPU core: cgroups where writable, else a heap limit), a new one (a cold start) when all are busy, up to --concurrency per stage; past it the stage answers 429 TooManyRequestsException. Idle environments end after a keep-alive (AMPS_LOCAL_KEEP_ALIVE_MS, default 10 min); the function's Timeout is enforced. Stages run without the deployer's environment (no AWS credentials), as nobody where the OS allows, and answer only requests carrying the deployment's token (kept in deployment.json, mode 0600). Ctrl-C stops what the run started and exits 130. --target aws creates or updates one Lambda function per stage.

deployment.json records what was deployed and is rewritten after every step. Running deploy again with the same plan keeps healthy stages, restarts dead ones and replaces changed ones.`

  static examples = [
    {description: 'Deploy locally', command: '<%= config.bin %> <%= command.id %> plan.json'},
    {description: 'Measure the bundles without starting anything', command: '<%= config.bin %> <%= command.id %> plan.json --dry-run'},
    {description: 'Deploy to AWS Lambda in a region', command: '<%= config.bin %> <%= command.id %> plan.json --target aws --region eu-west-1'},
    {description: 'Locally, at most 2 concurrent executions per stage (the rest get 429)', command: '<%= config.bin %> <%= command.id %> plan.json --concurrency 2'},
    {description: 'Use a model at another path, write the state elsewhere', command: '<%= config.bin %> <%= command.id %> plan.json --model ./model --out prod.json --json'},
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    target: Flags.option({options: ['local', 'aws'] as const, default: 'local' as const, description: 'where to deploy'})(),
    model: Flags.string({description: "model path (default: the plan's model.source)"}),
    out: Flags.string({description: 'deployment file to write', default: 'deployment.json'}),
    'dry-run': Flags.boolean({description: 'build and measure the bundles, then stop (aws: list the API calls it would make)'}),
    region: Flags.string({description: "AWS region (default, as the AWS CLI: AWS_REGION, AWS_DEFAULT_REGION, the profile's region in ~/.aws/config; else the plan's, with a note)"}),
    profile: Flags.string({description: 'AWS profile (~/.aws/config; default AWS_PROFILE, else default)'}),
    'endpoint-url': Flags.string({description: 'AWS: send every API call to this URL (LocalStack, a proxy; default AWS_ENDPOINT_URL)'}),
    tags: Flags.string({description: 'AWS: key=value tag for every function, role and bucket amps creates (repeatable)', multiple: true}),
    'role-arn': Flags.string({description: 'AWS: execution role ARN to use', exclusive: ['create-role']}),
    'create-role': Flags.boolean({description: 'AWS: create a least-privilege execution role (destroy deletes it)', exclusive: ['role-arn']}),
    bucket: Flags.string({description: 'AWS: S3 bucket for large zips and hand-offs'}),
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
    if (!json) ux.action.start(`Deploying ${args.plan} (${flags.target}${flags['dry-run'] ? ', dry run' : ''})`)
    let report: DeployReport
    try {
      report = await deployPlan({
        planPath: args.plan,
        modelPath: flags.model,
        target: flags.target,
        out: flags.out,
        concurrency: flags.concurrency,
        dryRun: flags['dry-run'],
        aws: flags.target === 'aws' ? {region: flags.region, profile: flags.profile, endpointUrl: flags['endpoint-url'], tags: flags.tags ? parseTags(flags.tags) : undefined, roleArn: flags['role-arn'], createRole: flags['create-role'], bucket: flags.bucket} : undefined,
        log: (line) => this.note(line),
      })
    } catch (error) {
      if (!json) ux.action.stop('failed')
      throw error
    }
    if (!json) {
      ux.action.stop('done')
      this.log(`${'stage'.padEnd(9)} ${'function'.padEnd(40)} ${'MB'.padStart(5)} ${'unzipped'.padStart(10)} ${'zipped'.padStart(10)} ${'of 250 MB'.padStart(9)}  status`)
      for (const s of report.stages) {
        const where = s.port ? ` 127.0.0.1:${s.port} pid ${s.pid}` : ''
        const init = s.initMs !== undefined ? ` init ${s.initMs.toFixed(0)} ms` : ''
        const conc = s.concurrency !== undefined ? ` ≤${s.concurrency} env` : ''
        this.log(
          `${s.name.padEnd(9)} ${s.functionName.padEnd(40)} ${String(s.memoryMb).padStart(5)} ${formatBytes(s.unzippedBytes).padStart(10)} ${formatBytes(s.zipBytes).padStart(10)} ${(100 * s.fractionOfLimit).toFixed(2).padStart(8)}%  ${s.action ?? ''}${where}${conc}${init}`,
        )
      }
      if (report.deploymentPath) this.log(`wrote ${report.deploymentPath}; try: amps invoke ${flags.out} --input random --compare`)
    }
    return report
  }
}
