/**
 * ONNX Runtime's thread scaling above what the profiling machine can measure (issue #12 item 3):
 * the profile has 1-thread (≤ 1,769 MB) and 2-thread (3,008 MB, 1.7 vCPUs of quota) times; each
 * layer's Amdahl serial fraction is fitted to them and carries its time to 3..6 vCPUs. The plan
 * marks the stage memories that rely on it (plan.json `threadsExtrapolated`, `*` in the stage table,
 * a note), and the planner buys memory above 3,538 MB only for a layer that parallelises.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, layerMsAt, layerTiming} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import {layerSpreadAt} from '../../src/cost/spread.js'
import {amdahlFactor, serialFraction, threadFit, type TimingEnv} from '../../src/cost/timing.js'
import {AmpsUserError} from '../../src/errors.js'
import {applyBackend} from '../../src/plan/backend.js'
import {exceedsCores} from '../../src/plan/calibrate.js'
import {planFromProfile} from '../../src/plan/index.js'
import {renderPlan} from '../../src/plan/render.js'
import {readPlan, writePlan} from '../../src/plan/schema.js'
import type {Profile, TimingPoint} from '../../src/profile/types.js'
import {seededRandom, syntheticProfile} from '../helpers/synthetic.js'

const F = 1769
const prices = DEFAULT_PRICE_TABLE
/** an ORT profile's environment on a 2-core machine: 2 threads measured, 6 at the largest memory */
const ortEnv: TimingEnv = {fullVcpuMb: F, threads: 2, maxThreads: 6, measuredThreads: 2, timeFactor: 1}

function point(memoryMb: number, batch: number, medianMs: number): TimingPoint {
  return {memoryMb, batch, medianMs, p10Ms: medianMs * 0.95, p90Ms: medianMs * 1.1, minMs: medianMs * 0.9, maxMs: medianMs * 1.2, repeats: 5, modelled: false}
}

/** One layer measured as a profile on this machine would: 1 thread to 1,769 MB, 2 threads at 3,008 MB (1.7 vCPUs). */
function measured(t1: number, s: number): TimingPoint[] {
  return [point(512, 1, (t1 * F) / 512), point(1024, 1, (t1 * F) / 1024), point(F, 1, t1), point(3008, 1, t1 * amdahlFactor(s, 3008 / F))]
}

describe('serial fraction fitted to 1- and n-vCPU times', () => {
  it('perfectly parallel: half the time on 2 vCPUs is s = 0', () => {
    expect(serialFraction(10, 5, 2)).toBe(0)
  })
  it('serial: the same time on 2 vCPUs is s = 1', () => {
    expect(serialFraction(10, 10, 2)).toBe(1)
  })
  it('in between: 7.5 of 10 ms on 2 vCPUs is s = 0.5, and the quota of 3,008 MB (1.7 vCPUs) is taken as it is', () => {
    expect(serialFraction(10, 7.5, 2)).toBeCloseTo(0.5, 12)
    expect(serialFraction(10, 10 * (0.3 + 0.7 / 1.7), 1.7)).toBeCloseTo(0.3, 12)
  })
  it('clamps noise to [0, 1]: faster than linear is 0, slower than one thread is 1', () => {
    expect(serialFraction(10, 4, 2)).toBe(0)
    expect(serialFraction(10, 12, 2)).toBe(1)
  })
  it('needs more than one vCPU', () => {
    expect(() => serialFraction(10, 10, 1)).toThrow(RangeError)
  })
})

