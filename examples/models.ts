/**
 * Small generated models with deterministic (seeded) weights, written as TF.js layers directories
 * exactly as tfjs' own save() lays them out. Used by the quick-start example (examples/tiny-cnn),
 * the tests and the benchmarks. Models are built with tfjs' layers API so the JSON is what real
 * users have; only the very deep chain is written by hand (tfjs cannot build it on a normal stack).
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import type * as tfType from '../src/runtime/tfjs.js'
import type {io} from '../src/runtime/tfjs.js'

import {initTf} from '../src/runtime/tf.js'
import type {RawArtifacts} from '../src/model/tfjs-dir.js'
import {elementCount, joinWeightData} from '../src/model/weights.js'
import {seededRandom} from '../src/util/random.js'

export {seededRandom}

/** A generated model's files, as the TF.js loader reads them. */
export type ModelFiles = RawArtifacts

/** Weight values that keep activations in a sane range: uniform ±sqrt(3/fanIn), BN stats near identity. */
function seededValues(name: string, shape: number[], rand: () => number): Float32Array {
  const n = elementCount(shape)
  const v = new Float32Array(n)
  const last = name.split('/').pop() ?? ''
  const u = (lo: number, hi: number): number => lo + (hi - lo) * rand()
  if (last === 'moving_variance') for (let i = 0; i < n; i++) v[i] = u(0.5, 1.5)
  else if (last === 'gamma') for (let i = 0; i < n; i++) v[i] = u(0.8, 1.2)
  else if (last === 'beta' || last === 'moving_mean' || last === 'bias') for (let i = 0; i < n; i++) v[i] = u(-0.1, 0.1)
  else {
    const fanIn = last === 'depthwise_kernel' ? shape[0] * shape[1] : shape.length > 1 ? n / shape[shape.length - 1] : n
    const a = Math.sqrt(3 / Math.max(1, fanIn))
    for (let i = 0; i < n; i++) v[i] = u(-a, a)
  }
  return v
}

/** Sets every weight of the model from the seed, in layer order. */
export function seedWeights(tf: typeof tfType, model: tfType.LayersModel, seed: number): void {
  const rand = seededRandom(seed)
  for (const layer of model.layers) {
    const ws = layer.weights
    if (ws.length === 0) continue
    layer.setWeights(ws.map((w) => tf.tensor(seededValues(w.originalName, w.shape as number[], rand), w.shape as number[])))
  }
}

/** Captures what model.save() would write. */
export async function saveToMemory(model: tfType.LayersModel): Promise<ModelFiles> {
  const {tf} = await initTf()
  let saved: io.ModelArtifacts | undefined
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a
      return {modelArtifactsInfo: {dateSaved: new Date(0), modelTopologyType: 'JSON'}}
    }),
  )
  if (!saved?.weightSpecs || !saved.weightData) throw new Error('tfjs saved no weights')
  const data = saved.weightData
  return {
    modelTopology: saved.modelTopology,
    weightSpecs: saved.weightSpecs,
    weightData: joinWeightData(data),
    format: 'layers-model',
    generatedBy: saved.generatedBy,
    convertedBy: null,
  }
}

function f32ToF16(x: number): number {
  const f = new Float32Array([x])
  const u = new Uint32Array(f.buffer)[0]
  const sign = (u >>> 16) & 0x8000
  const exp = ((u >>> 23) & 0xff) - 127 + 15
  const mant = u & 0x7fffff
  if (exp <= 0) {
    if (exp < -10) return sign
    const m = (mant | 0x800000) >> (1 - exp)
    return sign | ((m + 0x1000) >> 13)
  }
  if (exp >= 31) return sign | 0x7c00
  return sign | ((exp << 10) + ((mant + 0x1000) >> 13))
}

