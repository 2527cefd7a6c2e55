/**
 * Local deployments for the bench: a hand-made plan (cuts chosen here, every stage at one memory
 * size) deployed on the local target through deploy/deploy-plan.ts, invoked through the
 * coordinator, and always destroyed — after use, on error, on Ctrl-C/SIGTERM, and at the start of
 * the next run for anything a killed run left behind (stage processes are detached, so a SIGKILLed
 * bench cannot stop them itself).
 */
import {existsSync, mkdirSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {createChainInvoker, type ChainResult} from '../../deploy/client/coordinator.js'
import {deployPlan} from '../../deploy/deploy-plan.js'
import {readDeployment} from '../../deploy/state/deployment.js'
import {randomInputs} from '../../deploy/client/inputs.js'
import {destroyLocal, isStageProcess} from '../../deploy/targets/local/index.js'
import type {DeploymentState} from '../../deploy/state/types.js'
import type {LayerGraph, LoadedModel} from '../../src/model/types.js'
import {PLAN_VERSION, type Plan, type PlanStage} from '../../src/plan/types.js'
import {benchDir, log} from './common.js'
import {diff, sampleStages, type CpuSample} from './procstat.js'

export const deployRoot = join(benchDir, 'deploy')

/**
 * Cut positions ("cut after k") that split the model into `stages` parts of about equal MACs, the
 * way a user would cut it by hand: for each k/stages quantile of the cumulative MACs, among the valid
 * cuts within ±15 % of a stage's share of it, the one carrying the fewest bytes (between blocks
 * rather than inside one), ties to the nearest; the nearest valid cut when none is that close.
 */
export function balancedCuts(graph: LayerGraph, stages: number): number[] {
  if (stages <= 1) return []
  const prefix: number[] = []
  let acc = 0
  for (const l of graph.layers) prefix.push((acc += l.macs))
  const total = acc
  const window = (0.15 * total) / stages
  const cuts: number[] = []
  for (let k = 1; k < stages; k++) {
    const target = (total * k) / stages
    const open = graph.cuts.filter((c) => cuts.length === 0 || c.after > cuts[cuts.length - 1])
    if (open.length === 0) throw new Error(`${graph.name}: no valid cut left for ${stages} stages`)
    const dist = (c: {after: number}) => Math.abs(prefix[c.after] - target)
    const near = open.filter((c) => dist(c) <= window)
    const pool = near.length > 0 ? near : open
    pool.sort((a, b) => (near.length > 0 ? a.bytesPerSample - b.bytesPerSample : 0) || dist(a) - dist(b))
    cuts.push(pool[0].after)
  }
  return cuts
}

/** Bytes per sample crossing the cut after position `after`. */
export function cutBytes(graph: LayerGraph, after: number): number {
  const c = graph.cuts.find((x) => x.after === after)
  if (!c) throw new Error(`no valid cut after ${after}`)
  return c.bytesPerSample
}

/**
 * A plan.json for the given cuts with every stage at `memoryMb` and batch `batch`; predicted
 * numbers are filled from `predictMs(first, last)` when given (only the stage timeout depends on them).
 */
export function benchPlan(
  model: LoadedModel,
  cuts: number[],
  opts: {memoryMb: number; batch: number; predictMs?: (first: number, last: number) => number},
): Plan {
  const g = model.graph
  const bounds = [-1, ...cuts, g.layers.length - 1]
  const stages: PlanStage[] = []
  const inBytes = (q: number) =>
    q < 0
      ? g.inputs.reduce((a, t) => a + t.bytesPerSample, 0)
      : q === g.layers.length - 1
        ? g.outputs.reduce((a, t) => a + t.bytesPerSample, 0)
        : cutBytes(g, q)
  const idsAt = (q: number) =>
    q < 0 ? g.inputs.map((t) => t.id) : q === g.layers.length - 1 ? g.outputs.map((t) => t.id) : g.cuts.find((c) => c.after === q)!.tensors.map((t) => t.id)
  for (let k = 0; k + 1 < bounds.length; k++) {
    const first = bounds[k] + 1
    const last = bounds[k + 1]
    const layers = g.layers.slice(first, last + 1)
    const weights = layers.reduce((a, l) => a + l.weightBytes, 0)
    // a generous guess when no prediction is given: 1 ms per 2 MMAC at one vCPU, scaled to the quota
    const predicted = opts.predictMs?.(first, last) ?? (layers.reduce((a, l) => a + l.macs, 0) / 2e6) * Math.max(1, 1769 / opts.memoryMb) * opts.batch
    stages.push({
      index: k,
      name: `stage-${k + 1}`,
      layers: {first: layers[0].name, last: layers.at(-1)!.name, firstIndex: first, lastIndex: last, count: layers.length},
      memoryMb: opts.memoryMb,
      arch: 'x86_64',
      packageBytes: 12 * 1048576 + weights,
      weightsBytes: weights,
      predictedMs: predicted,
      inputBytes: inBytes(first - 1) * opts.batch,
      outputBytes: inBytes(last) * opts.batch,
      inputTensors: idsAt(first - 1),
      outputTensors: idsAt(last),
      handoff: 'inline',
    })
  }
  const serviceMs = stages.reduce((a, s) => a + s.predictedMs, 0)
  return {
    version: PLAN_VERSION,
    model: {name: g.name, sha256: g.sha256, source: model.source},
    inputs: {sloMs: 60_000, percentile: 95, ratePerSecond: 1, arch: 'x86_64', region: 'us-east-1', priceTableVersion: 'bench', maxBatch: opts.batch},
    batch: {size: opts.batch, timeoutMs: 0},
    stages,
    predicted: {latencyMs: serviceMs, serviceMs, meanBatchSize: opts.batch, costPerMillionUsd: 0, monthlyCostUsd: 0, coldStartMs: 0, coldStartProbability: 0},
    solver: {method: 'fast', optimal: false, solveMs: 0},
    baselines: [],
    createdAt: new Date().toISOString(),
  }
}

export interface Deployed {
  label: string
  statePath: string
  state: DeploymentState
}

/** Tracks every deployment the bench starts so it can always stop them. */
export class LocalDeployments {
  private readonly active = new Set<string>()

  /** Destroys what a previous (killed) run left under the bench's deploy directory. */
  async sweep(): Promise<number> {
    if (!existsSync(deployRoot)) return 0
    let n = 0
    for (const name of readdirSync(deployRoot)) {
      const statePath = join(deployRoot, name, 'deployment.json')
      if (existsSync(statePath)) {
        try {
          const state = readDeployment(statePath)
          if (state.stages.some((s) => isStageProcess(s.pid, s.functionName, s.logPath))) n++
          await destroyLocal(state, {statePath})
        } catch (error) {
          log(`warning: could not clean up ${statePath}: ${(error as Error).message}`)
          continue
        }
      }
      rmSync(join(deployRoot, name), {recursive: true, force: true})
    }
    return n
  }

  async deploy(plan: Plan, modelPath: string, label: string): Promise<Deployed> {
    const dir = join(deployRoot, label)
    rmSync(dir, {recursive: true, force: true})
    mkdirSync(dir, {recursive: true})
    const planPath = join(dir, 'plan.json')
    const statePath = join(dir, 'deployment.json')
    writeFileSync(planPath, JSON.stringify(plan, null, 2) + '\n')
    // registered before anything starts: deployment.json is written after every spawn
    this.active.add(statePath)
    await deployPlan({planPath, modelPath, target: 'local', out: statePath, bundleDir: join(dir, 'bundles')})
    return {label, statePath, state: readDeployment(statePath)}
  }

  async destroy(statePath: string): Promise<void> {
    try {
      if (existsSync(statePath)) await destroyLocal(readDeployment(statePath), {statePath})
    } finally {
      this.active.delete(statePath)
    }
    rmSync(join(statePath, '..'), {recursive: true, force: true})
  }

  async destroyAll(): Promise<void> {
    for (const p of [...this.active]) {
      try {
        await this.destroy(p)
      } catch (error) {
        log(`warning: could not destroy ${p}: ${(error as Error).message}`)
      }
    }
  }

  /** Deploys, runs `fn`, and destroys whatever happens. */
  async with<T>(plan: Plan, modelPath: string, label: string, fn: (d: Deployed) => Promise<T>): Promise<T> {
    let d: Deployed | undefined
    try {
      d = await this.deploy(plan, modelPath, label)
      return await fn(d)
    } finally {
      await this.destroy(join(deployRoot, label, 'deployment.json'))
    }
  }
}

export interface InvokeSeries {
  warmup: number
  results: ChainResult[]
  /** per result, per stage: CPU used and time throttled by the stage process during that request */
  cpu: CpuSample[][]
}

/**
 * Invokes a deployed chain `warmup` times (discarded), then until `reps` results or `budgetMs`
 * of measuring (at least `minReps`), with the same seeded random input of batch `batch`.
 */
/** Fails instead of hanging when a stage stops answering (the SDK has no socket timeout by default). */
const INVOKE_TIMEOUT_MS = 120_000

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${INVOKE_TIMEOUT_MS / 1000} s`)), INVOKE_TIMEOUT_MS)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

export async function invokeSeries(
  d: Deployed,
  opts: {
    batch: number
    warmup: number
    reps: number
    minReps: number
    budgetMs: number
    warmupBudgetMs?: number
    /** idle time before each measured request (ms, spread over the range): a stage between batches */
    gapMs?: [number, number]
  },
): Promise<InvokeSeries> {
  const inputs = randomInputs(d.state.modelInputs ?? [], {batch: opts.batch, seed: 7})
  const invoker = createChainInvoker(d.state)
  try {
    const call = () => withTimeout(invoker.invoke(inputs), `the chain ${d.label}`)
    // up to `warmup` requests, but stop after warmupBudgetMs once 3 are done (JIT and wasm tier-up
    // settle over the first tens of requests of a fresh stage process)
    const w0 = Date.now()
    for (let i = 0; i < opts.warmup && (i < 3 || opts.warmupBudgetMs === undefined || Date.now() - w0 < opts.warmupBudgetMs); i++) await call()
    const results: ChainResult[] = []
    const cpu: CpuSample[][] = []
    const stages = [...d.state.stages].sort((a, b) => a.stageIndex - b.stageIndex)
    const t0 = Date.now()
    while (results.length < opts.reps && (results.length < opts.minReps || Date.now() - t0 < opts.budgetMs)) {
      if (opts.gapMs) {
        const [lo, hi] = opts.gapMs
        await new Promise((r) => setTimeout(r, lo + (((results.length * 7919) % 1000) / 1000) * (hi - lo)))
      }
      const before = sampleStages(stages)
      results.push(await call())
      const after = sampleStages(stages)
      cpu.push(before.map((b, i) => diff(b, after[i])))
    }
    return {warmup: opts.warmup, results, cpu}
  } finally {
    invoker.close()
  }
}
