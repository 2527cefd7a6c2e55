import {describe, expect, it} from 'vitest'

import {CompiledCosts} from '../../src/cost/curve.js'
import {CostModel, billedMs, computeLiveBytes, cpuSlowdown, lambdaCostUsd, layerMsAt, layerTiming} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import type {Profile, TimingPoint} from '../../src/profile/types.js'
import {seededRandom, syntheticProfile} from '../helpers/synthetic.js'

const prices = DEFAULT_PRICE_TABLE

function point(memoryMb: number, batch: number, medianMs: number): TimingPoint {
  return {memoryMb, batch, medianMs, p10Ms: medianMs, p90Ms: medianMs, minMs: medianMs, maxMs: medianMs, repeats: 3, modelled: false}
}

describe('billing', () => {
  it('1M requests × 100 ms × 1,024 MB on x86_64 = $1.666670 duration + $0.20 requests', () => {
    const c = lambdaCostUsd({memoryMb: 1024, durationMs: 100, invocations: 1e6, arch: 'x86_64', prices})
    expect(c.gbSeconds).toBe(100_000)
    expect(c.durationUsd).toBeCloseTo(1.66667, 10)
    expect(c.requestUsd).toBeCloseTo(0.2, 12)
    expect(c.totalUsd).toBeCloseTo(1.86667, 10)
  })

  it('the same on arm64 is $1.33334', () => {
    expect(lambdaCostUsd({memoryMb: 1024, durationMs: 100, invocations: 1e6, arch: 'arm64', prices}).durationUsd).toBeCloseTo(1.33334, 10)
  })

  it('rounds each invocation up to the next ms: 100.2 ms bills 101 ms', () => {
    const c = lambdaCostUsd({memoryMb: 1024, durationMs: 100.2, invocations: 1e6, arch: 'x86_64', prices})
    expect(c.billedMs).toBe(101)
    expect(c.durationUsd).toBeCloseTo(101_000 * 0.0000166667, 9)
  })

  it('bills at least 1 ms and ignores float dust above a whole ms', () => {
    expect(billedMs(0.3)).toBe(1)
    expect(billedMs(12.000000000001)).toBe(12)
    expect(billedMs(12.01)).toBe(13)
  })

  it('walks the monthly tiers when asked', () => {
    // 6 B GB-s at the first price + 1 B at the second: 1e9 × 1024 ms × 1,024 MB … built from invocations
    const c = lambdaCostUsd({memoryMb: 1024, durationMs: 1000, invocations: 7e9, arch: 'x86_64', prices, tiered: true})
    expect(c.gbSeconds).toBe(7e9)
    expect(c.durationUsd).toBeCloseTo(6e9 * 0.0000166667 + 1e9 * 0.000015, 2)
  })
})