/** Re-encodes float32 weights as tfjs quantized entries (affine uint8/uint16, or float16). */
export function quantize(files: ModelFiles, dtype: 'uint8' | 'uint16' | 'float16'): ModelFiles {
  const src = new Uint8Array(files.weightData)
  const parts: Uint8Array[] = []
  const specs: io.WeightsManifestEntry[] = []
  let at = 0
  for (const s of files.weightSpecs) {
    const n = elementCount(s.shape)
    const bytes = n * (s.dtype === 'bool' ? 1 : 4)
    const chunk = src.slice(at, at + bytes)
    at += bytes
    if (s.dtype !== 'float32') {
      parts.push(chunk)
      specs.push({...s})
      continue
    }
    const v = new Float32Array(chunk.buffer)
    if (dtype === 'float16') {
      const q = new Uint16Array(n)
      for (let i = 0; i < n; i++) q[i] = f32ToF16(v[i])
      parts.push(new Uint8Array(q.buffer))
      specs.push({...s, quantization: {dtype: 'float16'}})
      continue
    }
    let min = Infinity
    let max = -Infinity
    for (const x of v) {
      min = Math.min(min, x)
      max = Math.max(max, x)
    }
    const levels = dtype === 'uint8' ? 255 : 65535
    const scale = max > min ? (max - min) / levels : 1
    const q = dtype === 'uint8' ? new Uint8Array(n) : new Uint16Array(n)
    for (let i = 0; i < n; i++) q[i] = Math.round((v[i] - min) / scale)
    parts.push(new Uint8Array(q.buffer))
    specs.push({...s, quantization: {dtype, min, scale}})
  }
  return {...files, weightSpecs: specs, weightData: joinWeightData(parts.map((p) => p.buffer as ArrayBuffer))}
}

export interface WriteOptions {
  /** split the weights into shards of at most this many bytes (tfjs' converter uses 4 MiB) */
  shardBytes?: number
}

/** Writes model.json + weight shards the way tfjs' converter does. Returns the model.json path. */
export function writeLayersModelDir(dir: string, files: ModelFiles, options: WriteOptions = {}): string {
  mkdirSync(dir, {recursive: true})
  const data = new Uint8Array(files.weightData)
  const shard = options.shardBytes ?? Math.max(1, data.byteLength)
  const count = Math.max(1, Math.ceil(data.byteLength / shard))
  const paths: string[] = []
  for (let i = 0; i < count; i++) {
    const p = count === 1 ? 'weights.bin' : `group1-shard${i + 1}of${count}.bin`
    writeFileSync(join(dir, p), data.subarray(i * shard, Math.min(data.byteLength, (i + 1) * shard)))
    paths.push(p)
  }
  const json = {
    format: files.format ?? 'layers-model',
    generatedBy: files.generatedBy,
    convertedBy: files.convertedBy ?? null,
    modelTopology: files.modelTopology,
    weightsManifest: [{paths, weights: files.weightSpecs}],
  }
  const file = join(dir, 'model.json')
  writeFileSync(file, JSON.stringify(json))
  return file
}

/**
 * The quick-start CNN (Functional): conv stem with BatchNormalization, a residual block (Add), a
 * depthwise conv feeding two parallel branches (Concatenate), a separable conv, a squeeze-style
 * gate (Multiply), padding, pooling and a softmax head. Input 64×64×3, 10 classes.
 */
