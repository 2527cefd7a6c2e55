/**
 * loadModel: any model file a user has → LoadedModel (canonical artifacts + LayerGraph).
 *
 * Accepted: a directory holding model.json, a model.json path (TF.js layers format), a Keras
 * `.h5` or a Keras 3 `.keras` file (read by ./keras/). Everything is brought to one canonical
 * Functional config (see canonical.ts), loaded once with tfjs to learn shapes and parameter counts
 * (in a worker thread for very deep models), and turned into a LayerGraph (graph.ts).
 */
import {existsSync, openSync, readdirSync, readSync, closeSync, statSync} from 'node:fs'
import {basename, dirname, extname, join, resolve} from 'node:path'

import {AmpsUserError} from '../errors.js'
import {canonicalize, type CanonicalizeInput} from './canonical.js'
import {buildLayerGraph, graphDepth, topologicalOrder, topologyOf} from './graph.js'
import {inspectModel, type TfLayerFacts} from './inspect.js'
import {CONVERTER_HINT, readLayersModelJson} from './tfjs-dir.js'
import type {CanonicalArtifacts, LoadedModel, ModelFormat} from './types.js'

export type {CanonicalArtifacts, LayerGraph, LayerInfo, LoadedModel, StageArtifacts, TensorInfo, CutPoint} from './types.js'
export {peakActivationBytes, computeCuts, stageBoundary, tensorUses, topologicalOrder, modelSha256} from './graph.js'
export {extractStage, extractStages, loadStageModel, runStage, runStages, stageRanges} from './stage.js'
export {layerMacs} from './macs.js'

export interface LoadModelOptions {
  /**
   * Shape of one sample of the (single) model input, without the batch dimension, for models whose
   * input has unknown dimensions (e.g. [224, 224, 3]). Must agree with every dimension the model fixes.
   */
  inputShape?: number[]
  /** Model name to report (default: the directory or file name). */
  name?: string
}

type Kind = {format: ModelFormat; file: string}

const HDF5_MAGIC = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])

function sniff(file: string): 'h5' | 'zip' | 'json' | 'other' {
  const fd = openSync(file, 'r')
  try {
    const head = Buffer.alloc(8)
    const n = readSync(fd, head, 0, 8, 0)
    if (n >= 8 && head.equals(HDF5_MAGIC)) return 'h5'
    if (n >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) return 'zip'
    const text = head.subarray(0, n).toString('utf8').trimStart()
    return text.startsWith('{') ? 'json' : 'other'
  } finally {
    closeSync(fd)
  }
}