describe('layer time at (memory, batch)', () => {
  const t = layerTiming([point(512, 1, 40), point(1024, 1, 20), point(512, 4, 100), point(1024, 4, 50)])
  const env = {fullVcpuMb: 1769, threads: 1, timeFactor: 1}

  it('returns measured points', () => {
    expect(layerMsAt(t, 512, 1, env)).toBeCloseTo(40, 12)
    expect(layerMsAt(t, 1024, 4, env)).toBeCloseTo(50, 12)
  })

  it('interpolates linearly in 1/m between measured memories (exact for time ∝ 1/CPU share)', () => {
    // 40 ms at 512 MB and 20 at 1024 is 20480/m: 26.667 ms at 768 MB
    expect(layerMsAt(t, 768, 1, env)).toBeCloseTo(20480 / 768, 9)
  })

  it('extrapolates below the measured range with ms(1769)·max(1, 1769/m)', () => {
    expect(layerMsAt(t, 256, 1, env)).toBeCloseTo(80, 9)
    expect(layerMsAt(t, 128, 1, env)).toBeCloseTo(160, 9)
  })

  it('stops getting faster at one vCPU for a single-threaded backend', () => {
    expect(layerMsAt(t, 1769, 1, env)).toBeCloseTo((20 * 1024) / 1769, 9)
    expect(layerMsAt(t, 3008, 1, env)).toBeCloseTo((20 * 1024) / 1769, 9)
  })

  it('keeps scaling up to the thread count for a multi-threaded backend', () => {
    const env2 = {...env, threads: 2}
    expect(cpuSlowdown(3538, env2)).toBeCloseTo(0.5, 12)
    expect(layerMsAt(t, 3538, 1, env2)).toBeCloseTo((20 * 0.5) / (1769 / 1024), 9)
    expect(layerMsAt(t, 10240, 1, env2)).toBeCloseTo(layerMsAt(t, 3538, 1, env2), 9)
  })

  it('interpolates between batch sizes and extrapolates beyond, never below proportional', () => {
    expect(layerMsAt(t, 512, 2, env)).toBeCloseTo(60, 9)
    // slope 20 ms/sample would give 180 at 8; proportional to the batch-4 point gives 200
    expect(layerMsAt(t, 512, 8, env)).toBeCloseTo(200, 9)
  })

  it('treats noise that makes more memory slower, or more samples faster, as noise', () => {
    const noisy = layerTiming([point(512, 1, 40), point(1024, 1, 45), point(512, 2, 35)])
    expect(layerMsAt(noisy, 1024, 1, env)).toBeCloseTo(40, 9)
    expect(layerMsAt(noisy, 512, 2, env)).toBeCloseTo(40, 9)
  })

  it('applies the architecture time factor', () => {
    expect(layerMsAt(t, 512, 1, {...env, timeFactor: 1.25})).toBeCloseTo(50, 9)
  })
})

/** A hand-made 3-layer DAG: input → dense → add(input, dense). */
function tinyProfile(): Profile {
  const p = syntheticProfile({layers: 3, seed: 1, memoryMb: [1769], batchSizes: [1]})
  p.layers[0].outputBytes = 100 * 1048576
  p.layers[1].outputBytes = 200 * 1048576
  p.layers[2].outputBytes = 50 * 1048576
  p.layers[2].inbound = ['input_1', 'layer_1']
  p.layers[0].weightBytes = 0
  p.layers[1].weightBytes = 10 * 1048576
  p.layers[2].weightBytes = 0
  p.runtime = {...p.runtime, baselineRssMb: 100, rssPerWeightMb: 1.5, rssPerActivationMb: 2, modelFixedRssMb: 7}
  p.cuts = [
    {
      after: 0,
      afterLayer: 'input_1',
      tensors: [{id: 'input_1', shape: [null, 1], dtype: 'float32', bytesPerSample: 100 * 1048576}],
      bytesPerSample: 100 * 1048576,
    },
    {
      after: 1,
      afterLayer: 'layer_1',
      tensors: [
        {id: 'input_1', shape: [null, 1], dtype: 'float32', bytesPerSample: 100 * 1048576},
        {id: 'layer_1', shape: [null, 1], dtype: 'float32', bytesPerSample: 200 * 1048576},
      ],
      bytesPerSample: 300 * 1048576,
    },
  ]
  p.inputs = [{id: 'input_1', shape: [null, 1], dtype: 'float32', bytesPerSample: 100 * 1048576}]
  p.outputs = [{id: 'layer_2', shape: [null, 1], dtype: 'float32', bytesPerSample: 50 * 1048576}]
  return p
}

