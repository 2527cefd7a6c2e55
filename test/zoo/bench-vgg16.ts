/**
 * Times what issue 11.2 asks of a 553 MB model: `amps profile` (default settings, --no-cache) and
 * `amps plan` of a full-size generated VGG16 (138,357,544 params), through the built CLI as a user
 * runs it. Target: both together ≤ 5 minutes on 2 quiet cores.
 *
 *   npm run build && npx tsx test/zoo/bench-vgg16.ts [--dir /tmp/amps-zoo/vgg16] [--quick] [--deploy] [--reuse-profile]
 *
 * Writes bench-results/zoo-vgg16.json ({profileS, planS, totalS, plan outcome, load average});
 * the profile's own progress (with its ETA) streams to stderr.
 *
 * --deploy then deploys the plan on the local target (fc1's 411 MB of weights go to the
 * deployment's store and are fetched at INIT: its bundle stays far below 250 MB), runs
 * `invoke --input random --compare` once and destroys it; the result gains `deploy` {deployS,
 * invokeS, per-stage package and fetched-weights bytes, INIT ms, max |chain − whole model|}.
 * --reuse-profile keeps an existing <dir>/../vgg16-profile.json instead of profiling again.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {loadavg, tmpdir} from 'node:os'
import {join} from 'node:path'

import {repoRoot} from '../helpers/nsfwjs.js'
import {buildZooModel} from './apps.js'

const args = process.argv.slice(2)
const dirAt = args.indexOf('--dir')
const dir = dirAt >= 0 ? args[dirAt + 1] : join(tmpdir(), 'amps-zoo', 'vgg16')
const quick = args.includes('--quick')
const deploy = args.includes('--deploy')
const reuseProfile = args.includes('--reuse-profile')
const cache = join(tmpdir(), 'amps-zoo', 'cache')

if (!existsSync(join(dir, 'model.json'))) {
  const t0 = Date.now()
  buildZooModel('vgg16').write(dir)
  process.stderr.write(`generated VGG16 in ${dir} (${((Date.now() - t0) / 1000).toFixed(1)} s, not timed)\n`)
}
const amps = (cliArgs: string[]): {s: number; code: number | null; stdout: string} => {
  const t0 = Date.now()
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'run.js'), ...cliArgs], {
    env: {...process.env, AMPS_CACHE_DIR: cache},
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  return {s: (Date.now() - t0) / 1000, code: r.status, stdout: r.stdout}
}
const load = loadavg()
const profilePath = join(dir, '..', 'vgg16-profile.json')
const reused = reuseProfile && existsSync(profilePath)
const profile = reused ? {s: 0, code: 0, stdout: ''} : amps(['profile', dir, '--no-cache', '-o', profilePath, ...(quick ? ['--quick'] : [])])
if (profile.code !== 0) throw new Error(`amps profile exited ${profile.code}`)
const planPath = join(dir, '..', 'vgg16-plan.json')
const plan = amps(['plan', profilePath, '--slo', '20000', '--rate', '1', '-o', planPath, '--json'])
let outcome: unknown
try {
  const p = JSON.parse(plan.stdout)
  outcome = {
    stages: p.stages?.map((s: {layers: {first: string; last: string}; memoryMb: number; weightsFrom?: string}) => ({
      layers: `${s.layers.first}…${s.layers.last}`,
      memoryMb: s.memoryMb,
      weightsFrom: s.weightsFrom ?? 'package',
    })),
    costPerMillionUsd: p.predicted?.costPerMillionUsd,
  }
} catch {
  outcome = {exit: plan.code, stdout: plan.stdout.slice(0, 500)}
}
/** --deploy: the plan deployed locally, one invoke --compare, destroyed. */
function deployAndCompare(): unknown {
  const deployment = join(dir, '..', 'vgg16-deployment.json')
  let d: ReturnType<typeof amps> | undefined
  let inv: ReturnType<typeof amps> | undefined
  try {
    d = amps(['deploy', planPath, '--model', dir, '-o', deployment, '--no-prewarm', '--json'])
    if (d.code === 0) inv = amps(['invoke', deployment, '--input', 'random', '--compare', '--json'])
  } finally {
    // a failed deploy may have started stages (processes, cgroups, the fetched blob): destroy whatever it recorded
    if (existsSync(deployment)) amps(['destroy', deployment, '--force', '--json'])
  }
  if (d.code !== 0 || !inv) return {deployExit: d.code, deployS: d.s}
  const report = JSON.parse(d.stdout)
  const invoked = inv.code === 0 ? JSON.parse(inv.stdout) : undefined
  return {
    deployS: Math.round(d.s * 10) / 10,
    invokeS: Math.round(inv.s * 10) / 10,
    invokeExit: inv.code,
    stages: report.stages.map((s: {name: string; memoryMb: number; unzippedBytes: number; initMs?: number; weights?: {bytes: number}}) => ({
      name: s.name,
      memoryMb: s.memoryMb,
      packageMb: Math.round((s.unzippedBytes / 1048576) * 10) / 10,
      fetchedWeightsMb: s.weights ? Math.round((s.weights.bytes / 1048576) * 10) / 10 : 0,
      initMs: s.initMs !== undefined ? Math.round(s.initMs) : undefined,
    })),
    maxAbsDiff: invoked?.maxAbsDiff,
    relativeDiff: invoked?.relativeDiff,
    stageMeasuredMs: invoked?.stages?.map((s: {measuredMs: number}) => Math.round(s.measuredMs)),
  }
}

const result = {
  model: 'vgg16 (generated, 224×224, 553 MB float32)',
  quick,
  profileReused: reused,
  profileS: Math.round(profile.s * 10) / 10,
  planS: Math.round(plan.s * 10) / 10,
  totalS: Math.round((profile.s + plan.s) * 10) / 10,
  planExit: plan.code,
  plan: outcome,
  ...(deploy && plan.code === 0 ? {deploy: deployAndCompare()} : {}),
  loadAverageAtStart: load.map((x) => Math.round(x * 100) / 100),
  measuredAt: new Date().toISOString(),
}
mkdirSync(join(repoRoot, 'bench-results'), {recursive: true})
writeFileSync(join(repoRoot, 'bench-results', 'zoo-vgg16.json'), JSON.stringify(result, null, 2) + '\n')
console.log(JSON.stringify(result, null, 2))
