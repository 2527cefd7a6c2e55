/**
 * JSON bodies with large base64 strings in them (stage events and results), parsed and written
 * with exactly the result of JSON.parse / JSON.stringify, but without running the base64 text
 * through V8's JSON parser and serialiser, which scan and copy a long string at a few hundred MB/s
 * (a 4 MB tensor, 5.6 MB of base64, costs ~10 ms each way; a copy costs ~0.5 ms).
 *
 * How: a long string that is plain base64 ([A-Za-z0-9+/] and up to two trailing =) needs no JSON
 * escaping, so its JSON text is its bytes between two quotes. The parser cuts such strings out of
 * the body, parses the small rest (the "skeleton", each string replaced by a unique marker) and puts
 * the strings back; the writer serialises the skeleton and splices the strings' bytes in. Anything
 * that is not plainly so (a short body, non-ASCII, escapes, a string that is not base64, a marker
 * that is not found exactly once) takes the ordinary JSON.parse / JSON.stringify path, so both
 * functions return what the ordinary calls return, errors included.
 *
 * Pure (node:buffer and node:crypto only): the coordinator, the local runner and the stage codec share it.
 */
import {isAscii} from 'node:buffer'
import {randomBytes} from 'node:crypto'

/** Strings shorter than this go through JSON.parse / JSON.stringify as usual. */
export const SPLICE_MIN_CHARS = 4096
/** Below this a body is parsed whole (the cut-out costs more than it saves). */
const SPLICE_MIN_BODY = 16_384
/** Give up cutting (and parse whole) after this many string literals: a body of many small strings. */
const MAX_LITERALS = 4096

const QUOTE = 0x22
const BACKSLASH = 0x5c
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * True when `s` is base64 text of whole quanta: length a multiple of 4 and /^[A-Za-z0-9+/]*={0,2}$/.
 * The same answer as that regular expression (plus the length rule), ~30× faster on long strings:
 * an ASCII string without the URL-safe - and _ decodes to exactly 3/4 of its length less its
 * padding only when every character before the padding is in the alphabet, since Node's decoder
 * skips (or stops at) anything else and cannot make more than 6 bits of output per character read.
 * `decoded` receives the decoded bytes when the fast path computed them.
 */
export function isBase64Text(s: string, decoded?: (bytes: Buffer) => void): boolean {
  if (s.length % 4 !== 0) return false
  if (s.length < 256) return BASE64_RE.test(s)
  // chars above 0x7f: Node's decoder reads only the low byte of a two-byte character
  return Buffer.byteLength(s, 'utf8') === s.length && isAsciiBase64Text(s, decoded)
}

/** isBase64Text for a string known to be ASCII, of 256 characters or more. */
function isAsciiBase64Text(s: string, decoded?: (bytes: Buffer) => void): boolean {
  if (s.length % 4 !== 0) return false
  if (s.includes('-') || s.includes('_')) return false
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0
  const expected = (s.length / 4) * 3 - pad
  if (!decoded) return scratchFor((s.length / 4) * 3).write(s, 0, 'base64') === expected
  const bytes = Buffer.from(s, 'base64')
  if (bytes.length !== expected) return false
  decoded(bytes)
  return true
}

/** Where a check decodes bytes it does not keep: reused, so megabyte checks allocate nothing. */
let scratch: Buffer | undefined
const SCRATCH_MAX_BYTES = 8 * 1024 * 1024

function scratchFor(n: number): Buffer {
  if (n > SCRATCH_MAX_BYTES) return Buffer.allocUnsafe(n)
  if (!scratch || scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, 65_536))
  return scratch
}

/** The text of a UTF-8 body: latin1 when it is ASCII (the same string, much faster to make). */
export function bodyText(body: Buffer): string {
  return isAscii(body) ? body.toString('latin1') : body.toString('utf8')
}

/** A marker prefix that occurs in none of `pieces` (it needs no JSON escaping, and base64 has no -). */
function markerPrefix(pieces: string[]): string {
  for (;;) {
    const prefix = `amps-splice-${randomBytes(8).toString('hex')}-`
    if (!pieces.some((p) => p.includes(prefix))) return prefix
  }
}

