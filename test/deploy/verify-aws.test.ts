/**
 * `--verify aws` (deploy/verify-plan.ts) against the in-memory AWS of aws-fake.ts: real bundles
 * of examples/tiny-cnn in 2 stages deployed as temporary functions (with a temporary role), the
 * plan's batch sent through the real coordinator, Duration read from the REPORT line of each
 * Invoke's log tail, the cost printed first, and everything deleted after.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {verificationCostUsd, verifyPlan} from '../../deploy/verify-plan.js'
import {encodeTensors} from '../../src/stage/codec.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {FakeAws} from './aws-fake.js'
import {writeHandPlan} from './hand-plan.js'

let dir: string
let fake: FakeAws
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-verify-aws-'))
  fake = new FakeAws()
})
afterEach(() => {
  fake.restore()
  rmSync(dir, {recursive: true, force: true})
})

describe('verifyPlan on AWS (mocked)', () => {
  it('deploys temporary functions, measures Duration from REPORT lines, prices itself, and deletes everything', async () => {
    const planPath = join(dir, 'plan.json')
    const model = join(repoRoot, 'examples', 'tiny-cnn')
    const plan = await writeHandPlan(model, planPath, ['branch_concat'], {memoryMb: 1024, batch: 4})
    plan.stages.forEach((s, i) => Object.assign(s, {predictedMs: 20 + 10 * i, costPerBatchUsd: 1e-6 * (i + 1)}))
    // each function "runs" 1.5× (stage 1) and 0.95× (stage 2) its prediction, and answers its output tensors
    const factor = [1.5, 0.95]
    const invoked: string[] = []
    const answers = await Promise.all(
      plan.stages.map((st) =>
        encodeTensors(
          st.outputTensors.map((id) => ({id, dtype: 'float32' as const, shape: [4, 2], data: new Float32Array(8)})),
          {limit: 6_000_000},
        ),
      ),
    )
    fake.invokeHandler = (name, event) => {
      const i = plan.stages.findIndex((s) => name.endsWith(s.name))
      const st = plan.stages[i]
      invoked.push(name)
      expect(event.tensors[0].shape[0]).toBe(4) // the plan's batch size
      const tensors = answers[i]
      return {
        result: {
          stage: {index: i, name: st.name},
          tensors: tensors as never,
          metrics: {initMs: 1, coldStart: false, handlerMs: 1, decodeMs: 0, runMs: 1, encodeMs: 0, backend: 'fake'},
        },
        durationMs: st.predictedMs * factor[i],
      }
    }
    const lines: string[] = []
    const r = await verifyPlan({
      plan,
      planPath,
      target: 'aws',
      warm: 2,
      measured: 4,
      aws: {region: 'us-east-1', createRole: true, clients: fake.clients},
      log: (l) => lines.push(l),
    })
    expect(r.costUsd).toBeCloseTo(verificationCostUsd(plan, 6), 12)
    expect(r.costUsd).toBeGreaterThan(0)
    expect(r.stages.map((s) => s.samples)).toEqual([4, 4])
    expect(r.stages[0].measuredMs).toBeCloseTo(30, 2)
    expect(r.stages[1].measuredMs).toBeCloseTo(28.5, 2)
    expect(r.stages[0].error).toBeCloseTo(0.5, 3)
    expect(r.stages[1].error).toBeCloseTo(-0.05, 3)
    expect(invoked).toHaveLength(12) // (2 warm + 4 measured) × 2 stages
    // created, invoked, then deleted: no function, role or bucket is left
    const order = fake.summary().map((c) => c.split(' ')[0])
    expect(order.indexOf('CreateFunction')).toBeLessThan(order.indexOf('Invoke'))
    expect(order.lastIndexOf('Invoke')).toBeLessThan(order.indexOf('DeleteFunction'))
    expect(fake.functions.size).toBe(0)
    expect(fake.roles.size).toBe(0)
    expect([...fake.buckets.values()].every((b) => b.size === 0)).toBe(true)
  }, 120_000)
})
