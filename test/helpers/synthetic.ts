/**
 * Synthetic profiles for tests and benchmarks: chains and DAGs (skip connections ⇒ cuts crossed by
 * several tensors), random per-layer ms at a few memory points and batch sizes, weights and output
 * bytes. Deterministic for a seed. Shaped like profile.json so everything downstream runs on it.
 */
import type {CutPoint, TensorInfo} from '../../src/model/types.js'
import {LAMBDA} from '../../src/platform/lambda.js'
import {PROFILE_VERSION, type LayerProfile, type Profile, type TimingPoint} from '../../src/profile/types.js'
import {seededRandom} from '../../src/util/random.js'

export {seededRandom}

export interface SyntheticOptions {
  layers: number
  seed: number
  topology?: 'chain' | 'dag'
  /** memory settings "measured" (default [256, 1024, 1769, 3008]) */
  memoryMb?: number[]
  /** batch sizes "measured" (default [1, 4, 16]) */
  batchSizes?: number[]
  /** typical layer ms at 1769 MB, batch 1 (default 3) */
  meanLayerMs?: number
  /** typical weight bytes per layer (default 400 kB) */
  meanWeightBytes?: number
  /** typical output bytes per sample (default 100 kB) */
  meanOutputBytes?: number
  /** backend threads (default 1) */
  threads?: number
  /** probability of a skip connection per layer in a DAG (default 0.3) */
  skipProbability?: number
  name?: string
}

const MB = 1048576

function tensor(id: string, bytes: number): TensorInfo {
  return {id, shape: [null, Math.max(1, Math.round(bytes / 4))], dtype: 'float32', bytesPerSample: Math.max(4, Math.round(bytes / 4) * 4)}
}

