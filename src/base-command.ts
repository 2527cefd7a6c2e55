import {Command, Errors} from '@oclif/core'

import {isAmpsUserError} from './errors.js'

/** How amps shows a failure: one line, then one hint line; the exit code it ends with. */
export interface RenderedError {
  message: string
  hint?: string
  exit: number
}

/**
 * oclif wraps a flag's parse error as "Parsing --x \n\t<message>\nSee more help with --help"; keep
 * the message, and name the flag when the message does not (its integer checks say only "Expected
 * an integer greater than or equal to 1 but received: 0").
 */
function unwrapFlagParse(message: string): string {
  const m = /^Parsing (--\S+) \n\t([\s\S]*?)\nSee more help with --help$/.exec(message)
  if (!m) return message.replace(/^The following errors? occurred:\s*/, '').replace(/Missing required flag (\w[\w-]*)/g, 'Missing required flag --$1')
  return m[2].includes(m[1]) ? m[2] : `${m[1]}: ${m[2]}`
}

const oneLine = (text: string): string => text.replace(/\s*\n\s*/g, ' ').trim()

/**
 * The one rendering of an error: user mistakes (AmpsUserError, oclif's own parse errors) as their
 * message and a hint matching the cause (exit 2); anything else as its message plus "probably a bug"
 * (exit 1), the stack only with DEBUG set.
 */
export function renderError(err: Error & {exitCode?: number}, commandId?: string): RenderedError {
  const cliExit = err instanceof Errors.CLIError ? err.oclif?.exit : undefined
  if (err instanceof Errors.ExitError) return {message: '', exit: err.oclif.exit ?? 0}
  if (isAmpsUserError(err) || cliExit !== undefined) {
    const suggestions = (err as Errors.CLIError).suggestions ?? []
    const raw = unwrapFlagParse(err.message)
    // oclif's parse errors carry their hint in the message ("See more help with --help")
    const [first, ...rest] = raw
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
    const helpHint = rest.find((l) => /--help/.test(l))
    const hint = suggestions.length > 0 ? suggestions.join('; ') : commandId ? `run \`amps ${commandId} --help\` for the flags and examples` : undefined
    const message = oneLine([first, ...rest.filter((l) => l !== helpHint)].join(' '))
    return {message, hint: hint ? oneLine(hint) : undefined, exit: cliExit ?? 2}
  }
  return {message: oneLine(err.message), hint: 'this is probably a bug in amps; rerun with DEBUG=* to see the stack and report it', exit: 1}
}

/**
 * Every amps command extends this: --json everywhere, user errors as one clear line (exit 2),
 * anything else reported as a probable bug (exit 1), stacks only with DEBUG set.
 */
export abstract class BaseCommand extends Command {
  static enableJsonFlag = true

  /**
   * Progress and notes go to stderr, line by line as they happen (also when stderr is not a terminal
   * and under --json), so stdout stays clean for --json and pipes.
   */
  protected note(message: string): void {
    process.stderr.write(message + '\n')
  }

  protected async catch(err: Error & {exitCode?: number; skipOclifErrorHandling?: boolean}): Promise<unknown> {
    const r = renderError(err, this.id)
    if (err instanceof Errors.ExitError) return super.catch(err)
    if (process.exitCode === undefined || process.exitCode === 0) process.exitCode = r.exit
    err.message = r.message
    if (this.jsonEnabled()) this.logJson(this.toErrorJson(err))
    process.stderr.write(`Error: ${r.message}\n${r.hint ? `Hint: ${r.hint}\n` : ''}`)
    if (r.exit === 1 && process.env.DEBUG && err.stack) process.stderr.write(err.stack + '\n')
    // printed here; oclif's handler only exits with the code
    err.skipOclifErrorHandling = true
    if (err instanceof Errors.CLIError) err.oclif = {...err.oclif, exit: r.exit}
    else Object.assign(err, {oclif: {exit: r.exit}})
    throw err
  }
}
