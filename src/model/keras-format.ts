/**
 * Keras 2 style JSON as it sits in a TF.js layers model.json (and in a Keras 2 .h5 `model_config`).
 * These types describe the file format only; amps' own view of a model is LayerGraph (types.ts).
 */

/** A reference to one tensor: [layer name, node index, tensor index, kwargs?]. */
export type KerasTensorRef = [string, number, number, Record<string, unknown>?]

/** One call of a layer: the tensors it was called on. */
export type KerasInboundNode = KerasTensorRef[]

export interface KerasLayerJson {
  class_name: string
  /** the layer's own config (for nested models: a model config) */
  config: Record<string, unknown>
  /** absent inside Sequential configs */
  name?: string
  inbound_nodes?: KerasInboundNode[]
}

export interface KerasFunctionalConfig {
  name: string
  layers: KerasLayerJson[]
  input_layers: KerasTensorRef[]
  output_layers: KerasTensorRef[]
}

/** The canonical topology every amps model carries. */
export interface KerasFunctionalTopology {
  class_name: 'Model'
  config: KerasFunctionalConfig
  keras_version?: string
  backend?: string
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Tensor id convention of types.ts: `name` for output 0, `name:i` otherwise. */
export function tensorId(layer: string, index: number): string {
  return index === 0 ? layer : `${layer}:${index}`
}

export function parseTensorId(id: string): {layer: string; index: number} {
  const m = /^(.*):(\d+)$/.exec(id)
  return m ? {layer: m[1], index: Number(m[2])} : {layer: id, index: 0}
}

/** Model classes that may appear nested as a layer. */
export const MODEL_CLASS_NAMES = new Set(['Model', 'Functional', 'Sequential'])

/** Layers that compute nothing at inference (the identity): dropout and noise layers are training-only. */
export const INFERENCE_IDENTITY_LAYERS = [
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'SpatialDropout3D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
] as const
