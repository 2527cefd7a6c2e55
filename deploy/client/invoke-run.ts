/**
 * `amps invoke` logic: read the input, run the deployed chain (N times), summarise the outputs,
 * put measured ms per stage next to the plan's predicted ms, and with `compare` run the whole
 * model in this process on the same input and report the largest absolute difference.
 */
import {existsSync} from 'node:fs'

import {AmpsUserError} from '../../src/errors.js'
import type {TensorInfo} from '../../src/model/types.js'
import type {Plan} from '../../src/plan/types.js'
import type {RawTensor} from '../../src/stage/codec.js'
import {createChainInvoker, type ChainOptions, type ChainResult} from './coordinator.js'
import {readDeployment} from '../state/deployment.js'
import {maxAbsDiff, readInputs, summarizeOutputs, type OutputSummary} from './inputs.js'
import {memoryPeakBytes} from '../targets/local/cgroup.js'
import {readPlanForDeploy} from '../state/plan-input.js'

export interface InvokeRunOptions {
  deploymentPath: string
  /** 'random' or a .png/.npy/.json path */
  input: string
  compare?: boolean
  repeat?: number
  batch?: number
  seed?: number
  log?: (line: string) => void
  chain?: ChainOptions
}

export interface InvokeStageReport {
  index: number
  name: string
  functionName: string
  /** median round trip over the repeats (ms) */
  measuredMs: number
  minMs: number
  maxMs: number
  /** median handler time reported by the stage (ms) */
  handlerMs: number
  runMs: number
  /**
   * median Duration of the invocation as the platform reports it (REPORT line: event parse +
   * handler + result serialisation, what Lambda bills before rounding up), when it sent one (ms)
   */
  durationMs?: number
  /** the plan's prediction for a batch of plan.batch.size (ms) */
  predictedMs?: number
  initMs: number
  coldStarts: number
  requestBytes: number
  responseBytes: number
  refsIn: number
  /** local target with a memory cgroup: the stage process's peak memory so far (MB) */
  peakMemoryMb?: number
}

