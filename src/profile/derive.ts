/**
 * Which (memory, batch) points the profiler measures and which it derives.
 *
 * Up to one vCPU (m ≤ 1,769 MB) a stage computes with one thread (ONNX Runtime's intra-op threads
 * are ⌈m / 1,769⌉; wasm has one) under a CPU quota of f = m / 1,769, and the profile's samples are
 * already turned into time at m by the fluid quota model: CPU time ÷ f (assemble.ts, layerSampleMs
 * and ortWholeModelMs). A sample's CPU time does not depend on the quota it ran under, so measuring
 * 512 MB under its quota only repeats the 1,769 MB measurement 3.5× more slowly, and for a kernel
 * longer than the quota's slice (VGG16's convolutions, 50–400 ms) the node's wall time under the
 * quota also holds the throttled gaps, which the ÷ f then counts twice. So the memories at or
 * below one vCPU are measured once, at the largest of them, and the others are that point with
 * their own fraction: the same samples, converted by the same model. Memories above one vCPU (more
 * threads, a quota above one CPU, where parallel efficiency matters) are measured each under their
 * own quota.
 *
 * AMPS_PROFILE_EVERY_MEMORY=1 measures every memory under its own quota (the old way, for
 * comparisons).
 */
import {LAMBDA} from '../platform/lambda.js'
import type {PointResult} from './protocol.js'

/** Is every memory to be measured under its own quota (AMPS_PROFILE_EVERY_MEMORY=1)? */
export function measureEveryMemory(): boolean {
  const v = process.env.AMPS_PROFILE_EVERY_MEMORY
  return Boolean(v && v !== '0')
}

/**
 * The memories to measure, and for each memory derived instead, the measured memory it comes from.
 * Memories at or below one vCPU derive from the largest of them; the rest are measured.
 */
export function memoryPlan(memoriesMb: readonly number[], everyMemory = measureEveryMemory()): {measure: number[]; derive: Map<number, number>} {
  const sorted = [...new Set(memoriesMb)].sort((a, b) => a - b)
  const derive = new Map<number, number>()
  if (everyMemory) return {measure: sorted, derive}
  const single = sorted.filter((m) => m <= LAMBDA.fullVcpuMemoryMb)
  const ref = single[single.length - 1]
  for (const m of single) if (m !== ref) derive.set(m, ref)
  return {measure: sorted.filter((m) => !derive.has(m)), derive}
}

/**
 * The point at `memoryMb` (fraction `fraction`) derived from a point measured at a larger memory
 * with the same thread count: the same CPU samples (assemble converts them at the new fraction),
 * and the wall-clock series (whole model, layer-by-layer pass) stretched by the ratio of fractions.
 */
export function derivePoint(ref: PointResult, memoryMb: number, fraction: number): PointResult {
  if (!(fraction > 0 && fraction <= ref.fraction)) throw new RangeError(`a point derives only from a larger CPU share (${fraction} > ${ref.fraction})`)
  const stretch = ref.fraction / fraction
  return {
    ...ref,
    memoryMb,
    fraction,
    wholeWallMs: ref.wholeWallMs.map((w) => w * stretch),
    chainWallMs: ref.chainWallMs.map((w) => w * stretch),
    derivedFrom: ref.memoryMb,
  }
}
