/**
 * src/stage/json-body.ts: the spliced JSON parser and writer must give exactly what JSON.parse and
 * JSON.stringify give (values, bytes, errors), and the fast base64 check exactly what the regular
 * expression it replaces gives.
 */
import {describe, expect, it, vi} from 'vitest'

import {SPLICE_MIN_CHARS, isBase64Text, jsonBody, parseJsonBody} from '../../src/stage/json-body.js'
import {encodeInline} from '../../src/stage/codec.js'

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/
const regexAnswer = (s: string) => s.length % 4 === 0 && BASE64_RE.test(s)

/** Deterministic pseudo-random bytes (a linear congruential generator). */
function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

const b64 = (n: number, seed = 1) => bytes(n, seed).toString('base64')

function sameParse(body: Buffer): void {
  const text = body.toString('utf8')
  let expected: unknown
  let error: string | undefined
  try {
    expected = JSON.parse(text)
  } catch (e) {
    error = (e as Error).message
  }
  if (error !== undefined) expect(() => parseJsonBody(body)).toThrow(error)
  else expect(parseJsonBody(body)).toStrictEqual(expected)
}

function sameBody(value: unknown): void {
  const text = JSON.stringify(value) as string | undefined
  const got = jsonBody(value)
  if (text === undefined) expect(got).toBeUndefined()
  else expect(got?.toString('hex')).toBe(Buffer.from(text, 'utf8').toString('hex'))
}

describe('isBase64Text', () => {
  it('answers like /^[A-Za-z0-9+/]*={0,2}$/ (length a multiple of 4) for every character 0..0x17f at the start, middle, end and before the padding', () => {
    const chars = [...Array.from({length: 0x180}, (_, c) => String.fromCharCode(c)), '\ud800', '\udfff', '😀'.slice(0, 1), 'Ł', '€']
    for (const n of [300, 301, 302, 3000]) {
      const base = b64(n, n) // 0, 1 or 2 padding characters
      const pad = base.endsWith('==') ? 2 : base.endsWith('=') ? 1 : 0
      for (const c of chars) {
        for (const at of [0, 1, base.length >> 1, base.length - pad - 1, base.length - 1]) {
          // replaced (same length) and inserted (+ one character, rounded back to a multiple of 4 by dropping three)
          const replaced = base.slice(0, at) + c + base.slice(at + 1)
          const inserted = base.slice(0, at) + c + base.slice(at + 4)
          for (const s of [replaced, inserted]) expect(isBase64Text(s), JSON.stringify([c, at, n])).toBe(regexAnswer(s))
        }
      }
    }
  })

  it('answers like the regular expression for padding shapes and short strings', () => {
    const base = b64(600)
    for (const tail of ['', '=', '==', '===', 'A=', 'A==', '=A', 'AA=A', 'A===', '====']) {
      for (const s of [base + tail, base.slice(0, -4) + tail, base.slice(0, base.length - tail.length) + tail, tail, 'QUJD' + tail]) {
        expect(isBase64Text(s), JSON.stringify(s.slice(-8))).toBe(regexAnswer(s))
      }
    }
  })

  it('hands over the decoded bytes when it decoded them', () => {
    const raw = bytes(9000)
    let got: Buffer | undefined
    expect(isBase64Text(raw.toString('base64'), (b) => (got = b))).toBe(true)
    expect(got?.equals(raw)).toBe(true)
  })
})

