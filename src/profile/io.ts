/**
 * Reading and writing profile.json: validated on read, written atomically (a temporary file in the
 * same directory, then rename), so an interrupted write never leaves a partial profile behind.
 */
import {existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {basename, dirname, join} from 'node:path'
import {randomBytes} from 'node:crypto'

import {AmpsUserError} from '../errors.js'
import {validateProfile} from './schema.js'
import type {Profile} from './types.js'

/** Writes `text` to `path` via a temporary sibling and a rename; the temp file never outlives a failure. */
export function writeFileAtomic(path: string, text: string): void {
  const dir = dirname(path)
  mkdirSync(dir, {recursive: true})
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const removeTmp = (): void => rmSync(tmp, {force: true})
  process.once('exit', removeTmp)
  try {
    writeFileSync(tmp, text)
    renameSync(tmp, path)
  } catch (error) {
    removeTmp()
    throw error
  } finally {
    process.removeListener('exit', removeTmp)
  }
}

export function writeProfile(path: string, profile: Profile): void {
  validateProfile(profile, path)
  writeFileAtomic(path, JSON.stringify(profile, null, 2) + '\n')
}

/** Reads and validates profile.json; every problem is one AmpsUserError naming the file and field. */
export function readProfile(path: string): Profile {
  if (!existsSync(path)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `no such profile: ${path}`, {
      suggestions: ['Create one with: amps profile <model> -o ' + path],
    })
  }
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AmpsUserError('PROFILE_INVALID', `${path} is not valid JSON (${(error as Error).message})`, {
      suggestions: ['Profile the model again: amps profile <model> -o ' + path],
    })
  }
  return validateProfile(raw, path)
}
