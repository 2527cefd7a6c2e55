/**
 * `npm run bench` (= tsc -p tsconfig.bench.json && node dist-test/test/bench/run.js [--quick] [--only <section>]):
 * runs the benchmark sections in order, writes each one's raw figures to bench-results/<section>.json
 * and regenerates BENCHMARKS.md from every result file present.
 *
 * Sections, in this order: solver (solve times, the planner's test/bench/solver.ts), quality (plan
 * cost vs baselines and the compute floor), prediction (stage ms predicted vs measured on the local
 * target under CPU quota), analytic (analytic p99/cost vs the simulator), overhead (pipeline
 * overhead per cut), serve (amps serve + amps load on local deployments: measured vs predicted p99 and
 * cost, a rate step adaptive vs fixed vs unbatched, the gateway's own overhead). Progress goes to stderr.
 *
 * Flags: --quick (fewer requests, the profiler's --quick settings: a few minutes), --only <section>[,…],
 * --reuse-profiles (a full run otherwise measures the profiles again), --report-only (re-render
 * BENCHMARKS.md from bench-results/ without measuring).
 *
 * Every local deployment is destroyed after use, on error and on SIGINT/SIGTERM/SIGHUP; leftovers
 * of a run killed with SIGKILL are destroyed when the next run starts.
 */
import {loadavg} from 'node:os'

import {SECTIONS, log, machineInfo, round, setupEnvironment, writeResult, type BenchOptions, type SectionName, type SectionResult} from './common.js'
import {LocalDeployments} from './local.js'

setupEnvironment()

const TITLES: Record<SectionName, string> = {
  solver: 'Solver time',
  quality: 'Plan quality',
  prediction: 'Prediction error of stage times',
  analytic: 'Analytic vs simulated',
  overhead: 'Pipeline overhead',
  handoff: 'Hand-off overhead per cut',
  backend: 'Backends: ONNX Runtime vs TensorFlow.js wasm',
  serve: 'Serving: amps serve + amps load',
  reliability: 'Reliability: malformed inputs',
  'zoo-prediction': 'Prediction error of stage times on unseen models (zoo, ORT and wasm)',
}

/** The order of the issue (and of the report). */
const RUN_ORDER: SectionName[] = ['solver', 'quality', 'prediction', 'analytic', 'overhead', 'handoff', 'backend', 'serve', 'reliability', 'zoo-prediction']

function usage(): never {
  process.stderr.write(`usage: node dist-test/test/bench/run.js [--quick] [--only <${SECTIONS.join('|')}>[,<section>…]] [--reuse-profiles] [--report-only]\n`)
  process.exit(2)
}

function parseArgs(argv: string[]): {quick: boolean; only?: SectionName[]; reportOnly: boolean; reuseProfiles: boolean} {
  let quick = false
  let reuseProfiles = false
  let only: SectionName[] | undefined
  let reportOnly = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--quick') quick = true
    else if (a === '--report-only') reportOnly = true
    else if (a === '--reuse-profiles') reuseProfiles = true
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      if (!v) usage()
      only = v.split(',').map((s) => s.trim()) as SectionName[]
      for (const s of only) if (!SECTIONS.includes(s)) usage()
    } else if (a === '-h' || a === '--help') usage()
    else usage()
  }
  return {quick, only, reportOnly, reuseProfiles}
}

async function runSection(
  name: SectionName,
  opts: BenchOptions,
  deployments: LocalDeployments,
): Promise<{data: unknown; notes: string[]; machine?: Record<string, unknown>}> {
  switch (name) {
    case 'overhead':
      return (await import('./overhead.js')).runOverhead(opts, deployments)
    case 'prediction':
      return (await import('./prediction.js')).runPrediction(opts, deployments)
    case 'analytic':
      return (await import('./analytic.js')).runAnalytic(opts)
    case 'quality':
      return (await import('./quality.js')).runQuality(opts)
    case 'solver':
      return (await import('./solver-section.js')).runSolverSection(opts)
    case 'handoff':
      return (await import('./handoff.js')).runHandoff(opts)
    case 'backend':
      return (await import('./backend.js')).runBackend(opts)
    case 'reliability':
      return (await import('./reliability.js')).runReliabilitySection()
    case 'serve':
      return (await import('./serve.js')).runServe(opts, deployments)
    case 'zoo-prediction':
      return (await import('./zoo-prediction.js')).runZooPrediction(opts, deployments)
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const flags = [...(args.quick ? ['--quick'] : []), ...(args.only ? ['--only', args.only.join(',')] : []), ...(args.reuseProfiles ? ['--reuse-profiles'] : [])]
  const command = ['npm run bench', ...(flags.length ? ['--', ...flags] : [])].join(' ')
  const {writeReport} = await import('./report.js')
  if (args.reportOnly) {
    log(`wrote ${writeReport()}`)
    return
  }
  const deployments = new LocalDeployments()
  let stopping = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) return
    stopping = true
    log(`${signal}: stopping every local deployment`)
    deployments.destroyAll().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143))
  }
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal)

  const swept = await deployments.sweep()
  if (swept > 0) log(`stopped ${swept} deployment(s) a previous run left running`)

  const opts: BenchOptions = {quick: args.quick, command}
  const {measureProfilesAgain} = await import('./profiles.js')
  measureProfilesAgain(!args.quick && !args.reuseProfiles)
  const sections = RUN_ORDER.filter((s) => !args.only || args.only.includes(s))
  const t0 = Date.now()
  const failures: string[] = []
  try {
    for (const name of sections) {
      const machine = machineInfo()
      const startedAt = new Date().toISOString()
      const s0 = Date.now()
      log(`section ${name}: ${TITLES[name]}${args.quick ? ' (quick)' : ''}`)
      try {
        const r = await runSection(name, opts, deployments)
        const result: SectionResult = {
          section: name,
          title: TITLES[name],
          command,
          quick: args.quick,
          startedAt,
          durationS: round((Date.now() - s0) / 1000, 1),
          machine: {...machine, ...(r.machine ?? {}), loadAvgEnd: loadavg().map((x) => round(x, 2))},
          data: r.data,
          notes: r.notes,
        }
        const path = writeResult(result)
        log(`section ${name} done in ${result.durationS} s → ${path}`)
      } catch (error) {
        const e = error as Error
        failures.push(`${name}: ${e.message}`)
        log(`section ${name} FAILED after ${round((Date.now() - s0) / 1000, 1)} s: ${e.stack ?? e.message}`)
      } finally {
        await deployments.destroyAll()
      }
    }
  } finally {
    await deployments.destroyAll()
  }
  log(`wrote ${writeReport()}`)
  log(`bench finished in ${round((Date.now() - t0) / 60000, 1)} min${failures.length ? `; ${failures.length} section(s) failed` : ''}`)
  if (failures.length) process.exitCode = 1
}

main().catch((error) => {
  log(`bench failed: ${(error as Error).stack ?? error}`)
  process.exit(1)
})
