/**
 * `amps plan` and `amps estimate-cost` as a user runs them (the built CLI in a child process), on a
 * synthetic profile.json written to a temp dir. Run `npx tsc -p .` first (npm test does).
 */
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {runCommand} from '@oclif/test'

import {validatePlan} from '../../src/plan/schema.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-plan-cmd-'))
const profilePath = join(dir, 'profile.json')
const planPath = join(dir, 'plan.json')

beforeAll(() => {
  writeFileSync(profilePath, JSON.stringify(syntheticProfile({layers: 20, seed: 41, topology: 'dag', meanLayerMs: 4, meanWeightBytes: 2e6})))
})

/** The error line amps prints ("Error: <one line>", then "Hint: …"), without its prefix. */
function errorText(stderr: string): string {
  const line = stderr.split('\n').find((l) => l.startsWith('Error: '))
  return (line ?? stderr).replace(/^Error: /, '').trim()
}

describe('amps plan', () => {
  it('plans from a profile.json, writes plan.json and prints the tables', async () => {
    const r = await runAmps(['plan', profilePath, '--slo', '300', '--rate', '15', '-o', planPath])
    expect(r.code, r.stderr).toBe(0)
    expect(existsSync(planPath)).toBe(true)
    const plan = validatePlan(JSON.parse(readFileSync(planPath, 'utf8')))
    expect(plan.inputs).toMatchObject({sloMs: 300, ratePerSecond: 15, percentile: 99, arch: 'auto', region: 'us-east-1'})
    expect(plan.model.profile).toBe(profilePath)
    expect(r.stdout).toMatch(/stage\s+layers\s+#\s+memory\s+arch\s+predicted\s+billed\s+package\s+hand-off/)
    expect(r.stdout).toMatch(/Latency \(p99\): [\d.,]+ ms/)
    expect(r.stdout).toMatch(/per 1M requests, \$[\d.,]+ per month at 15\.00 req\/s/)
    expect(r.stdout).toMatch(/single-function[\s\S]*amps-inf[\s\S]*max-memory/)
    expect(r.stdout).toContain(`wrote ${planPath}`)
  })

  it('prints the plan as JSON with --json', async () => {
    const out = join(dir, 'plan-json.json')
    const r = await runAmps(['plan', profilePath, '--slo', '300', '--rate', '15', '--arch', 'arm64', '--max-stages', '2', '-o', out, '--json'])
    expect(r.code, r.stderr).toBe(0)
    const plan = validatePlan(r.json)
    expect(plan.stages.every((s) => s.arch === 'arm64')).toBe(true)
    expect(plan.stages.length).toBeLessThanOrEqual(2)
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(r.json)
  })

  it('forces the number of stages and solves with the MILP', async () => {
    const out = join(dir, 'plan-milp.json')
    const r = await runAmps(['plan', profilePath, '--slo', '400', '--stages', '2', '--solver', 'milp', '--arch', 'x86_64', '-o', out, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.json.stages).toHaveLength(2)
    expect(r.json.solver.method).toBe('milp')
    expect(typeof r.json.solver.bound).toBe('number')
    expect(r.json.solver.gap).toBeGreaterThanOrEqual(0)
  })

  it('explains an SLO no plan can meet, with the minimum latency in the JSON error', async () => {
    const r = await runAmps(['plan', profilePath, '--slo', '3', '-o', join(dir, 'never.json'), '--json'])
    expect(r.code).toBe(2)
    expect(r.json.error.code).toBe('PLAN_INFEASIBLE')
    expect(r.json.error.details.minimumLatencyMs).toBeGreaterThan(3)
    expect(r.json.error.details.cheapestAtMinimum.stages.length).toBeGreaterThan(0)
    expect(existsSync(join(dir, 'never.json'))).toBe(false)
  })

  it('rejects a negative SLO with one clear error, no stack, exit 2', async () => {
    const r = await runAmps(['plan', profilePath, '--slo=-5', '-o', join(dir, 'x.json')])
    expect(r.code).toBe(2)
    expect(errorText(r.stderr)).toMatch(/^--slo must be a number above 0 \(ms\), got "-5"$/)
    expect(r.stderr).toMatch(/\nHint: e\.g\. --slo 100\n$/)
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/)
    expect(existsSync(join(dir, 'x.json'))).toBe(false)
  })

  // The other nonsense flags run in-process through @oclif/test (the same built command classes,
  // milliseconds each instead of a process start).
  it.each([
    [['--slo', '300', '--rate', '0', '--max-batch', '8'], /^--rate 0 is not a request rate$/],
    [['--slo', '300', '--arch', 'mips'], /Expected --arch=mips to be one of: auto, x86_64, arm64/],
    [['--slo', '300', '--stages', '99'], /^--stages 99 is more than the model's 20 layers$/],
    [['--slo', 'fast'], /^--slo must be a number above 0 \(ms\), got "fast"$/],
    [['--slo', '300', '--percentile', '101'], /^--percentile must be a number above 0 and at most 100, got "101"$/],
    [['--slo', '300', '--max-stages', '0'], /^--max-stages must be >= 1, got 0$/],
  ])('rejects nonsense flags %j with one clear error and exit 2', async (flags, message) => {
    const r = await runCommand(['plan', profilePath, ...flags, '-o', join(dir, 'y.json')], {root: repoRoot})
    expect(r.error?.message).toMatch(message)
    expect(r.error?.oclif?.exit).toBe(2)
    expect(existsSync(join(dir, 'y.json'))).toBe(false)
  })

  it('says what it accepts when given something else', async () => {
    const odd = join(dir, 'odd.json')
    writeFileSync(odd, JSON.stringify({hello: 'world'}))
    const r = await runAmps(['plan', odd, '--slo', '300'])
    expect(r.code).toBe(2)
    expect(errorText(r.stderr)).toMatch(/neither a profile\.json \(from `amps profile`\) nor a TF\.js model\.json/)
  })
})

describe('amps estimate-cost', () => {
  beforeAll(async () => {
    if (!existsSync(planPath)) await runAmps(['plan', profilePath, '--slo', '300', '--rate', '15', '-o', planPath])
  })

  it('prints the monthly breakdown, the alternatives and the rates table', async () => {
    const r = await runAmps(['estimate-cost', planPath, '--rate', '20'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/stage\s+memory\s+invocations\s+mean billed\s+GB-s\s+duration\s+requests\s+S3\s+INIT\s+\/tmp\s+total/)
    expect(r.stdout).toMatch(/Monthly: \$[\d.,]+/)
    expect(r.stdout).toMatch(/SageMaker .*always on/)
    expect(r.stdout).toMatch(/TRANSCRIPTION/)
    expect(r.stdout).toMatch(/0\.1×[\s\S]*10\.0×/)
  })

  it('returns the estimate as JSON, at another rate, with the free tier', async () => {
    const plain = await runAmps(['estimate-cost', planPath, '--requests-per-month', '3000000', '--json'])
    const free = await runAmps(['estimate-cost', planPath, '--requests-per-month', '3000000', '--free-tier', '--json'])
    expect(plain.code, plain.stderr).toBe(0)
    expect(free.code, free.stderr).toBe(0)
    expect(plain.json.schemaVersion).toBe(1)
    expect(plain.json.requestsPerMonth).toBe(3_000_000)
    expect(plain.json.rates).toHaveLength(7)
    expect(free.json.totals.totalUsd).toBeLessThan(plain.json.totals.totalUsd)
    expect(free.json.totals.freeTierUsd).toBeGreaterThan(0)
    const sum = plain.json.stages.reduce((s: number, x: {totalUsd: number}) => s + x.totalUsd, 0)
    expect(sum).toBeCloseTo(plain.json.totals.totalUsd, 9)
  })

  it('refuses an invalid plan and a plan without traffic to price', async () => {
    const bad = join(dir, 'bad-plan.json')
    writeFileSync(bad, JSON.stringify({version: 1, stages: []}))
    const r = await runAmps(['estimate-cost', bad])
    expect(r.code).toBe(2)
    expect(errorText(r.stderr)).toMatch(/bad-plan\.json is not a valid plan: "model": missing/)
    const noRate = join(dir, 'no-rate.json')
    const plan = JSON.parse(readFileSync(planPath, 'utf8'))
    writeFileSync(noRate, JSON.stringify({...plan, inputs: {...plan.inputs, ratePerSecond: 0}}))
    const r2 = await runAmps(['estimate-cost', noRate])
    expect(r2.code).toBe(2)
    expect(errorText(r2.stderr)).toMatch(/was planned without a rate: say how much traffic to price/)
  })
})
