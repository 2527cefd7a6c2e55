/**
 * The profile cache: keyed by the model's content and the options, reused unless forced, and a
 * damaged entry is measured again rather than trusted.
 */
import {cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {profileModel, type ProfileOptions} from '../../src/profile/index.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-profile-cache-'))
const cacheDir = join(dir, 'cache')
const saved = process.env.AMPS_CACHE_DIR
let model: string

beforeAll(() => {
  process.env.AMPS_CACHE_DIR = cacheDir
  // a copy at another path: the cache keys on content, not on where the model lives
  model = join(dir, 'tiny-cnn')
  cpSync(join(repoRoot, 'examples', 'tiny-cnn'), model, {recursive: true})
})
afterAll(() => {
  rmSync(dir, {recursive: true, force: true})
  if (saved === undefined) delete process.env.AMPS_CACHE_DIR
  else process.env.AMPS_CACHE_DIR = saved
})

async function run(options: ProfileOptions, path = model) {
  const events: string[] = []
  let cachePath = ''
  const profile = await profileModel(path, {
    batchSizes: [1],
    memoryMb: [1769],
    quick: true,
    ...options,
    onProgress: (e) => {
      events.push(e.phase)
      if (e.phase === 'cache-hit' || e.phase === 'cache-miss') cachePath = e.path
    },
  })
  return {profile, hit: events.includes('cache-hit'), measured: events.includes('ready'), cachePath}
}

describe('profile cache', () => {
  it('misses, then hits, then measures again with force', async () => {
    const first = await run({})
    expect(first.hit).toBe(false)
    expect(first.measured).toBe(true)
    expect(first.cachePath.startsWith(join(cacheDir, 'profiles'))).toBe(true)
    expect(existsSync(first.cachePath)).toBe(true)

    const second = await run({})
    expect(second.hit).toBe(true)
    expect(second.measured).toBe(false)
    expect(second.profile).toEqual(first.profile)

    // the same content at another path is the same model; source follows the path asked for
    const original = await run({}, join(repoRoot, 'examples', 'tiny-cnn'))
    expect(original.hit).toBe(true)
    expect(original.profile.model.source).toBe(join(repoRoot, 'examples', 'tiny-cnn'))

    const forced = await run({force: true})
    expect(forced.hit).toBe(false)
    expect(forced.measured).toBe(true)
    expect(forced.profile.environment.measuredAt).not.toBe(first.profile.environment.measuredAt)
    expect(forced.cachePath).toBe(first.cachePath)
  })

  it('other options are another entry', async () => {
    const other = await run({batchSizes: [2]})
    expect(other.hit).toBe(false)
    expect(other.profile.batchSizes).toEqual([2])
    expect(readdirSync(join(cacheDir, 'profiles')).filter((f) => f.endsWith('.json'))).toHaveLength(2)
  })

  it('a damaged entry is measured again and replaced', async () => {
    const {cachePath} = await run({})
    writeFileSync(cachePath, '{"version": 1, "model": {')
    const again = await run({})
    expect(again.hit).toBe(false)
    expect(again.measured).toBe(true)
    const after = await run({})
    expect(after.hit).toBe(true)
  })

  it('cache: false neither reads nor writes', async () => {
    const off = await run({cache: false, batchSizes: [4]})
    expect(off.hit).toBe(false)
    expect(off.cachePath).toBe('')
    expect(readdirSync(join(cacheDir, 'profiles')).filter((f) => f.endsWith('.json'))).toHaveLength(2)
  })
})
