/**
 * Synthetic plan + profile for simulator tests: a 4-layer chain (an InputLayer and three timed
 * layers) measured at two memory settings and four batch sizes, split into two stages.
 */
import type {CutPoint} from '../../src/model/types.js'
import type {Plan} from '../../src/plan/types.js'
import type {LayerProfile, Profile, TimingPoint} from '../../src/profile/types.js'

/** layer time (ms) at full CPU: fixed + perSample × batch; spread ±`spread` fraction around it */
export function point(memoryMb: number, batch: number, fixedMs: number, perSampleMs: number, spread = 0.2): TimingPoint {
  const median = (fixedMs + perSampleMs * batch) * Math.max(1, 1769 / memoryMb)
  return {
    memoryMb,
    batch,
    medianMs: median,
    p10Ms: median * (1 - spread / 2),
    p90Ms: median * (1 + spread),
    minMs: median * (1 - spread),
    maxMs: median * (1 + 3 * spread),
    repeats: 20,
    modelled: false,
  }
}

function layer(index: number, name: string, className: string, fixedMs: number, perSampleMs: number, spread: number): LayerProfile {
  const timing: TimingPoint[] = []
  // (an InputLayer is given 0 ms everywhere)
  for (const m of [1024, 1769]) for (const b of [1, 2, 4, 8]) timing.push(point(m, b, fixedMs, perSampleMs, spread))
  return {
    index,
    name,
    className,
    inbound: index === 0 ? [] : [`l${index - 1}`],
    params: 1000,
    weightBytes: 4000,
    outputShape: [null, 100],
    outputBytes: 400,
    macs: 1000,
    macsEstimated: false,
    timing,
  }
}

/** the cut after layer position `after`, carrying that layer's output of `bytesPerSample` */
export function cut(after: number, bytesPerSample: number): CutPoint {
  return {
    after,
    afterLayer: `l${after}`,
    tensors: [{id: `l${after}`, shape: [null, bytesPerSample / 4], dtype: 'float32', bytesPerSample}],
    bytesPerSample,
  }
}

export function syntheticProfile(options: {spread?: number} = {}): Profile {
  const spread = options.spread ?? 0.2
  return {
    version: 1,
    model: {
      name: 'synthetic',
      sha256: 'abc123',
      format: 'tfjs-layers',
      source: '/tmp/synthetic',
      layers: 4,
      params: 3000,
      weightBytes: 12000,
      storedWeightBytes: 12000,
      macs: 3000,
    },
    inputs: [{id: 'l0', shape: [null, 100], dtype: 'float32', bytesPerSample: 400}],
    outputs: [{id: 'l3', shape: [null, 100], dtype: 'float32', bytesPerSample: 400}],
    environment: {backend: 'cpu', threads: 1, node: 'v20', cpu: 'test', quotaMethod: 'modelled', measuredAt: '2026-11-23T00:00:00Z', ampsVersion: '0.1.0'},
    batchSizes: [1, 2, 4, 8],
    memoryMb: [1024, 1769],
    layers: [
      layer(0, 'l0', 'InputLayer', 0, 0, spread),
      layer(1, 'l1', 'Dense', 4, 2, spread),
      layer(2, 'l2', 'Dense', 6, 3, spread),
      layer(3, 'l3', 'Dense', 2, 1, spread),
    ],
    cuts: [0, 1, 2].map((after) => cut(after, 400)),
    wholeModel: [],
    runtime: {
      baselineRssMb: 80,
      rssPerWeightMb: 1.2,
      rssPerActivationMb: 1.5,
      runtimeInitMs: 300,
      loadMsPerWeightMb: 10,
      invokeOverheadMs: 1,
      codecMsPerMb: 2,
    },
    warnings: [],
  }
}

/** A two-stage plan over syntheticProfile(): stage-1 = l0..l1 at 1024 MB, stage-2 = l2..l3 at 1769 MB. */
export function syntheticPlan(options: {batch?: number; timeoutMs?: number; rate?: number; handoff?: 'inline' | 's3'} = {}): Plan {
  const B = options.batch ?? 4
  const stage = (index: number, first: number, last: number, memoryMb: number, predictedMs: number, handoff: 'inline' | 's3') => ({
    index,
    name: `stage-${index + 1}`,
    layers: {first: `l${first}`, last: `l${last}`, firstIndex: first, lastIndex: last, count: last - first + 1},
    memoryMb,
    arch: 'arm64' as const,
    packageBytes: 2 * 1048576,
    weightsBytes: 4000 * (last - first + 1),
    predictedMs,
    inputBytes: 400 * B,
    outputBytes: 400 * B,
    inputTensors: [`l${first - 1}`],
    outputTensors: [`l${last}`],
    handoff,
  })
  return {
    version: 1,
    model: {name: 'synthetic', sha256: 'abc123', source: '/tmp/synthetic'},
    inputs: {sloMs: 200, percentile: 0.99, ratePerSecond: options.rate ?? 20, arch: 'arm64', region: 'us-east-1', priceTableVersion: 'test', maxBatch: 8},
    batch: {size: B, timeoutMs: options.timeoutMs ?? 50},
    stages: [stage(0, 0, 1, 1024, 20, options.handoff ?? 'inline'), stage(1, 2, 3, 1769, 20, 'inline')],
    predicted: {latencyMs: 120, serviceMs: 60, meanBatchSize: 2, costPerMillionUsd: 0.5, monthlyCostUsd: 10, coldStartMs: 600, coldStartProbability: 0.001},
    solver: {method: 'fast', optimal: true, solveMs: 1},
    baselines: [],
    createdAt: '2026-11-23T00:00:00Z',
  }
}