/**
 * JSON.parse(bodyText(body)): the same value (or the same SyntaxError), with long base64 strings
 * cut out of the body instead of parsed.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (body.length < SPLICE_MIN_BODY || !isAscii(body)) return JSON.parse(bodyText(body))
  // walk the string literals: from an opening quote to the next quote not escaped; between a
  // closing quote and the next opening quote there are only numbers, literals and punctuation
  const cuts: {start: number; end: number; text: string}[] = []
  let literals = 0
  for (let open = body.indexOf(QUOTE); open >= 0;) {
    if (++literals > MAX_LITERALS) return JSON.parse(bodyText(body))
    let close = body.indexOf(QUOTE, open + 1)
    while (close > 0 && escaped(body, close)) close = body.indexOf(QUOTE, close + 1)
    if (close < 0) break // unterminated: JSON.parse below reports it
    if (close - open - 1 >= SPLICE_MIN_CHARS) {
      const text = body.toString('latin1', open + 1, close)
      // no backslash inside (a base64 string has none), so the text is the string's value
      if (isAsciiBase64Text(text)) cuts.push({start: open + 1, end: close, text})
    }
    open = body.indexOf(QUOTE, close + 1)
  }
  if (cuts.length === 0) return JSON.parse(body.toString('latin1'))
  // the body around the cuts, and a marker in each cut's place
  const pieces = cuts.map((c, k) => body.toString('latin1', k === 0 ? 0 : cuts[k - 1].end, c.start))
  pieces.push(body.toString('latin1', cuts[cuts.length - 1].end))
  const prefix = markerPrefix(pieces)
  const skeleton = pieces.map((p, k) => (k < cuts.length ? p + prefix + k : p)).join('')
  const seen = new Array<number>(cuts.length).fill(0)
  let value: unknown
  try {
    value = JSON.parse(skeleton, (_key, v: unknown) => {
      if (typeof v === 'string' && v.startsWith(prefix)) {
        const k = Number(v.slice(prefix.length))
        if (Number.isInteger(k) && k >= 0 && k < cuts.length && v === prefix + k) {
          seen[k]++
          return cuts[k].text
        }
      }
      return v
    })
  } catch {
    return JSON.parse(body.toString('latin1'))
  }
  // each cut must have been one whole string value exactly once (a duplicate key drops one)
  return seen.every((n) => n === 1) ? value : JSON.parse(body.toString('latin1'))
}

/** True when the quote at `i` is escaped (an odd number of backslashes before it). */
function escaped(body: Buffer, i: number): boolean {
  let n = 0
  while (i - 1 - n >= 0 && body[i - 1 - n] === BACKSLASH) n++
  return n % 2 === 1
}

/**
 * Buffer.from(JSON.stringify(value)) in UTF-8 (latin1 when ASCII, the same bytes): the same body,
 * with long base64 strings spliced in as bytes instead of serialised. `undefined` when
 * JSON.stringify returns undefined (a function, a symbol, undefined).
 */
export function jsonBody(value: unknown): Buffer | undefined {
  const long: string[] = []
  const text = JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'string' && v.length >= SPLICE_MIN_CHARS && isBase64Text(v)) {
      long.push(v)
      return `\u0000${long.length - 1}`
    }
    return v
  }) as string | undefined
  if (text === undefined) return undefined
  if (long.length === 0) return textBytes(text)
  // \u0000 never appears unescaped in JSON text: JSON.stringify writes it as \\u0000, so
  // "\\u0000<k>" is found only where a spliced string was, unless a string held that text itself
  const parts: string[] = []
  let at = 0
  for (let k = 0; k < long.length; k++) {
    const mark = `"\\u0000${k}"`
    const i = text.indexOf(mark, at)
    if (i < 0 || text.indexOf(mark, i + 1) >= 0) return textBytes(JSON.stringify(value))
    parts.push(text.slice(at, i + 1), long[k])
    at = i + mark.length - 1
  }
  parts.push(text.slice(at))
  // one buffer, each part written once: the skeleton's parts as UTF-8, the base64 strings as latin1 (ASCII)
  const sizes = parts.map((p, j) => (j % 2 === 1 ? p.length : Buffer.byteLength(p)))
  const out = Buffer.allocUnsafe(sizes.reduce((a, b) => a + b, 0))
  let offset = 0
  parts.forEach((p, j) => {
    offset += out.write(p, offset, sizes[j], j % 2 === 1 ? 'latin1' : 'utf8')
  })
  return out
}

function textBytes(text: string): Buffer {
  const size = Buffer.byteLength(text)
  return Buffer.from(text, size === text.length ? 'latin1' : 'utf8')
}