describe('parseJsonBody', () => {
  const big = (n = SPLICE_MIN_CHARS * 4) => b64(n)
  const event = (b: string) => ({
    tensors: [{id: 't0', dtype: 'float32', shape: [1, 3 * b.length], b64: b}],
    handoff: {kind: 'dir', path: '/tmp/x'},
    requestId: 'r-1',
  })

  it('gives JSON.parse’s value for stage events and results with large tensors', () => {
    const t = encodeInline({id: 'x', dtype: 'float32', shape: [1, 40_000], data: Float32Array.from({length: 40_000}, (_, i) => Math.sin(i))})
    sameParse(Buffer.from(JSON.stringify({tensors: [t, {...t, id: 'y'}, {id: 'z', dtype: 'float32', shape: [2], ref: 'file:///x', bytes: 8}]})))
    sameParse(Buffer.from(JSON.stringify(event(big()))))
    sameParse(Buffer.from(JSON.stringify({a: [big(), 1, true, null, {b: big(), c: 'short'}], d: -1.5e-7})))
    sameParse(Buffer.from(JSON.stringify(event(big()), null, 2)))
  })

  it('gives JSON.parse’s value where the cut-out must not apply', () => {
    const b = big()
    for (const text of [
      // escapes next to and inside long strings
      `{"a":"x\\"y","b":"${b}","c":"\\\\","d":"${b}\\u0041"}`,
      `{"a":"${b.slice(0, 100)}\\n${b}"}`,
      // a long string that is not base64, one of URL-safe base64, a long key
      `{"a":"${'-'.repeat(SPLICE_MIN_CHARS * 5)}","b":"${b.replace(/\+/g, '-')}"}`,
      `{"${b}":1,"k":"${b}"}`,
      // duplicate keys: the last wins
      `{"b64":"${b}","b64":"${b64(SPLICE_MIN_CHARS * 4, 7)}"}`,
      // non-ASCII around a long string
      `{"id":"ünïcode ✓","b64":"${b}"}`,
      // a string that looks like the parser's marker
      `{"m":"amps-splice-0","n":"\\u0061mps-splice-","b64":"${b}"}`,
      // a control character inside a long string (invalid JSON)
      `{"a":"${b.slice(0, 5000)}\u0001${b.slice(5001)}"}`,
      // not JSON at all, unterminated, trailing text
      `{"a":"${b}"`,
      `{"a":"${b}"} x`,
      `{"a":${b}}`,
      `["${b}", ]`,
      `${'x'.repeat(20_000)}`,
    ])
      sameParse(Buffer.from(text))
  })

  it('runs only the rest of the body through JSON.parse, escapes before the long strings included', () => {
    const b = big()
    const body = Buffer.from(`{"a":"x\\"y\\\\","b":"${b}","c":["\\\\",{"b64":"${b}"}],"d":"q\\"\\"\\\\\\""}`)
    expect(() => JSON.parse(body.toString())).not.toThrow()
    const parse = vi.spyOn(JSON, 'parse')
    try {
      sameParse(body)
      const lengths = parse.mock.calls.map((c) => String(c[0]).length)
      // sameParse's own JSON.parse of the whole body, then parseJsonBody's one small parse
      expect(lengths.sort((x, y) => x - y)).toEqual([expect.any(Number), body.length])
      expect(lengths[0]).toBeLessThan(200)
    } finally {
      parse.mockRestore()
    }
  })

  it('gives JSON.parse’s value for bodies of many small strings and for small bodies', () => {
    sameParse(Buffer.from(JSON.stringify({trace: Array.from({length: 6000}, (_, i) => `line ${i} "quoted" \\ back`)})))
    sameParse(Buffer.from('{"a":1}'))
    sameParse(Buffer.from(''))
  })
})

describe('jsonBody', () => {
  it('writes JSON.stringify’s bytes', () => {
    const b = b64(SPLICE_MIN_CHARS * 4)
    sameBody({
      tensors: [encodeInline({id: 'x', dtype: 'float32', shape: [1, 9000], data: Float32Array.from({length: 9000}, (_, i) => i / 7)})],
      metrics: {a: 1.5},
    })
    sameBody({a: [b, b, {c: b, d: 'ü'}], e: undefined, f: () => 1, g: null})
    // a string the writer's marker could be confused with, before and after the long ones
    sameBody({a: '\u00000', b, c: '\u00001', d: [b], e: {'\u00001': b}})
    sameBody({a: b.replace(/\+/g, '-'), b: `${b}\n`, c: '-'.repeat(SPLICE_MIN_CHARS * 2)})
    // toJSON and array holes, as JSON.stringify handles them
    sameBody({d: new Date(0), t: {toJSON: () => b}, h: [1, , 3]}) // eslint-disable-line no-sparse-arrays
    sameBody(b)
    sameBody('short')
    sameBody(undefined)
  })
})