export async function tinyCnn(seed = 1): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const L = tf.layers
  const x = tf.input({shape: [64, 64, 3], name: 'image'})
  let h = L.conv2d({filters: 24, kernelSize: 3, strides: 2, padding: 'same', useBias: false, name: 'stem_conv'}).apply(x) as tfType.SymbolicTensor
  h = L.batchNormalization({name: 'stem_bn'}).apply(h) as tfType.SymbolicTensor
  h = L.reLU({name: 'stem_relu'}).apply(h) as tfType.SymbolicTensor
  // residual block
  let r = L.conv2d({filters: 24, kernelSize: 3, padding: 'same', activation: 'relu', name: 'res_conv_a'}).apply(h) as tfType.SymbolicTensor
  r = L.conv2d({filters: 24, kernelSize: 3, padding: 'same', name: 'res_conv_b'}).apply(r) as tfType.SymbolicTensor
  h = L.add({name: 'res_add'}).apply([h, r]) as tfType.SymbolicTensor
  h = L.activation({activation: 'relu', name: 'res_relu'}).apply(h) as tfType.SymbolicTensor
  h = L.maxPooling2d({poolSize: 2, name: 'pool_1'}).apply(h) as tfType.SymbolicTensor
  // depthwise conv, then two branches joined by Concatenate
  h = L.depthwiseConv2d({kernelSize: 3, padding: 'same', name: 'dw_conv'}).apply(h) as tfType.SymbolicTensor
  const a = L.conv2d({filters: 24, kernelSize: 1, activation: 'relu', name: 'branch_1x1'}).apply(h) as tfType.SymbolicTensor
  const b = L.conv2d({filters: 24, kernelSize: 3, padding: 'same', activation: 'relu', name: 'branch_3x3'}).apply(h) as tfType.SymbolicTensor
  h = L.concatenate({name: 'branch_concat'}).apply([a, b]) as tfType.SymbolicTensor
  h = L.separableConv2d({filters: 48, kernelSize: 3, padding: 'same', activation: 'relu', name: 'sep_conv'}).apply(h) as tfType.SymbolicTensor
  // squeeze-and-excitation style gate
  let g = L.globalAveragePooling2d({name: 'gate_pool'}).apply(h) as tfType.SymbolicTensor
  g = L.dense({units: 48, activation: 'sigmoid', name: 'gate_dense'}).apply(g) as tfType.SymbolicTensor
  g = L.reshape({targetShape: [1, 1, 48], name: 'gate_reshape'}).apply(g) as tfType.SymbolicTensor
  h = L.multiply({name: 'gate_mul'}).apply([h, g]) as tfType.SymbolicTensor
  h = L.zeroPadding2d({padding: 1, name: 'pad'}).apply(h) as tfType.SymbolicTensor
  h = L.averagePooling2d({poolSize: 2, name: 'pool_2'}).apply(h) as tfType.SymbolicTensor
  h = L.conv2d({filters: 64, kernelSize: 3, activation: 'relu', name: 'head_conv'}).apply(h) as tfType.SymbolicTensor
  h = L.globalMaxPooling2d({name: 'head_pool'}).apply(h) as tfType.SymbolicTensor
  h = L.dropout({rate: 0.2, name: 'head_dropout'}).apply(h) as tfType.SymbolicTensor
  const y = L.dense({units: 10, activation: 'softmax', name: 'classes'}).apply(h) as tfType.SymbolicTensor
  const model = tf.model({inputs: x, outputs: y, name: 'tiny_cnn'})
  seedWeights(tf, model, seed)
  return model
}

/** A Sequential MLP (no InputLayer in its config; the first layer carries the input shape). */
export async function tinyMlp(seed = 2): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const model = tf.sequential({name: 'tiny_mlp'})
  model.add(tf.layers.dense({units: 32, activation: 'relu', inputShape: [20], name: 'mlp_dense_1'}))
  model.add(tf.layers.dense({units: 16, activation: 'relu', name: 'mlp_dense_2'}))
  model.add(tf.layers.dropout({rate: 0.1, name: 'mlp_dropout'}))
  model.add(tf.layers.dense({units: 4, activation: 'softmax', name: 'mlp_out'}))
  seedWeights(tf, model, seed)
  return model
}

