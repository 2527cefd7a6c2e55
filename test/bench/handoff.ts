/**
 * Section "handoff", the cost of one cut on the local chain beyond compute (issue 12 item 7):
 * chains of 1 and 3 echo stages (test/bench/echo-stage.ts: decode + encode, no model) deployed on
 * the local target exactly as real stages are (front, pool, environments under a full core's CPU
 * quota), invoked through the coordinator with one float32 tensor of 16 KB … 4 MB. ms per cut =
 * (end to end with 3 stages − with 1 stage) / 2, medians; beside it the target 5 ms + bytes at
 * 1 GB/s, and where the ms go (the stages' handler time, the HTTP/IPC round trip around it, the
 * coordinator's own JSON and base64).
 * Standalone: `npm run bench -- --only handoff` (about 1 min).
 */
import {mkdirSync, rmSync} from 'node:fs'
import {join} from 'node:path'

import {createChainInvoker, type ChainResult} from '../../deploy/client/coordinator.js'
import {bundleEntry} from '../../deploy/bundle/bundle.js'
import type {DeploymentState, StageBundle} from '../../deploy/state/types.js'
import {deployLocal, destroyLocal} from '../../deploy/targets/local/index.js'
import type {Plan} from '../../src/plan/types.js'
import {benchDir, log, median, round, type BenchOptions} from './common.js'

export interface HandoffRow {
  bytes: number
  /** median end to end (ms) with 1 and with 3 echo stages */
  oneStageMs: number
  threeStageMs: number
  msPerCut: number
  /** 5 ms + bytes at 1 GB/s */
  targetMs: number
  /** medians per stage call over the 3-stage chain (ms) */
  handlerMs: number
  transportMs: number
  /** per cut: end to end − Σ round trips, / 3 */
  coordinatorMs: number
}

export interface HandoffData {
  reps: number
  rows: HandoffRow[]
}

const SIZES = [16_384, 65_536, 262_144, 1_048_576, 4_194_304]

export async function runHandoff(opts: BenchOptions): Promise<{data: HandoffData; notes: string[]}> {
  const reps = opts.quick ? 8 : 25
  const root = join(benchDir, 'handoff')
  rmSync(root, {recursive: true, force: true})
  mkdirSync(root, {recursive: true})
  const bundles: StageBundle[] = []
  for (let i = 0; i < 3; i++) {
    const dir = join(root, 'bundles', `echo-${i}`)
    mkdirSync(dir, {recursive: true})
    await bundleEntry(join(import.meta.dirname, 'echo-stage.js'), join(dir, 'index.mjs'))
    bundles.push({
      stageIndex: i,
      functionName: `amps-handoff-bench-stage-${i + 1}`,
      dir,
      zipPath: '',
      zipBytes: 0,
      unzippedBytes: 0,
      codeSha256: 'echo',
      memoryMb: 1769,
      arch: 'x86_64',
      timeoutSec: 60,
      ephemeralStorageMb: 512,
      handler: 'index.handler',
      runtime: 'nodejs20.x',
      environment: {AMPS_ECHO_INDEX: String(i)},
      stageName: `stage-${i + 1}`,
      inputTensors: [`t${i}`],
      outputTensors: [`t${i + 1}`],
    })
  }
  const statePath = join(root, 'deployment.json')
  const {state} = await deployLocal({} as Plan, bundles, {statePath, planPath: statePath, modelPath: root, planHash: 'handoff-bench', concurrency: 1})
  const rows: HandoffRow[] = []
  try {
    for (const bytes of SIZES) {
      const n = bytes / 4
      const chain = (k: number): DeploymentState =>
        ({
          ...state,
          stages: state.stages.slice(0, k),
          modelInputs: [{id: 't0', shape: [null, n], dtype: 'float32', bytesPerSample: bytes}],
          modelOutputs: [{id: `t${k}`, shape: [null, n], dtype: 'float32', bytesPerSample: bytes}],
        }) as DeploymentState
      const data = new Float32Array(n).map((_, i) => Math.sin(i))
      const input = [{id: 't0', dtype: 'float32' as const, shape: [1, n], data}]
      const results: Record<1 | 3, ChainResult[]> = {1: [], 3: []}
      const invokers = {1: createChainInvoker(chain(1)), 3: createChainInvoker(chain(3))}
      try {
        for (let r = 0; r < reps + 2; r++) {
          for (const k of [1, 3] as const) {
            const res = await invokers[k].invoke(input)
            if (r >= 2) results[k].push(res) // 2 warm-up rounds
          }
        }
      } finally {
        invokers[1].close()
        invokers[3].close()
      }
      const one = median(results[1].map((x) => x.totalMs))
      const three = median(results[3].map((x) => x.totalMs))
      const calls = results[3].flatMap((x) => x.stages)
      const row: HandoffRow = {
        bytes,
        oneStageMs: round(one, 2),
        threeStageMs: round(three, 2),
        msPerCut: round((three - one) / 2, 2),
        targetMs: round(5 + bytes / 1e6, 2),
        handlerMs: round(median(calls.map((c) => c.handlerMs)), 2),
        transportMs: round(median(calls.map((c) => c.measuredMs - c.handlerMs)), 2),
        coordinatorMs: round(median(results[3].map((x) => (x.totalMs - x.stages.reduce((a, s) => a + s.measuredMs, 0)) / 3)), 2),
      }
      rows.push(row)
      log(
        `handoff ${bytes} B: ${row.msPerCut} ms per cut (target ${row.targetMs}); per call handler ${row.handlerMs}, transport ${row.transportMs}, coordinator ${row.coordinatorMs}`,
      )
    }
  } finally {
    await destroyLocal(state, {statePath})
  }
  return {
    data: {reps, rows},
    notes: [
      "Echo stages (decode + encode, no model) at 1,769 MB (a full core each); the figures are the local chain's per-cut overhead, not Lambda's network.",
    ],
  }
}

export function handoffSection(r: {data: HandoffData; command: string} | undefined): string {
  const out = ['## Hand-off overhead per cut (local chain)']
  if (!r) return [...out, '_Not run yet: `npm run bench -- --only handoff`._'].join('\n\n')
  const head =
    '| bytes per cut | 1 stage (ms) | 3 stages (ms) | ms per cut | target 5 ms + bytes at 1 GB/s | handler per call | HTTP + IPC per call | coordinator per cut |'
  const lines = r.data.rows.map(
    (x) =>
      `| ${x.bytes.toLocaleString('en-US')} | ${x.oneStageMs} | ${x.threeStageMs} | ${x.msPerCut} | ${x.targetMs} | ${x.handlerMs} | ${x.transportMs} | ${x.coordinatorMs} |`,
  )
  return [...out, `\`${r.command}\`, ${r.data.reps} requests per size (medians).`, [head, '|---|---|---|---|---|---|---|---|', ...lines].join('\n')].join(
    '\n\n',
  )
}
