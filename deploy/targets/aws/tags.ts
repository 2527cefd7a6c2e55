/**
 * User tags (`--tags key=value`, repeatable): parsed and checked once, here, against AWS's tag rules,
 * then applied to every resource amps creates (functions, role, bucket) by deploy and by export.
 */
import {AmpsUserError} from '../../../src/errors.js'

/** AWS: keys 1–128 and values 0–256 characters of letters, digits, spaces and _ . : / = + - @. */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u
/** Lambda allows 50 tags per function; amps uses 3 of its own. */
export const MAX_USER_TAGS = 47

export function parseTags(values: readonly string[] | undefined): Record<string, string> {
  const tags: Record<string, string> = {}
  for (const text of values ?? []) {
    const eq = text.indexOf('=')
    const key = eq < 0 ? text : text.slice(0, eq)
    const value = eq < 0 ? '' : text.slice(eq + 1)
    const bad = (why: string): AmpsUserError =>
      new AmpsUserError('FLAG_INVALID', `--tags ${JSON.stringify(text)}: ${why}`, {
        suggestions: ['write each tag as --tags key=value, e.g. --tags team=ml --tags env=prod'],
      })
    if (eq < 0) throw bad('expected key=value')
    if (key.length < 1 || key.length > 128) throw bad('the key must be 1 to 128 characters')
    if (value.length > 256) throw bad('the value must be at most 256 characters')
    if (!TAG_CHARS.test(key) || !TAG_CHARS.test(value)) throw bad('tags may hold letters, digits, spaces and _ . : / = + - @ only')
    if (/^aws:/i.test(key)) throw bad('keys starting with "aws:" are reserved by AWS')
    if (/^amps:/i.test(key)) throw bad('keys starting with "amps:" are reserved by amps (it tags its own resources with them)')
    if (key in tags && tags[key] !== value) throw bad(`the key ${key} is given twice`)
    tags[key] = value
  }
  if (Object.keys(tags).length > MAX_USER_TAGS) {
    throw new AmpsUserError(
      'FLAG_INVALID',
      `${Object.keys(tags).length} --tags given; at most ${MAX_USER_TAGS} (Lambda allows 50 tags per function, amps sets 3)`,
    )
  }
  return tags
}

/** {k: v} → [{Key, Value}] as IAM and S3 take them. */
export function tagList(tags: Record<string, string>): {Key: string; Value: string}[] {
  return Object.entries(tags).map(([Key, Value]) => ({Key, Value}))
}
