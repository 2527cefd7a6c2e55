/**
 * The bad-input suite: generated malformed inputs across every category a user can get wrong
 * (model.json, .h5/.keras, profile/plan/deployment files, invoke payloads, flags, price files,
 * traces, output paths), each run through the real command and classified:
 *   clean    exit 2, one line naming the file or field, a hint, no stack, no partial output file
 *   crash    exit 1 (amps calls it a bug) or a stack trace
 *   partial  an output file (or a temporary one) left behind
 *   wrong    exit 0: accepted something it should have refused
 * test/bad-input/bad-input.test.ts asserts every case is clean; `npm run reliability`
 * prints the counts for BENCHMARKS.md. Commands run in-process (oclif's runCommand on the built
 * command classes) except the few marked `spawn`, which run `node bin/run.js` as a user would.
 */
import {spawnSync} from 'node:child_process'
import {cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {planFromProfile} from '../../src/plan/index.js'
import {writePlan} from '../../src/plan/schema.js'
import {writeProfile} from '../../src/profile/io.js'
import {syntheticProfile} from '../helpers/synthetic.js'

/** The repository root, from dist-test/test/bench or test/bench. */
export const repoRoot = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'bin', 'run.js'))) dir = dirname(dir)
  return dir
})()

export type Category = 'model' | 'profile' | 'plan' | 'deployment' | 'payload' | 'flags' | 'prices' | 'trace' | 'output'

export interface BadCase {
  name: string
  category: Category
  /** argv after `amps`; `{dir}` is replaced by the case's folder */
  argv: string[]
  /** writes the case's input files into `dir` (fixtures are already there) */
  setup?: (dir: string, f: Fixtures) => void
  /** the error line must name this (a file, a field or a flag) */
  names: string | RegExp
  /** files the command must not leave behind (relative to dir) */
  outputs?: string[]
  /** run `node bin/run.js` instead of in-process */
  spawn?: boolean
}

export interface Fixtures {
  profile: Record<string, any>
  plan: Record<string, any>
  deployment: Record<string, any>
  modelJson: Record<string, any>
}

export type Outcome = 'clean' | 'crash' | 'partial' | 'wrong'