describe('memory, package and hand-off feasibility', () => {
  it('keeps every tensor alive until its last use (skip connections included)', () => {
    const live = computeLiveBytes(tinyProfile())
    const MB = 1048576
    expect([...live].map((b) => b / MB)).toEqual([100, 300, 350])
  })

  it('needs baseline + fixed model RSS + weights·factor + peak activations·batch·factor', () => {
    const m = new CostModel(tinyProfile(), {arch: 'x86_64', prices})
    // 100 + 7 + 10·1.5 + 350·2·k
    expect(m.requiredMemoryMb({first: 0, last: 2}, 1)).toBeCloseTo(100 + 7 + 15 + 700, 9)
    expect(m.requiredMemoryMb({first: 0, last: 2}, 3)).toBeCloseTo(100 + 7 + 15 + 2100, 9)
    expect(m.requiredMemoryMb({first: 2, last: 2}, 1)).toBeCloseTo(100 + 7 + 0 + 700, 9)
    expect(m.minimumMemoryMb({first: 0, last: 2}, 1)).toBe(822)
    expect(m.minimumMemoryMb({first: 0, last: 2}, 15)).toBeNull()
  })

  it('counts runtime + weights against the 250 MB unzipped package limit', () => {
    const p = tinyProfile()
    const m = new CostModel(p, {arch: 'x86_64', prices})
    expect(m.packageBytes({first: 0, last: 2})).toBe(prices.packaging.runtimeBytes.value + 10 * 1048576)
    expect(m.packageFits({first: 0, last: 2})).toBe(true)
    p.layers[1].weightBytes = 249 * 1048576 // + the runtime: over 250 MiB
    expect(new CostModel(p, {arch: 'x86_64', prices}).packageFits({first: 0, last: 2})).toBe(false)
  })

  it("counts an arm64 stage's own runtime bytes when the table has them (a native library per architecture)", () => {
    const MB = 1048576
    const ort = {
      ...prices,
      packaging: {
        ...prices.packaging,
        runtimeBytes: {...prices.packaging.runtimeBytes, value: 47 * MB},
        runtimeBytesArm64: {...prices.packaging.runtimeBytes, value: 26 * MB},
      },
    }
    const whole = {first: 0, last: 2}
    expect(new CostModel(tinyProfile(), {arch: 'x86_64', prices: ort}).packageBytes(whole)).toBe(47 * MB + 10 * MB)
    expect(new CostModel(tinyProfile(), {arch: 'arm64', prices: ort}).packageBytes(whole)).toBe(26 * MB + 10 * MB)
    // without the arm64 figure (wasm: one runtime for both) both architectures count runtimeBytes
    expect(new CostModel(tinyProfile(), {arch: 'arm64', prices}).packageBytes(whole)).toBe(prices.packaging.runtimeBytes.value + 10 * MB)
    // a one-layer stage of 210 MB weights: in the package on arm64 (26 + 210 < 250 MiB; 47 + 210 is not), from S3 on x86_64
    const big = tinyProfile()
    big.layers[1].weightBytes = 210 * MB
    big.model.weightBytes = big.model.storedWeightBytes = 210 * MB
    expect(new CostModel(big, {arch: 'arm64', prices: ort}).weightsFromS3({first: 1, last: 1})).toBe(false)
    expect(new CostModel(big, {arch: 'x86_64', prices: ort}).weightsFromS3({first: 1, last: 1})).toBe(true)
  })

  it('counts weights at their stored size: uint8-quantized weights ship at a quarter of float32', () => {
    const p = tinyProfile()
    p.model.weightBytes = 40 * 1048576
    p.model.storedWeightBytes = 10 * 1048576
    const m = new CostModel(p, {arch: 'x86_64', prices})
    const float32 = m.weightsBytes({first: 0, last: 2})
    expect(m.packageBytes({first: 0, last: 2})).toBe(prices.packaging.runtimeBytes.value + Math.ceil(float32 / 4))
  })

  it('hands off through S3 when the base64 payload would exceed 6 MB', () => {
    const p = tinyProfile()
    p.cuts[0].bytesPerSample = 4_000_000
    const m = new CostModel(p, {arch: 'x86_64', prices})
    expect(m.viaS3(0, 1)).toBe(false)
    expect(m.viaS3(0, 2)).toBe(true)
  })

  it('adds S3 put+get time and request fees on an S3 hand-off', () => {
    const p = tinyProfile()
    const m = new CostModel(p, {arch: 'x86_64', prices})
    const r = {first: 1, last: 1}
    // input boundary 0 (100 MB) and output boundary 1 (300 MB) both go through S3
    const lat = prices.latency
    const expected = lat.s3GetMs.value + (100 / lat.s3MbPerS.value) * 1000 + lat.s3PutMs.value + (300 / lat.s3MbPerS.value) * 1000
    const base = m.computeMs(r, 1769, 1) + m.codecMs(r, 1769, 1) + p.runtime.invokeOverheadMs
    expect(m.handlerMs(r, 1769, 1) - base).toBeCloseTo(expected, 6)
    expect(m.s3RequestUsd(r, 1)).toBeCloseTo((0.005 + 0.0004) / 1000, 15)
  })

  it('prices a cold start: INIT billed, scaled by CPU share, plus the platform part in latency', () => {
    const p = tinyProfile()
    p.runtime = {...p.runtime, runtimeInitMs: 200, loadMsPerWeightMb: 5}
    const m = new CostModel(p, {arch: 'x86_64', prices})
    const cs = m.coldStart({first: 0, last: 2}, 884.5)
    expect(cs.initMs).toBeCloseTo((200 + 5 * 10) * 2, 9)
    const pkgMb = m.packageBytes({first: 0, last: 2}) / 1048576
    expect(cs.latencyMs).toBeCloseTo(cs.initMs + 240 + 46 * pkgMb, 6)
  })

  it('starts an ONNX stage from what the profile measured on onnx, not from the per-package-MB fit', () => {
    const p = tinyProfile()
    p.environment = {...p.environment, backend: 'onnx'}
    p.runtime = {...p.runtime, runtimeInitMs: 60, loadMsPerWeightMb: 4, coldFirstPredictMs: 30}
    // a 47 MB ORT stage package: the wasm fit would add 46 ms × 57 MB ≈ 2.6 s
    const ort = {...prices, packaging: {...prices.packaging, runtimeBytes: {...prices.packaging.runtimeBytes, value: 47 * 1048576}}}
    const m = new CostModel(p, {arch: 'x86_64', prices: ort})
    const whole = {first: 0, last: 2}
    // at 1769 MB (one vCPU): INIT = 60 + 4 ms/MB × 10 MB = 100 ms; first predict 30 ms (the whole model)
    const cs = m.coldStart(whole, 1769)
    expect(cs.initMs).toBeCloseTo(100, 9)
    expect(cs.firstPredictMs).toBeCloseTo(30, 9)
    expect(cs.latencyMs).toBeCloseTo(240 + 100 + 30, 9)
    // at 884.5 MB (half a vCPU) INIT and the first predict take twice as long; the sandbox does not
    expect(m.coldStart(whole, 884.5).latencyMs).toBeCloseTo(240 + 200 + 60, 9)
    // the same profile measured on wasm keeps the fit: + 46 ms per package MB (47 + 10)
    p.environment = {...p.environment, backend: 'wasm'}
    expect(new CostModel(p, {arch: 'x86_64', prices: ort}).coldStart(whole, 1769).latencyMs).toBeCloseTo(240 + 100 + 30 + 46 * 57, 6)
  })
})

