/**
 * Building blocks for the file schemas (zod v4) and the one renderer of their problems:
 * `"stages[1].memoryMb": expected an integer in 128–10240, got 20000`, one line per problem.
 * Each building block carries its own "expected …" text, so the rendered line says what is allowed.
 */
import {z} from 'zod'

export {z}

/** A number (finite), with optional bounds; `what` defaults to a description of them. */
export function num(opts: {min?: number; gt?: number; max?: number; int?: boolean; what?: string} = {}): z.ZodNumber {
  const noun = opts.int ? 'an integer' : 'a number'
  const range =
    opts.min !== undefined && opts.max !== undefined
      ? ` in ${opts.min}–${opts.max}`
      : `${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}${opts.gt !== undefined ? ` > ${opts.gt}` : ''}${opts.max !== undefined ? ` ≤ ${opts.max}` : ''}`
  const e = {error: `expected ${opts.what ?? noun + range}`}
  let s = z.number(e)
  if (opts.int) s = s.int(e)
  if (opts.min !== undefined) s = s.min(opts.min, e)
  if (opts.gt !== undefined) s = s.gt(opts.gt, e)
  if (opts.max !== undefined) s = s.max(opts.max, e)
  return s
}

export const str = (what = 'a string'): z.ZodString => z.string({error: `expected ${what}`})
export const nonEmptyStr = (what = 'a non-empty string'): z.ZodString => z.string({error: `expected ${what}`}).min(1, {error: `expected ${what}`})
export const bool = (): z.ZodBoolean => z.boolean({error: 'expected true or false'})

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, what?: string): z.ZodEnum<{[K in T[number]]: K}> {
  return z.enum(values, {error: `expected ${what ?? values.map((v) => JSON.stringify(v)).join(values.length === 2 ? ' or ' : ', ')}`}) as never
}

export function list<T extends z.ZodType>(item: T, opts: {nonEmpty?: boolean} = {}): z.ZodArray<T> {
  const s = z.array(item, {error: 'expected a list'})
  return opts.nonEmpty ? s.min(1, {error: 'expected at least one entry'}) : s
}

/** An object whose listed fields are checked; other fields are kept (newer writers may add some). */
export function obj<T extends z.ZodRawShape>(shape: T): z.ZodObject<T, z.core.$loose> {
  return z.looseObject(shape, {error: 'expected an object'})
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing'
  const text = JSON.stringify(value)
  if (text === undefined) return String(value)
  return text.length > 40 ? `${text.slice(0, 37)}...` : text
}

export function fieldPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`
  return out || '(top level)'
}

/** Default text for an issue whose schema gave none (zod's own messages are not "expected …" lines). */
function fallback(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`
    default:
      return 'expected something else'
  }
}

/** Every problem with `raw` against `schema`, as `"field": expected …, got …` lines (empty: valid). */
export function problemsOf(schema: z.ZodType, raw: unknown): string[] {
  const r = schema.safeParse(raw, {reportInput: true, error: fallback})
  if (r.success) return []
  return r.error.issues.map((issue) => {
    const at = `"${fieldPath(issue.path)}"`
    const input = (issue as {input?: unknown}).input
    if (issue.code === 'invalid_type' && input === undefined) return `${at}: missing`
    return `${at}: ${issue.message}, got ${show(input)}`
  })
}
