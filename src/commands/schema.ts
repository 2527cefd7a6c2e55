import {Args} from '@oclif/core'

import {BaseCommand} from '../base-command.js'
import {jsonSchemaOf, type FileFormat} from '../files/format.js'
import {FILE_KINDS, type FileKind} from '../files/kinds.js'
import {planFormat} from '../plan/schema.js'
import {profileFormat} from '../profile/schema.js'
import {deploymentFormat} from '../../deploy/state/deployment.js'

const FORMATS: Record<FileKind, FileFormat<unknown>> = {
  profile: profileFormat as FileFormat<unknown>,
  plan: planFormat as FileFormat<unknown>,
  deployment: deploymentFormat as FileFormat<unknown>,
}

export default class Schema extends BaseCommand {
  static summary = 'Print the JSON Schema of profile.json, plan.json or deployment.json'

  static description = `Every file amps writes starts with "kind" (profile, plan or deployment) and "version". The schema printed here is the one amps validates the file against when it reads it (zod, converted with z.toJSONSchema); fields it does not list are allowed and kept. A file with a newer version than this amps knows is refused with a clear message.`

  static examples = [
    {description: 'The plan.json schema, for an editor or a CI check', command: '<%= config.bin %> <%= command.id %> plan > plan.schema.json'},
    {
      description: 'Validate a plan with a JSON Schema tool',
      command: '<%= config.bin %> <%= command.id %> plan > s.json && npx ajv-cli validate -s s.json -d plan.json',
    },
  ]

  static args = {
    kind: Args.string({description: 'which file', required: true, options: [...FILE_KINDS]}),
  }

  async run(): Promise<Record<string, unknown>> {
    const {args} = await this.parse(Schema)
    const schema = jsonSchemaOf(FORMATS[args.kind as FileKind])
    if (!this.jsonEnabled()) process.stdout.write(JSON.stringify(schema, null, 2) + '\n')
    return schema
  }
}