/** Works out which reader a path needs; user errors for paths that hold no model. */
export function resolveModelPath(path: string): Kind {
  const abs = resolve(path)
  if (!existsSync(abs)) {
    throw new AmpsUserError('FILE_NOT_FOUND', `no such file or directory: ${path}`, {
      suggestions: ['Pass a directory holding model.json, a model.json file, a .h5 or a .keras file'],
    })
  }
  if (statSync(abs).isDirectory()) {
    const json = join(abs, 'model.json')
    if (existsSync(json)) return {format: 'tfjs-layers', file: json}
    const entries = readdirSync(abs)
    if (entries.includes('saved_model.pb')) {
      throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${path} is a TensorFlow SavedModel; amps reads Keras models and TF.js layers models`, {
        suggestions: ['Save the model from Keras as .h5 or .keras and pass that file', `Or convert it: ${CONVERTER_HINT}`],
      })
    }
    const candidates = entries.filter((e) => /\.(h5|hdf5|keras|json)$/i.test(e))
    throw new AmpsUserError('FILE_NOT_FOUND', `${path} holds no model.json`, {
      suggestions: candidates.length
        ? candidates.slice(0, 5).map((c) => `Did you mean ${join(path, c)}?`)
        : ['Pass a directory holding model.json, a model.json file, a .h5 or a .keras file'],
    })
  }
  const ext = extname(abs).toLowerCase()
  const kind = sniff(abs)
  if (ext === '.h5' || ext === '.hdf5' || (kind === 'h5' && ext !== '.json' && ext !== '.keras')) {
    if (kind !== 'h5') throw new AmpsUserError('FILE_INVALID', `${path} is not an HDF5 file, so it cannot be a Keras .h5 model`)
    return {format: 'keras-h5', file: abs}
  }
  if (ext === '.keras' || (kind === 'zip' && ext !== '.json')) {
    if (kind !== 'zip') throw new AmpsUserError('FILE_INVALID', `${path} is not a zip archive, so it cannot be a Keras .keras model`)
    return {format: 'keras-v3', file: abs}
  }
  if (ext === '.pb') {
    throw new AmpsUserError('MODEL_FORMAT_UNSUPPORTED', `${path} is a TensorFlow graph (.pb); amps reads Keras models and TF.js layers models`, {
      suggestions: [`Convert the Keras model instead: ${CONVERTER_HINT}`],
    })
  }
  if (ext === '.json' || kind === 'json') return {format: 'tfjs-layers', file: abs}
  throw new AmpsUserError('FILE_INVALID', `${path} is not a model file amps reads (model.json, .h5 or .keras)`, {
    suggestions: ['Pass a directory holding model.json, a model.json file, a .h5 or a .keras file'],
  })
}

/** The Keras readers pull in h5wasm (a large wasm module): import them only for .h5/.keras files. */
async function kerasReader(): Promise<typeof import('./keras/index.js')> {
  return import('./keras/index.js')
}

/** Reads any supported model file and builds its LayerGraph. */
export async function loadModel(path: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const {format, file} = resolveModelPath(path)
  const source = resolve(path)
  if (format === 'tfjs-layers') {
    const raw = readLayersModelJson(file)
    const name = options.name ?? basename(dirname(file))
    return loadModelFromArtifacts(raw, {source, format, name, label: path}, options)
  }
  const reader = await kerasReader()
  const read = await reader.readKerasFile(file)
  return loadModelFromArtifacts(read.artifacts, {source, format: read.format ?? format, name: options.name ?? read.name, label: path}, options)
}

export interface ArtifactsOrigin {
  /** absolute path (LoadedModel.source) */
  source: string
  format: ModelFormat
  name: string
  /** how messages name the model (default: source) */
  label?: string
}

function applyInputShape(artifacts: CanonicalArtifacts, inputShape: number[] | undefined, label: string): void {
  const config = topologyOf(artifacts).config
  const inputs = config.input_layers.map((r) => config.layers.find((l) => l.name === r[0]))
  if (inputShape) {
    if (inputs.length !== 1) {
      throw new AmpsUserError('FLAG_INVALID', `${label} has ${inputs.length} inputs; an input shape can be given only for single-input models`)
    }
    const cfg = inputs[0]?.config as Record<string, unknown>
    const declared = (cfg.batch_input_shape ?? cfg.batch_shape) as (number | null)[] | undefined
    if (!inputShape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new AmpsUserError('FLAG_INVALID', `input shape ${JSON.stringify(inputShape)} must be positive integers`)
    }
    if (declared) {
      const rest = declared.slice(1)
      if (rest.length !== inputShape.length || rest.some((d, i) => d !== null && d !== inputShape[i])) {
        throw new AmpsUserError('FLAG_INVALID', `input shape ${JSON.stringify(inputShape)} does not fit the model's input ${JSON.stringify(rest)} (null = any)`)
      }
    }
    delete cfg.batch_shape
    cfg.batch_input_shape = [null, ...inputShape]
  }
  for (const l of inputs) {
    const cfg = (l?.config ?? {}) as Record<string, unknown>
    const shape = (cfg.batch_input_shape ?? cfg.batch_shape) as unknown[] | undefined
    if (!Array.isArray(shape) || shape.slice(1).some((d) => typeof d !== 'number')) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `${label}: input '${l?.name}' has shape ${JSON.stringify(shape)} with unknown dimensions; amps needs fixed shapes to size the tensors between stages`,
        {suggestions: ['Give the input shape of one sample, e.g. --input-shape 224,224,3']},
      )
    }
    const bad = shape.slice(1).find((d) => !Number.isInteger(d) || (d as number) < 1)
    if (bad !== undefined) {
      throw new AmpsUserError(
        'MODEL_FORMAT_UNSUPPORTED',
        `${label}: input '${l?.name}' has shape ${JSON.stringify(shape)}; dimension ${JSON.stringify(bad)} is not a positive whole number`,
        {
          suggestions: ['fix batch_input_shape in the model (every dimension after the batch one must be ≥ 1), or re-export the model'],
        },
      )
    }
  }
}

/** tfjs' rules for matching a stored weight name to a model variable, returning the variable's name. */
function weightNameMap(specs: {name: string}[], facts: TfLayerFacts[]): Map<string, {layer: string; name: string}> {
  const byName = new Map<string, {layer: string; name: string}>()
  const byLayer = new Map<string, TfLayerFacts>()
  for (const f of facts) {
    byLayer.set(f.name, f)
    for (const w of f.weights) byName.set(w.name, {layer: f.name, name: w.name})
  }
  const out = new Map<string, {layer: string; name: string}>()
  for (const s of specs) {
    let hit = byName.get(s.name)
    if (!hit) {
      const t = s.name.split('/')
      hit = byName.get([...t.slice(0, -2), t[t.length - 1]].join('/'))
      const idx = Number(t[t.length - 1])
      const layer = byLayer.get(t[0])
      if (!hit && layer && Number.isInteger(idx) && layer.weights[idx]) hit = {layer: t[0], name: layer.weights[idx].name}
    }
    if (hit) out.set(s.name, hit)
  }
  return out
}

/** Builds a LoadedModel from artifacts already in memory (any reader's output). */
export async function loadModelFromArtifacts(raw: CanonicalizeInput, origin: ArtifactsOrigin, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const label = origin.label ?? origin.source
  const artifacts = canonicalize(raw, label)
  applyInputShape(artifacts, options.inputShape, label)
  const ordered = topologicalOrder(topologyOf(artifacts))
  const facts = await inspectModel(artifacts, label, graphDepth(ordered))
  const names = weightNameMap(artifacts.weightSpecs, facts)
  const weightOwner = new Map<string, string>()
  for (const s of artifacts.weightSpecs) {
    const hit = names.get(s.name)
    if (!hit) {
      throw new AmpsUserError('MODEL_WEIGHTS_INVALID', `${label}: stored weight ${s.name} belongs to no layer of the model`)
    }
    s.name = hit.name
    weightOwner.set(s.name, hit.layer)
  }
  const graph = buildLayerGraph({name: origin.name, format: origin.format, artifacts, ordered, facts, weightOwner})
  return {source: origin.source, graph, artifacts}
}