describe('layer time above the measured threads', () => {
  it.each([
    ['perfectly parallel', 0],
    ['serial', 1],
    ['in between', 0.4],
  ])('%s (s = %s): t(m) = t1·(s + (1 − s)·1769/m) from 3,008 MB up to 10,240 MB (5.8 vCPUs)', (_, s) => {
    const t = layerTiming(measured(20, s))
    const fit = threadFit(
      t.memories,
      t.medians.map((ms) => ms[0]),
      ortEnv,
    )
    expect(fit!.s).toBeCloseTo(s, 9)
    for (const m of [3008, 3538, 3539, 5307, 7077, 10240]) expect(layerMsAt(t, m, 1, ortEnv)).toBeCloseTo(20 * amdahlFactor(s, m / F), 9)
    // below the measured range and between measurements: unchanged (CPU share, and linear in 1/m)
    expect(layerMsAt(t, 256, 1, ortEnv)).toBeCloseTo((20 * F) / 256, 9)
    expect(layerMsAt(t, 1024, 1, ortEnv)).toBeCloseTo((20 * F) / 1024, 9)
  })

  it('a backend whose threads do not grow (wasm), or a profile without a multi-thread measurement, keeps the CPU-share rule', () => {
    const t = layerTiming(measured(20, 0))
    const wasm: TimingEnv = {fullVcpuMb: F, threads: 1, timeFactor: 1}
    expect(threadFit(t.memories, [0, 0, 20, 12], wasm)).toBeNull()
    expect(layerMsAt(t, 10240, 1, wasm)).toBeCloseTo(layerMsAt(t, 3008, 1, wasm), 9)
    const quick = layerTiming(measured(20, 0).slice(0, 3))
    expect(threadFit(quick.memories, [70, 35, 20], ortEnv)).toBeNull()
    // modelled (no quota): every point ran one thread, nothing to fit
    expect(threadFit(t.memories, [70, 35, 20, 12], {...ortEnv, measuredThreads: 1})).toBeNull()
  })

  it("the spread's shape moves with the same fit (the simulator and the tail use it)", () => {
    const layer = {timing: measured(20, 0.25)}
    const at = layerSpreadAt(layer, 7077, 1, ortEnv)
    expect(at[2]).toBeCloseTo(20 * amdahlFactor(0.25, 7077 / F), 9)
    expect(at[3] / at[2]).toBeCloseTo(1.1, 9)
  })
})

/** A 3-layer chain on ORT measured on a 2-core machine: input, a heavy layer with serial fraction `s`, a light head. */
function ortProfile(s: number, heavyMs = 1000): Profile {
  const p = syntheticProfile({layers: 3, seed: 7, memoryMb: [512, 1024, F, 3008], batchSizes: [1]})
  p.environment = {...p.environment, backend: 'onnx', threads: 2, quotaMethod: 'cgroup-v2'}
  p.layers[1].timing = measured(heavyMs, s)
  p.layers[2].timing = measured(1, 1)
  return p
}

describe('CostModel on an ORT profile', () => {
  it('measured up to 2 threads (3,538 MB); stages above are extrapolated; wasm never is', () => {
    const model = new CostModel(ortProfile(0), {arch: 'x86_64', prices})
    expect(model.env.maxThreads).toBe(6)
    expect(model.threadsMeasuredUpToMb()).toBe(3538)
    expect(model.threadsExtrapolated(3538)).toBe(false)
    expect(model.threadsExtrapolated(3539)).toBe(true)
    const wasm = ortProfile(0)
    wasm.environment = {...wasm.environment, backend: 'wasm', threads: 1}
    expect(new CostModel(wasm, {arch: 'x86_64', prices}).threadsMeasuredUpToMb()).toBeNull()
  })

  it('the compiled a + b/m curves equal the layer-by-layer model at every memory', () => {
    const rnd = seededRandom(3)
    const p = syntheticProfile({layers: 8, seed: 3, memoryMb: [512, 1024, F, 3008], batchSizes: [1, 4]})
    p.environment = {...p.environment, backend: 'onnx', threads: 2, quotaMethod: 'cgroup-v2'}
    // each layer its own serial fraction at 3,008 MB
    for (const l of p.layers.slice(1)) {
      const s = rnd()
      l.timing = l.timing.map((q) =>
        q.memoryMb === 3008 ? point(3008, q.batch, l.timing.find((r) => r.memoryMb === F && r.batch === q.batch)!.medianMs * amdahlFactor(s, 3008 / F)) : q,
      )
    }
    const model = new CostModel(p, {arch: 'x86_64', prices})
    const c = new CompiledCosts(model, 4, {ks: [1, 2, 4], pi: [0.2, 0.3, 0.5]})
    const e = c.edge(0, c.nodes.length - 1)!
    for (const m of [128, 700, 1769, 2500, 3008, 3300, 3538, 4000, 5307, 7077, 9000, 10240]) {
      c.ks.forEach((k, ki) => {
        const want = model.handlerMs(c.range(0, c.nodes.length - 1), m, k, c.B)
        expect(Math.abs(e.T(ki, m) - want) / want).toBeLessThan(1e-9)
      })
    }
  })
})

