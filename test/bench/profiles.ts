/**
 * Real profiles for the bench: `profileModel` with its default settings (quick: its --quick
 * settings), kept in the bench's own cache directory (test/.cache/bench/amps-cache, set by
 * setupEnvironment), never the user's. A full run measures them again (once per run: a profile taken
 * on a busy machine must not leak into the next run); --quick and --reuse-profiles take the cached
 * one when there is one.
 */
import {readFileSync} from 'node:fs'

import {profileModel, type Profile, type ProfileProgress} from '../../src/profile/index.js'
import type {ProfileBackend} from '../../src/profile/protocol.js'
import {nsfwjsModelDir, type NsfwjsModel} from '../helpers/nsfwjs.js'
import {log} from './common.js'

const memo = new Map<string, Promise<Profile>>()
let forceFresh = false

/** Full runs call this with true: every profile is measured again once in this process. */
export function measureProfilesAgain(force: boolean): void {
  forceFresh = force
}

export interface ProfileInfo {
  model: string
  /** how it was obtained: measured now or read from the bench cache */
  source: 'measured' | 'cache'
  cachePath?: string
  seconds: number
  memoryMb: number[]
  batchSizes: number[]
  measuredAt: string
  backend: string
  quotaMethod: string
  layerTiming?: string
}

export const profileInfos = new Map<string, ProfileInfo>()

/** The profile the bench uses for `model` (measured once per run and options, then cached). */
export function benchProfile(model: NsfwjsModel, quick: boolean): Promise<Profile> {
  return benchProfileOf(model, nsfwjsModelDir(model), quick)
}

/**
 * The profile of the model in `dir` under the bench's policy (see module docs), named `model` in
 * the progress lines and profileInfos; `backend` as profileModel's (default: initTf's choice;
 * 'auto': onnx when the model exports, what `amps plan` deploys).
 */
export function benchProfileOf(model: string, dir: string, quick: boolean, backend?: ProfileBackend | 'auto'): Promise<Profile> {
  const key = `${model}:${quick}${backend ? `:${backend}` : ''}`
  let p = memo.get(key)
  if (!p) {
    p = (async () => {
      const t0 = Date.now()
      let source = 'measured' as ProfileInfo['source']
      let cachePath: string | undefined
      let lastPoint = -1
      log(`profiling ${model}${quick ? ' (--quick settings)' : ' (default settings)'}${backend ? ` on ${backend}` : ''}`)
      const profile = await profileModel(dir, {
        quick,
        ...(backend ? {backend} : {}),
        force: forceFresh,
        onProgress: (e: ProfileProgress) => {
          if (e.phase === 'cache-hit') {
            source = 'cache'
            cachePath = e.path
          } else if (e.phase === 'cache-miss') cachePath = e.path
          else if (e.phase === 'point-done' && e.point !== undefined && e.point !== lastPoint) {
            lastPoint = e.point
            log(`  ${model}: point ${e.point + 1}/${e.points} done (${e.memoryMb} MB × batch ${e.batch})`)
          }
        },
      })
      const seconds = (Date.now() - t0) / 1000
      log(`profile of ${model}: ${source === 'cache' ? 'from the bench cache' : 'measured'} in ${seconds.toFixed(0)} s`)
      profileInfos.set(key, {
        model,
        source,
        cachePath,
        seconds,
        memoryMb: profile.memoryMb,
        batchSizes: profile.batchSizes,
        measuredAt: profile.environment.measuredAt,
        backend: profile.environment.backend,
        quotaMethod: profile.environment.quotaMethod,
        layerTiming: profile.environment.layerTiming,
      })
      return profile
    })()
    memo.set(key, p)
  }
  return p
}

/** Reads a profile JSON file (for sections that are handed a path). */
export function readProfileFile(path: string): Profile {
  return JSON.parse(readFileSync(path, 'utf8')) as Profile
}
