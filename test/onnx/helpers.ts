/**
 * Numerics helpers for the ONNX tests: a tfjs LayersModel built in memory → LoadedModel (the real
 * loader path) → ONNX export of a stage range → one ORT session per case, compared with tfjs.
 */
import type * as tfType from '../../src/runtime/tfjs.js'

import {saveToMemory} from '../../examples/models.js'
import {loadModelFromArtifacts, stageBoundary} from '../../src/model/index.js'
import {exportOnnx} from '../../src/model/onnx/export.js'
import type {LoadedModel} from '../../src/model/types.js'
import {createSession, runSession, type FloatTensor} from '../../src/runtime/ort.js'
import {initTf} from '../../src/runtime/tf.js'

export async function loadedFrom(model: tfType.LayersModel, name = model.name): Promise<LoadedModel> {
  const files = await saveToMemory(model)
  return loadModelFromArtifacts(files, {source: `/mem/${name}`, format: 'tfjs-layers', name})
}

/** Seeded uniform inputs in [-1, 1) for the graph's inputs (unknown dims → 5). */
export async function randomInputs(model: LoadedModel, batch: number, seed: number): Promise<tfType.Tensor[]> {
  const {tf} = await initTf()
  return model.graph.inputs.map((t, i) => tf.randomUniform([batch, ...t.shape.slice(1).map((d) => d ?? 5)], -1, 1, 'float32', seed + i))
}

/**
 * Runs positions [first..last] through ORT, with the stage inputs taken from `tensors` (tensor id →
 * tfjs tensor, e.g. every intermediate of the whole model), and returns max |ORT − tfjs| over the
 * stage's outputs (tfjs values also from `tensors`).
 */
export async function stageMaxAbsDiff(model: LoadedModel, first: number, last: number, tensors: Map<string, tfType.Tensor>): Promise<number> {
  const exp = await exportOnnx(model, first, last)
  const session = await createSession(exp.bytes, {threads: 1})
  try {
    const {inputs, outputs} = stageBoundary(model.graph, first, last)
    const feeds: FloatTensor[] = []
    for (const u of inputs) {
      const t = tensors.get(u.info.id)!
      feeds.push({data: (await t.data()) as Float32Array, shape: t.shape})
    }
    const got = await runSession(session, feeds)
    let max = 0
    for (const [i, u] of outputs.entries()) {
      const want = tensors.get(u.info.id)!
      if (JSON.stringify(got[i].shape) !== JSON.stringify(want.shape)) {
        throw new Error(`${u.info.id}: ORT shape ${JSON.stringify(got[i].shape)} vs tfjs ${JSON.stringify(want.shape)}`)
      }
      const w = (await want.data()) as Float32Array
      for (let k = 0; k < w.length; k++) {
        const d = Math.abs(w[k] - got[i].data[k])
        if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d
      }
    }
    return max
  } finally {
    await session.release()
  }
}

/** Every layer output of the model (tensor id → tfjs tensor) for the given inputs. */
export async function allTensors(model: LoadedModel, xs: tfType.Tensor[]): Promise<Map<string, tfType.Tensor>> {
  const {tf} = await initTf()
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  const ids = model.graph.layers.filter((l) => l.className !== 'InputLayer').flatMap((l) => l.outputs.map((o) => o.id))
  const symbolic = ids.map((id) => {
    const [name, idx] = id.split(':')
    const layer = m.getLayer(name)
    const out = layer.output
    return Array.isArray(out) ? out[Number(idx ?? 0)] : out
  })
  const probe = tf.model({inputs: m.inputs, outputs: symbolic})
  const ys = probe.predict(xs.length === 1 ? xs[0] : xs)
  const list = Array.isArray(ys) ? ys : [ys]
  const map = new Map<string, tfType.Tensor>(model.graph.inputs.map((t, i) => [t.id, xs[i]]))
  ids.forEach((id, i) => map.set(id, list[i]))
  return map
}
