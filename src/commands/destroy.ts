import {Args, Flags} from '@oclif/core'
import {createInterface} from 'node:readline/promises'

import {readDeployment} from '../../deploy/state/deployment.js'
import {previewDestroy, runDestroy, type DestroyReport} from '../../deploy/destroy-run.js'
import {BaseCommand} from '../base-command.js'
import {AmpsUserError} from '../errors.js'

export default class Destroy extends BaseCommand {
  static summary = 'Stop and delete everything a deployment created'

  static description = `Lists what it will stop and delete, asks for confirmation (unless --force), then removes it: for the local target the stage processes, their cgroups and the local runtime directory; for AWS the functions, code and hand-off objects, and the bucket and role if the deployment created them. Pids recorded by a run that crashed are checked before anything is signalled.

deployment.json stays, with every stage marked deleted, so running destroy again does nothing. Without a terminal (CI, pipes) it needs --force.`

  static examples = [
    {description: 'Review, confirm, delete', command: '<%= config.bin %> <%= command.id %> deployment.json'},
    {description: 'In scripts and CI', command: '<%= config.bin %> <%= command.id %> deployment.json --force --json'},
  ]

  static args = {
    deployment: Args.string({description: 'deployment.json written by `amps deploy`', required: true}),
  }

  static flags = {
    force: Flags.boolean({char: 'f', description: 'do not ask for confirmation'}),
    profile: Flags.string({description: 'AWS profile (~/.aws/config; default AWS_PROFILE, else default)'}),
    'endpoint-url': Flags.string({description: 'AWS: send every API call to this URL (default AWS_ENDPOINT_URL)'}),
  }

  async run(): Promise<DestroyReport> {
    const {args, flags} = await this.parse(Destroy)
    const state = readDeployment(args.deployment)
    const preview = await previewDestroy(state, args.deployment)
    const json = this.jsonEnabled()
    if (preview.nothingToDo) {
      if (!json) this.log(`nothing to destroy: every stage of ${args.deployment} is already deleted`)
      return runDestroy(args.deployment, {profile: flags.profile, endpointUrl: flags['endpoint-url']})
    }
    if (!json) {
      this.log(`amps destroy will (${state.target}):`)
      for (const a of preview.actions) this.log(`  - ${a}`)
      for (const k of preview.keep) this.log(`  keeps ${k} (not created by this deployment)`)
    }
    if (!flags.force) {
      if (!process.stdin.isTTY || process.env.CI) {
        throw new AmpsUserError('FLAG_INVALID', 'amps destroy needs --force when it cannot ask (no terminal or CI is set)', {
          suggestions: [`amps destroy ${args.deployment} --force`],
          details: {actions: preview.actions},
        })
      }
      const rl = createInterface({input: process.stdin, output: process.stderr})
      const answer = await rl.question('Proceed? [y/N] ')
      rl.close()
      if (!/^y(es)?$/i.test(answer.trim())) {
        if (!json) this.log('cancelled; nothing was changed')
        return {schemaVersion: 1, deploymentPath: args.deployment, destroyed: false, stages: [], ...preview}
      }
    }
    const report = await runDestroy(args.deployment, {log: (line) => this.note(line), profile: flags.profile, endpointUrl: flags['endpoint-url']})
    if (!json) this.log(`destroyed ${report.stages.length} stage(s); ${args.deployment} now records them as deleted`)
    return report
  }
}
