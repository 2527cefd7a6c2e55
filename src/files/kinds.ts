/**
 * The files amps reads and writes, and how to tell one from another. Every file amps writes carries
 * `kind` and `version`; files written before `kind` existed are recognised by their fields.
 */
import {dirname, join, resolve} from 'node:path'

export type FileKind = 'profile' | 'plan' | 'deployment'
export type DetectedKind = FileKind | 'model'

export const FILE_KINDS: readonly FileKind[] = ['profile', 'plan', 'deployment']

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x)

/** What a parsed JSON file is: its `kind`, else recognised by its fields; undefined when unknown. */
export function detectKind(raw: unknown): DetectedKind | undefined {
  if (!isObj(raw)) return undefined
  if (typeof raw.kind === 'string' && (FILE_KINDS as readonly string[]).includes(raw.kind)) return raw.kind as FileKind
  if ('modelTopology' in raw) return 'model'
  if ('layers' in raw && 'runtime' in raw) return 'profile'
  if ('stages' in raw && 'predicted' in raw) return 'plan'
  if ('stages' in raw && 'target' in raw && 'planHash' in raw) return 'deployment'
  return undefined
}

const ARTICLE: Record<DetectedKind, string> = {profile: 'a profile', plan: 'a plan', deployment: 'a deployment', model: 'a TF.js model'}
const WRITER: Record<DetectedKind, string> = {
  profile: '`amps profile`',
  plan: '`amps plan`',
  deployment: '`amps deploy`',
  model: 'tensorflowjs_converter or Keras',
}

/** `dir/name`, or `dir/<stem>-2.json` when that would be `file` itself (never suggest overwriting an input). */
function outputBeside(file: string, name: string): string {
  const abs = resolve(file)
  const out = join(dirname(abs), name)
  if (out !== abs) return name
  return name.replace(/\.json$/, '-2.json')
}

/**
 * The one-line error for "expected a `want`, got a `got`", with the step that turns one into the other.
 * `raw` is the parsed file, used to point at what it refers to (a deployment's plan).
 */
export function wrongKind(file: string, want: FileKind, got: DetectedKind, raw: unknown): {message: string; suggestion: string} {
  const message = `${file} is ${ARTICLE[got]} (written by ${WRITER[got]}), not ${ARTICLE[want]}`
  const r = isObj(raw) ? raw : {}
  const plan = outputBeside(file, 'plan.json')
  let suggestion: string
  if (want === 'plan' && (got === 'profile' || got === 'model')) suggestion = `make a plan from it first: amps plan ${file} --slo <ms> -o ${plan}`
  else if (want === 'plan' && got === 'deployment')
    suggestion = typeof r.planPath === 'string' ? `its plan is ${r.planPath}` : 'pass the plan.json given to `amps deploy`'
  else if (want === 'profile' && got === 'model') suggestion = `profile it first: amps profile ${file} -o ${outputBeside(file, 'profile.json')}`
  else if (want === 'profile' && got === 'plan') {
    const m = isObj(r.model) ? r.model : {}
    suggestion = typeof m.profile === 'string' ? `the plan was made from ${m.profile}` : 'pass the profile.json the plan was made from'
  } else if (want === 'deployment' && got === 'plan')
    suggestion = `deploy it first: amps deploy ${file} --target local -o ${outputBeside(file, 'deployment.json')}`
  else if (want === 'deployment' && (got === 'profile' || got === 'model'))
    suggestion = `plan it, then deploy the plan: amps plan ${file} --slo <ms> -o ${plan}`
  else suggestion = `pass the ${want}.json written by ${WRITER[want]}`
  return {message, suggestion}
}

export function describeKind(kind: DetectedKind): string {
  return ARTICLE[kind]
}

export function defaultFileName(kind: FileKind): string {
  return `${kind}.json`
}
