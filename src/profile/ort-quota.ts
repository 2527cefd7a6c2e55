/**
 * Per-layer ONNX Runtime times below one vCPU, free of the quota's throttle gaps.
 *
 * Under a CFS quota of f < 1 of a core the process runs at full speed for q = P·f of every period P
 * and is then held back for P − q (7 ms of every 10 at 512 MB). ORT's node profiler reports each
 * node's kernel wall time, so whichever node is running when the quota runs out is charged the
 * whole gap: a node longer than a few tenths of q carries one in most runs, its median with it, and
 * the profile then divides that by f once more (layerSampleMs). Measured on a generated VGG16
 * (32×32, 512 MB): block4_conv2 26.2 ms at batch 1 against 1.27 ms at 1,769 MB (fluid: 4.4 ms),
 * Σ layers 2.2–4.4 × the whole model's CPU time ÷ f, and stage predictions off by −63 % to +114 %.
 *
 * The work itself is what a node does between gaps, which the quota does not change. So a layer's
 * share of a run is taken from its least-disturbed samples (the 10th percentile over the runs: a
 * node shorter than q runs gap-free in most runs), less the gaps a node longer than q cannot avoid
 * (with the period's whole quota at its start, W = k·P + (c − k·q) for c of CPU, k = ⌊W/P⌋ gaps of
 * P − q: src/cost/timing.ts cfsWallMsExact, inverted), and the shares are scaled so that the layers add
 * up to the whole model's median CPU time per run, measured on the plain (non-profiling) session
 * in the same quota group: CPU time is exact under a quota (it does not count the gaps, or the time
 * another tenant holds the CPU), and it carries what running in the quota costs besides (caches
 * refilled after each gap). assemble's layerSampleMs then turns CPU time into the time at the
 * memory size (÷ f). Used wherever the session runs one intra-op thread (up to 1,769 MB): at one
 * vCPU there is no quota gap, but on a shared machine a node's wall time also counts the time other
 * tenants held the CPU (a generated VGG16 at 1,769 MB × batch 4 on a machine at load 18: Σ node
 * times 175 ms against 37 ms of CPU per run), which the run's CPU time does not.
 */
import {quantile} from './stats.js'

/**
 * Replaces every layer's samples (ms, in place) by its gap-free share of `wholeCpuMs` (the plain
 * session's per-run CPU ms): share = layer p10 (less its unavoidable gaps under `quota`) ÷ Σ layers', times the median run's CPU. All of a
 * layer's samples get the same value; spreadByRunCpu gives them the run-to-run spread afterwards.
 */
export function quotaFreeLayerSamples(samples: Map<number, number[]>, wholeCpuMs: readonly number[], quota?: {periodMs: number; quotaMs: number}): void {
  if (wholeCpuMs.length === 0) return
  const cpu = quantile([...wholeCpuMs], 0.5)
  const low = new Map<number, number>()
  let sum = 0
  for (const [p, s] of samples) {
    const w = s.length > 0 ? Math.max(0, quantile([...s], 0.1)) : 0
    const v = quota && quota.periodMs > quota.quotaMs ? w - Math.floor(w / quota.periodMs) * (quota.periodMs - quota.quotaMs) : w
    low.set(p, v)
    sum += v
  }
  if (!(sum > 0) || !(cpu > 0)) return
  for (const [p, s] of samples) {
    const v = (low.get(p)! / sum) * cpu
    samples.set(
      p,
      s.map(() => v),
    )
  }
}
