/**
 * The pure parts of the profiler: order statistics, CFS settings, the per-sample conversion, the
 * assembly of profile.json from (hand-made) measurements of a real model, and the schema that
 * guards profile.json on read.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'
import {loadModel} from '../../src/model/index.js'
import type {LayerGraph} from '../../src/model/types.js'
import {assembleProfile, fusedFactorOf, layerSampleMs, modelledScale} from '../../src/profile/assemble.js'
import {cfsSettings, cpuFraction} from '../../src/profile/cgroup.js'
import {readProfile, validateProfile, writeProfile} from '../../src/profile/index.js'
import type {PointResult, RuntimeProbe} from '../../src/profile/protocol.js'
import {median, quantile, summarize} from '../../src/profile/stats.js'
import {formatSummary, summarizeProfile} from '../../src/profile/summary.js'
import type {Profile} from '../../src/profile/types.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const MB = 1024 * 1024

describe('order statistics', () => {
  it('interpolates between closest ranks', () => {
    expect(quantile([1, 2, 3, 4, 5], 0.5)).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    // pos = 9 × 0.1 = 0.9 → 1 + 0.9 × (2 − 1)
    expect(quantile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.1)).toBeCloseTo(1.9, 12)
    expect(quantile([7], 0.9)).toBe(7)
  })
  it('refuses an empty sample', () => {
    expect(() => quantile([], 0.5)).toThrow(/empty/)
  })
  it('summarises with min ≤ p10 ≤ median ≤ p90 ≤ max', () => {
    const s = summarize([5, 1, 4, 2, 3])
    expect(s).toEqual({medianMs: 3, p10Ms: 1.4, p90Ms: 4.6, minMs: 1, maxMs: 5, repeats: 5})
  })
})

describe('CFS settings', () => {
  it('uses a 10 ms period while the quota stays ≥ 1 ms', () => {
    // 512/1769 of 10,000 µs = 2,894.29 µs
    expect(cfsSettings(cpuFraction(512), 10_000)).toEqual({periodUs: 10_000, quotaUs: 2894})
    expect(cfsSettings(cpuFraction(3008), 10_000)).toEqual({periodUs: 10_000, quotaUs: 17_004})
  })
  it('stretches the period below 177 MB so the quota is the kernel minimum of 1 ms', () => {
    // 128/1769 = 0.072357; 1,000 / 0.072357 = 13,820.3 → 13,821 µs
    expect(cfsSettings(cpuFraction(128), 10_000)).toEqual({periodUs: 13_821, quotaUs: 1000})
  })
})

describe('per-sample ms at a memory size', () => {
  it('single-threaded: CPU time ÷ f below one core, CPU time above', () => {
    expect(layerSampleMs(2, 2.1, 0.5, 1)).toBe(4)
    expect(layerSampleMs(2, 50, 0.25, 1)).toBe(8) // a throttled wall sample does not matter
    expect(layerSampleMs(2, 2.1, 1.7, 1)).toBe(2)
  })
  it('multi-threaded: max(wall, CPU ÷ f)', () => {
    expect(layerSampleMs(8, 3, 2, 4)).toBe(4)
    expect(layerSampleMs(8, 5, 2, 4)).toBe(5)
  })
  it('modelled scale is max(1, 1769/m)', () => {
    expect(modelledScale(512)).toBeCloseTo(3.455078125, 12)
    expect(modelledScale(3008)).toBe(1)
  })
})

let graph: LayerGraph
let source: string

const probe: RuntimeProbe = {
  runtimeInitMs: 300,
  baselineRssBytes: 100 * MB,
  loadedRssBytes: 110 * MB,
  secondModelRssBytes: 112 * MB,
  loadMs: 20,
  coldFirstPredictMs: 15,
  rssBatch1Bytes: 120 * MB,
  rssProbeBatchBytes: 150 * MB,
  probeBatch: 4,
  peakActivationBytesPerSample: 5 * MB,
  invokeOverheadMs: 0.2,
  codecMsPerMb: 3,
  jsonParseMsPerMb: 4,
  jsonStringifyMsPerMb: 6,
  localJsonParseMsPerMb: 0.5,
  localJsonStringifyMsPerMb: 0.7,
  timerOverheadCpuMs: 0.003,
  timerOverheadWallMs: 0.003,
}

/** Made-up samples for every non-input layer: layer i takes (i+1)·k CPU-ms at batch k. */
function fakePoint(g: LayerGraph, memoryMb: number, fraction: number, batch: number): PointResult {
  const layers = g.layers
    .filter((l) => l.className !== 'InputLayer')
    .map((l) => ({index: l.index, cpuMs: [1, 2, 3].map((r) => (l.index + 1) * batch * (0.9 + 0.1 * r)), wallMs: [1, 1, 1]}))
  return {memoryMb, fraction, batch, layers, wholeWallMs: [10, 11, 12], wholeCpuMs: [10, 10, 10], chainWallMs: [9, 9, 9], tensorsBefore: 5, tensorsAfter: 5}
}

