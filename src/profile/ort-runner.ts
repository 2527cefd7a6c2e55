/**
 * The profiler's ONNX Runtime measurements (profile --backend onnx), used by worker.ts in place of
 * its tfjs layer-by-layer Runner.
 *
 * ORT fuses Conv + BatchNormalization + activation (and re-lays out convolutions in blocks), so
 * running Keras layers one by one would time a different computation than a stage runs. Instead the
 * whole exported model runs with ORT's own profiler on (`enableProfiling`): its JSON has the time of
 * every executed node, and every node the exporter writes carries its Keras layer position
 * (`@L<position>@`, which ORT keeps in fused and re-laid-out node names). A node without a tag (a
 * layout reorder ORT inserted) is charged to the layer that ran just before it. So a layer's
 * sample is the time its fused kernels took inside the real graph; a layer whose work was folded
 * into its producer (BN, the activation after a Conv) gets ~0 and its producer carries it, which
 * is right for any stage that keeps them together (cuts inside such a pair are rare and cost a few %).
 * Timing contiguous stage candidates instead would need O(L²) sessions per (memory, batch).
 *
 * Threads: the count the stage will have at that memory (ceil(m / 1,769), at most 6), capped at
 * this machine's cores; the driver's CPU quota group gives it m / 1,769 CPUs, as Lambda does.
 * Node times are taken as CPU time below one vCPU (scaled by the quota's share like the tfjs
 * samples) and as wall time at one vCPU and above, where several intra-op threads share the work.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {cpus, tmpdir} from 'node:os'
import {join} from 'node:path'

import {layerOfNode} from '../model/onnx/export.js'
import type {LayerGraph} from '../model/types.js'
import {createSession, ortThreadsForMemory, runSession, type OrtSession, type OrtTensor} from '../runtime/ort.js'
import {cfsSettings} from './cgroup.js'
import {quotaFreeLayerSamples} from './ort-quota.js'
import type {LayerSamples, PointResult, RepeatPlan, WorkerMessage} from './protocol.js'
import {median} from './stats.js'

interface ProfileEvent {
  cat: string
  name: string
  ts: number
  dur: number
}

function cpuNowMs(): number {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/** Threads a stage of `memoryMb` runs with, as far as this machine can show them. */
export function measuredThreads(memoryMb: number, cores = cpus().length): number {
  return Math.max(1, Math.min(ortThreadsForMemory(memoryMb), cores))
}

/**
 * Per-run, per-layer µs from an ORT profile: for each `model_run`, the kernel times of the nodes
 * inside it summed by layer position (untagged nodes go to the previous tagged node's layer).
 */
export function layerTimesFromProfile(events: ProfileEvent[]): {runUs: number; byLayer: Map<number, number>}[] {
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => a.ts - b.ts)
  const nodes = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time')).sort((a, b) => a.ts - b.ts)
  return runs.map((run) => {
    const byLayer = new Map<number, number>()
    let last: number | undefined
    for (const n of nodes) {
      if (n.ts < run.ts || n.ts > run.ts + run.dur) continue
      const layer = layerOfNode(n.name) ?? last
      if (layer === undefined) continue
      last = layer
      byLayer.set(layer, (byLayer.get(layer) ?? 0) + n.dur)
    }
    return {runUs: run.dur, byLayer}
  })
}

/**
 * Replaces each layer's per-run node times by its median × (that run's process CPU ms ÷ the median
 * run's), in place. A node's kernel time is wall time: on a shared machine one run in a few has a
 * node preempted for a scheduler slice (10–25 ms against a 0.1 ms median), a different node each
 * run, and summing per-layer p90/max over a stage then adds every run's pause at once (a
 * MobileNetV2 profile measured p90 = 15 × the median that way, planning a 308 ms p99 for a 32 ms
 * model). The medians are robust to those pauses; the runs' CPU time carries the run-to-run
 * variation the work itself has (it does not count time another process held the CPU), and a
 * stage's layers vary together within one run, so each layer's spread is the run's.
 */
export function spreadByRunCpu(samples: Map<number, number[]>, runCpuMs: readonly number[]): void {
  const runs = Math.min(runCpuMs.length, ...[...samples.values()].map((s) => s.length))
  const mid = median(runCpuMs.slice(0, runs))
  if (!(runs > 0) || !(mid > 0)) return
  for (const [p, s] of samples) {
    const m = median(s.slice(0, runs))
    samples.set(
      p,
      runCpuMs.slice(0, runs).map((c) => (m * c) / mid),
    )
  }
}

/**
 * A model run at least this long (ms) gives its whole-model samples from the profiled runs: the
 * profiler adds a few µs per node, well under 0.1 % of such a run for any model amps exports.
 */
export const LONG_RUN_MS = 200

export class OrtRunner {
  private readonly plain = new Map<number, OrtSession>()
  private readonly positions: number[]

  constructor(
    private readonly graph: LayerGraph,
    private readonly onnx: Uint8Array,
    private readonly send: (m: WorkerMessage) => void,
  ) {
    this.positions = graph.layers.filter((l) => l.className !== 'InputLayer').map((l) => l.index)
  }

  /** Random [0, 1) float32 inputs; int32 inputs (token ids, indices) are zeros, a valid id for any table, as the tfjs runner's. */
  inputs(batch: number): OrtTensor[] {
    return this.graph.inputs.map((t) => {
      const shape = [batch, ...t.shape.slice(1).map((d) => d ?? 1)]
      const n = shape.reduce((a, b) => a * b, 1)
      if (t.dtype === 'int32') return {data: new Int32Array(n), shape}
      const data = new Float32Array(n)
      for (let i = 0; i < data.length; i++) data[i] = Math.random()
      return {data, shape}
    })
  }

