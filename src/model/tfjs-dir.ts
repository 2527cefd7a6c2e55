/**
 * Reads a TF.js layers model (model.json + binary weight shards) from disk without tfjs-node:
 * parse model.json, check every shard exists and has the bytes the manifest describes, and
 * concatenate the shards into one weight buffer for `tf.io.fromMemory`.
 */
import {existsSync, readFileSync, realpathSync, statSync} from 'node:fs'
import {basename, dirname, isAbsolute, join, relative, resolve, sep} from 'node:path'
import type {io} from '../runtime/tfjs.js'

import {AmpsUserError} from '../errors.js'
import {isRecord} from './keras-format.js'
import {storedByteLength} from './weights.js'

export interface RawArtifacts {
  modelTopology: unknown
  weightSpecs: io.WeightsManifestEntry[]
  weightData: ArrayBuffer
  format?: string
  generatedBy?: string
  convertedBy?: string | null
}

export const CONVERTER_HINT = 'tensorflowjs_converter --input_format=keras model.h5 out/'

/** Parses model.json text; every problem is one AmpsUserError line naming the file. */
export function parseModelJson(text: string, file: string): Record<string, unknown> {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new AmpsUserError('FILE_INVALID', `${file} is not valid JSON (${(error as Error).message})`, {
      suggestions: ['Pass the model.json written by tensorflowjs_converter or tf.LayersModel.save(), a .h5 or a .keras file'],
    })
  }
  if (!isRecord(json)) throw new AmpsUserError('FILE_INVALID', `${file} does not hold a JSON object, so it is not a TF.js model.json`)
  const topology = json.modelTopology
  const isGraph =
    json.format === 'graph-model' || (isRecord(topology) && (Array.isArray(topology.node) || isRecord(topology.versions)) && !('model_config' in topology))
  if (isGraph) {
    throw new AmpsUserError(
      'MODEL_FORMAT_UNSUPPORTED',
      `${file} is a TF.js graph model; amps supports only TF.js layers models (Keras), whose layers it can split`,
      {suggestions: [`Convert the Keras model instead: ${CONVERTER_HINT}`]},
    )
  }
  if (!isRecord(topology)) {
    throw new AmpsUserError('FILE_INVALID', `${file} has no modelTopology object, so it is not a TF.js layers model.json`, {
      suggestions: [`Produce one with: ${CONVERTER_HINT}`],
    })
  }
  return json
}

interface ManifestGroup {
  paths: string[]
  weights: io.WeightsManifestEntry[]
}

function manifestGroups(json: Record<string, unknown>, file: string): ManifestGroup[] {
  const manifest = json.weightsManifest
  if (manifest === undefined) {
    throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${file} has no weightsManifest: the model has no weights to load`, {
      suggestions: [`Export the model with its weights: ${CONVERTER_HINT}`],
    })
  }
  if (!Array.isArray(manifest)) throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${file}: weightsManifest must be an array of {paths, weights}`)
  return manifest.map((g, i) => {
    if (!isRecord(g) || !Array.isArray(g.paths) || !Array.isArray(g.weights) || !g.paths.every((p) => typeof p === 'string')) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${file}: weightsManifest[${i}] must be {paths: string[], weights: [...]}`)
    }
    for (const w of g.weights as unknown[]) {
      if (!isRecord(w) || typeof w.name !== 'string' || !Array.isArray(w.shape) || typeof w.dtype !== 'string') {
        throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${file}: weightsManifest[${i}] has an entry without name, shape and dtype`)
      }
    }
    return g as unknown as ManifestGroup
  })
}

/**
 * A manifest path → the shard file, which must stay inside the model folder: an absolute path,
 * `..` segments (also URI-encoded) or a symlink leading out of it is refused.
 */
