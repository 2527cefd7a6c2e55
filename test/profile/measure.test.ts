/**
 * The measuring child on real models: small generated ones (branches, two inputs and outputs, a
 * nested sub-model) and nsfwjs's MobileNetV2 at batch 1 with --quick. No timing goals: every layer
 * is measured, numbers are positive and consistent, tensors do not leak, no quota group is left.
 */
import {existsSync, mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {writeGenerated} from '../../examples/models.js'
import {openCpuQuota, profileModel, validateProfile, type Profile} from '../../src/profile/index.js'
import {nsfwjsModelDir} from '../helpers/nsfwjs.js'

const quotas = openCpuQuota(`${process.pid}`)
const cgroupDir = quotas.ok ? quotas.quota.parentDir : undefined
if (quotas.ok) quotas.quota.release()

function leftoverGroups(): string[] {
  if (!cgroupDir) return []
  return readdirSync(cgroupDir).filter((e) => e.startsWith(`amps-${process.pid}-`))
}

function checkMeasured(p: Profile): void {
  validateProfile(p, 'in-memory profile')
  expect(p.environment.backend).toMatch(/^(wasm|tensorflow|cpu)$/)
  expect(p.environment.node).toBe(process.version)
  expect(p.warnings.filter((w) => /leaked/.test(w))).toEqual([])
  for (const l of p.layers) {
    expect(l.timing).toHaveLength(p.memoryMb.length * p.batchSizes.length)
    if (l.className === 'InputLayer') continue
    for (const t of l.timing) {
      expect(t.repeats).toBeGreaterThanOrEqual(2)
      expect(t.minMs).toBeLessThanOrEqual(t.medianMs)
      expect(t.medianMs).toBeLessThanOrEqual(t.maxMs)
    }
  }
  // layers that do real arithmetic take measurable time
  const convs = p.layers.filter((l) => /Conv2D|Dense/.test(l.className) && l.macs > 10_000)
  for (const l of convs) expect(l.timing.every((t) => t.medianMs > 0)).toBe(true)
  for (const w of p.wholeModel) expect(w.medianMs).toBeGreaterThan(0)
  for (const c of p.calibration ?? []) {
    expect(c.sumLayersMs).toBeGreaterThan(0)
    expect(c.chainWallMs).toBeGreaterThan(0)
    expect(c.wholeModelCpuMs).toBeGreaterThan(0)
  }
  // the fused factor is the median of the CPU-time ratios it summarises
  const ratios = (p.calibration ?? []).map((c) => c.wholeModelCpuMs! / c.sumLayersMs).sort((a, b) => a - b)
  expect(p.runtime.fusedFactor).toBeGreaterThanOrEqual(ratios[0] - 1e-3)
  expect(p.runtime.fusedFactor).toBeLessThanOrEqual(ratios[ratios.length - 1] + 1e-3)
  const r = p.runtime
  expect(r.baselineRssMb).toBeGreaterThan(20)
  expect(r.runtimeInitMs).toBeGreaterThan(0)
  expect(r.codecMsPerMb).toBeGreaterThan(0)
  // parsing/stringifying base64 JSON takes real CPU time (the slope between 0.25 and 4 MB)
  expect(r.jsonParseMsPerMb).toBeGreaterThan(0)
  expect(r.jsonStringifyMsPerMb).toBeGreaterThan(0)
  // the local runner splices the base64 around the JSON instead of serialising it: several times less
  expect(r.localJsonParseMsPerMb).toBeLessThan(r.jsonParseMsPerMb!)
  expect(r.localJsonStringifyMsPerMb).toBeLessThan(r.jsonStringifyMsPerMb!)
  expect(r.invokeOverheadMs).toBeGreaterThan(0)
  expect(r.peakActivationBytesPerSample).toBeGreaterThan(0)
  expect(leftoverGroups()).toEqual([])
}

const dir = mkdtempSync(join(tmpdir(), 'amps-profile-measure-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))
let tinyCnn: string
let twoHeads: string
let nested: string

beforeAll(async () => {
  tinyCnn = await writeGenerated('tinyCnn', join(dir, 'tiny-cnn'))
  twoHeads = await writeGenerated('twoHeads', join(dir, 'two-heads'), {quantize: 'uint8'})
  nested = await writeGenerated('nestedModel', join(dir, 'nested'))
})

describe('measuring child', () => {
  it('measures every layer of a small CNN at two batch sizes; time grows with the batch', async () => {
    const phases = new Set<string>()
    const p = await profileModel(tinyCnn, {
      batchSizes: [1, 8],
      memoryMb: [1769],
      quick: true,
      cache: false,
      onProgress: (e) => phases.add(e.phase),
    })
    checkMeasured(p)
    expect([...phases]).toEqual(expect.arrayContaining(['load', 'loaded', 'start', 'ready', 'warmup', 'layers', 'whole', 'point-done']))
    expect(p.batchSizes).toEqual([1, 8])
    // 8 samples of the heaviest conv take longer than 1 (by CPU time, so a busy machine does not flip it)
    const heaviest = [...p.layers].sort((a, b) => b.macs - a.macs)[0]
    const t1 = heaviest.timing.find((t) => t.batch === 1)?.medianMs ?? NaN
    const t8 = heaviest.timing.find((t) => t.batch === 8)?.medianMs ?? NaN
    expect(t8).toBeGreaterThan(t1)
  })

  it('handles two inputs, two outputs, quantized weights and a nested sub-model', async () => {
    const n = await profileModel(nested, {batchSizes: [2], memoryMb: [1769], quick: true, cache: false})
    checkMeasured(n)
    const p = await profileModel(twoHeads, {batchSizes: [2], memoryMb: [1769], quick: true, cache: false})
    checkMeasured(p)
    expect(p.inputs.map((t) => t.id)).toEqual(['img', 'meta'])
    expect(p.outputs).toHaveLength(2)
    // stored uint8, measured and reported as float32 run-time bytes
    expect(p.model.storedWeightBytes).toBeLessThan(p.model.weightBytes)
  })

  it('MobileNetV2 (nsfwjs) at batch 1 with --quick', async () => {
    const path = nsfwjsModelDir('mobilenet_v2')
    const p = await profileModel(path, {batchSizes: [1], quick: true, cache: false})
    checkMeasured(p)
    expect(p.model.layers).toBe(p.layers.length)
    expect(p.memoryMb).toEqual([512, 1769])
    expect(p.environment.quotaMethod).toBe(quotas.ok ? quotas.quota.method : 'modelled')
    // the same CPU work at a third of a core: Σ layers scale by 1769/512 (exactly so in the
    // single-threaded CPU accounting, approximately for the median of each layer)
    const sum = (m: number) => p.layers.reduce((s, l) => s + (l.timing.find((t) => t.memoryMb === m)?.medianMs ?? 0), 0)
    const ratio = sum(512) / sum(1769)
    expect(ratio).toBeGreaterThan(2)
    expect(ratio).toBeLessThan(6)
    // weights: tens of MB of float32 do grow RSS
    expect(p.runtime.rssPerWeightMb).toBeGreaterThan(0)
    expect(existsSync(p.model.source)).toBe(true)
  })
})
