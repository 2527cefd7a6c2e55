/**
 * Keras file readers: a Keras 2 legacy `.h5` or a Keras 3 `.keras` → CanonicalArtifacts (a flat
 * Keras 2 style Functional config in modelTopology.model_config, tfjs weight specs, one weight
 * buffer) that `tf.loadLayersModel(tf.io.fromMemory(artifacts))` loads and that computes what Keras
 * computes. Optimizer state in either file is ignored.
 *
 * The file's content decides the reader (HDF5 signature or zip signature), not its extension.
 * Every problem a user can cause is an AmpsUserError with one line naming the file (and the layer).
 */
import {closeSync, existsSync, openSync, readSync, statSync} from 'node:fs'
import {extname, resolve} from 'node:path'

import {AmpsUserError} from '../../errors.js'
import type {CanonicalArtifacts} from '../types.js'
import {hasHdf5Signature} from './h5.js'
import {readKerasV3} from './keras-v3.js'
import {readLegacyH5} from './legacy-h5.js'

export {normalizeKerasConfig, kerasSnakeCase, tfjsLayerClasses, type LayerOrigin, type NormalizedConfig} from './config.js'

export type KerasFileFormat = 'keras-h5' | 'keras-v3'

export interface KerasFile {
  artifacts: CanonicalArtifacts
  /** the model's name in its config */
  name: string
  /** Keras version that wrote the file ('unknown' when the file does not say) */
  kerasVersion: string
  format: KerasFileFormat
}

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.alloc(n)
    const got = readSync(fd, buf, 0, n, 0)
    return buf.subarray(0, got)
  } finally {
    closeSync(fd)
  }
}

function isZip(bytes: Uint8Array): boolean {
  // local file header, or the end-of-central-directory record of an empty archive
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6))
}

/** Reads a Keras `.h5` (Keras 2 legacy HDF5) or `.keras` (Keras 3 zip) model file. */
export async function readKerasFile(path: string): Promise<KerasFile> {
  const abs = resolve(path)
  if (!existsSync(abs)) throw new AmpsUserError('FILE_NOT_FOUND', `no such file: ${path}`)
  if (statSync(abs).isDirectory()) throw new AmpsUserError('FILE_INVALID', `${path} is a directory, not a Keras .h5 or .keras file`)
  const bytes = head(abs, 4096)
  const ext = extname(abs).toLowerCase()
  if (bytes.length === 0) throw new AmpsUserError('FILE_INVALID', `${path} is empty`, {suggestions: ['Copy or download the file again']})
  if (isZip(bytes)) return {...(await readKerasV3(abs, path)), format: 'keras-v3'}
  if (hasHdf5Signature(bytes)) return {...(await readLegacyH5(abs, path)), format: 'keras-h5'}
  const expected =
    ext === '.keras'
      ? 'a zip archive (Keras 3 .keras)'
      : ext === '.h5' || ext === '.hdf5'
        ? 'an HDF5 file (Keras .h5)'
        : 'an HDF5 file (Keras .h5) or a zip archive (Keras 3 .keras)'
  throw new AmpsUserError('FILE_INVALID', `${path} is not ${expected}`, {
    suggestions: ["Save the model from Keras with model.save('model.keras') or model.save('model.h5') and pass that file"],
  })
}