describe('planning with extrapolated thread scaling', () => {
  const opts = {ratePerSecond: 10, arch: 'x86_64' as const, maxStages: 1}

  it('buys memory above 3,538 MB for a layer that parallelises, and marks it in plan.json, the table and a note', () => {
    // 1,000 ms on one vCPU, perfectly parallel: 300 ms needs about 6,000 MB (3.4 vCPUs)
    const plan = applyBackend(planFromProfile(ortProfile(0), {...opts, sloMs: 300}), 'onnx')
    const [stage] = plan.stages
    expect(stage.memoryMb).toBeGreaterThan(3538)
    expect(stage.threadsExtrapolated).toBe(true)
    expect(stage.threads).toBe(Math.ceil(stage.memoryMb / F))
    expect(
      plan.warnings?.some((w) =>
        w.startsWith(
          `* stage-1 (${stage.memoryMb.toLocaleString('en-US')} MB, ${stage.threads} threads) runs more threads than the profile measured (1–2 threads, up to 3,538 MB)`,
        ),
      ),
    ).toBe(true)
    const text = renderPlan(plan)
    expect(text).toContain(`${stage.memoryMb} MB *`)
    expect(text).toContain('Note: * stage-1')

    // plan.json round trip keeps the flag; a wrong type is named
    const dir = mkdtempSync(join(tmpdir(), 'amps-threads-'))
    try {
      writePlan(join(dir, 'plan.json'), plan)
      expect(readPlan(join(dir, 'plan.json')).stages[0].threadsExtrapolated).toBe(true)
      const bad = {...plan, stages: [{...stage, threadsExtrapolated: 'yes'}]}
      expect(() => writePlan(join(dir, 'bad.json'), bad as never)).toThrow(/stages\[0\]\.threadsExtrapolated/)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('stays at or below 3,538 MB for a serial layer, unmarked, and cannot meet an SLO only more threads would', () => {
    const plan = planFromProfile(ortProfile(1), {...opts, sloMs: 1400})
    expect(plan.stages[0].memoryMb).toBeLessThanOrEqual(3538)
    expect(plan.stages[0].threadsExtrapolated).toBeUndefined()
    expect(plan.warnings?.some((w) => w.startsWith('*')) ?? false).toBe(false)
    expect(renderPlan(plan)).not.toContain('MB *')
    let error: unknown
    try {
      planFromProfile(ortProfile(1), {...opts, sloMs: 300})
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).code).toBe('PLAN_INFEASIBLE')
  })

  it('a profile without a multi-thread measurement (--quick: 512 and 1,769 MB) marks every stage above 1,769 MB', () => {
    const p = ortProfile(0)
    p.memoryMb = [512, F]
    for (const l of p.layers) l.timing = l.timing.filter((t) => t.memoryMb <= F)
    const model = new CostModel(p, {arch: 'x86_64', prices})
    expect(model.threadsMeasuredUpToMb()).toBe(F)
    // 1,000 ms at one vCPU; a p99 of 800 ms needs about 2,600 MB: 2 threads, assumed to scale with the CPU share
    const plan = applyBackend(planFromProfile(p, {...opts, sloMs: 800}), 'onnx')
    expect(plan.stages[0].memoryMb).toBeGreaterThan(F)
    expect(plan.stages[0].threadsExtrapolated).toBe(true)
    expect(plan.warnings?.find((w) => w.startsWith('* stage-1'))).toContain('(1 thread, up to 1,769 MB): no multi-thread time was measured')
  })

  it('a layer in between (s = 0.5) is bounded by its serial part: ~500 ms at any memory', () => {
    const model = new CostModel(ortProfile(0.5), {arch: 'x86_64', prices})
    const heavy = {first: 1, last: 1}
    expect(model.computeMs(heavy, 10240, 1)).toBeCloseTo(1000 * (0.5 + 0.5 / (10240 / F)), 6)
    expect(model.computeMs(heavy, 10240, 1)).toBeGreaterThan(500)
  })
})

describe('--verify local and stages beyond the machine', () => {
  it('a stage with more threads than the cores is not checkable locally; one within them is', () => {
    expect(exceedsCores({threads: 3}, 2)).toBe(true)
    expect(exceedsCores({threads: 2}, 2)).toBe(false)
    expect(exceedsCores({}, 1)).toBe(false) // wasm: one thread
  })
})