describe("fused predict and the runtime's JSON around the handler", () => {
  /** tinyProfile with hand-offs small enough to go inline: 1 MB in, 2 MB cut, 0.5 MB out */
  function inlineProfile(): Profile {
    const p = tinyProfile()
    const MB = 1048576
    p.inputs[0].bytesPerSample = 1 * MB
    p.cuts[0].bytesPerSample = 1 * MB
    p.cuts[1].bytesPerSample = 2 * MB
    p.outputs[0].bytesPerSample = 0.5 * MB
    p.runtime = {...p.runtime, codecMsPerMb: 10}
    return p
  }

  it("multiplies every layer's time by the profile's fusedFactor, and nothing else", () => {
    const p = inlineProfile()
    const plain = new CostModel(p, {arch: 'x86_64', prices})
    const fused = new CostModel({...p, runtime: {...p.runtime, fusedFactor: 1.08}}, {arch: 'x86_64', prices})
    const r = {first: 0, last: 2}
    for (const [m, k] of [
      [512, 1],
      [1769, 1],
      [3008, 2],
    ]) {
      expect(fused.computeMs(r, m, k)).toBeCloseTo(plain.computeMs(r, m, k) * 1.08, 9)
      expect(fused.codecMs(r, m, k)).toBeCloseTo(plain.codecMs(r, m, k), 12)
      expect(fused.handlerMs(r, m, k) - plain.handlerMs(r, m, k)).toBeCloseTo(plain.computeMs(r, m, k) * 0.08, 9)
    }
    expect(plain.fusedFactor).toBe(1)
  })

  it('adds JSON.parse of the input and JSON.stringify of the output, slowed below one vCPU like the codec', () => {
    const p = inlineProfile()
    const plain = new CostModel(p, {arch: 'x86_64', prices})
    const json = new CostModel({...p, runtime: {...p.runtime, jsonParseMsPerMb: 3, jsonStringifyMsPerMb: 5}}, {arch: 'x86_64', prices})
    // stage [1..1]: input = cut after 0 (1 MB), output = cut after 1 (2 MB); batch 2 at 884.5 MB (half a vCPU)
    const r = {first: 1, last: 1}
    const extra = (1 * 3 + 2 * 5) * 2 * 2
    expect(json.codecMs(r, 884.5, 2) - plain.codecMs(r, 884.5, 2)).toBeCloseTo(extra, 9)
    expect(json.handlerMs(r, 884.5, 2) - plain.handlerMs(r, 884.5, 2)).toBeCloseTo(extra, 9)
    // at or above one vCPU there is no slowdown
    expect(json.codecMs(r, 3008, 1) - plain.codecMs(r, 3008, 1)).toBeCloseTo(1 * 3 + 2 * 5, 9)
  })

  it("uses the local runner's spliced JSON figures with runtime 'local', Lambda's when the profile has none", () => {
    const p = inlineProfile()
    const runtime = {...p.runtime, jsonParseMsPerMb: 3, jsonStringifyMsPerMb: 5}
    const plain = new CostModel(p, {arch: 'x86_64', prices})
    const r = {first: 1, last: 1}
    const lambda = new CostModel({...p, runtime: {...runtime, localJsonParseMsPerMb: 0.5, localJsonStringifyMsPerMb: 1}}, {arch: 'x86_64', prices})
    const local = new CostModel(
      {...p, runtime: {...runtime, localJsonParseMsPerMb: 0.5, localJsonStringifyMsPerMb: 1}},
      {arch: 'x86_64', prices, runtime: 'local'},
    )
    const older = new CostModel({...p, runtime}, {arch: 'x86_64', prices, runtime: 'local'})
    // input 1 MB, output 2 MB per sample, batch 1 at one vCPU
    expect(lambda.codecMs(r, 1769, 1) - plain.codecMs(r, 1769, 1)).toBeCloseTo(1 * 3 + 2 * 5, 9)
    expect(local.codecMs(r, 1769, 1) - plain.codecMs(r, 1769, 1)).toBeCloseTo(1 * 0.5 + 2 * 1, 9)
    expect(older.codecMs(r, 1769, 1)).toBeCloseTo(lambda.codecMs(r, 1769, 1), 9)
  })

  it('charges no JSON for a hand-off that goes through S3 (the event carries only its key)', () => {
    const p = tinyProfile() // 100 MB and 300 MB boundaries: both through S3
    const plain = new CostModel(p, {arch: 'x86_64', prices})
    const json = new CostModel({...p, runtime: {...p.runtime, jsonParseMsPerMb: 3, jsonStringifyMsPerMb: 5}}, {arch: 'x86_64', prices})
    const r = {first: 1, last: 1}
    expect(json.viaS3(0, 1) && json.viaS3(1, 1)).toBe(true)
    expect(json.handlerMs(r, 1769, 1)).toBeCloseTo(plain.handlerMs(r, 1769, 1), 9)
  })

  it.each([21, 22, 23, 24])('keeps the compiled curves equal to the model with both corrections (seed %i)', (seed) => {
    const rnd = seededRandom(seed)
    const p = syntheticProfile({layers: 12, seed, topology: seed % 2 ? 'dag' : 'chain'})
    p.runtime = {...p.runtime, fusedFactor: 1 + rnd() * 0.2, jsonParseMsPerMb: 2 + rnd() * 10, jsonStringifyMsPerMb: 2 + rnd() * 10}
    const model = new CostModel(p, {arch: 'arm64', prices})
    expectCurvesMatchModel(model, new CompiledCosts(model, 3, {ks: [1, 2, 3], pi: [0.2, 0.3, 0.5]}), rnd)
  })
})