function fakeProfile(quotaMethod: 'cgroup-v1' | 'modelled'): Profile {
  const memoryMb = [512, 1769]
  const batchSizes = [1, 2]
  const points =
    quotaMethod === 'modelled'
      ? batchSizes.map((b) => fakePoint(graph, 1769, 1, b))
      : memoryMb.flatMap((m) => batchSizes.map((b) => fakePoint(graph, m, cpuFraction(m), b)))
  return assembleProfile({
    graph,
    source,
    info: {backend: 'wasm', threads: 1, node: process.version, cpu: 'test cpu', pid: 1},
    probe,
    points,
    batchSizes,
    memoryMb,
    quotaMethod,
    cfsPeriodUs: 10_000,
    ampsVersion: '0.0.0-test',
    measuredAt: '2026-01-01T00:00:00.000Z',
    warnings: [],
  })
}

beforeAll(async () => {
  source = join(repoRoot, 'examples', 'tiny-cnn')
  graph = (await loadModel(source)).graph
})

describe('assembling profile.json', () => {
  it('turns samples into timing points: median of CPU ms ÷ f, every layer at every point', () => {
    const p = fakeProfile('cgroup-v1')
    const conv = p.layers.find((l) => l.className === 'Conv2D') as Profile['layers'][number]
    const at = (m: number, b: number) => conv.timing.find((t) => t.memoryMb === m && t.batch === b)
    // samples (i+1)·k·{1.0, 1.1, 1.2}: median (i+1)·k·1.1
    const base = (conv.index + 1) * 1.1
    expect(at(1769, 1)?.medianMs).toBeCloseTo(base, 3)
    expect(at(1769, 2)?.medianMs).toBeCloseTo(2 * base, 3)
    expect(at(512, 1)?.medianMs).toBeCloseTo(base * (1769 / 512), 3)
    expect(at(512, 1)?.modelled).toBe(false)
    for (const l of p.layers) expect(l.timing).toHaveLength(4)
    const input = p.layers.find((l) => l.className === 'InputLayer')
    expect(input?.timing.every((t) => t.medianMs === 0 && t.repeats === 0)).toBe(true)
    expect(p.layers.map((l) => l.index)).toEqual(graph.layers.map((l) => l.index))
    expect(p.cuts).toEqual(graph.cuts)
  })

  it('modelled: one reference measurement scaled by max(1, 1769/m)', () => {
    const p = fakeProfile('modelled')
    for (const l of p.layers) {
      const ref = l.timing.find((t) => t.memoryMb === 1769 && t.batch === 1) as Profile['wholeModel'][number]
      const low = l.timing.find((t) => t.memoryMb === 512 && t.batch === 1) as Profile['wholeModel'][number]
      expect(low.medianMs).toBeCloseTo(ref.medianMs * (1769 / 512), 2)
      expect(low.modelled && ref.modelled).toBe(l.className === 'InputLayer' ? low.modelled : true)
    }
    const whole512 = p.wholeModel.find((t) => t.memoryMb === 512 && t.batch === 1)
    expect(whole512?.medianMs).toBeCloseTo(11 * (1769 / 512), 2)
  })

  it('runtime: marginal RSS per weight MB, fixed first-model RSS, RSS per activation MB', () => {
    const p = fakeProfile('cgroup-v1')
    const weightMb = graph.totals.weightBytes / MB
    expect(p.runtime.baselineRssMb).toBe(100)
    // a second copy added 2 MB
    expect(p.runtime.rssPerWeightMb).toBeCloseTo(2 / weightMb, 2)
    expect(p.runtime.modelFixedRssMb).toBeCloseTo(10 - 2, 3)
    // batch 4 vs 1: 30 MB of RSS for 3 × 5 MB of activations
    expect(p.runtime.rssPerActivationMb).toBeCloseTo(2, 3)
    expect(p.runtime.loadMsPerWeightMb).toBeCloseTo(20 / weightMb, 2)
  })

  it('calibration compares Σ layer medians with the whole model', () => {
    const p = fakeProfile('cgroup-v1')
    const c = p.calibration?.find((x) => x.memoryMb === 1769 && x.batch === 1)
    const sum = p.layers.reduce((s, l) => s + (l.timing.find((t) => t.memoryMb === 1769 && t.batch === 1)?.medianMs ?? 0), 0)
    expect(c?.sumLayersMs).toBeCloseTo(sum, 2)
    expect(c?.wholeModelMs).toBe(11)
    expect(c?.ratio).toBeCloseTo(sum / 11, 2)
    // whole-model CPU time is converted like a layer's: 10 CPU-ms at full speed; ÷ 512/1769 at 512 MB
    expect(c?.wholeModelCpuMs).toBeCloseTo(10, 3)
    const c512 = p.calibration?.find((x) => x.memoryMb === 512 && x.batch === 1)
    expect(c512?.wholeModelCpuMs).toBeCloseTo(10 / cpuFraction(512), 2)
  })

  it('fusedFactor is the median over the points of whole-model CPU ÷ Σ layers', () => {
    const p = fakeProfile('cgroup-v1')
    const ratios = p.calibration!.map((c) => c.wholeModelCpuMs! / c.sumLayersMs).sort((a, b) => a - b)
    // four points: the median is the mean of the middle two
    expect(p.runtime.fusedFactor).toBeCloseTo((ratios[1] + ratios[2]) / 2, 3)
    expect(fusedFactorOf([])).toBeUndefined()
    expect(fusedFactorOf([{memoryMb: 1769, batch: 1, sumLayersMs: 10, wholeModelMs: 99, chainWallMs: 10, ratio: 0.1}])).toBeUndefined()
    expect(fusedFactorOf([{memoryMb: 1769, batch: 1, sumLayersMs: 10, wholeModelMs: 99, chainWallMs: 10, ratio: 0.1, wholeModelCpuMs: 10.5}])).toBeCloseTo(
      1.05,
      12,
    )
  })

  it('records the runtime JSON cost per MB the child measured', () => {
    const p = fakeProfile('cgroup-v1')
    expect(p.runtime.jsonParseMsPerMb).toBe(4)
    expect(p.runtime.jsonStringifyMsPerMb).toBe(6)
    expect(p.runtime.localJsonParseMsPerMb).toBe(0.5)
    expect(p.runtime.localJsonStringifyMsPerMb).toBe(0.7)
  })

  it('the summary lists Σ ms per memory × batch and the cheapest cuts first', () => {
    const p = fakeProfile('cgroup-v1')
    const s = summarizeProfile(p)
    expect(s.totals).toHaveLength(4)
    expect(s.cheapestCuts[0].bytesPerSample).toBe(Math.min(...p.cuts.map((c) => c.bytesPerSample)))
    const text = formatSummary(s)
    expect(text).toContain('512 MB')
    expect(text).toContain(`${p.cuts.length} cut points`)
  })
})

