/**
 * Turns a normalized config plus the weights stored in a Keras file into CanonicalArtifacts.
 *
 * The weight names and order tfjs-layers expects come from tfjs itself: the config is built once
 * with tfjs (every initializer swapped for Zeros, so nothing random or slow runs) and each layer's
 * `weights` list gives the variable names (`originalName`, e.g. `conv2d/kernel`) and shapes in
 * declaration order. Keras stores a layer's weights in the same order (trainable, then
 * non-trainable), so stored weights are matched by position and their shapes must agree exactly.
 */
import * as tf from '../../runtime/tfjs.js'

import {AmpsUserError} from '../../errors.js'
import {initTf} from '../../runtime/tf.js'
import {isRecord} from '../keras-format.js'
import type {CanonicalArtifacts} from '../types.js'
import type {LayerOrigin, NormalizedConfig} from './config.js'

/** One weight as stored in the file; `read` loads its values. */
export interface StoredWeight {
  /** the name in the file (for messages) */
  name: string
  shape: number[]
  read(): Float32Array
}

/** Weights the file holds for one layer, in Keras' order; undefined when the file has none for it. */
export type WeightLookup = (layer: string, origin: LayerOrigin) => StoredWeight[] | undefined

export interface AssembleMeta {
  /** how messages name the file */
  source: string
  kerasVersion: string
  backend?: string
}

/** Deep copy of a topology with every `*_initializer` replaced by Zeros. */
function zeroInitialized(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(zeroInitialized)
  if (!isRecord(value)) return value
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = k.endsWith('_initializer') && v !== null ? {class_name: 'Zeros', config: {}} : zeroInitialized(v)
  }
  return out
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.join(',')}]`
}

function baseName(name: string): string {
  return name.split('/').at(-1) ?? name
}

/** Builds the tfjs model for its weight list; a user error when tfjs refuses the config. */
async function skeleton(norm: NormalizedConfig, source: string): Promise<tf.LayersModel> {
  await initTf()
  const modelTopology = zeroInitialized({class_name: 'Model', config: norm.topology.config}) as tf.io.ModelJSON['modelTopology']
  try {
    return await tf.models.modelFromJSON({modelTopology} as tf.io.ModelJSON)
  } catch (error) {
    throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${source}: tfjs-layers cannot build this model: ${(error as Error).message.split('\n')[0]}`, {
      suggestions: ['Check that every layer is a built-in Keras layer TensorFlow.js implements, then save the model again'],
    })
  }
}

export async function assembleArtifacts(norm: NormalizedConfig, lookup: WeightLookup, meta: AssembleMeta): Promise<CanonicalArtifacts> {
  const model = await skeleton(norm, meta.source)
  try {
    type Item = {spec: tf.io.WeightsManifestEntry; stored: StoredWeight}
    const items: Item[] = []
    // config order, so the manifest lists weights layer by layer as the model declares them
    for (const entry of norm.topology.config.layers) {
      const layer = model.getLayer(entry.name as string)
      const expected = layer.weights
      const origin = norm.origins.get(layer.name)
      const cls = layer.getClassName()
      const stored = origin ? lookup(layer.name, origin) : undefined
      if (expected.length === 0) {
        if (stored && stored.length > 0) {
          throw new AmpsUserError(
            'MODEL_WEIGHTS_INVALID',
            `${meta.source}: layer '${layer.name}' (${cls}) has no weights in tfjs-layers, but the file holds ${stored.length} for it (${stored.map((s) => s.name).join(', ')})`,
          )
        }
        continue
      }
      const want = expected.map((w) => `${baseName(w.originalName)} ${shapeText(w.shape)}`).join(', ')
      if (!stored || stored.length === 0) {
        throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${meta.source}: weights missing for layer '${layer.name}' (${cls}); it needs ${want}`, {
          suggestions: ['Save the whole trained model again with model.save(); the file may be incomplete'],
          details: {layer: layer.name},
        })
      }
      if (stored.length !== expected.length) {
        throw new AmpsUserError(
          'MODEL_WEIGHTS_INVALID',
          `${meta.source}: layer '${layer.name}' (${cls}) needs ${expected.length} weights (${want}) but the file holds ${stored.length} (${stored.map((s) => `${s.name} ${shapeText(s.shape)}`).join(', ')})`,
          {details: {layer: layer.name}},
        )
      }
      expected.forEach((w, i) => {
        const got = stored[i].shape
        if (got.length !== w.shape.length || got.some((d, j) => d !== w.shape[j])) {
          throw new AmpsUserError(
            'MODEL_WEIGHTS_INVALID',
            `${meta.source}: layer '${layer.name}' (${cls}) weight ${baseName(w.originalName)}: the config implies shape ${shapeText(w.shape)} but the file stores ${shapeText(got)} (${stored[i].name})`,
            {details: {layer: layer.name, expected: w.shape, got}},
          )
        }
        const dtype = w.dtype === 'int32' ? 'int32' : 'float32'
        items.push({spec: {name: w.originalName, shape: [...got], dtype}, stored: stored[i]})
      })
    }
    const total = items.reduce((s, it) => s + it.spec.shape.reduce((a, b) => a * b, 1) * 4, 0)
    const weightData = new ArrayBuffer(total)
    let at = 0
    for (const it of items) {
      const values = it.stored.read()
      const n = values.length
      if (it.spec.dtype === 'int32') new Int32Array(weightData, at, n).set(Int32Array.from(values, Math.round))
      else new Float32Array(weightData, at, n).set(values)
      at += n * 4
    }
    const modelTopology = {
      keras_version: meta.kerasVersion,
      backend: meta.backend ?? 'tensorflow',
      model_config: norm.topology,
    }
    return {
      modelTopology: modelTopology as unknown as CanonicalArtifacts['modelTopology'],
      weightSpecs: items.map((it) => it.spec),
      weightData,
      format: 'layers-model',
      generatedBy: `keras v${meta.kerasVersion}`,
      convertedBy: 'amps keras reader',
    }
  } finally {
    model.dispose()
  }
}
