/**
 * The one resolver for a path recorded inside a file amps wrote (a plan's model.source and
 * model.profile, a deployment's planPath): absolute as is; relative ones are looked for beside the
 * file that records them first, then in the current directory.
 */
import {existsSync} from 'node:fs'
import {dirname, isAbsolute, resolve} from 'node:path'

export function resolveRecordedPath(recorded: string, recordedIn: string): string {
  if (isAbsolute(recorded)) return recorded
  const beside = resolve(dirname(resolve(recordedIn)), recorded)
  if (existsSync(beside)) return beside
  const fromCwd = resolve(recorded)
  if (existsSync(fromCwd)) return fromCwd
  return beside
}
