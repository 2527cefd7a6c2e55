/** BENCHMARKS.md's backend section, rendered from bench-results/backend.json (see backend.ts). */
import type {BackendData} from './backend.js'

export function renderBackendSection(data: BackendData | undefined, table: (h: string[], rows: string[][]) => string): string {
  if (!data) return '## Backends: ONNX Runtime vs TensorFlow.js wasm\n\nSection not run (`npm run bench -- --only backend`).'
  const keys = data.memories.flatMap((m) => data.batches.map((b) => `${m}x${b}`))
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
  return [
    '## Backends: ONNX Runtime vs TensorFlow.js wasm',
    table(
      ['model', 'backend', ...keys.map((k) => `${k.replace('x', ' MB × b')} ms`)],
      data.rows.map((r) => [r.model, r.backend, ...keys.map((k) => (r.wholeMs[k] === undefined ? '–' : String(r.wholeMs[k])))]),
    ),
    ...predictedTable(data, table),
    table(
      [
        'model',
        'backend',
        'cold start ms',
        'runtime unzipped',
        'runtime zipped',
        `SLO (p99, ${data.rate}/s)`,
        '$/1M',
        'stages',
        'floor $/1M',
        'cost ÷ floor',
        'smallest feasible p99 SLO',
        '$/1M there',
      ],
      data.rows.map((r) => [
        r.model,
        r.backend,
        String(r.coldStartMs),
        mb(r.runtimeBytes.unzipped),
        mb(r.runtimeBytes.zipped),
        `${r.sloMs} ms`,
        r.costPerMillionUsd === undefined ? 'infeasible' : `$${r.costPerMillionUsd}`,
        String(r.stages ?? '–'),
        `$${r.floorUsdPerMillion}`,
        r.floorRatio === undefined ? '–' : `${r.floorRatio}×`,
        r.smallestSloMs === undefined ? '–' : `${r.smallestSloMs} ms`,
        r.smallestSloCostPerMillionUsd === undefined ? '–' : `$${r.smallestSloCostPerMillionUsd}`,
      ]),
    ),
  ].join('\n\n')
}

/** The cost model's whole-model ms at memories beyond the measured threads, labelled as predictions (absent in results from before it existed). */
function predictedTable(data: BackendData, table: (h: string[], rows: string[][]) => string): string[] {
  const memories = data.predictedMemories
  if (!memories || !data.rows.some((r) => r.predictedMs)) return []
  const upTo = data.measuredUpToMb ?? 3538
  const keys = memories.flatMap((m) => data.batches.map((b) => ({key: `${m}x${b}`, label: `${m} MB × b${b} ms${m > upTo ? ' (extrapolated)' : ''}`})))
  return [
    `Predicted by the cost model, not measured: whole-model compute ms (Σ layer medians × fusedFactor). Up to ${upTo.toLocaleString('en-US')} MB the profile measured the thread count; ` +
      'above it (3 and 5.8 vCPUs at 5,307 and 10,240 MB) ORT runs more threads than this machine has cores, so its times are extrapolated from each layer’s parallel efficiency fitted to its 1- and 2-thread times; wasm stays on one thread.',
    table(
      ['model', 'backend', ...keys.map((k) => k.label)],
      data.rows.map((r) => [r.model, r.backend, ...keys.map((k) => (r.predictedMs?.[k.key] === undefined ? '–' : String(r.predictedMs[k.key])))]),
    ),
  ]
}
