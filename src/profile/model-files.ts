/**
 * Hands a loaded model to the measuring child the way a stage gets it: the canonical artifacts as a
 * TF.js layers directory (model.json + one weights.bin) plus graph.json (the LayerGraph). The child
 * then loads exactly what a stage handler would (no second model analysis, nothing in its memory
 * that a stage would not have), which keeps its RSS and load-time numbers honest.
 */
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {CanonicalArtifacts, LayerGraph, LoadedModel} from '../model/types.js'

/** The exported ONNX model, when the parent already made it for an onnx profile (the child reuses it). */
export const STAGED_ONNX = 'model.onnx'

export interface StagedModel {
  dir: string
  remove(): void
}

/** Writes model.json, weights.bin and graph.json into a fresh temporary directory. */
export function stageModelFiles(loaded: LoadedModel): StagedModel {
  const dir = mkdtempSync(join(tmpdir(), `amps-profile-${process.pid}-`))
  const remove = (): void => rmSync(dir, {recursive: true, force: true})
  process.once('exit', remove)
  try {
    const a = loaded.artifacts
    const fd = openSync(join(dir, 'weights.bin'), 'w')
    try {
      const parts = Array.isArray(a.weightData) ? a.weightData : [a.weightData]
      for (const part of parts) writeSync(fd, new Uint8Array(part))
    } finally {
      closeSync(fd)
    }
    const modelJson = {
      format: a.format ?? 'layers-model',
      generatedBy: a.generatedBy,
      convertedBy: a.convertedBy ?? null,
      modelTopology: a.modelTopology,
      weightsManifest: [{paths: ['weights.bin'], weights: a.weightSpecs}],
    }
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson))
    writeFileSync(join(dir, 'graph.json'), JSON.stringify(loaded.graph))
  } catch (error) {
    remove()
    throw error
  }
  return {
    dir,
    remove: () => {
      process.removeListener('exit', remove)
      remove()
    },
  }
}

/** Reads what stageModelFiles wrote (in the child). */
export function readStagedModel(dir: string): {graph: LayerGraph; artifacts: CanonicalArtifacts} {
  const graph = JSON.parse(readFileSync(join(dir, 'graph.json'), 'utf8')) as LayerGraph
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as {
    modelTopology: CanonicalArtifacts['modelTopology']
    weightsManifest: {weights: CanonicalArtifacts['weightSpecs']}[]
    format?: string
    generatedBy?: string
    convertedBy?: string | null
  }
  const bin = readFileSync(join(dir, 'weights.bin'))
  // a large file is read into a buffer of its own: use it as is instead of copying hundreds of MB
  const whole = bin.byteOffset === 0 && bin.byteLength === bin.buffer.byteLength
  const weightData = (whole ? bin.buffer : bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)) as ArrayBuffer
  return {
    graph,
    artifacts: {
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy ?? undefined,
    },
  }
}
