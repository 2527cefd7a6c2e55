/**
 * What `amps plan` accepts: a profile.json, or a model (model.json or its directory, .h5, .keras)
 * that is profiled first (the profiler caches by content, so a second plan is quick).
 */
import {existsSync, readFileSync, statSync} from 'node:fs'
import {extname, resolve} from 'node:path'

import {AmpsUserError} from '../errors.js'
import {describeKind, detectKind} from '../files/kinds.js'
import type {Profile} from '../profile/types.js'

export type PlanInput = {kind: 'profile'; path: string} | {kind: 'model'; path: string}

/** Decide whether `path` is a profile or a model, without loading tfjs. */
export function classifyPlanInput(path: string): PlanInput {
  const abs = resolve(path)
  if (!existsSync(abs)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `no such file or directory: ${path}`, {
      suggestions: ['give a profile.json (from `amps profile`), a model.json or its directory, a .h5 or a .keras file'],
    })
  }
  if (statSync(abs).isDirectory()) return {kind: 'model', path: abs}
  const ext = extname(abs).toLowerCase()
  if (ext === '.h5' || ext === '.hdf5' || ext === '.keras') return {kind: 'model', path: abs}
  if (ext === '.json') {
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(abs, 'utf8'))
    } catch (error) {
      throw new AmpsUserError('FILE_INVALID', `${path} is not valid JSON (${(error as Error).message})`)
    }
    const kind = detectKind(raw)
    if (kind === 'model') return {kind: 'model', path: abs}
    if (kind === 'profile') return {kind: 'profile', path: abs}
    if (kind === 'plan' || kind === 'deployment') {
      throw new AmpsUserError('FILE_INVALID', `${path} is ${describeKind(kind)} already; \`amps plan\` takes a profile.json or a model`, {
        suggestions: [
          kind === 'plan'
            ? `pass the model or profile it was made from (its "model" field), or use the plan: amps estimate-cost ${path}`
            : `invoke it: amps invoke ${path}`,
        ],
      })
    }
    throw new AmpsUserError('FILE_INVALID', `${path} is neither a profile.json (from \`amps profile\`) nor a TF.js model.json`, {
      suggestions: ['create a profile with `amps profile <model> -o profile.json`'],
    })
  }
  throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${path}: expected a profile.json, a model.json (or its directory), a .h5 or a .keras file`)
}

/** Read the profile (validated), or profile the model through src/profile. */
export async function loadPlanInput(input: PlanInput, onProgress?: (p: unknown) => void, backend?: 'onnx'): Promise<Profile> {
  if (input.kind === 'profile') {
    const {readProfile} = await import('../profile/io.js')
    return readProfile(input.path)
  }
  const {profileModel} = await import('../profile/index.js')
  return profileModel(input.path, {onProgress: onProgress as never, backend})
}
