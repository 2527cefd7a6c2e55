/**
 * `amps deploy --model <path>` stands in for a plan's empty model.source: the built CLI, --dry-run
 * (bundles built and measured, nothing started or written) on the real examples/tiny-cnn model.
 * Build first (`npx tsc -p .`; `npm test` does).
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {loadModel} from '../../src/model/index.js'
import type {Plan} from '../../src/plan/types.js'
import {type CliResult, runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {handPlan} from './hand-plan.js'

const model = join(repoRoot, 'examples', 'tiny-cnn')
let dir: string
let plan: Plan
let planText: string
let without: CliResult
let withModel: CliResult

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-deploy-model-'))
  const loaded = await loadModel(model)
  // two stages, cut at the graph's middle valid cut
  const g = loaded.graph
  const cut = g.cuts[Math.floor(g.cuts.length / 2)]
  plan = handPlan(loaded, [g.layers[cut.after].name], {memoryMb: 512})
  plan.model.source = ''
  planText = JSON.stringify(plan, null, 2)
  writeFileSync(join(dir, 'plan.json'), planText)
  ;[without, withModel] = await Promise.all([
    runAmps(['deploy', 'plan.json', '--dry-run', '--json'], {cwd: dir}),
    runAmps(['deploy', 'plan.json', '--model', model, '--dry-run', '--json'], {cwd: dir}),
  ])
}, 300_000)

afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('amps deploy --model with a plan that records no model path', () => {
  it('refuses the plan without --model, naming the field and the flag', () => {
    expect(without.code).toBe(2)
    expect(without.json.error.code).toBe('PLAN_INVALID')
    expect(without.json.error.message).toMatch(/plan\.json cannot be deployed: "model\.source": expected the model's path \(or pass --model\), got ""/)
  })

  it('builds and measures every stage from the model given with --model', () => {
    expect(withModel.code, withModel.stderr).toBe(0)
    const r = withModel.json
    expect(r).toMatchObject({target: 'local', dryRun: true, modelPath: model})
    expect(r.stages.map((s: any) => s.name)).toEqual(plan.stages.map((s) => s.name))
    for (const s of r.stages) {
      expect(s.action).toBe('would start')
      expect(s.memoryMb).toBe(512)
      expect(s.zipBytes).toBeGreaterThan(0)
      expect(s.unzippedBytes).toBeGreaterThan(s.zipBytes)
    }
    // a dry run writes no deployment.json and leaves plan.json as it was
    expect(existsSync(join(dir, 'deployment.json'))).toBe(false)
    expect(readFileSync(join(dir, 'plan.json'), 'utf8')).toBe(planText)
  })
})
