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
