/**
 * Keras 3 `.keras` files: a zip holding config.json (the model config, Keras 3 format),
 * metadata.json (`keras_version`, `date_saved`) and model.weights.h5. In the weights file each
 * layer's variables are datasets `vars/0`, `vars/1`, … (trainable first, then non-trainable) under a
 * group named after the layer's class, not its name: `layers/conv2d`, `layers/conv2d_1`,
 * `layers/dense`, … counted in model.layers order (Keras' `_save_container_state`). Sub-layers
 * (an RNN's cell, a wrapper's inner layer) sit in child groups. `optimizer/` is ignored.
 */
import {unzipSync} from 'fflate'
import {readFileSync} from 'node:fs'

import {AmpsUserError} from '../../errors.js'
import {isRecord} from '../keras-format.js'
import {assembleArtifacts, type StoredWeight} from './assemble.js'
import type {LayerOrigin} from './config.js'
import {normalizeKerasConfig} from './config.js'
import {checkZipCrcs} from './zip-crc.js'
import {hasHdf5Signature, type H5Reader, withH5Bytes} from './h5.js'
import {type KerasFileResult, majorVersion, parseJson} from './legacy-h5.js'

/** Child groups that hold state which is not a model weight (random seeds). */
const NOT_WEIGHTS = new Set(['vars', 'seed_generator'])

/** Keras visits attributes in name order with private (`_…`) ones last; wrappers go forward first. */
function childOrder(names: string[]): string[] {
  const key = (n: string): string => (n.startsWith('_') ? `~${n}` : n)
  const sorted = [...names].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0))
  const first = ['forward_layer', 'backward_layer'].filter((n) => sorted.includes(n))
  return [...first, ...sorted.filter((n) => !first.includes(n))]
}

function collectVars(h5: H5Reader, path: string): StoredWeight[] {
  const vars = `${path}/vars`
  const own = h5
    .keys(vars)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k): StoredWeight => {
      const p = `${vars}/${k}`
      return {name: `${p}`, shape: h5.shape(p), read: () => h5.readFloat32(p).data}
    })
  const children = childOrder(h5.keys(path).filter((k) => !NOT_WEIGHTS.has(k) && h5.group(`${path}/${k}`)))
  return [...own, ...children.flatMap((c) => collectVars(h5, `${path}/${c}`))]
}

/**
 * The layer's group: Keras 3 layout, else tf.keras 2.13–2.15's (same class-based names under
 * `_layer_checkpoint_dependencies`, the fallback Keras 3 itself applies when loading).
 */
function layerGroup(h5: H5Reader, origin: LayerOrigin): string | undefined {
  const legacy = origin.v3Path.replace(/(^|\/)layers\//g, '$1_layer_checkpoint_dependencies/')
  return [origin.v3Path, legacy].find((p) => h5.group(p))
}

function entry(files: Record<string, Uint8Array>, name: string): Uint8Array | undefined {
  if (files[name]) return files[name]
  const key = Object.keys(files).find((k) => k.split('/').at(-1) === name)
  return key ? files[key] : undefined
}

export async function readKerasV3(path: string, label: string): Promise<KerasFileResult> {
  let files: Record<string, Uint8Array>
  const zip = readFileSync(path)
  try {
    files = unzipSync(zip, {filter: (f) => /(^|\/)(config\.json|metadata\.json|model\.weights\.(h5|npz))$/.test(f.name)})
  } catch (error) {
    throw new AmpsUserError('FILE_INVALID', `${label} is damaged or incomplete (zip: ${(error as Error).message})`, {
      suggestions: ['Copy or download the file again; if Keras wrote it, save the model again'],
    })
  }
  checkZipCrcs(zip, files, label)
  const configBytes = entry(files, 'config.json')
  const weights = entry(files, 'model.weights.h5')
  if (!configBytes) {
    throw new AmpsUserError('FILE_INVALID', `${label} is a zip archive without config.json, so it is not a Keras .keras model`, {
      suggestions: ["Save the model from Keras 3 with model.save('model.keras')"],
    })
  }
  if (!weights) {
    const npz = entry(files, 'model.weights.npz')
    throw new AmpsUserError(
      'FILE_INVALID',
      npz ? `${label} stores its weights as model.weights.npz, which amps does not read` : `${label} has no model.weights.h5, so it holds no weights`,
      {suggestions: ["Save the trained model with model.save('model.keras') (the default HDF5 weights store)"]},
    )
  }
  if (!hasHdf5Signature(weights)) {
    throw new AmpsUserError('FILE_INVALID', `${label}: model.weights.h5 inside the archive is not an HDF5 file`, {
      suggestions: ['Copy or download the file again; if Keras wrote it, save the model again'],
    })
  }
  const raw = parseJson(new TextDecoder().decode(configBytes), 'config.json', label)
  const metaBytes = entry(files, 'metadata.json')
  const metadata = metaBytes ? parseJson(new TextDecoder().decode(metaBytes), 'metadata.json', label) : undefined
  const kerasVersion = isRecord(metadata) && typeof metadata.keras_version === 'string' ? metadata.keras_version : 'unknown'
  const norm = normalizeKerasConfig(raw, {kerasMajor: majorVersion(kerasVersion, 3), source: label})
  return withH5Bytes(weights, `${label} (model.weights.h5)`, async (h5) => {
    const artifacts = await assembleArtifacts(
      norm,
      (_layer, origin) => {
        const group = layerGroup(h5, origin)
        return group === undefined ? undefined : collectVars(h5, group)
      },
      {source: label, kerasVersion},
    )
    return {artifacts, name: norm.name, kerasVersion}
  })
}