  async session(threads: number): Promise<OrtSession> {
    let s = this.plain.get(threads)
    if (!s) {
      s = await createSession(this.onnx, {threads})
      this.plain.set(threads, s)
    }
    return s
  }

  /** One run of the (non-profiling) session: wall and CPU ms. */
  async whole(xs: OrtTensor[], threads: number): Promise<{wall: number; cpu: number}> {
    const s = await this.session(threads)
    const w0 = performance.now()
    const c0 = cpuNowMs()
    await runSession(s, xs)
    return {wall: performance.now() - w0, cpu: cpuNowMs() - c0}
  }

  async measure(memoryMb: number, fraction: number, batch: number, plan: RepeatPlan): Promise<PointResult> {
    const threads = measuredThreads(memoryMb)
    const xs = this.inputs(batch)
    const progress = (phase: 'warmup' | 'layers' | 'whole', done: number, total: number): void =>
      this.send({type: 'progress', memoryMb, batch, phase, done, total})
    const sized = (ms: number, min: number, max: number, budget: number): number => Math.max(min, Math.min(max, Math.floor(budget / Math.max(0.001, ms))))

    // per-layer samples: a fresh profiling session (ORT writes its profile once, at endProfiling)
    const dir = mkdtempSync(join(tmpdir(), `amps-ort-profile-${process.pid}-`))
    const samples = new Map<number, number[]>(this.positions.map((p) => [p, []]))
    const chainWallMs: number[] = []
    const runCpuMs: number[] = []
    const runWallMs: number[] = []
    let first: number
    try {
      const prof = await createSession(this.onnx, {threads, profileFilePrefix: join(dir, 'ort')})
      // warm-up (arena, pre-packing), dropped below; its time sizes the repeats
      progress('warmup', 0, 1)
      const w0 = performance.now()
      await runSession(prof, xs)
      first = performance.now() - w0
      const repeats = sized(first, plan.minRepeats, plan.maxRepeats, plan.budgetMs)
      for (let r = 0; r < repeats; r++) {
        progress('layers', r, repeats)
        const c0 = cpuNowMs()
        const r0 = performance.now()
        await runSession(prof, xs)
        runWallMs.push(performance.now() - r0)
        runCpuMs.push(cpuNowMs() - c0)
      }
      prof.endProfiling()
      await prof.release()
      const file = readdirSync(dir).find((f) => f.endsWith('.json'))
      if (!file) throw new Error('onnxruntime wrote no profile')
      const runs = layerTimesFromProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[]).slice(1)
      for (const run of runs) {
        chainWallMs.push(run.runUs / 1000)
        for (const p of this.positions) samples.get(p)!.push((run.byLayer.get(p) ?? 0) / 1000)
      }
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }

    // Whole-model samples: runs of the plain (non-profiling) session, unless a run is long enough
    // that the profiler's per-node bookkeeping (µs per node) is lost in it; then the profiled runs
    // themselves are the samples, which spares a second session (another copy of the weights, and
    // seconds to create for a large model) and as many runs again.
    const fromProfiled = first >= LONG_RUN_MS
    const wholeRuns = fromProfiled ? 0 : sized(first, plan.wholeMin, plan.wholeMax, plan.wholeBudgetMs)
    const wholeWallMs: number[] = fromProfiled ? [...runWallMs] : []
    const wholeCpuMs: number[] = fromProfiled ? [...runCpuMs] : []
    if (wholeRuns > 0) await this.whole(xs, threads) // warm-up of the plain session at this batch size
    for (let r = 0; r < wholeRuns; r++) {
      progress('whole', r, wholeRuns)
      const run = await this.whole(xs, threads)
      wholeWallMs.push(run.wall)
      wholeCpuMs.push(run.cpu)
    }
    // one intra-op thread: node wall times carry the quota's throttle gaps below one vCPU and, on a
    // shared machine, the time other tenants held the CPU; the run's CPU time carries neither (ort-quota.ts)
    if (threads === 1) {
      const {periodUs, quotaUs} = cfsSettings(Math.min(1, fraction))
      quotaFreeLayerSamples(samples, wholeCpuMs, fraction < 1 ? {periodMs: periodUs / 1000, quotaMs: quotaUs / 1000} : undefined)
    }
    spreadByRunCpu(samples, runCpuMs)
    // With one thread the samples are now the layers' shares of the run's CPU time (above); with
    // more, a node's kernel time is its wall time. Reported as cpuMs, assemble's layerSampleMs turns it into the
    // time at this memory: ÷ f below one vCPU (the quota's share), the wall time at or above.
    // The whole-model runs' CPU time is the process's (all intra-op threads; spinning is off, so an
    // idle thread burns none): unlike their wall time, it does not grow when other tenants of the
    // machine hold the CPU. assemble converts it at the threads the session ran with (ortWholeModelMs).
    const layers: LayerSamples[] = this.positions.map((p) => ({index: p, cpuMs: samples.get(p)!, wallMs: samples.get(p)!}))
    return {memoryMb, fraction, batch, layers, wholeWallMs, wholeCpuMs, chainWallMs, tensorsBefore: 0, tensorsAfter: 0}
  }
}
