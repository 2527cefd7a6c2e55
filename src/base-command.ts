import {Command, Errors} from '@oclif/core'

import {isAmpsUserError} from './errors.js'

/**
 * Every amps command extends this: --json everywhere, user errors as one clear line (exit 2),
 * anything else reported as a probable bug (exit 1), stacks only with DEBUG set.
 */
export abstract class BaseCommand extends Command {
  static enableJsonFlag = true

  /** Progress and notes go to stderr so stdout stays clean for --json and pipes. */
  protected note(message: string): void {
    if (!this.jsonEnabled()) process.stderr.write(message + '\n')
  }

  protected async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    // oclif's Command.catch takes the exit code from err.exitCode, which CLIErrors don't set: under
    // --json a user error would exit 1 instead of 2. Carry the CLIError's own exit code over.
    const cliExit = err instanceof Errors.CLIError ? err.oclif?.exit : undefined
    if (isAmpsUserError(err) || err instanceof Errors.ExitError) {
      if (cliExit !== undefined && process.exitCode === undefined) process.exitCode = cliExit
      return super.catch(err)
    }
    // oclif's own parse errors (unknown flag, missing arg) are CLIErrors already.
    if (cliExit !== undefined) {
      if (process.exitCode === undefined) process.exitCode = cliExit
      return super.catch(err)
    }
    const debug = Boolean(process.env.DEBUG)
    const wrapped = new Errors.CLIError(
      `${err.message}\nThis is probably a bug in amps; rerun with DEBUG=* to see the stack and report it.` +
        (debug && err.stack ? `\n${err.stack}` : ''),
      {exit: 1},
    )
    if (process.exitCode === undefined) process.exitCode = 1
    return super.catch(wrapped)
  }
}
