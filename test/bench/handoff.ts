/**
 * Section "handoff", the cost of one cut on the local chain beyond compute (issue 12 item 7):
 * chains of 1 and 3 echo stages (test/bench/echo-stage.ts: decode + encode, no model) deployed on
 * the local target exactly as real stages are (front, pool, environments under a full core's CPU
 * quota), invoked through the coordinator with one float32 tensor of 16 KB … 4 MB. ms per cut =
 * (end to end with 3 stages − with 1 stage) / 2, medians; beside it the target 5 ms + bytes at
 * 1 GB/s, and where the ms go: wall time (the stages' handler time, the HTTP/IPC round trip around
 * it, the coordinator's own JSON and base64) and CPU time per cut of each process (the coordinator,
 * the stage fronts, the execution environments; from /proc, so it holds up on a busy machine where
 * wall time does not).
 * Standalone: `npm run bench -- --only handoff` (about 30 s).
 * Before/after: AMPS_HANDOFF_BASELINE=<another build's dist-test folder> runs that build's
 * coordinator, front, runner and echo stages too, interleaved request by request with this one's,
 * e.g. `git worktree add /tmp/base <commit> && ln -s $PWD/node_modules /tmp/base/ && (cd /tmp/base && npx tsc -p tsconfig.bench.json)`,
 * then `AMPS_HANDOFF_BASELINE=/tmp/base/dist-test npm run bench -- --only handoff` (about 1 min).
 */
import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import * as thisCoordinator from '../../deploy/client/coordinator.js'
import type {ChainInvoker, ChainResult} from '../../deploy/client/coordinator.js'
import * as thisBundle from '../../deploy/bundle/bundle.js'
import type {DeploymentState, StageBundle} from '../../deploy/state/types.js'
import * as thisLocal from '../../deploy/targets/local/index.js'
import type {RawTensor} from '../../src/stage/codec.js'
import type {Plan} from '../../src/plan/types.js'
import {benchDir, log, mean, median, round, type BenchOptions} from './common.js'
import {echoStageBundle} from '../helpers/echo-bundle.js'
import {processCpuMs} from './procstat.js'

export interface HandoffFigures {
  /** median end to end (ms) with 1 and with 3 echo stages */
  oneStageMs: number
  threeStageMs: number
  msPerCut: number
  /** medians per stage call over the 3-stage chain (ms) */
  handlerMs: number
  transportMs: number
  /** per cut: end to end − Σ round trips, / 3 */
  coordinatorMs: number
  /** CPU time per cut (ms, means: (3-stage − 1-stage) / 2) of the coordinator, the fronts and the environments */
  cpu?: {coordinatorMs: number; frontMs: number; environmentMs: number}
}

export interface HandoffRow extends HandoffFigures {
  bytes: number
  /** 5 ms + bytes at 1 GB/s */
  targetMs: number
  /** the same figures for AMPS_HANDOFF_BASELINE's build, measured interleaved with these */
  baseline?: HandoffFigures
}

export interface HandoffData {
  reps: number
  rows: HandoffRow[]
  /** the baseline build's dist-test folder, when one ran */
  baseline?: string
}

const SIZES = [16_384, 65_536, 262_144, 1_048_576, 4_194_304]

/** The modules a side needs: this build's, or another build's (its dist-test folder). */
interface Build {
  createChainInvoker: (d: DeploymentState) => ChainInvoker
  bundleEntry: typeof thisBundle.bundleEntry
  deployLocal: typeof thisLocal.deployLocal
  destroyLocal: typeof thisLocal.destroyLocal
  echoEntry: string
}

async function loadBuild(dist?: string): Promise<Build> {
  if (!dist) return {...thisCoordinator, ...thisBundle, ...thisLocal, echoEntry: join(import.meta.dirname, 'echo-stage.js')}
  const load = async <T>(rel: string) => (await import(join(dist, rel))) as T
  return {
    ...(await load<typeof thisCoordinator>('deploy/client/coordinator.js')),
    ...(await load<typeof thisBundle>('deploy/bundle/bundle.js')),
    ...(await load<typeof thisLocal>('deploy/targets/local/index.js')),
    echoEntry: join(dist, 'test/bench/echo-stage.js'),
  }
}

