/**
 * The one module of custom oclif flags: each parses its text into a typed, checked value at the edge
 * (exit 2 with one line naming the flag and a hint), so commands receive numbers, lists and paths
 * they can use as they are. Deeper modules still check what they are given (they are also a library
 * API), but a user mistake on the command line stops here.
 */
import {accessSync, closeSync, constants, existsSync, openSync, rmSync, statSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'

import {Flags} from '@oclif/core'

import {AmpsUserError} from './errors.js'
import {LAMBDA} from './platform/lambda.js'

type FlagOpts = {name: string; char?: string}

const dashes = (o: FlagOpts): string => `--${o.name}`

function flagError(message: string, hint: string): AmpsUserError {
  return new AmpsUserError('FLAG_INVALID', message, {suggestions: [hint]})
}

export interface NumberRule {
  min?: number
  gt?: number
  max?: number
  int?: boolean
  /** what the number counts, for the message: "requests per second", "ms" */
  unit?: string
  /** an example value for the hint */
  example: string
}

function describeRule(r: NumberRule): string {
  const noun = r.int ? 'a whole number' : 'a number'
  if (r.min !== undefined && r.max !== undefined) return `${noun} from ${r.min} to ${r.max}`
  if (r.gt !== undefined && r.max !== undefined) return `${noun} above ${r.gt} and at most ${r.max}`
  if (r.gt !== undefined) return `${noun} above ${r.gt}`
  if (r.min !== undefined) return `${noun} ≥ ${r.min}`
  return noun
}

/** Parse `text` as a number meeting `rule`; `flag` names it in the error. */
export function parseNumber(text: string, flag: string, rule: NumberRule): number {
  const t = text.trim()
  const v = t === '' ? Number.NaN : Number(t)
  const ok =
    Number.isFinite(v) &&
    (!rule.int || Number.isInteger(v)) &&
    (rule.min === undefined || v >= rule.min) &&
    (rule.gt === undefined || v > rule.gt) &&
    (rule.max === undefined || v <= rule.max)
  if (!ok) {
    throw flagError(`${flag} must be ${describeRule(rule)}${rule.unit ? ` (${rule.unit})` : ''}, got ${JSON.stringify(text)}`, `e.g. ${flag} ${rule.example}`)
  }
  return v
}

/** Parse a comma-separated list of numbers meeting `rule` (sorted, duplicates dropped). */
export function parseNumberList(text: string, flag: string, rule: NumberRule): number[] {
  const parts = text.split(',').map((s) => s.trim())
  if (parts.length === 0 || parts.every((p) => p === '')) throw flagError(`${flag} needs at least one value`, `e.g. ${flag} ${rule.example}`)
  const values = parts.map((p) => {
    try {
      return parseNumber(p, flag, rule)
    } catch {
      throw flagError(`${flag}: ${JSON.stringify(p)} is not ${describeRule(rule)}${rule.unit ? ` (${rule.unit})` : ''}`, `e.g. ${flag} ${rule.example}`)
    }
  })
  return [...new Set(values)].sort((a, b) => a - b)
}

/** A number flag checked against `rule`. */
export function numberFlag(opts: {description: string; rule: NumberRule; exclusive?: string[]}) {
  return Flags.custom<number>({
    description: opts.description,
    exclusive: opts.exclusive,
    parse: async (input, _ctx, flag) => parseNumber(input, dashes(flag as FlagOpts), opts.rule),
  })
}

/** A comma-separated list of numbers checked against `rule`. */
export function numberListFlag(opts: {description: string; rule: NumberRule}) {
  return Flags.custom<number[]>({
    description: opts.description,
    parse: async (input, _ctx, flag) => parseNumberList(input, dashes(flag as FlagOpts), opts.rule),
  })
}

/** Lambda memory sizes, MB. */
export const MEMORY_RULE: NumberRule = {min: LAMBDA.memoryMinMb, max: LAMBDA.memoryMaxMb, int: true, unit: 'MB', example: '512,1024,1769,3008'}
/** Batch sizes the profiler measures. */
export const BATCH_SIZES_RULE: NumberRule = {min: 1, max: 1024, int: true, example: '1,2,4,8'}
/** A latency objective, ms. */
export const SLO_RULE: NumberRule = {gt: 0, unit: 'ms', example: '100'}
/** The latency percentile an SLO applies to. */
export const PERCENTILE_RULE: NumberRule = {gt: 0, max: 100, example: '99'}

/**
 * A request rate in requests/s: > 0. `--rate 0` is refused (it used to mean "no rate" silently):
 * leaving the flag out is how to say there is no steady traffic.
 */
export function rateFlag(opts: {description: string; exclusive?: string[]; zeroHint: string}) {
  return Flags.custom<number>({
    description: opts.description,
    exclusive: opts.exclusive,
    parse: async (input, _ctx, flag) => {
      const name = dashes(flag as FlagOpts)
      if (Number(input.trim()) === 0 && input.trim() !== '') throw flagError(`${name} 0 is not a request rate`, opts.zeroHint)
      return parseNumber(input, name, {gt: 0, unit: 'requests per second', example: '10'})
    },
  })
}

/**
 * Check that `path` can be written before any work starts: not a directory, and its folder (or the
 * nearest existing parent, which amps creates the rest under) is a writable directory.
 */
export function checkWritablePath(path: string, flag = '--output'): string {
  const abs = resolve(path)
  if (existsSync(abs) && statSync(abs).isDirectory()) {
    throw flagError(`${flag} ${path} is a directory`, `give a file name, e.g. ${flag} ${path.replace(/\/+$/, '')}/out.json`)
  }
  let dir = dirname(abs)
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  if (!statSync(dir).isDirectory()) throw flagError(`${flag} ${path}: ${dir} is a file, not a folder`, 'choose a path inside a folder')
  try {
    // access(W_OK) says yes to root everywhere (even /proc): create and remove a probe file instead
    const probe = join(dir, `.amps-write-probe-${process.pid}`)
    closeSync(openSync(probe, 'wx'))
    rmSync(probe, {force: true})
    if (existsSync(abs)) accessSync(abs, constants.W_OK)
  } catch {
    throw flagError(`${flag} ${path}: ${existsSync(abs) ? abs : dir} is not writable`, 'choose a folder you can write to, e.g. -o ./out.json')
  }
  return abs
}

/** The one output flag: -o/--output, the path checked for writing up front (the default too). */
export function outputFlag(opts: {description: string; default: string; aliases?: string[]; deprecateAliases?: boolean}) {
  return Flags.custom<string>({
    char: 'o',
    description: opts.description,
    aliases: opts.aliases,
    deprecateAliases: opts.deprecateAliases,
    default: async () => checkWritablePath(opts.default),
    defaultHelp: async () => opts.default,
    parse: async (input) => checkWritablePath(input),
  })()
}