export interface InvokeReport {
  schemaVersion: 1
  target: 'local' | 'aws'
  deploymentPath: string
  input: {source: string; tensors: {id: string; shape: number[]; dtype: string}[]}
  repeat: number
  outputs: OutputSummary[]
  stages: InvokeStageReport[]
  /** median end-to-end (ms) */
  totalMs: number
  predictedServiceMs?: number
  planBatchSize?: number
  maxAbsDiff?: number
  maxAbsOutput?: number
  /** maxAbsDiff / maxAbsOutput */
  relativeDiff?: number
  compareBackend?: string
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/** Runs the whole model in this process (the reference for --compare). */
export async function runWholeModel(modelPath: string, inputs: RawTensor[]): Promise<{outputs: RawTensor[]; backend: string}> {
  const {loadModel} = await import('../../src/model/index.js')
  const {initTf} = await import('../../src/runtime/tf.js')
  const model = await loadModel(modelPath)
  const {tf, backend} = await initTf()
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  try {
    const byId = new Map(inputs.map((t) => [t.id, t]))
    const xs = model.graph.inputs.map((info) => {
      const t = byId.get(info.id)
      if (!t) throw new AmpsUserError('FLAG_INVALID', `no input for the model's "${info.id}"`)
      return tf.tensor(t.data, t.shape, t.dtype)
    })
    const y = m.predict(xs.length === 1 ? xs[0] : xs)
    const ys = Array.isArray(y) ? y : [y]
    const outputs = await Promise.all(
      ys.map(async (t, i) => ({
        id: model.graph.outputs[i].id,
        dtype: (t.dtype === 'int32' ? 'int32' : 'float32') as RawTensor['dtype'],
        shape: t.shape,
        data: (await t.data()) as Float32Array | Int32Array,
      })),
    )
    tf.dispose([...xs, ...ys])
    return {outputs, backend}
  } finally {
    m.dispose()
  }
}

function peakMemoryMb(cgroups: string[] | undefined): number | undefined {
  const mem = cgroups?.find((c) => c.includes('/memory/'))
  const bytes = mem ? memoryPeakBytes(mem) : undefined
  return bytes === undefined || !Number.isFinite(bytes) ? undefined : bytes / 1048576
}

export async function runInvoke(options: InvokeRunOptions): Promise<InvokeReport> {
  const log = options.log ?? (() => {})
  const deployment = readDeployment(options.deploymentPath)
  const repeat = options.repeat ?? 1
  if (!Number.isInteger(repeat) || repeat < 1) throw new AmpsUserError('FLAG_INVALID', `--repeat must be a positive integer, got ${repeat}`)
  let plan: Plan | undefined
  if (deployment.planPath && existsSync(deployment.planPath)) plan = readPlanForDeploy(deployment.planPath)

  let modelInputs: TensorInfo[] | undefined = deployment.modelInputs
  if (!modelInputs) {
    if (!existsSync(deployment.modelPath)) {
      throw new AmpsUserError('DEPLOYMENT_INVALID', 'the deployment file does not record the model inputs and the model is not found', {
        suggestions: ['Run `amps deploy` again.'],
      })
    }
    const {loadModel} = await import('../../src/model/index.js')
    modelInputs = (await loadModel(deployment.modelPath)).graph.inputs
  }
  const inputs = await readInputs(options.input, modelInputs, {batch: options.batch, seed: options.seed})

  const invoker = createChainInvoker(deployment, options.chain)
  const runs: ChainResult[] = []
  try {
    for (let i = 0; i < repeat; i++) {
      runs.push(await invoker.invoke(inputs))
      if (repeat > 1) log(`request ${i + 1}/${repeat}: ${runs.at(-1)!.totalMs.toFixed(1)} ms`)
    }
  } finally {
    invoker.close()
  }
  const first = runs[0]
  const stages: InvokeStageReport[] = first.stages.map((s, k) => {
    const all = runs.map((r) => r.stages[k])
    const ps = plan?.stages.find((x) => x.name === s.stageName || x.index === s.stageIndex)
    return {
      index: s.stageIndex,
      name: s.stageName,
      functionName: s.functionName,
      measuredMs: median(all.map((x) => x.measuredMs)),
      minMs: Math.min(...all.map((x) => x.measuredMs)),
      maxMs: Math.max(...all.map((x) => x.measuredMs)),
      handlerMs: median(all.map((x) => x.handlerMs)),
      runMs: median(all.map((x) => x.runMs)),
      ...(all.every((x) => x.durationMs !== undefined) ? {durationMs: median(all.map((x) => x.durationMs!))} : {}),
      predictedMs: ps?.predictedMs,
      initMs: s.initMs,
      coldStarts: all.filter((x) => x.coldStart).length,
      requestBytes: s.requestBytes,
      responseBytes: s.responseBytes,
      refsIn: s.refsIn,
      peakMemoryMb: peakMemoryMb(deployment.stages.find((x) => x.stageIndex === s.stageIndex)?.cgroups),
    }
  })
  const report: InvokeReport = {
    schemaVersion: 1,
    target: deployment.target,
    deploymentPath: options.deploymentPath,
    input: {source: options.input, tensors: inputs.map((t) => ({id: t.id, shape: t.shape, dtype: t.dtype}))},
    repeat,
    outputs: summarizeOutputs(first.outputs),
    stages,
    totalMs: median(runs.map((r) => r.totalMs)),
    predictedServiceMs: plan?.predicted?.serviceMs,
    planBatchSize: plan?.batch.size,
  }
  if (options.compare) {
    if (!existsSync(deployment.modelPath)) {
      throw new AmpsUserError('FILE_NOT_FOUND', `--compare needs the model, but ${deployment.modelPath} is gone`)
    }
    log(`running the whole model locally for --compare`)
    const ref = await runWholeModel(deployment.modelPath, inputs)
    const d = maxAbsDiff(ref.outputs, first.outputs)
    report.maxAbsDiff = d.maxAbsDiff
    report.maxAbsOutput = d.maxAbsOutput
    report.relativeDiff = d.maxAbsOutput > 0 ? d.maxAbsDiff / d.maxAbsOutput : d.maxAbsDiff
    report.compareBackend = ref.backend
  }
  return report
}
