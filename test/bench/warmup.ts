/**
 * How a fresh stage process's Duration settles over its first requests (why the prediction
 * section warms stages up): deploys a model in 2 stages on the local target at one memory size,
 * sends N requests of batch 1 and prints each stage's median Duration (REPORT line) and run ms
 * over request windows.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-test/test/bench/warmup.js [mobilenet_v2|inception_v3] [memoryMb] [requests]
 */
import {loadModel} from '../../src/model/index.js'
import {nsfwjsModelDir, type NsfwjsModel} from '../helpers/nsfwjs.js'
import {median} from './common.js'
import {LocalDeployments, balancedCuts, benchPlan, invokeSeries} from './local.js'

const name = (process.argv[2] ?? 'mobilenet_v2') as NsfwjsModel
const memoryMb = Number(process.argv[3] ?? 1769)
const requests = Number(process.argv[4] ?? 300)
if (!['mobilenet_v2', 'inception_v3'].includes(name) || !(memoryMb >= 128) || !(requests >= 60)) {
  process.stderr.write('usage: node dist-test/test/bench/warmup.js [mobilenet_v2|inception_v3] [memoryMb ≥ 128] [requests ≥ 60]\n')
  process.exit(2)
}
const dir = nsfwjsModelDir(name)
const model = await loadModel(dir)
const plan = benchPlan(model, balancedCuts(model.graph, 2), {memoryMb, batch: 1})
const deployments = new LocalDeployments()
await deployments.with(plan, dir, `warmup-${name}-${memoryMb}`, async (d) => {
  const s = await invokeSeries(d, {batch: 1, warmup: 0, reps: requests, minReps: requests, budgetMs: Number.POSITIVE_INFINITY})
  const windows: [number, number][] = [
    [3, 20],
    [20, 60],
    [60, Math.floor(requests / 2)],
    [Math.floor(requests / 2), requests],
  ]
  plan.stages.forEach((_, i) => {
    const dur = s.results.map((r) => r.stages[i].durationMs ?? Number.NaN)
    const run = s.results.map((r) => r.stages[i].runMs)
    const cells = windows.map(([a, b]) => `requests ${a + 1}–${b}: ${median(dur.slice(a, b)).toFixed(1)} ms (run ${median(run.slice(a, b)).toFixed(1)})`)
    process.stdout.write(`${name} stage ${i + 1} of 2 at ${memoryMb} MB, median Duration — ${cells.join('; ')}\n`)
  })
})