/** A Sequential CNN: conv, BN, pooling, flatten, dense. */
export async function sequentialCnn(seed = 3): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const L = tf.layers
  const model = tf.sequential({name: 'seq_cnn'})
  model.add(L.conv2d({filters: 8, kernelSize: 3, activation: 'relu', inputShape: [16, 16, 2], name: 'seq_conv_1'}))
  model.add(L.batchNormalization({name: 'seq_bn'}))
  model.add(L.maxPooling2d({poolSize: 2, name: 'seq_pool'}))
  model.add(L.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'seq_conv_2'}))
  model.add(L.flatten({name: 'seq_flatten'}))
  model.add(L.dense({units: 3, name: 'seq_out'}))
  seedWeights(tf, model, seed)
  return model
}

/**
 * Two inputs, two outputs: an auxiliary output early in the graph (a model output no later layer
 * consumes), Multiply and Concatenate of branches, and a long skip connection.
 */
export async function twoHeads(seed = 4): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const L = tf.layers
  const img = tf.input({shape: [12, 12, 3], name: 'img'})
  const meta = tf.input({shape: [5], name: 'meta'})
  let h = L.conv2d({filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'th_conv_1'}).apply(img) as tfType.SymbolicTensor
  const skip = L.globalAveragePooling2d({name: 'th_skip_pool'}).apply(h) as tfType.SymbolicTensor
  const aux = L.dense({units: 2, activation: 'softmax', name: 'aux_out'}).apply(skip) as tfType.SymbolicTensor
  h = L.conv2d({filters: 6, kernelSize: 3, strides: 2, padding: 'same', name: 'th_conv_2'}).apply(h) as tfType.SymbolicTensor
  h = L.conv2d({filters: 6, kernelSize: 3, padding: 'same', activation: 'tanh', name: 'th_conv_3'}).apply(h) as tfType.SymbolicTensor
  h = L.flatten({name: 'th_flatten'}).apply(h) as tfType.SymbolicTensor
  const m = L.dense({units: 6, activation: 'sigmoid', name: 'th_meta_dense'}).apply(meta) as tfType.SymbolicTensor
  const gated = L.multiply({name: 'th_gate'}).apply([skip, m]) as tfType.SymbolicTensor
  h = L.concatenate({name: 'th_concat'}).apply([h, gated, meta]) as tfType.SymbolicTensor
  h = L.dense({units: 8, activation: 'relu', name: 'th_dense'}).apply(h) as tfType.SymbolicTensor
  const out = L.dense({units: 3, name: 'main_out'}).apply(h) as tfType.SymbolicTensor
  const model = tf.model({inputs: [img, meta], outputs: [out, aux], name: 'two_heads'})
  seedWeights(tf, model, seed)
  return model
}

/** A Functional model that uses a Sequential model as one of its layers (nested sub-model). */
export async function nestedModel(seed = 5): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const L = tf.layers
  const inner = tf.sequential({name: 'inner_block'})
  inner.add(L.dense({units: 8, activation: 'relu', inputShape: [6], name: 'inner_dense_1'}))
  inner.add(L.dense({units: 6, name: 'inner_dense_2'}))
  const x = tf.input({shape: [6], name: 'nest_in'})
  const y = inner.apply(x) as tfType.SymbolicTensor
  const z = L.add({name: 'nest_add'}).apply([x, y]) as tfType.SymbolicTensor
  const out = L.dense({units: 2, name: 'nest_out'}).apply(z) as tfType.SymbolicTensor
  const model = tf.model({inputs: x, outputs: out, name: 'nested'})
  seedWeights(tf, model, seed)
  return model
}

/**
 * A layer with several outputs: an LSTM returning its states (tensor ids `lstm`, `lstm:1`,
 * `lstm:2`), whose outputs feed different layers. MACs of the LSTM are estimated.
 */