export interface CaseResult {
  name: string
  category: Category
  outcome: Outcome
  exit: number
  errorLine: string
  hint: string
  why?: string
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T
const put = (dir: string, name: string, value: unknown): void =>
  writeFileSync(join(dir, name), typeof value === 'string' ? value : JSON.stringify(value, null, 2))

/** Writes the valid fixtures every case starts from: a model, a profile, a plan, a deployment, a trace. */
export function writeFixtures(dir: string): Fixtures {
  mkdirSync(dir, {recursive: true})
  cpSync(join(repoRoot, 'examples', 'tiny-cnn'), join(dir, 'model'), {recursive: true})
  const profile = syntheticProfile({layers: 6, seed: 5, topology: 'chain', meanLayerMs: 3, meanWeightBytes: 2e5})
  writeProfile(join(dir, 'profile.json'), profile)
  const plan = planFromProfile(profile, {sloMs: 500, ratePerSecond: 5, now: new Date('2026-11-23T00:00:00Z')})
  plan.model.source = join(dir, 'model')
  writePlan(join(dir, 'plan.json'), plan)
  const deployment = {
    kind: 'deployment',
    version: 1,
    target: 'local',
    region: 'local',
    planHash: '0'.repeat(64),
    planPath: join(dir, 'no-such-plan.json'),
    modelPath: join(dir, 'model'),
    createdAt: '2026-11-23T00:00:00.000Z',
    updatedAt: '2026-11-23T00:00:00.000Z',
    // port 1 on 127.0.0.1: nothing listens there, so the stage "is not running"
    stages: [
      {
        stageIndex: 0,
        functionName: 'amps-bad-0000-stage-1',
        status: 'active',
        port: 1,
        pid: 999999,
        createdByUs: true,
        updatedAt: '2026-11-23T00:00:00.000Z',
        stageName: 'stage-1',
        inputTensors: ['x'],
        outputTensors: ['y'],
      },
    ],
    modelInputs: [{id: 'x', shape: [null, 4], dtype: 'float32', bytesPerSample: 16}],
    modelOutputs: [{id: 'y', shape: [null, 2], dtype: 'float32', bytesPerSample: 8}],
  }
  put(dir, 'deployment.json', deployment)
  writeFileSync(join(dir, 'trace.csv'), 'time_ms\n0\n10\n25\n')
  const modelJson = JSON.parse(readFileSync(join(dir, 'model', 'model.json'), 'utf8'))
  return {
    profile: JSON.parse(readFileSync(join(dir, 'profile.json'), 'utf8')),
    plan: JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')),
    deployment,
    modelJson,
  }
}

type Mutation<T> = [string, (x: T) => void, string | RegExp]

function set(path: string, value: unknown): (x: any) => void {
  return (x) => {
    const keys = path.split('.')
    let o = x
    for (const k of keys.slice(0, -1)) o = o[k]
    if (value === undefined) delete o[keys.at(-1)!]
    else o[keys.at(-1)!] = value
  }
}

/** Whole-file problems every JSON input can have: [name, file text, what the error must name]. */
const BROKEN_TEXT: [string, string][] = [
  ['empty file', ''],
  ['not JSON', 'layers: 3\n'],
  ['truncated JSON', '{"kind": "plan", "version": 1, "stages": ['],
  ['a JSON array', '[1, 2, 3]'],
  ['JSON null', 'null'],
  ['a JSON string', '"plan"'],
]

export function badInputCases(): BadCase[] {
  const cases: BadCase[] = []

  // ---- profile.json, given to `amps plan` (and simulate --profile-json is not ours: plan only)
  const profileMutations: Mutation<any>[] = [
    ...['model', 'inputs', 'outputs', 'environment', 'batchSizes', 'memoryMb', 'layers', 'cuts', 'wholeModel', 'runtime', 'warnings'].map(
      (k): Mutation<any> => [`missing ${k}`, set(k, undefined), `"${k}"`],
    ),
    ['model.layers not a number', set('model.layers', 'x'), '"model.layers"'],
    ['negative median', (p) => (p.layers[0].timing[0].medianMs = -1), '"layers[0].timing[0].medianMs"'],
    ['unknown quota method', set('environment.quotaMethod', 'guessed'), '"environment.quotaMethod"'],
    ['empty batchSizes', set('batchSizes', []), '"batchSizes"'],
    ['zero memory size', set('memoryMb', [0]), '"memoryMb[0]"'],
    ['no inputs', set('inputs', []), '"inputs"'],
    ['null runtime field', set('runtime.baselineRssMb', null), '"runtime.baselineRssMb"'],
    ['layer index out of order', (p) => (p.layers[1].index = 5), '"layers[1].index"'],
    ['cut after the last layer', (p) => (p.cuts[0].after = 999), '"cuts[0].after"'],
    ['newer version', set('version', 99), 'version 99'],
    ['NaN-like string timing', (p) => (p.layers[2].timing[1].p90Ms = 'NaN'), '"layers[2].timing[1].p90Ms"'],
    ['bad dtype', (p) => (p.inputs[0].dtype = 'float64'), '"inputs[0].dtype"'],
  ]
  for (const [name, mutate, names] of profileMutations) {
    cases.push({
      name: `profile: ${name}`,
      category: 'profile',
      argv: ['plan', '{dir}/bad-profile.json', '--slo', '500', '-o', '{dir}/out.json'],
      setup: (dir, f) => {
        const p = clone(f.profile)
        mutate(p)
        put(dir, 'bad-profile.json', p)
      },
      names,
      outputs: ['out.json'],
    })
  }
  for (const [name, text] of BROKEN_TEXT) {
    cases.push({
      name: `profile: ${name}`,
      category: 'profile',
      argv: ['plan', '{dir}/bad-profile.json', '--slo', '500', '-o', '{dir}/out.json'],
      setup: (dir) => put(dir, 'bad-profile.json', text),
      names: 'bad-profile.json',
      outputs: ['out.json'],
    })
  }
  cases.push({
    name: 'profile: a plan given as the profile',
    category: 'profile',
    argv: ['plan', '{dir}/plan.json', '--slo', '500', '-o', '{dir}/out.json'],
    names: 'plan.json',
    outputs: ['out.json'],
  })
  cases.push({
    name: 'profile: a deployment given as the profile',
    category: 'profile',
    argv: ['plan', '{dir}/deployment.json', '--slo', '500', '-o', '{dir}/out.json'],
    names: 'deployment.json',
    outputs: ['out.json'],
  })
  cases.push({
    name: 'profile: missing file',
    category: 'profile',
    argv: ['plan', '{dir}/nope.json', '--slo', '500', '-o', '{dir}/out.json'],
    names: 'nope.json',
    outputs: ['out.json'],
  })

  // ---- plan.json, given to estimate-cost (all), deploy and simulate (some)
  const planMutations: Mutation<any>[] = [
    ['no stages', set('stages', []), '"stages"'],
    ['memory above the limit', (p) => (p.stages[0].memoryMb = 20000), '"stages[0].memoryMb"'],
    ['memory below the limit', (p) => (p.stages[0].memoryMb = 64), '"stages[0].memoryMb"'],
    ['unknown arch', (p) => (p.stages[0].arch = 'sparc'), '"stages[0].arch"'],
    ['unknown handoff', (p) => (p.stages[0].handoff = 'pigeon'), '"stages[0].handoff"'],
    ['batch size 0', set('batch.size', 0), '"batch.size"'],
    ['negative SLO', set('inputs.sloMs', -1), '"inputs.sloMs"'],
    ['percentile above 100', set('inputs.percentile', 101), '"inputs.percentile"'],
    ['missing predicted', set('predicted', undefined), '"predicted"'],
    ['unknown solver', set('solver.method', 'guess'), '"solver.method"'],
    ['newer version', set('version', 2), 'version 2'],
    ['older version', set('version', 0), 'version 0'],
    ['stage index out of order', (p) => (p.stages[0].index = 3), '"stages[0].index"'],
    ['layer count that disagrees', (p) => (p.stages[0].layers.count = 99), '"stages[0].layers.count"'],
    ['missing createdAt', set('createdAt', undefined), '"createdAt"'],
    ['model.source a number', set('model.source', 42), '"model.source"'],
    ['baselines not a list', set('baselines', {}), '"baselines"'],
    ['cold-start probability above 1', set('predicted.coldStartProbability', 3), '"predicted.coldStartProbability"'],
    ['kind says profile', set('kind', 'profile'), 'a profile'],
  ]
  for (const [name, mutate, names] of planMutations) {
    cases.push({
      name: `plan: ${name}`,
      category: 'plan',
      argv: ['estimate-cost', '{dir}/bad-plan.json'],
      setup: (dir, f) => {
        const p = clone(f.plan)
        mutate(p)
        put(dir, 'bad-plan.json', p)
      },
      names,
    })
  }
  for (const [name, text] of BROKEN_TEXT) {
    cases.push({
      name: `plan: ${name}`,
      category: 'plan',
      argv: ['estimate-cost', '{dir}/bad-plan.json'],
      setup: (dir) => put(dir, 'bad-plan.json', text),
      names: 'bad-plan.json',
    })
  }
  for (const [cmd, extra] of [
    ['deploy', ['--dry-run', '-o', '{dir}/dep.json']],
    ['simulate', ['--duration', '10']],
  ] as const) {
    for (const [name, mutate, names] of planMutations.slice(0, 5)) {
      cases.push({
        name: `plan (${cmd}): ${name}`,
        category: 'plan',
        argv: [cmd, '{dir}/bad-plan.json', ...extra],
        setup: (dir, f) => {
          const p = clone(f.plan)
          mutate(p)
          put(dir, 'bad-plan.json', p)
        },
        names,
        outputs: ['dep.json'],
      })
    }
    cases.push({
      name: `plan (${cmd}): a profile given as the plan`,
      category: 'plan',
      argv: [cmd, '{dir}/profile.json', ...extra],
      names: 'profile.json',
      outputs: ['dep.json'],
    })
  }
  cases.push({name: 'plan: a directory', category: 'plan', argv: ['estimate-cost', '{dir}/model'], names: 'model'})
  cases.push({name: 'plan: missing file', category: 'plan', argv: ['estimate-cost', '{dir}/nope.json'], names: 'nope.json'})
  cases.push({
    name: 'plan (deploy): stage name unfit for a function',
    category: 'plan',
    argv: ['deploy', '{dir}/bad-plan.json', '--dry-run', '-o', '{dir}/dep.json'],
    setup: (dir, f) => put(dir, 'bad-plan.json', {...clone(f.plan), stages: f.plan.stages.map((s: any) => ({...s, name: 'stage one/..'}))}),
    names: '"stages[0].name"',
    outputs: ['dep.json'],
  })
  cases.push({
    name: 'plan (deploy): model not found',
    category: 'plan',
    argv: ['deploy', '{dir}/bad-plan.json', '--dry-run', '-o', '{dir}/dep.json'],
    setup: (dir, f) => put(dir, 'bad-plan.json', {...clone(f.plan), model: {...f.plan.model, source: join(dir, 'gone')}}),
    names: 'gone',
    outputs: ['dep.json'],
  })

  // ---- deployment.json, given to invoke and destroy
  const deploymentMutations: Mutation<any>[] = [
    ['unknown target', set('target', 'gcp'), '"target"'],
    ['stages not a list', set('stages', {}), '"stages"'],
    ['port out of range', (d) => (d.stages[0].port = 70000), '"stages[0].port"'],
    ['negative pid', (d) => (d.stages[0].pid = -1), '"stages[0].pid"'],
    ['unknown status', (d) => (d.stages[0].status = 'zombie'), '"stages[0].status"'],
    ['newer version', set('version', 9), 'version 9'],
    ['missing planHash', set('planHash', undefined), '"planHash"'],
    ['kind says plan', set('kind', 'plan'), 'a plan'],
  ]
  for (const cmd of ['invoke', 'destroy'] as const) {
    for (const [name, mutate, names] of deploymentMutations) {
      cases.push({
        name: `deployment (${cmd}): ${name}`,
        category: 'deployment',
        argv: cmd === 'destroy' ? ['destroy', '{dir}/bad-dep.json', '--force'] : ['invoke', '{dir}/bad-dep.json'],
        setup: (dir, f) => {
          const d = clone(f.deployment)
          mutate(d)
          put(dir, 'bad-dep.json', d)
        },
        names,
      })
    }
    for (const [name, text] of BROKEN_TEXT.slice(0, 3)) {
      cases.push({
        name: `deployment (${cmd}): ${name}`,
        category: 'deployment',
        argv: cmd === 'destroy' ? ['destroy', '{dir}/bad-dep.json', '--force'] : ['invoke', '{dir}/bad-dep.json'],
        setup: (dir) => put(dir, 'bad-dep.json', text),
        names: 'bad-dep.json',
      })
    }
    cases.push({
      name: `deployment (${cmd}): a plan given`,
      category: 'deployment',
      argv: [cmd, '{dir}/plan.json', ...(cmd === 'destroy' ? ['--force'] : [])],
      names: 'plan.json',
    })
    cases.push({
      name: `deployment (${cmd}): missing file`,
      category: 'deployment',
      argv: [cmd, '{dir}/nope.json', ...(cmd === 'destroy' ? ['--force'] : [])],
      names: 'nope.json',
    })
  }
  cases.push({name: 'deployment (invoke): the stage is not running', category: 'deployment', argv: ['invoke', '{dir}/deployment.json'], names: 'stage-1'})

  // ---- invoke payloads (--input), against the fixture deployment (model input x: [batch, 4])
  const npyHeader = (descr: string, shape: string, fortran = 'False'): Buffer => {
    let h = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${shape}), }`
    while ((10 + h.length + 1) % 64 !== 0) h += ' '
    h += '\n'
    const b = Buffer.alloc(10)
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(b)
    b.writeUInt16LE(h.length, 8)
    return Buffer.concat([b, Buffer.from(h, 'latin1')])
  }
  const payloads: [string, string, (dir: string) => void, string | RegExp][] = [
    ['missing input file', 'gone.npy', () => {}, 'gone.npy'],
    ['unknown extension', 'input.txt', (d) => writeFileSync(join(d, 'input.txt'), '1 2 3 4'), 'input.txt'],
    ['.npy without magic', 'bad.npy', (d) => writeFileSync(join(d, 'bad.npy'), 'hello'), 'bad.npy'],
    [
      '.npy with the wrong shape',
      'shape.npy',
      (d) => writeFileSync(join(d, 'shape.npy'), Buffer.concat([npyHeader('<f4', '3,'), Buffer.alloc(12)])),
      'shape.npy',
    ],
    [
      '.npy Fortran order',
      'fortran.npy',
      (d) => writeFileSync(join(d, 'fortran.npy'), Buffer.concat([npyHeader('<f4', '1, 4', 'True'), Buffer.alloc(16)])),
      'fortran.npy',
    ],
    ['.npy truncated data', 'short.npy', (d) => writeFileSync(join(d, 'short.npy'), Buffer.concat([npyHeader('<f4', '1, 4'), Buffer.alloc(5)])), 'short.npy'],
    ['.json not JSON', 'bad.json', (d) => writeFileSync(join(d, 'bad.json'), '[1, 2,'), 'bad.json'],
    ['.json with the wrong shape', 'shape.json', (d) => writeFileSync(join(d, 'shape.json'), '[[1, 2, 3]]'), 'shape.json'],
    ['.json with strings', 'strings.json', (d) => writeFileSync(join(d, 'strings.json'), '[["a", "b", "c", "d"]]'), 'strings.json'],
    ['.png that is not a PNG', 'fake.png', (d) => writeFileSync(join(d, 'fake.png'), 'not a png'), 'fake.png'],
  ]
  for (const [name, file, setup, names] of payloads) {
    cases.push({name: `payload: ${name}`, category: 'payload', argv: ['invoke', '{dir}/deployment.json', '--input', `{dir}/${file}`], setup, names})
  }

  // ---- flags
  const flagCases: [string, string[], string | RegExp, string[]?][] = [
    ['plan --slo 0', ['plan', '{dir}/profile.json', '--slo', '0', '-o', '{dir}/out.json'], '--slo', ['out.json']],
    ['plan --slo -1', ['plan', '{dir}/profile.json', '--slo=-1', '-o', '{dir}/out.json'], '--slo', ['out.json']],
    ['plan --slo abc', ['plan', '{dir}/profile.json', '--slo', 'abc', '-o', '{dir}/out.json'], '--slo', ['out.json']],
    ['plan --slo empty', ['plan', '{dir}/profile.json', '--slo', '', '-o', '{dir}/out.json'], '--slo', ['out.json']],
    ['plan without --slo', ['plan', '{dir}/profile.json', '-o', '{dir}/out.json'], '--slo', ['out.json']],
    ['plan --rate 0', ['plan', '{dir}/profile.json', '--slo', '500', '--rate', '0', '-o', '{dir}/out.json'], '--rate', ['out.json']],
    ['plan --rate -5', ['plan', '{dir}/profile.json', '--slo', '500', '--rate=-5', '-o', '{dir}/out.json'], '--rate', ['out.json']],
    ['plan --rate ten', ['plan', '{dir}/profile.json', '--slo', '500', '--rate', 'ten', '-o', '{dir}/out.json'], '--rate', ['out.json']],
    ['plan --percentile 0', ['plan', '{dir}/profile.json', '--slo', '500', '--percentile', '0', '-o', '{dir}/out.json'], '--percentile', ['out.json']],
    ['plan --percentile 101', ['plan', '{dir}/profile.json', '--slo', '500', '--percentile', '101', '-o', '{dir}/out.json'], '--percentile', ['out.json']],
    [
      'plan --max-batch 0',
      ['plan', '{dir}/profile.json', '--slo', '500', '--rate', '5', '--max-batch', '0', '-o', '{dir}/out.json'],
      '--max-batch',
      ['out.json'],
    ],
    ['plan --stages 0', ['plan', '{dir}/profile.json', '--slo', '500', '--stages', '0', '-o', '{dir}/out.json'], '--stages', ['out.json']],
    ['plan --stages 99', ['plan', '{dir}/profile.json', '--slo', '500', '--stages', '99', '-o', '{dir}/out.json'], '--stages', ['out.json']],
    ['plan --max-stages 0', ['plan', '{dir}/profile.json', '--slo', '500', '--max-stages', '0', '-o', '{dir}/out.json'], '--max-stages', ['out.json']],
    ['plan --arch mips', ['plan', '{dir}/profile.json', '--slo', '500', '--arch', 'mips', '-o', '{dir}/out.json'], '--arch', ['out.json']],
    ['plan --solver guess', ['plan', '{dir}/profile.json', '--slo', '500', '--solver', 'guess', '-o', '{dir}/out.json'], '--solver', ['out.json']],
    ['plan --time-limit 0', ['plan', '{dir}/profile.json', '--slo', '500', '--time-limit', '0', '-o', '{dir}/out.json'], '--time-limit', ['out.json']],
    ['plan unknown flag', ['plan', '{dir}/profile.json', '--slo', '500', '--fast', '-o', '{dir}/out.json'], '--fast', ['out.json']],
    ['plan infeasible SLO', ['plan', '{dir}/profile.json', '--slo', '0.5', '-o', '{dir}/out.json'], /SLO|0\.5/, ['out.json']],
    ['profile --memory 64', ['profile', '{dir}/model', '--memory', '64', '-o', '{dir}/out.json'], '--memory', ['out.json']],
    ['profile --memory abc', ['profile', '{dir}/model', '--memory', 'abc', '-o', '{dir}/out.json'], '--memory', ['out.json']],
    ['profile --memory empty', ['profile', '{dir}/model', '--memory', '', '-o', '{dir}/out.json'], '--memory', ['out.json']],
    ['profile --batch-sizes 0', ['profile', '{dir}/model', '--batch-sizes', '0', '-o', '{dir}/out.json'], '--batch-sizes', ['out.json']],
    ['profile --batch-sizes 1.5', ['profile', '{dir}/model', '--batch-sizes', '1.5', '-o', '{dir}/out.json'], '--batch-sizes', ['out.json']],
    ['profile --backend gpu', ['profile', '{dir}/model', '--backend', 'gpu', '-o', '{dir}/out.json'], '--backend', ['out.json']],
    ['estimate-cost --rate 0', ['estimate-cost', '{dir}/plan.json', '--rate', '0'], '--rate'],
    ['estimate-cost --requests-per-month -1', ['estimate-cost', '{dir}/plan.json', '--requests-per-month=-1'], '--requests-per-month'],
    [
      'estimate-cost --rate with --requests-per-month',
      ['estimate-cost', '{dir}/plan.json', '--rate', '1', '--requests-per-month', '5'],
      /--rate|--requests-per-month/,
    ],
    ['simulate --rate 0', ['simulate', '{dir}/plan.json', '--rate', '0'], '--rate'],
    ['simulate --duration -1', ['simulate', '{dir}/plan.json', '--duration=-1'], '--duration'],
    ['simulate --keep-alive-s abc', ['simulate', '{dir}/plan.json', '--keep-alive-s', 'abc'], '--keep-alive-s'],
    ['invoke --repeat 0', ['invoke', '{dir}/deployment.json', '--repeat', '0'], '--repeat'],
    ['deploy --target gcp', ['deploy', '{dir}/plan.json', '--target', 'gcp', '-o', '{dir}/dep.json'], '--target', ['dep.json']],
    [
      'deploy --role-arn with --create-role',
      ['deploy', '{dir}/plan.json', '--target', 'aws', '--role-arn', 'arn:x', '--create-role', '-o', '{dir}/dep.json'],
      /--role-arn|--create-role/,
      ['dep.json'],
    ],
    ['schema of an unknown kind', ['schema', 'model'], 'model'],
  ]
  for (const [name, argv, names, outputs] of flagCases) cases.push({name: `flags: ${name}`, category: 'flags', argv, names, outputs})

  // ---- price files (--prices)
  const prices: [string, string | undefined, string | RegExp][] = [
    ['missing price file', undefined, 'prices.json'],
    ['price file not JSON', '{"lambda":', 'prices.json'],
    ['negative price', JSON.stringify({lambda: {x86_64: {usdPerGbSecond: -1}}}), /prices\.json|usdPerGbSecond|lambda/],
    ['price of the wrong type', JSON.stringify({lambda: {requestUsdPerMillion: 'cheap'}}), /prices\.json|requestUsdPerMillion|lambda/],
    ['price file a list', '[]', 'prices.json'],
  ]
  for (const [name, text, names] of prices) {
    cases.push({
      name: `prices: ${name} (plan)`,
      category: 'prices',
      argv: ['plan', '{dir}/profile.json', '--slo', '500', '--prices', '{dir}/prices.json', '-o', '{dir}/out.json'],
      setup: (dir) => text !== undefined && put(dir, 'prices.json', text),
      names,
      outputs: ['out.json'],
    })
    cases.push({
      name: `prices: ${name} (estimate-cost)`,
      category: 'prices',
      argv: ['estimate-cost', '{dir}/plan.json', '--prices', '{dir}/prices.json'],
      setup: (dir) => text !== undefined && put(dir, 'prices.json', text),
      names,
    })
  }

  // ---- traces (simulate --trace)
  const traces: [string, string | undefined][] = [
    ['missing trace', undefined],
    ['empty trace', ''],
    ['trace of words', 'time_ms\nsoon\nlater\n'],
    ['trace with a negative time', 'time_ms\n0\n-5\n10\n'],
    ['trace header only', 'time_ms\n'],
  ]
  for (const [name, text] of traces) {
    cases.push({
      name: `trace: ${name}`,
      category: 'trace',
      argv: ['simulate', '{dir}/plan.json', '--trace', '{dir}/arrivals.csv'],
      setup: (dir) => text !== undefined && put(dir, 'arrivals.csv', text),
      names: 'arrivals.csv',
    })
  }
  cases.push({name: 'trace: a directory', category: 'trace', argv: ['simulate', '{dir}/plan.json', '--trace', '{dir}/model'], names: 'model'})

  // ---- model files (amps profile / amps plan on a model)
  const modelCases: [string, (dir: string, f: Fixtures) => string, string | RegExp][] = [
    ['model.json not JSON', (d) => (writeFileSync(join(d, 'm', 'model.json'), '{"modelTopology":'), 'm'), 'model.json'],
    [
      'model.json without modelTopology',
      (d, f) => (put(join(d, 'm'), 'model.json', {...f.modelJson, modelTopology: undefined}), 'm'),
      /model\.json|modelTopology/,
    ],
    ['modelTopology null', (d, f) => (put(join(d, 'm'), 'model.json', {...f.modelJson, modelTopology: null}), 'm'), /model\.json|modelTopology/],
    [
      'no weightsManifest',
      (d, f) => (put(join(d, 'm'), 'model.json', {...f.modelJson, weightsManifest: undefined}), 'm'),
      /model\.json|weightsManifest|weights/,
    ],
    [
      'weight shard missing',
      (d, f) => (put(join(d, 'm'), 'model.json', {...f.modelJson, weightsManifest: [{...f.modelJson.weightsManifest[0], paths: ['gone.bin']}]}), 'm'),
      'gone.bin',
    ],
    ['weight shard too short', (d) => (writeFileSync(join(d, 'm', 'weights.bin'), Buffer.alloc(100)), 'm'), /weights\.bin|bytes/],
    [
      'weight path outside the model folder',
      (d, f) => (
        put(join(d, 'm'), 'model.json', {...f.modelJson, weightsManifest: [{...f.modelJson.weightsManifest[0], paths: ['../../../../etc/passwd']}]}),
        'm'
      ),
      /passwd|outside|\.\./,
    ],
    [
      'unknown layer class',
      (d, f) => {
        const m = clone(f.modelJson)
        m.modelTopology.config.layers[1].class_name = 'QuantumConv'
        put(join(d, 'm'), 'model.json', m)
        return 'm'
      },
      'QuantumConv',
    ],
    [
      'no layers',
      (d, f) => {
        const m = clone(f.modelJson)
        m.modelTopology.config.layers = []
        put(join(d, 'm'), 'model.json', m)
        return 'm'
      },
      /layers|model\.json/,
    ],
    [
      'negative input dimension',
      (d, f) => {
        const m = clone(f.modelJson)
        m.modelTopology.config.layers[0].config.batch_input_shape = [null, -64, 64, 3]
        put(join(d, 'm'), 'model.json', m)
        return 'm'
      },
      /-64|batch_input_shape|image/,
    ],
    ['model.json is a directory', (d) => (mkdirSync(join(d, 'm2', 'model.json'), {recursive: true}), 'm2/model.json'), 'model.json'],
    ['empty directory', (d) => (mkdirSync(join(d, 'm3'), {recursive: true}), 'm3'), 'm3'],
    ['.h5 of garbage', (d) => (writeFileSync(join(d, 'model.h5'), Buffer.from('not an hdf5 file at all')), 'model.h5'), 'model.h5'],
    ['empty .h5', (d) => (writeFileSync(join(d, 'empty.h5'), ''), 'empty.h5'), 'empty.h5'],
    ['.keras of garbage', (d) => (writeFileSync(join(d, 'model.keras'), Buffer.from('PK not really a zip')), 'model.keras'), 'model.keras'],
    ['unsupported extension', (d) => (writeFileSync(join(d, 'model.onnx'), 'x'), 'model.onnx'), 'model.onnx'],
  ]
  for (const [name, setupModel, names] of modelCases) {
    let target = ''
    cases.push({
      name: `model: ${name}`,
      category: 'model',
      argv: ['profile', '{dir}/{model}', '--quick', '-o', '{dir}/out.json'],
      setup: (dir, f) => {
        cpSync(join(dir, 'model'), join(dir, 'm'), {recursive: true})
        target = setupModel(dir, f)
        writeFileSync(join(dir, '.model-target'), target)
      },
      names,
      outputs: ['out.json'],
    })
  }

  // ---- output paths
  const outputs: [string, string[], string | RegExp][] = [
    ['plan -o into /proc', ['plan', '{dir}/profile.json', '--slo', '500', '-o', '/proc/amps-plan.json'], '/proc'],
    ['plan -o a directory', ['plan', '{dir}/profile.json', '--slo', '500', '-o', '{dir}/model'], 'model'],
    ['plan -o under a file', ['plan', '{dir}/profile.json', '--slo', '500', '-o', '{dir}/plan.json/x.json'], 'plan.json'],
    ['profile -o into /proc', ['profile', '{dir}/model', '-o', '/proc/amps-profile.json'], '/proc'],
    ['profile -o a directory', ['profile', '{dir}/model', '-o', '{dir}'], /-o|--output/],
    ['deploy -o into /proc', ['deploy', '{dir}/plan.json', '--dry-run', '-o', '/proc/amps-dep.json'], '/proc'],
    ['deploy --out (old name) into /proc', ['deploy', '{dir}/plan.json', '--dry-run', '--out', '/proc/amps-dep.json'], '/proc'],
    ['deploy -o under a file', ['deploy', '{dir}/plan.json', '-o', '{dir}/plan.json/dep.json'], 'plan.json'],
  ]
  for (const [name, argv, names] of outputs) cases.push({name: `output: ${name}`, category: 'output', argv, names})

  // a few through the real binary, as a user runs it
  for (const name of [
    'flags: plan --rate 0',
    'plan: kind says profile',
    'output: plan -o into /proc',
    'model: model.json is a directory',
    'deployment (invoke): the stage is not running',
  ]) {
    const c = cases.find((x) => x.name === name)
    if (c) c.spawn = true
  }
  return cases
}

function materialise(argv: string[], dir: string): string[] {
  const model = existsSync(join(dir, '.model-target')) ? readFileSync(join(dir, '.model-target'), 'utf8') : 'model'
  return argv.map((a) => a.replaceAll('{dir}', dir).replaceAll('{model}', model))
}

const STACK = /\n\s+at .+[:(]\S+:\d+:\d+\)?/

type RunOutput = {exit: number; stdout: string; stderr: string}

let configPromise: Promise<unknown> | undefined

async function runInProcess(argv: string[]): Promise<RunOutput> {
  const {runCommand} = await import('@oclif/test')
  const {Config} = await import('@oclif/core')
  configPromise ??= Config.load({root: repoRoot})
  const config = (await configPromise) as never
  const before = process.exitCode
  try {
    const r = await runCommand(argv, config)
    const err = r.error as (Error & {oclif?: {exit?: number}}) | undefined
    const exit = err ? (err.oclif?.exit ?? 1) : 0
    // oclif's handler prints nothing for amps errors (BaseCommand.catch printed them); parse errors
    // thrown before a command runs are printed by oclif's handler, which runCommand does not call
    const stderr = r.stderr + (err && !r.stderr.includes('Error: ') ? `Error: ${err.message}\n` : '')
    return {exit, stdout: r.stdout, stderr}
  } finally {
    process.exitCode = before
  }
}

function runSpawned(argv: string[]): RunOutput {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'run.js'), ...argv], {
    encoding: 'utf8',
    env: {...process.env, CI: 'true', NO_COLOR: '1'},
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  })
  return {exit: r.status ?? 1, stdout: r.stdout, stderr: r.stderr}
}

/** Runs one case in a fresh copy of the fixtures under `root` and classifies the outcome. */
export async function runCase(c: BadCase, root: string, fixtures: {dir: string; f: Fixtures}): Promise<CaseResult> {
  const dir = join(root, c.name.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 80))
  rmSync(dir, {recursive: true, force: true})
  cpSync(fixtures.dir, dir, {recursive: true})
  // recorded paths in the fixtures point at the fixture folder; point them at this copy
  for (const name of ['plan.json', 'deployment.json']) {
    const p = join(dir, name)
    writeFileSync(p, readFileSync(p, 'utf8').replaceAll(fixtures.dir, dir))
  }
  const f = {
    ...fixtures.f,
    plan: JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')),
    deployment: JSON.parse(readFileSync(join(dir, 'deployment.json'), 'utf8')),
  }
  c.setup?.(dir, f)
  const before = new Set(readdirSync(dir))
  const argv = materialise(c.argv, dir)
  const out = c.spawn ? runSpawned(argv) : await runInProcess(argv)
  const lines = out.stderr.split('\n')
  const errorLine = (lines.find((l) => l.startsWith('Error: ')) ?? '').slice('Error: '.length)
  const hint = (lines.find((l) => l.startsWith('Hint: ')) ?? '').slice('Hint: '.length)
  const result: CaseResult = {name: c.name, category: c.category, outcome: 'clean', exit: out.exit, errorLine, hint}
  const leftovers = readdirSync(dir).filter((x) => !before.has(x) && (x.endsWith('.tmp') || (c.outputs ?? []).includes(x)))
  if (out.exit === 0) return {...result, outcome: 'wrong', why: 'exit 0: accepted'}
  if (out.exit !== 2 || STACK.test(out.stderr) || /probably a bug/.test(out.stderr))
    return {...result, outcome: 'crash', why: `exit ${out.exit}: ${errorLine || out.stderr.slice(0, 300)}`}
  if (leftovers.length > 0) return {...result, outcome: 'partial', why: `left ${leftovers.join(', ')}`}
  const names = typeof c.names === 'string' ? errorLine.includes(c.names) : c.names.test(errorLine)
  const problems: string[] = []
  if (!errorLine) problems.push('no "Error: " line')
  if (!names) problems.push(`the error does not name ${String(c.names)}`)
  if (!hint) problems.push('no hint')
  if (/AmpsUserError|CLIError/.test(out.stderr)) problems.push('a class name in the output')
  // one line: after the "Error: " line comes only the "Hint: " line (a wrapped message would not)
  const at = lines.findIndex((l) => l.startsWith('Error: '))
  const after = at < 0 ? [] : lines.slice(at + 1).filter((l) => l.trim() !== '' && !l.startsWith('Hint: '))
  if (after.length > 0 || lines.filter((l) => l.startsWith('Error: ')).length > 1)
    problems.push(`the error spans more than one line: ${JSON.stringify(lines.slice(Math.max(at, 0)))}`)
  if (problems.length > 0) return {...result, outcome: 'crash', why: problems.join('; ') + ` — got: ${errorLine}`}
  return result
}

/** Runs every case (in order) and returns the results; `onResult` sees each as it finishes. */
export async function runBadInputSuite(root: string, onResult?: (r: CaseResult) => void, filter?: (c: BadCase) => boolean): Promise<CaseResult[]> {
  const fixturesDir = join(root, '_fixtures')
  const f = writeFixtures(fixturesDir)
  const results: CaseResult[] = []
  for (const c of badInputCases().filter(filter ?? (() => true))) {
    const r = await runCase(c, root, {dir: fixturesDir, f})
    results.push(r)
    onResult?.(r)
  }
  return results
}