interface Side {
  build: Build
  state: DeploymentState
  statePath: string
  /** the stages' environment pids (concurrency 1: one each, the same all run long) */
  envPids: number[]
}

async function deploySide(build: Build, root: string, tag: string): Promise<Side> {
  rmSync(root, {recursive: true, force: true})
  mkdirSync(root, {recursive: true})
  const bundles: StageBundle[] = []
  for (let i = 0; i < 3; i++) {
    const dir = join(root, 'bundles', `echo-${i}`)
    mkdirSync(dir, {recursive: true})
    await build.bundleEntry(build.echoEntry, join(dir, 'index.mjs'))
    bundles.push(echoStageBundle(i, {dir, functionName: `amps-handoff-bench-${tag}stage-${i + 1}`, memoryMb: 1769, timeoutSec: 60}))
  }
  const statePath = join(root, 'deployment.json')
  const {state} = await build.deployLocal({} as Plan, bundles, {statePath, planPath: statePath, modelPath: root, planHash: 'handoff-bench', concurrency: 1})
  const envPids = thisLocal
    .processesOf(state.deploymentId ?? '')
    .filter((p) => p.kind === 'env')
    .map((p) => p.pid)
  return {build, state, statePath, envPids}
}

/** CPU time (ms) so far of the deployment's fronts and of their environments. */
function stageCpu(side: Side): {front: number; env: number} {
  const sum = (pids: number[]) => pids.reduce((a, p) => a + (processCpuMs(p).cpuMs || 0), 0)
  return {front: sum(side.state.stages.map((s) => s.pid ?? 0).filter((p) => p > 0)), env: sum(side.envPids)}
}

interface Sample {
  result: ChainResult
  cpu: {coordinator: number; front: number; env: number}
}

async function timedInvoke(side: Side, invoker: ChainInvoker, input: RawTensor[]): Promise<Sample> {
  const s0 = stageCpu(side)
  const c0 = process.cpuUsage()
  const result = await invoker.invoke(input)
  const c1 = process.cpuUsage(c0)
  const s1 = stageCpu(side)
  return {result, cpu: {coordinator: (c1.user + c1.system) / 1000, front: s1.front - s0.front, env: s1.env - s0.env}}
}

function figures(samples: Record<1 | 3, Sample[]>): HandoffFigures {
  const one = median(samples[1].map((x) => x.result.totalMs))
  const three = median(samples[3].map((x) => x.result.totalMs))
  const calls = samples[3].flatMap((x) => x.result.stages)
  const perCut = (f: (c: Sample['cpu']) => number) => round((mean(samples[3].map((x) => f(x.cpu))) - mean(samples[1].map((x) => f(x.cpu)))) / 2, 2)
  return {
    oneStageMs: round(one, 2),
    threeStageMs: round(three, 2),
    msPerCut: round((three - one) / 2, 2),
    handlerMs: round(median(calls.map((c) => c.handlerMs)), 2),
    transportMs: round(median(calls.map((c) => c.measuredMs - c.handlerMs)), 2),
    coordinatorMs: round(median(samples[3].map((x) => (x.result.totalMs - x.result.stages.reduce((a, s) => a + s.measuredMs, 0)) / 3)), 2),
    cpu: {coordinatorMs: perCut((c) => c.coordinator), frontMs: perCut((c) => c.front), environmentMs: perCut((c) => c.env)},
  }
}

function describeFigures(f: HandoffFigures): string {
  const cpu = f.cpu ? `; CPU per cut: coordinator ${f.cpu.coordinatorMs}, fronts ${f.cpu.frontMs}, environments ${f.cpu.environmentMs}` : ''
  return `${f.msPerCut} ms per cut; per call handler ${f.handlerMs}, transport ${f.transportMs}, coordinator ${f.coordinatorMs}${cpu}`
}

