import {Args, Flags} from '@oclif/core'

import {parseTags} from '../../deploy/targets/aws/tags.js'
import {BaseCommand} from '../base-command.js'
import {checkWritablePath} from '../flags.js'
import {DEFAULT_EXPORT_FILE, type ExportResult, exportPlan} from '../export/index.js'

export default class Export extends BaseCommand {
  static summary = 'Write infrastructure-as-code for a plan (an AWS SAM template, or Terraform) so CI can deploy it'

  static description = `Builds the stage bundles as \`amps deploy --dry-run\` does (same bundler, same Lambda limits; plan.json is not changed) into .amps/bundles next to the template, and writes an AWS SAM template (JSON) that \`sam deploy\` takes as is:

- one AWS::Serverless::Function per stage, with the memory, architecture, timeout, /tmp size, handler, runtime and environment \`amps deploy --target aws\` gives it, and the stage's zip as CodeUri (sam deploy uploads it);
- an execution role with the least-privilege policy of \`amps deploy --create-role\` (its own log groups; the hand-off prefix of the bucket when the plan hands tensors over through S3), unless --role-arn names one;
- an S3 bucket for hand-offs, with objects expiring after a day, only when the plan needs one;
- the amps tags (amps:plan-hash, amps:stage, amps:model) and every --tags key=value on every resource.

--format terraform writes the same resources as Terraform JSON (main.tf.json: aws_lambda_function with filename and source_code_hash, aws_iam_role + aws_iam_role_policy, aws_s3_bucket + its lifecycle configuration), for terraform init && terraform apply.

Deploy a SAM template with: sam deploy --template-file template.json --stack-name <name> --capabilities CAPABILITY_IAM --resolve-s3 (CAPABILITY_NAMED_IAM is not needed: the role has no fixed name). \`amps invoke\` works with a deployment.json; for a SAM stack, invoke the functions with the names in the template's Outputs.`

  static examples = [
    {description: 'A SAM template next to the plan', command: '<%= config.bin %> <%= command.id %> plan.json --format sam -o template.json'},
    {
      description: 'Tag every resource, use an existing role',
      command: '<%= config.bin %> <%= command.id %> plan.json --format sam --tags team=ml --tags env=prod --role-arn arn:aws:iam::123456789012:role/amps',
    },
  ]

  static args = {
    plan: Args.string({description: 'plan.json written by `amps plan`', required: true}),
  }

  static flags = {
    format: Flags.option({
      options: ['sam', 'terraform'] as const,
      description: 'what to write: sam (an AWS SAM template) or terraform (main.tf.json)',
      default: 'sam' as const,
    })(),
    output: Flags.string({
      char: 'o',
      description: 'where to write it (default: template.json for sam, main.tf.json for terraform)',
      parse: async (input) => checkWritablePath(input),
    }),
    model: Flags.string({description: "the model, when it is not at the plan's model.source"}),
    'bundle-dir': Flags.string({description: 'where to build the stage zips (default: .amps/bundles next to the template)'}),
    tags: Flags.string({description: 'key=value tag for every resource (repeatable)', multiple: true}),
    'role-arn': Flags.string({description: 'execution role to use instead of the one the template creates'}),
  }

  async run(): Promise<ExportResult> {
    const {args, flags} = await this.parse(Export)
    const tags = parseTags(flags.tags)
    const result = await exportPlan({
      planPath: args.plan,
      format: flags.format,
      outPath: flags.output ?? DEFAULT_EXPORT_FILE[flags.format],
      modelPath: flags.model,
      bundleDir: flags['bundle-dir'],
      tags,
      roleArn: flags['role-arn'],
      log: (line) => this.note(line),
    })
    if (!this.jsonEnabled()) {
      this.log(`wrote ${result.output}: ${result.resources.map((r) => `${r.logicalId} (${r.type})`).join(', ')}`)
      this.log(`deploy it with: ${result.next}`)
    }
    return result
  }
}