/** A synthetic profile (see module docs). */
export function syntheticProfile(options: SyntheticOptions): Profile {
  const rnd = seededRandom(options.seed)
  const L = Math.max(2, options.layers)
  const topology = options.topology ?? 'chain'
  const memories = options.memoryMb ?? [256, 1024, 1769, 3008]
  const batches = options.batchSizes ?? [1, 4, 16]
  const meanMs = options.meanLayerMs ?? 3
  const meanW = options.meanWeightBytes ?? 400_000
  const meanOut = options.meanOutputBytes ?? 100_000
  const skipP = options.skipProbability ?? 0.3
  const threads = options.threads ?? 1
  const logNormal = (mean: number, spread: number): number => mean * Math.exp(spread * (rnd() + rnd() + rnd() - 1.5))

  const names = Array.from({length: L}, (_, i) => (i === 0 ? 'input_1' : `layer_${i}`))
  const inbound: number[][] = [[]]
  for (let p = 1; p < L; p++) {
    const ins = [p - 1]
    if (topology === 'dag' && p >= 3 && rnd() < skipP) {
      const back = 2 + Math.floor(rnd() * Math.min(4, p - 1))
      if (p - back >= 0 && !ins.includes(p - back)) ins.push(p - back)
    }
    inbound.push(ins)
  }
  // every layer but the last must be consumed: dangling ones feed the last layer
  const consumed = new Array<boolean>(L).fill(false)
  for (const ins of inbound) for (const q of ins) consumed[q] = true
  for (let p = 0; p < L - 1; p++) if (!consumed[p]) inbound[L - 1].push(p)

  const outputBytes = names.map(() => Math.round(logNormal(meanOut, 1.2) / 4) * 4 || 4)
  const layers: LayerProfile[] = names.map((name, p) => {
    const isInput = p === 0
    const weightBytes = isInput || rnd() < 0.3 ? 0 : Math.round(logNormal(meanW, 1.5) / 4) * 4
    const base = isInput ? 0 : logNormal(meanMs, 1.0)
    // fraction of the time that does not scale with CPU share (memory-bound work)
    const flat = rnd() * 0.3
    // per-sample batch efficiency: ms(k) = base·(fixed + (1-fixed)·k)
    const fixed = 0.2 + rnd() * 0.6
    const timing: TimingPoint[] = []
    if (isInput) {
      // the profiler records the input layer at every point too (it costs nothing)
      for (const m of memories)
        for (const k of batches) timing.push({memoryMb: m, batch: k, medianMs: 0, p10Ms: 0, p90Ms: 0, minMs: 0, maxMs: 0, repeats: 1, modelled: false})
    } else {
      for (const m of memories) {
        const slow = Math.max(1, LAMBDA.fullVcpuMemoryMb / m) / Math.max(1, Math.min(threads, m / LAMBDA.fullVcpuMemoryMb))
        for (const k of batches) {
          const noise = 1 + (rnd() - 0.5) * 0.04
          const ms = base * (flat + (1 - flat) * slow) * (fixed + (1 - fixed) * k) * noise
          timing.push({memoryMb: m, batch: k, medianMs: ms, p10Ms: ms * 0.95, p90Ms: ms * 1.1, minMs: ms * 0.9, maxMs: ms * 1.3, repeats: 5, modelled: false})
        }
      }
    }
    return {
      index: p,
      name,
      className: isInput ? 'InputLayer' : inbound[p].length > 1 ? 'Add' : 'Dense',
      inbound: inbound[p].map((q) => names[q]),
      params: weightBytes / 4,
      weightBytes,
      outputShape: [null, outputBytes[p] / 4],
      outputBytes: outputBytes[p],
      macs: Math.round(base * 1e6),
      macsEstimated: false,
      timing,
    }
  })

  // cuts: every position, crossed by the tensors produced at ≤ p and consumed at > p
  const lastUse = new Array<number>(L).fill(-1)
  inbound.forEach((ins, p) => ins.forEach((q) => (lastUse[q] = Math.max(lastUse[q], p))))
  lastUse[L - 1] = L
  const cuts: CutPoint[] = []
  for (let p = 0; p < L - 1; p++) {
    const tensors: TensorInfo[] = []
    for (let q = 0; q <= p; q++) if (lastUse[q] > p) tensors.push(tensor(names[q], outputBytes[q]))
    cuts.push({after: p, afterLayer: names[p], tensors, bytesPerSample: tensors.reduce((s, t) => s + t.bytesPerSample, 0)})
  }
  const weightBytes = layers.reduce((s, l) => s + l.weightBytes, 0)
  return {
    version: PROFILE_VERSION,
    model: {
      name: options.name ?? `synthetic-${topology}-${L}-s${options.seed}`,
      sha256: (options.seed >>> 0).toString(16).padStart(64, '0'),
      format: 'tfjs-layers',
      source: `synthetic:${topology}:${L}:${options.seed}`,
      layers: L,
      params: weightBytes / 4,
      weightBytes,
      storedWeightBytes: weightBytes,
      macs: layers.reduce((s, l) => s + l.macs, 0),
    },
    inputs: [tensor(names[0], outputBytes[0])],
    outputs: [tensor(names[L - 1], outputBytes[L - 1])],
    environment: {
      backend: threads > 1 ? 'tensorflow' : 'wasm',
      threads,
      node: process.version,
      cpu: 'synthetic',
      quotaMethod: 'modelled',
      measuredAt: '2026-11-01T00:00:00.000Z',
      ampsVersion: '0.1.0',
    },
    batchSizes: [...batches],
    memoryMb: [...memories],
    layers,
    cuts,
    wholeModel: [],
    runtime: {
      baselineRssMb: 70 + Math.round(rnd() * 40),
      rssPerWeightMb: 1.1 + rnd() * 0.4,
      rssPerActivationMb: 1 + rnd(),
      runtimeInitMs: 150 + rnd() * 150,
      loadMsPerWeightMb: 2 + rnd() * 6,
      invokeOverheadMs: 0.5 + rnd() * 3,
      codecMsPerMb: 1 + rnd() * 8,
    },
    warnings: [],
  }
}

export {MB as SYNTHETIC_MB}
