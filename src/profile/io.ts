/**
 * Reading and writing profile.json through the src/files kit: validated on read, written atomically
 * with fsync, so an interrupted write never leaves a partial profile behind.
 */
import {readAs, writeAs} from '../files/format.js'
import {profileFormat} from './schema.js'
import type {Profile} from './types.js'

export {writeFileAtomic} from '../files/atomic.js'

export function writeProfile(path: string, profile: Profile): void {
  writeAs(profileFormat, path, profile)
}

/** Reads and validates profile.json; every problem is one AmpsUserError naming the file and field. */
export function readProfile(path: string): Profile {
  return readAs(profileFormat, path)
}