function shardPath(dir: string, p: string, file: string): string {
  let decoded = p
  try {
    decoded = decodeURIComponent(p)
  } catch {
    // not URI-encoded
  }
  const root = resolve(dir)
  const inside = (candidate: string): boolean => {
    const rel = relative(root, candidate)
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)
  }
  for (const candidate of [p, decoded]) {
    if (isAbsolute(candidate) || !inside(resolve(root, candidate))) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${basename(file)} lists weight file ${JSON.stringify(p)}, which is outside the model folder ${dir}`, {
        suggestions: ['Weight paths in model.json must be file names relative to its folder (as tensorflowjs_converter writes them)'],
      })
    }
  }
  const direct = join(root, p)
  const path = existsSync(direct) ? direct : existsSync(join(root, decoded)) ? join(root, decoded) : direct
  if (existsSync(path) && !inside(realpathSync(path)) && !realpathSync(path).startsWith(realpathSync(root) + sep)) {
    throw new AmpsUserError(
      'MODEL_WEIGHTS_INVALID',
      `weight file ${JSON.stringify(p)} listed in ${basename(file)} is a link to ${realpathSync(path)}, outside the model folder ${dir}`,
      {
        suggestions: ['Copy the weight files into the model folder instead of linking them'],
      },
    )
  }
  return path
}

/** Reads the shards of one manifest group and checks their sizes against the manifest. */
function readGroup(dir: string, group: ManifestGroup, gi: number, file: string): Uint8Array {
  const expected = group.weights.reduce((s, w) => s + storedByteLength(w), 0)
  const paths = group.paths.map((p) => shardPath(dir, p, file))
  for (const [i, p] of paths.entries()) {
    if (!existsSync(p)) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `weight shard ${group.paths[i]} listed in ${basename(file)} is missing (looked in ${dir})`, {
        suggestions: ['Copy every .bin file that tensorflowjs_converter wrote next to model.json'],
      })
    }
    if (!statSync(p).isFile()) throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `weight shard ${p} is not a file`)
  }
  const sizes = paths.map((p) => statSync(p).size)
  const actual = sizes.reduce((s, n) => s + n, 0)
  if (actual !== expected) {
    // shards are fixed-size chunks of the group's bytes: all but the last have the first one's size
    const n = paths.length
    const candidates = [4 * 1024 * 1024, Math.max(...sizes.slice(0, -1)), Math.max(...sizes)]
    const shardSize = n === 1 ? expected : (candidates.find((s) => s > 0 && (n - 1) * s < expected && expected <= n * s) ?? candidates[2])
    for (const [i, size] of sizes.entries()) {
      const want = paths.length === 1 ? expected : Math.max(0, Math.min(shardSize, expected - i * shardSize))
      if (size !== want) {
        const what = size < want ? 'truncated or from another model' : 'holds more bytes than the manifest describes'
        throw new AmpsUserError(
          'MODEL_WEIGHTS_INVALID',
          `weight shard ${group.paths[i]} has ${size} bytes but ${basename(file)} needs ${want} (${what}; group ${gi + 1} needs ${expected} bytes in all, its shards hold ${actual})`,
          {suggestions: ['Re-copy the weight files, or re-export the model so model.json and its shards match']},
        )
      }
    }
    throw new AmpsUserError(
      'MODEL_WEIGHTS_INVALID',
      `weight shards of group ${gi + 1} in ${basename(file)} hold ${actual} bytes but the manifest needs ${expected}`,
    )
  }
  const out = new Uint8Array(expected)
  let at = 0
  for (const p of paths) {
    const b = readFileSync(p)
    out.set(b, at)
    at += b.byteLength
  }
  return out
}

/** Reads model.json at `file` and its shards into RawArtifacts. */
export function readLayersModelJson(file: string): RawArtifacts {
  const json = parseModelJson(readFileSync(file, 'utf8'), file)
  const dir = dirname(file)
  const groups = manifestGroups(json, file)
  const parts = groups.map((g, i) => readGroup(dir, g, i, file))
  const total = parts.reduce((s, p) => s + p.byteLength, 0)
  const data = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    data.set(p, at)
    at += p.byteLength
  }
  return {
    modelTopology: json.modelTopology,
    weightSpecs: groups.flatMap((g) => g.weights),
    weightData: data.buffer,
    format: typeof json.format === 'string' ? json.format : undefined,
    generatedBy: typeof json.generatedBy === 'string' ? json.generatedBy : undefined,
    convertedBy: typeof json.convertedBy === 'string' ? json.convertedBy : undefined,
  }
}
