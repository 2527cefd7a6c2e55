/**
 * The src/files kit: one reader/validator/atomic writer for profile.json, plan.json and
 * deployment.json, telling a wrong file apart in one line, refusing newer versions, and printing
 * each format's JSON Schema.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {deploymentFormat} from '../../deploy/state/deployment.js'
import {jsonSchemaOf, readAs, writeAs} from '../../src/files/format.js'
import {detectKind} from '../../src/files/kinds.js'
import {resolveRecordedPath} from '../../src/files/paths.js'
import {planFromProfile} from '../../src/plan/index.js'
import {planFormat, readPlan} from '../../src/plan/schema.js'
import {profileFormat} from '../../src/profile/schema.js'
import {readProfile, writeProfile} from '../../src/profile/io.js'
import {syntheticProfile} from '../helpers/synthetic.js'
import {userError} from '../helpers/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-files-kit-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const profile = syntheticProfile({layers: 8, seed: 3, topology: 'chain', meanLayerMs: 3, meanWeightBytes: 1e6})
const plan = planFromProfile(profile, {sloMs: 400, ratePerSecond: 5, now: new Date('2026-11-23T00:00:00Z')})
const deployment = {
  version: 1,
  target: 'local',
  region: 'local',
  planHash: 'ab'.repeat(32),
  planPath: join(dir, 'plan.json'),
  modelPath: join(dir, 'model'),
  createdAt: '2026-11-23T00:00:00.000Z',
  updatedAt: '2026-11-23T00:00:00.000Z',
  stages: [{stageIndex: 0, functionName: 'amps-m-stage-1', status: 'active', port: 9001, pid: 1234, createdByUs: true, updatedAt: '2026-11-23T00:00:00.000Z'}],
}

const profilePath = join(dir, 'profile.json')
const planPath = join(dir, 'plan.json')
const deploymentPath = join(dir, 'deployment.json')
writeProfile(profilePath, profile)
writeAs(planFormat, planPath, plan)
writeAs(deploymentFormat, deploymentPath, deployment as never)

describe('files kit', () => {
  it('writes kind and version first, reads back the same value, leaves no temporary file', () => {
    for (const [path, kind] of [
      [profilePath, 'profile'],
      [planPath, 'plan'],
      [deploymentPath, 'deployment'],
    ] as const) {
      const text = readFileSync(path, 'utf8')
      expect(text.startsWith(`{\n  "kind": "${kind}",\n  "version": 1,`)).toBe(true)
      expect(detectKind(JSON.parse(text))).toBe(kind)
    }
    expect(readProfile(profilePath)).toEqual(JSON.parse(JSON.stringify(profile)))
    expect(readPlan(planPath)).toEqual(JSON.parse(JSON.stringify(plan)))
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
  })

  it('names a wrong file in one line, with a next step that does not overwrite the input', () => {
    const asPlan = userError(() => readAs(planFormat, profilePath))
    expect(asPlan.message).toBe(`${profilePath} is a profile (written by \`amps profile\`), not a plan`)
    expect(asPlan.suggestions?.[0]).toBe(`make a plan from it first: amps plan ${profilePath} --slo <ms> -o plan.json`)
    // a profile named plan.json: the suggested output must not be the input itself
    const misnamed = join(dir, 'misnamed')
    mkdirSync(misnamed, {recursive: true})
    writeFileSync(join(misnamed, 'plan.json'), readFileSync(profilePath))
    const e = userError(() => readAs(planFormat, join(misnamed, 'plan.json')))
    expect(e.suggestions?.[0]).toMatch(/-o plan-2\.json$/)
    expect(userError(() => readAs(deploymentFormat, planPath)).message).toMatch(/is a plan .* not a deployment$/)
    expect(userError(() => readAs(profileFormat, deploymentPath)).message).toMatch(/is a deployment .* not a profile$/)
    const d = userError(() => readAs(planFormat, deploymentPath))
    expect(d.suggestions?.[0]).toBe(`its plan is ${join(dir, 'plan.json')}`)
    for (const err of [asPlan, e, d]) expect(err.message).not.toContain('\n')
  })

  it('recognises files written before `kind` existed, and the old `schemaVersion` name', () => {
    const {kind: _k, version, ...rest} = JSON.parse(readFileSync(planPath, 'utf8'))
    const old = join(dir, 'old-plan.json')
    writeFileSync(old, JSON.stringify({schemaVersion: version, ...rest}))
    expect(readPlan(old).version).toBe(1)
    writeFileSync(old, JSON.stringify({version, ...rest}))
    expect(userError(() => readAs(profileFormat, old)).message).toMatch(/is a plan/)
  })

  it('refuses a newer version with an upgrade hint, an older one with a re-create hint', () => {
    const text = readFileSync(planPath, 'utf8')
    const newer = join(dir, 'newer.json')
    writeFileSync(newer, text.replace('"version": 1', '"version": 7'))
    const e = userError(() => readPlan(newer))
    expect(e.message).toBe(`${newer} is plan.json version 7; this amps reads version 1 (the file was written by a newer amps)`)
    expect(e.suggestions?.[0]).toMatch(/^upgrade amps/)
    writeFileSync(newer, text.replace('"version": 1', '"version": 0'))
    expect(userError(() => readPlan(newer)).message).toMatch(/version 0; this amps reads version 1 \(an older format\)/)
  })

  it('renders field problems as "path": expected …, got … on one line, at most three shown', () => {
    const bad = JSON.parse(readFileSync(planPath, 'utf8'))
    bad.stages[0].memoryMb = 20000
    bad.stages[0].arch = 'sparc'
    bad.batch.size = 0
    bad.inputs.sloMs = 'fast'
    const path = join(dir, 'bad.json')
    writeFileSync(path, JSON.stringify(bad))
    const e = userError(() => readPlan(path))
    expect(e.message).toBe(
      `${path} is not a valid plan: "inputs.sloMs": expected a number > 0, got "fast"; "batch.size": expected an integer ≥ 1, got 0; ` +
        `"stages[0].memoryMb": expected an integer in 128–10240, got 20000 (and 1 more; --json lists them all)`,
    )
    expect(e.details?.problems).toHaveLength(4)
  })

  it('names a directory, broken JSON and a missing file', () => {
    expect(userError(() => readPlan(dir)).message).toBe(`${dir} is a directory; expected a plan.json file`)
    writeFileSync(join(dir, 'broken.json'), '{"kind": "plan",')
    expect(userError(() => readPlan(join(dir, 'broken.json'))).message).toMatch(/is not valid JSON \(/)
    const missing = userError(() => readAs(deploymentFormat, join(dir, 'nope.json')))
    expect([missing.ampsCode, missing.message]).toEqual(['FILE_NOT_FOUND', `deployment not found: ${join(dir, 'nope.json')}`])
  })

  it('never writes what it would refuse to read', () => {
    const path = join(dir, 'never.json')
    expect(() => writeAs(planFormat, path, {...plan, stages: []})).toThrow(/"stages": expected at least one entry/)
    expect(() => readFileSync(path)).toThrow()
  })

  it('emits a JSON Schema per kind that lists the required fields', () => {
    const s = jsonSchemaOf(planFormat as never) as {title: string; properties: Record<string, unknown>; required: string[]}
    expect(s.title).toBe('amps plan.json, version 1')
    expect(s.properties.kind).toEqual({const: 'plan'})
    expect(s.required).toEqual(expect.arrayContaining(['model', 'inputs', 'batch', 'stages', 'predicted']))
    const p = jsonSchemaOf(profileFormat as never) as {properties: Record<string, {required?: string[]}>}
    expect(p.properties.runtime.required).toContain('baselineRssMb')
    expect((jsonSchemaOf(deploymentFormat as never) as {properties: Record<string, unknown>}).properties.target).toEqual({
      type: 'string',
      enum: ['local', 'aws'],
    })
  })

  it('resolves a recorded relative path beside the file first, then from the current directory', () => {
    mkdirSync(join(dir, 'beside'), {recursive: true})
    writeFileSync(join(dir, 'beside', 'model.json'), '{}')
    expect(resolveRecordedPath('beside/model.json', join(dir, 'plan.json'))).toBe(join(dir, 'beside', 'model.json'))
    expect(resolveRecordedPath('package.json', join(dir, 'plan.json'))).toBe(join(process.cwd(), 'package.json'))
    expect(resolveRecordedPath('/abs/x.json', planPath)).toBe('/abs/x.json')
  })
})
