/**
 * One kit for the files amps writes and reads back (profile.json, plan.json, deployment.json): read
 * (exists, is a file, is JSON, is this kind, is a version this amps knows, matches the schema, passes
 * the format's own cross-field checks), validate an in-memory value, and write it atomically with
 * fsync, `kind` and `version` first. Every failure is one AmpsUserError naming the file and field.
 */
import {existsSync, readFileSync, statSync} from 'node:fs'

import {AmpsUserError, type AmpsErrorCode} from '../errors.js'
import {writeFileAtomic} from './atomic.js'
import {detectKind, wrongKind, type FileKind} from './kinds.js'
import {problemsOf, z} from './zod.js'

export interface FileFormat<T> {
  kind: FileKind
  /** the version this amps writes and reads */
  version: number
  schema: z.ZodType
  /** error code for an invalid file of this kind */
  code: AmpsErrorCode
  /** how to make a fresh one, e.g. "amps plan <model|profile.json> --slo <ms> -o plan.json" (`{file}` is the path) */
  remake: string
  /** rules the shape alone cannot say, as `"field": …` lines; called only when the shape is valid */
  check?: (value: T) => string[]
  /** file mode for new files (default 0o644; deployment.json is owner-only) */
  fileMode?: number
  /** the type, for inference only */
  readonly _type?: T
}

export function defineFormat<T>(format: Omit<FileFormat<T>, '_type'>): FileFormat<T> {
  return format
}

/** Problems shown in the one-line message; the rest are counted and kept in details.problems. */
const SHOWN = 3

function summarise(problems: string[]): string {
  const more = problems.length > SHOWN ? ` (and ${problems.length - SHOWN} more; --json lists them all)` : ''
  return problems.slice(0, SHOWN).join('; ') + more
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** The version a file says it is: `version`, or `schemaVersion` (the name some older outputs used). */
function versionOf(raw: Record<string, unknown>): unknown {
  return raw.version ?? raw.schemaVersion
}

/**
 * Validate parsed JSON as `format`; `file` names it in errors. Returns the value without `kind` (the
 * in-memory types carry no kind; it is put back on write), with `version` set.
 */
export function validateAs<T>(format: FileFormat<T>, raw: unknown, file: string): T {
  const remake = format.remake.replaceAll('{file}', file)
  const detected = detectKind(raw)
  if (detected && detected !== format.kind) {
    const w = wrongKind(file, format.kind, detected, raw)
    throw new AmpsUserError('FILE_INVALID', w.message, {suggestions: [w.suggestion], details: {file, kind: detected, expected: format.kind}})
  }
  if (!isObj(raw)) {
    throw new AmpsUserError(
      format.code,
      `${file} is not ${format.kind}.json: expected a JSON object, got ${Array.isArray(raw) ? 'a list' : JSON.stringify(raw)}`,
      {
        suggestions: [remake],
      },
    )
  }
  const version = versionOf(raw)
  if (typeof version === 'number' && version !== format.version) {
    const newer = version > format.version
    throw new AmpsUserError(
      format.code,
      `${file} is ${format.kind}.json version ${version}; this amps reads version ${format.version}` +
        (newer ? ' (the file was written by a newer amps)' : ' (an older format)'),
      {suggestions: [newer ? 'upgrade amps (npm install -g amps@latest), or re-create the file with this one: ' + remake : remake], details: {file, version}},
    )
  }
  const {kind: _kind, schemaVersion: _sv, ...rest} = raw
  const value = {...rest, version: version ?? rest.version} as Record<string, unknown>
  const problems = problemsOf(format.schema, value)
  if (problems.length === 0 && format.check) problems.push(...format.check(value as T))
  if (problems.length > 0) {
    throw new AmpsUserError(format.code, `${file} is not a valid ${format.kind}: ${summarise(problems)}`, {
      suggestions: [remake],
      details: {file, problems},
    })
  }
  return value as T
}

/** Read `path` as `format`: FILE_NOT_FOUND, a directory, broken JSON, another kind, a version, each field. */
export function readAs<T>(format: FileFormat<T>, path: string): T {
  const remake = format.remake.replaceAll('{file}', path)
  if (!existsSync(path)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `${format.kind} not found: ${path}`, {suggestions: [remake]})
  }
  if (statSync(path).isDirectory()) {
    throw new AmpsUserError(format.code, `${path} is a directory; expected a ${format.kind}.json file`, {suggestions: [remake]})
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError(format.code, `${path} is not valid JSON (${(error as Error).message.split('\n')[0]})`, {suggestions: [remake]})
  }
  return validateAs(format, raw, path)
}

/** The JSON text amps writes for `value`: `kind` and `version` first, two-space indent, final newline. */
export function serialise<T>(format: FileFormat<T>, value: T): string {
  const {kind: _k, version: _v, schemaVersion: _s, ...rest} = value as Record<string, unknown>
  return JSON.stringify({kind: format.kind, version: format.version, ...rest}, null, 2) + '\n'
}

/** Validate (never write what readAs would refuse), then write atomically with fsync. */
export function writeAs<T>(format: FileFormat<T>, path: string, value: T): void {
  validateAs(format, value, path)
  writeFileAtomic(path, serialise(format, value), format.fileMode)
}

/** The JSON Schema of a format (what `amps schema <kind>` prints). */
export function jsonSchemaOf(format: FileFormat<unknown>): Record<string, unknown> {
  const s = z.toJSONSchema(format.schema, {unrepresentable: 'any', io: 'input'}) as Record<string, unknown>
  const props = (s.properties ?? {}) as Record<string, unknown>
  return {
    $schema: s.$schema,
    title: `amps ${format.kind}.json, version ${format.version}`,
    ...s,
    properties: {kind: {const: format.kind}, ...props, version: {const: format.version}},
  }
}
