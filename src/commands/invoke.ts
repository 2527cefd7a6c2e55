import {Args, Flags} from '@oclif/core'

import {runInvoke, type InvokeReport} from '../../deploy/client/invoke-run.js'
import {BaseCommand} from '../base-command.js'
import {table} from '../util/format.js'

export default class Invoke extends BaseCommand {
  static summary = 'Run one input through a deployed chain and time every stage'

  static description = `Calls stage 1, then 2, … of the deployment with the Lambda Invoke API (the local target answers the same API on 127.0.0.1), passing tensors between stages as binary (base64 of raw float32/int32 bytes; by reference through S3 or a directory when a hand-off exceeds 6 MB).

It prints the output (top-5 classes for classifiers) and, per stage, the measured round trip and handler time next to the plan's predicted ms (the plan predicts a batch of its batch size). --compare runs the whole model in this process on the same input and prints the largest absolute difference from the chain's output.

Inputs: --input random (seeded), a .png (resized bilinearly to the model's input and scaled to [0, 1]), a .npy (float32/int32) or a .json array.`

  static examples = [
    {description: 'Random input, checked against the whole model', command: '<%= config.bin %> <%= command.id %> deployment.json --input random --compare'},
    {description: 'Classify an image', command: '<%= config.bin %> <%= command.id %> deployment.json --input cat.png'},
    {description: 'Time 20 requests, machine-readable', command: '<%= config.bin %> <%= command.id %> deployment.json --repeat 20 --json'},
  ]

  static args = {
    deployment: Args.string({description: 'deployment.json written by `amps deploy`', required: true}),
  }

  static flags = {
    input: Flags.string({description: 'random, or a .png/.npy/.json file', default: 'random'}),
    compare: Flags.boolean({description: 'also run the whole model locally and report the max abs difference'}),
    repeat: Flags.integer({description: 'send the input this many times (timings are medians)', default: 1, min: 1}),
    batch: Flags.integer({description: 'batch size for --input random', min: 1}),
    seed: Flags.integer({description: 'seed for --input random', default: 42}),
    profile: Flags.string({description: 'AWS profile (~/.aws/config; default AWS_PROFILE, else default) for AWS deployments'}),
    'endpoint-url': Flags.string({description: 'AWS: send every API call to this URL (default AWS_ENDPOINT_URL)'}),
  }

  async run(): Promise<InvokeReport> {
    const {args, flags} = await this.parse(Invoke)
    const report = await runInvoke({
      deploymentPath: args.deployment,
      input: flags.input,
      compare: flags.compare,
      repeat: flags.repeat,
      batch: flags.batch,
      seed: flags.seed,
      log: (line) => this.note(line),
      chain: flags.profile || flags['endpoint-url'] ? {profile: flags.profile, endpointUrl: flags['endpoint-url']} : undefined,
    })
    if (!this.jsonEnabled()) {
      for (const o of report.outputs) {
        this.log(`output ${o.id} [${o.shape}] ${o.dtype}: min ${o.min.toPrecision(4)}, max ${o.max.toPrecision(4)}, mean ${o.mean.toPrecision(4)}`)
        for (const [b, top] of (o.top5 ?? []).entries()) {
          this.log(`  sample ${b} top-5: ${top.map((t) => `#${t.index} ${t.score.toFixed(4)}`).join(', ')}`)
        }
      }
      const reps = report.repeat > 1 ? ` (median of ${report.repeat})` : ''
      const mem = report.stages.some((s) => s.peakMemoryMb !== undefined)
      const dash = (x: number | undefined, d: number): string => (x === undefined ? '-' : x.toFixed(d))
      this.log('')
      this.log(
        table(
          ['stage', 'measured ms', 'handler ms', 'duration ms', 'predicted ms', 'init ms', ...(mem ? ['peak MB'] : []), 'request → response'],
          report.stages.map((s) => [
            s.name,
            s.measuredMs.toFixed(1),
            s.handlerMs.toFixed(1),
            dash(s.durationMs, 1),
            dash(s.predictedMs, 1),
            s.initMs.toFixed(0),
            ...(mem ? [dash(s.peakMemoryMb, 0)] : []),
            `${s.requestBytes} B → ${s.responseBytes} B${s.refsIn ? ` (${s.refsIn} by reference)` : ''}`,
          ]),
        ),
      )
      this.log(
        `total ${report.totalMs.toFixed(1)} ms${reps}${report.predictedServiceMs !== undefined ? `; plan predicts ${report.predictedServiceMs.toFixed(1)} ms for a batch of ${report.planBatchSize}` : ''}`,
      )
      if (report.maxAbsDiff !== undefined) {
        this.log(
          `--compare (${report.compareBackend}): max |chain − whole model| = ${report.maxAbsDiff.toExponential(3)} (max |output| ${report.maxAbsOutput!.toPrecision(4)}, relative ${report.relativeDiff!.toExponential(3)})`,
        )
      }
    }
    return report
  }
}
