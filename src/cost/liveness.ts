/**
 * Activation memory: the bytes per sample alive while each layer runs (tensors produced earlier and
 * still needed, plus the layer's own output), and a sparse table for the largest of them over a
 * range of layers in O(1). Split out of src/cost/model.ts.
 */
import type {LayerProfile, Profile} from '../profile/types.js'

function producerOf(tensorId: string): string {
  const m = /^(.*):(\d+)$/.exec(tensorId)
  return m ? m[1] : tensorId
}

/**
 * liveBytes[p] = bytes per sample alive while layer p runs: every tensor produced before p and
 * still needed at or after p (including its inputs), plus p's own output.
 */
export function computeLiveBytes(profile: Profile): Float64Array {
  const L = profile.layers.length
  const pos = new Map<string, number>()
  profile.layers.forEach((l: LayerProfile, i) => pos.set(l.name, i))
  const lastUse = new Int32Array(L).fill(-1)
  profile.layers.forEach((l, i) => {
    for (const t of l.inbound) {
      const p = pos.get(producerOf(t))
      if (p !== undefined && p < i) lastUse[p] = Math.max(lastUse[p], i)
    }
  })
  for (const o of profile.outputs) {
    const p = pos.get(producerOf(o.id))
    if (p !== undefined) lastUse[p] = L // alive to the end
  }
  // crossing[q] for boundary after q: tensors produced at ≤ q, last used > q
  const diff = new Float64Array(L + 1)
  profile.layers.forEach((l, p) => {
    if (lastUse[p] > p) {
      diff[p] += l.outputBytes
      diff[Math.min(L, lastUse[p])] -= l.outputBytes
    }
  })
  const crossing = new Float64Array(L)
  let run = 0
  for (let q = 0; q < L; q++) {
    run += diff[q]
    crossing[q] = run
  }
  const live = new Float64Array(L)
  for (let p = 0; p < L; p++) live[p] = (p > 0 ? crossing[p - 1] : 0) + profile.layers[p].outputBytes
  return live
}

/** Sparse table of range maxima over `values` (level k holds maxima of windows of 2^k). */
export function buildSparseMax(values: Float64Array): Float64Array[] {
  const levels: Float64Array[] = [values]
  for (let w = 1; 2 * w <= values.length; w *= 2) {
    const prev = levels[levels.length - 1]
    const next = new Float64Array(values.length - 2 * w + 1)
    for (let i = 0; i < next.length; i++) next[i] = Math.max(prev[i], prev[i + w])
    levels.push(next)
  }
  return levels
}

/** Largest of values[lo..hi] from a buildSparseMax table. */
export function rangeMax(levels: Float64Array[], lo: number, hi: number): number {
  const len = hi - lo + 1
  const k = 31 - Math.clz32(len)
  const w = 1 << k
  return Math.max(levels[k][lo], levels[k][hi - w + 1])
}
