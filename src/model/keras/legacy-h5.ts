/**
 * Keras 2 legacy HDF5 (`model.save('model.h5')`): the root attribute `model_config` holds the model
 * JSON, `keras_version` / `backend` say who wrote it, and `model_weights/<layer>/` holds each layer's
 * weights, listed in order by the group's `weight_names` attribute (datasets at
 * `model_weights/<layer>/<weight name>`, e.g. `conv2d/kernel:0`). `optimizer_weights/` is ignored.
 */
import {AmpsUserError} from '../../errors.js'
import type {CanonicalArtifacts} from '../types.js'
import {assembleArtifacts, type StoredWeight} from './assemble.js'
import {normalizeKerasConfig} from './config.js'
import {type H5Reader, withH5} from './h5.js'

export interface KerasFileResult {
  artifacts: CanonicalArtifacts
  name: string
  kerasVersion: string
}

function weightsOnly(label: string): AmpsUserError {
  return new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${label}: this file holds only weights; save the whole model with model.save('model.h5')`, {
    suggestions: ["In Python: model.save('model.h5') (or model.save('model.keras')), then pass that file"],
  })
}

/** Parses a JSON attribute, with a clear error when it is not JSON. */
export function parseJson(text: string, what: string, label: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new AmpsUserError('FILE_INVALID', `${label}: ${what} is not valid JSON`, {
      suggestions: ['The file may be damaged; save the model again'],
    })
  }
}

export function majorVersion(version: string, fallback: number): number {
  const m = /^(\d+)\./.exec(version)
  return m ? Number(m[1]) : fallback
}

/** Weights of one layer group; with `inner`, only those of that nested layer. */
function layerWeights(h5: H5Reader, group: string, layer: string, inner: string | undefined): StoredWeight[] | undefined {
  if (!h5.group(group)) return undefined
  let names = h5.stringListAttr(group, 'weight_names') ?? []
  if (inner !== undefined) names = names.filter((n) => n.split('/').slice(0, -1).includes(inner))
  return names.map((n) => {
    const path = `${group}/${n}`
    if (!h5.isDataset(path)) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${h5.label}: weights missing for layer '${layer}': weight_names lists ${n} but /${path} is absent`, {
        suggestions: ['Save the whole trained model again with model.save(); the file may be incomplete'],
        details: {layer},
      })
    }
    return {name: n, shape: h5.shape(path), read: () => h5.readFloat32(path).data}
  })
}

export async function readLegacyH5(path: string, label: string): Promise<KerasFileResult> {
  return withH5(path, label, async (h5) => {
    const configText = h5.stringAttr('', 'model_config')
    if (configText === undefined) {
      const looksLikeWeights =
        h5.hasAttr('', 'layer_names') ||
        h5.hasAttr('', 'layer_names0') ||
        Boolean(h5.group('model_weights')) ||
        Boolean(h5.group('layers')) ||
        Boolean(h5.group('vars'))
      if (looksLikeWeights) throw weightsOnly(label)
      throw new AmpsUserError('FILE_INVALID', `${label} is an HDF5 file but not a Keras model (it has no model_config attribute)`, {
        suggestions: ["Save the model from Keras with model.save('model.h5') or model.save('model.keras')"],
      })
    }
    const raw = parseJson(configText, 'the model_config attribute', label)
    const kerasVersion = h5.stringAttr('', 'keras_version') ?? h5.stringAttr('model_weights', 'keras_version') ?? 'unknown'
    const backend = h5.stringAttr('', 'backend') ?? h5.stringAttr('model_weights', 'backend')
    const norm = normalizeKerasConfig(raw, {kerasMajor: majorVersion(kerasVersion, 2), source: label})
    // model.save() puts weights under model_weights/; a config-bearing file without it has none
    const root = h5.group('model_weights') ? 'model_weights' : h5.hasAttr('', 'layer_names') ? '' : undefined
    if (root === undefined) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${label}: the file holds the model's config but no weights (no model_weights group)`, {
        suggestions: ["Save the trained model with model.save('model.h5') so that its weights are included"],
      })
    }
    const prefix = root ? `${root}/` : ''
    const artifacts = await assembleArtifacts(norm, (layer, origin) => layerWeights(h5, `${prefix}${origin.h5Group}`, layer, origin.h5Inner), {
      source: label,
      kerasVersion,
      backend,
    })
    return {artifacts, name: norm.name, kerasVersion}
  })
}