export async function lstmStates(seed = 7): Promise<tfType.LayersModel> {
  const {tf} = await initTf()
  const L = tf.layers
  const x = tf.input({shape: [6, 3], name: 'seq_in'})
  // returnSequences keeps the three outputs distinct tensors (with returnSequences false tfjs returns
  // one object as output 0 and state h, and its executor disposes it too early)
  const outs = L.lstm({units: 4, returnState: true, returnSequences: true, name: 'lstm'}).apply(x) as tfType.SymbolicTensor[]
  const seq = L.flatten({name: 'seq_flat'}).apply(outs[0]) as tfType.SymbolicTensor
  const h = L.dense({units: 4, activation: 'tanh', name: 'h_dense'}).apply(outs[1]) as tfType.SymbolicTensor
  const both = L.concatenate({name: 'states'}).apply([seq, h, outs[2]]) as tfType.SymbolicTensor
  const y = L.dense({units: 2, name: 'lstm_out'}).apply(both) as tfType.SymbolicTensor
  const model = tf.model({inputs: x, outputs: y, name: 'lstm_states'})
  seedWeights(tf, model, seed)
  return model
}

/**
 * A chain of `depth` layers alternating Dense(width) and ReLU, written as JSON directly (tfjs
 * cannot build it on Node's default stack). Seeded weights.
 */
export function deepChain(depth: number, width = 4, seed = 6): ModelFiles {
  const rand = seededRandom(seed)
  const layers: unknown[] = [
    {
      class_name: 'InputLayer',
      name: 'chain_in',
      config: {batch_input_shape: [null, width], dtype: 'float32', sparse: false, name: 'chain_in'},
      inbound_nodes: [],
    },
  ]
  const specs: io.WeightsManifestEntry[] = []
  const values: Float32Array[] = []
  let prev = 'chain_in'
  for (let i = 0; i < depth; i++) {
    const dense = i % 2 === 0
    const name = dense ? `d${i}` : `r${i}`
    const config = dense
      ? {
          name,
          units: width,
          activation: 'linear',
          use_bias: true,
          kernel_initializer: {class_name: 'Zeros', config: {}},
          bias_initializer: {class_name: 'Zeros', config: {}},
        }
      : {name}
    layers.push({class_name: dense ? 'Dense' : 'ReLU', name, config, inbound_nodes: [[[prev, 0, 0, {}]]]})
    if (dense) {
      // near-identity kernels keep values bounded over thousands of layers
      const k = new Float32Array(width * width)
      for (let r = 0; r < width; r++) for (let c = 0; c < width; c++) k[r * width + c] = (r === c ? 1 : 0) + (rand() - 0.5) * 0.02
      const b = new Float32Array(width)
      for (let c = 0; c < width; c++) b[c] = (rand() - 0.5) * 0.02
      specs.push({name: `${name}/kernel`, shape: [width, width], dtype: 'float32'}, {name: `${name}/bias`, shape: [width], dtype: 'float32'})
      values.push(k, b)
    }
    prev = name
  }
  return {
    modelTopology: {class_name: 'Model', config: {name: `chain_${depth}`, layers, input_layers: [['chain_in', 0, 0]], output_layers: [[prev, 0, 0]]}},
    weightSpecs: specs,
    weightData: joinWeightData(values.map((v) => v.buffer as ArrayBuffer)),
    format: 'layers-model',
    generatedBy: 'amps deepChain',
    convertedBy: null,
  }
}

/** Every generated model by name, for tests and benchmarks. */
export const GENERATED = {tinyCnn, tinyMlp, sequentialCnn, twoHeads, nestedModel, lstmStates} as const
export type GeneratedName = keyof typeof GENERATED

/** Builds a generated model and writes it as a TF.js layers directory; returns model.json's path. */
export async function writeGenerated(
  name: GeneratedName,
  dir: string,
  options: WriteOptions & {quantize?: 'uint8' | 'uint16' | 'float16'; seed?: number} = {},
): Promise<string> {
  const model = await GENERATED[name](options.seed)
  try {
    let files = await saveToMemory(model)
    if (options.quantize) files = quantize(files, options.quantize)
    return writeLayersModelDir(dir, files, options)
  } finally {
    model.dispose()
  }
}