describe('profile.json schema', () => {
  const dir = mkdtempSync(join(tmpdir(), 'amps-profile-schema-'))
  afterAll(() => rmSync(dir, {recursive: true, force: true}))

  it('round-trips through writeProfile/readProfile', () => {
    const p = fakeProfile('cgroup-v1')
    const file = join(dir, 'ok.json')
    writeProfile(file, p)
    expect(readProfile(file)).toEqual(p)
    // atomic write leaves no temporary files behind
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  const broken: [string, (p: any) => void, RegExp][] = [
    ['a missing field', (p) => delete p.runtime.baselineRssMb, /"runtime\.baselineRssMb": missing/],
    ['a wrong type deep inside', (p) => (p.layers[3].timing[1].medianMs = 'fast'), /"layers\[3\]\.timing\[1\]\.medianMs": expected a number ≥ 0, got "fast"/],
    [
      'an unknown quota method',
      (p) => (p.environment.quotaMethod = 'guessed'),
      /"environment\.quotaMethod": expected "cgroup-v1", "cgroup-v2", "modelled", got "guessed"/,
    ],
    ['percentiles out of order', (p) => (p.layers[2].timing[0].p10Ms = 1e6), /"layers\[2\]\.timing\[0\]": expected minMs ≤ p10Ms ≤ medianMs/],
    ['a missing (memory, batch) point', (p) => p.layers[4].timing.pop(), /"layers\[4\]\.timing": no entry for 1769 MB × batch 2/],
    ['a layer count that disagrees', (p) => (p.model.layers = 3), /"model\.layers": says 3/],
    ['a cut naming the wrong layer', (p) => (p.cuts[0].afterLayer = 'nope'), /"cuts\[0\]\.afterLayer": position 0 is/],
  ]
  it.each(broken)('rejects %s, naming the field', (_name, breakIt, message) => {
    const p = JSON.parse(JSON.stringify(fakeProfile('cgroup-v1')))
    breakIt(p)
    const file = join(dir, 'broken.json')
    writeFileSync(file, JSON.stringify(p))
    let error: unknown
    try {
      readProfile(file)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('PROFILE_INVALID')
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).toContain(file)
  })

  it('rejects another version with a clear message', () => {
    const p = JSON.parse(JSON.stringify(fakeProfile('cgroup-v1')))
    p.version = 2
    expect(() => validateProfile(p, 'p.json')).toThrow(/p\.json is profile\.json version 2; this amps reads version 1/)
  })

  it('rejects text that is not JSON, and a missing file', () => {
    const file = join(dir, 'text.json')
    writeFileSync(file, 'layers: 3')
    expect(() => readProfile(file)).toThrow(/is not valid JSON/)
    try {
      readProfile(join(dir, 'absent.json'))
    } catch (e) {
      expect((e as AmpsUserError).ampsCode).toBe('FILE_NOT_FOUND')
    }
  })

  it('writeProfile refuses an invalid profile and leaves no file', () => {
    const p = JSON.parse(JSON.stringify(fakeProfile('cgroup-v1')))
    p.batchSizes = []
    const file = join(dir, 'never.json')
    expect(() => writeProfile(file, p)).toThrow(/"batchSizes": expected at least one entry/)
    expect(readdirSync(dir)).not.toContain('never.json')
    expect(readFileSync(join(dir, 'ok.json'), 'utf8').length).toBeGreaterThan(0)
  })
})