/**
 * 40 random stages at random memories: the compiled curves' handler time per batch size, expected
 * cost and fastest latency equal the layer-by-layer model's.
 */
function expectCurvesMatchModel(model: CostModel, c: CompiledCosts, rnd: () => number): void {
  for (let x = 0; x < 40; x++) {
    const i = Math.floor(rnd() * (c.nodes.length - 1))
    const j = i + 1 + Math.floor(rnd() * (c.nodes.length - 1 - i))
    const e = c.edge(i, j)
    if (!e) continue
    const m = 128 + Math.floor(rnd() * 10112)
    c.ks.forEach((k, ki) => {
      const want = model.handlerMs(c.range(i, j), m, k, c.B)
      expect(Math.abs(e.T(ki, m) - want) / want).toBeLessThan(1e-9)
    })
    const cost = model.expectedCostUsd(c.range(i, j), m, {ks: c.ks, pi: c.pi}, c.B)
    expect(Math.abs(e.cost(m) - cost) / cost).toBeLessThan(1e-9)
    expect(e.minLatency()).toBeCloseTo(model.evaluate(c.range(i, j), c.gridMax, c.B).latencyMs, 9)
  }
}

describe('compiled stage curves', () => {
  it.each([1, 2, 3, 4, 5])('agree with the layer-by-layer model (seed %i)', (seed) => {
    const rnd = seededRandom(seed)
    const p = syntheticProfile({layers: 10, seed, topology: seed % 2 ? 'dag' : 'chain', threads: seed === 3 ? 2 : 1})
    const model = new CostModel(p, {arch: 'x86_64', prices})
    expectCurvesMatchModel(model, new CompiledCosts(model, 4, {ks: [1, 2, 3, 4], pi: [0.1, 0.2, 0.3, 0.4]}), rnd)
  })

  it.each([11, 12, 13, 14, 15, 16])('find the cheapest memory meeting a latency exactly, as a scan of every MB would (seed %i)', (seed) => {
    const rnd = seededRandom(seed)
    const p = syntheticProfile({layers: 6, seed, meanLayerMs: 5 + 20 * rnd()})
    const model = new CostModel(p, {arch: seed % 2 ? 'arm64' : 'x86_64', prices, memoryMaxMb: 4000})
    const c = new CompiledCosts(model, 3, {ks: [1, 2, 3], pi: [0.5, 0.3, 0.2]})
    const N = c.nodes.length - 1
    const e = c.edge(0, N)!
    const fast = e.minLatency()
    const slow = e.latency(e.mLo!)
    for (const f of [0, 0.1, 0.37, 0.8, 1]) {
      const cap = fast + f * (slow - fast)
      const got = e.cheapestMemoryForBudget(cap)
      let best: {m: number; cost: number} | null = null
      for (let m = e.mLo!; m <= 4000; m++) {
        if (e.latency(m) > cap) continue
        const cost = model.expectedCostUsd(c.range(0, N), m, {ks: c.ks, pi: c.pi}, 3)
        if (!best || cost < best.cost) best = {m, cost}
      }
      expect(got).not.toBeNull()
      expect(got!.costUsd).toBeCloseTo(best!.cost, 15)
      expect(got!.latencyMs).toBeLessThanOrEqual(cap)
    }
    expect(e.cheapestMemoryForBudget(fast - 1)).toBeNull()
  })
})