export async function runHandoff(opts: BenchOptions): Promise<{data: HandoffData; notes: string[]}> {
  const reps = opts.quick ? 8 : 25
  const baselineDir = process.env.AMPS_HANDOFF_BASELINE || undefined
  const root = join(benchDir, 'handoff')
  const sides: Side[] = [await deploySide(await loadBuild(), root, '')]
  const rows: HandoffRow[] = []
  try {
    if (baselineDir) sides.push(await deploySide(await loadBuild(baselineDir), join(benchDir, 'handoff-baseline'), 'base-'))
    for (const bytes of SIZES) {
      const n = bytes / 4
      const data = new Float32Array(n).map((_, i) => Math.sin(i))
      const input = [{id: 't0', dtype: 'float32' as const, shape: [1, n], data}]
      const runs = sides.map((side) => {
        const chain = (k: number): DeploymentState =>
          ({
            ...side.state,
            stages: side.state.stages.slice(0, k),
            modelInputs: [{id: 't0', shape: [null, n], dtype: 'float32', bytesPerSample: bytes}],
            modelOutputs: [{id: `t${k}`, shape: [null, n], dtype: 'float32', bytesPerSample: bytes}],
          }) as DeploymentState
        return {
          side,
          invokers: {1: side.build.createChainInvoker(chain(1)), 3: side.build.createChainInvoker(chain(3))},
          samples: {1: [], 3: []} as Record<1 | 3, Sample[]>,
        }
      })
      try {
        for (let r = 0; r < reps + 2; r++) {
          for (const k of [1, 3] as const) {
            // interleaved request by request, the order alternating, so a busy moment hits both builds alike
            for (const run of r % 2 ? [...runs].reverse() : runs) {
              const sample = await timedInvoke(run.side, run.invokers[k], input)
              if (r >= 2) run.samples[k].push(sample) // 2 warm-up rounds
            }
          }
        }
      } finally {
        for (const run of runs) {
          run.invokers[1].close()
          run.invokers[3].close()
        }
      }
      const row: HandoffRow = {bytes, targetMs: round(5 + bytes / 1e6, 2), ...figures(runs[0].samples)}
      if (runs[1]) row.baseline = figures(runs[1].samples)
      rows.push(row)
      log(`handoff ${bytes} B (target ${row.targetMs} ms): ${describeFigures(row)}`)
      if (row.baseline) log(`handoff ${bytes} B baseline: ${describeFigures(row.baseline)}`)
    }
  } finally {
    for (const side of sides) await side.build.destroyLocal(side.state, {statePath: side.statePath})
  }
  return {
    data: {reps, rows, ...(baselineDir ? {baseline: baselineDir} : {})},
    notes: [
      "Echo stages (decode + encode, no model) at 1,769 MB (a full core each); the figures are the local chain's per-cut overhead, not Lambda's network.",
      'CPU per cut: CPU time of each process (the coordinator; the stage fronts; the execution environments) with 3 stages minus with 1, halved: what a cut costs in work, which a loaded machine does not inflate as it does wall time.',
    ],
  }
}

export function handoffSection(r: {data: HandoffData; command: string} | undefined): string {
  const out = ['## Hand-off overhead per cut (local chain)']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only handoff`._'].join('\n\n')
  const head =
    '| bytes per cut | 1 stage (ms) | 3 stages (ms) | ms per cut | target 5 ms + bytes at 1 GB/s | handler per call | HTTP + IPC per call | coordinator per cut | CPU per cut: coordinator / fronts / environments (ms) |'
  const line = (bytes: number, target: number, x: HandoffFigures) =>
    `| ${bytes.toLocaleString('en-US')} | ${x.oneStageMs} | ${x.threeStageMs} | ${x.msPerCut} | ${target} | ${x.handlerMs} | ${x.transportMs} | ${x.coordinatorMs} | ${x.cpu ? `${x.cpu.coordinatorMs} / ${x.cpu.frontMs} / ${x.cpu.environmentMs}` : '–'} |`
  const table = (rows: string[]) => [head, '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n')
  out.push(`\`${r.command}\`, ${r.data.reps} requests per size (medians).`, table(r.data.rows.map((x) => line(x.bytes, x.targetMs, x))))
  const base = r.data.rows.filter((x) => x.baseline)
  if (base.length > 0) {
    out.push(
      `Baseline build \`${r.data.baseline}\` (AMPS_HANDOFF_BASELINE), measured in the same run, request by request interleaved with the one above:`,
      table(base.map((x) => line(x.bytes, x.targetMs, x.baseline!))),
    )
  }
  return out.join('\n\n')
}
