/**
 * The one resolver for a path recorded inside a file amps wrote (a plan's model.source and
 * model.profile, a deployment's planPath): absolute as is; relative ones are looked for beside the
 * file that records them first, then in the current directory.
 */
import {existsSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, isAbsolute, join, resolve} from 'node:path'

/** Where amps keeps its caches: $AMPS_CACHE_DIR, default ~/.cache/amps. */
export function ampsCacheRoot(): string {
  return process.env.AMPS_CACHE_DIR ? resolve(process.env.AMPS_CACHE_DIR) : join(homedir(), '.cache', 'amps')
}

export function resolveRecordedPath(recorded: string, recordedIn: string): string {
  if (isAbsolute(recorded)) return recorded
  const beside = resolve(dirname(resolve(recordedIn)), recorded)
  if (existsSync(beside)) return beside
  const fromCwd = resolve(recorded)
  if (existsSync(fromCwd)) return fromCwd
  return beside
}
