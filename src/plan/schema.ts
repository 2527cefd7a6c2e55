/**
 * plan.json: the one schema (zod, through the src/files kit). Every problem is gathered, then
 * reported once as an AmpsUserError('PLAN_INVALID') naming the file and each field
 * (`"stages[1].memoryMb": expected an integer in 128–10240, got 20000`).
 */
import {defineFormat, readAs, validateAs, writeAs} from '../files/format.js'
import {bool, list, nonEmptyStr, num, obj, oneOf, problemsOf, str, z} from '../files/zod.js'
import {LAMBDA} from '../platform/lambda.js'
import {PLAN_VERSION, type Plan} from './types.js'

const arch = oneOf(['x86_64', 'arm64'])
const handoff = oneOf(['inline', 's3'])

const stage = obj({
  index: num({min: 0, int: true}),
  name: str(),
  layers: obj({
    first: str('a layer name'),
    last: str('a layer name'),
    firstIndex: num({min: 0, int: true}),
    lastIndex: num({min: 0, int: true}),
    count: num({min: 1, int: true}),
  }),
  memoryMb: num({min: LAMBDA.memoryMinMb, max: LAMBDA.memoryMaxMb, int: true}),
  arch,
  packageBytes: num({min: 0}),
  weightsBytes: num({min: 0}),
  predictedMs: num({min: 0}),
  inputBytes: num({min: 0}),
  outputBytes: num({min: 0}),
  inputTensors: list(str('a tensor id')),
  outputTensors: list(str('a tensor id')),
  handoff,
  inputHandoff: handoff.optional(),
  measuredPackageBytes: num({min: 0}).optional(),
  billedMs: num({min: 0}).optional(),
  latencyMs: num({min: 0}).optional(),
  costPerBatchUsd: num({min: 0}).optional(),
  initMs: num({min: 0}).optional(),
  coldStartMs: num({min: 0}).optional(),
  billedMsByBatch: list(num({min: 0})).optional(),
  backend: oneOf(['onnx', 'wasm']).optional(),
  threads: num({min: 1, max: LAMBDA.maxVcpus, int: true}).optional(),
  threadsExtrapolated: bool().optional(),
})

const baseline = obj({
  name: str(),
  feasible: bool(),
  latencyMs: z.number().optional(),
  costPerMillionUsd: z.number().optional(),
})

export const planSchema = obj({
  version: num({int: true}),
  model: obj({
    name: str(),
    sha256: str(),
    source: str(),
    profile: nonEmptyStr('the path of the profile.json the plan was made from').optional(),
  }),
  inputs: obj({
    sloMs: num({gt: 0}),
    percentile: num({gt: 0, max: 100, what: 'a number in (0, 100]'}),
    ratePerSecond: num({min: 0}),
    arch: oneOf(['x86_64', 'arm64', 'auto']),
    region: str(),
    priceTableVersion: str(),
    maxBatch: num({min: 1, int: true}),
    replicas: num({min: 1, int: true}).optional(),
    backend: oneOf(['onnx', 'wasm']).optional(),
  }),
  batch: obj({
    size: num({min: 1, int: true}),
    timeoutMs: num({min: 0}),
  }),
  stages: list(stage, {nonEmpty: true}),
  predicted: obj({
    latencyMs: num({min: 0}),
    serviceMs: num({min: 0}),
    meanBatchSize: num({min: 0}),
    costPerMillionUsd: num({min: 0}),
    monthlyCostUsd: num({min: 0}),
    coldStartMs: num({min: 0}),
    coldStartProbability: num({min: 0, max: 1, what: 'a probability in 0–1'}),
  }),
  solver: obj({
    method: oneOf(['fast', 'milp']),
    optimal: bool(),
    solveMs: num({min: 0}),
  }),
  baselines: list(baseline),
  createdAt: str('an ISO date string'),
})

/** Cross-field rules: stages in order, covering the model; feasible baselines carry their numbers. */
function planConsistency(plan: Plan): string[] {
  const out: string[] = []
  let expectFirst = 0
  plan.stages.forEach((s, i) => {
    const at = `stages[${i}]`
    if (s.index !== i) out.push(`"${at}.index": expected ${i}, got ${s.index}`)
    const l = s.layers
    if (l.firstIndex !== expectFirst) out.push(`"${at}.layers.firstIndex": expected ${expectFirst} (stages cover the model in order), got ${l.firstIndex}`)
    if (l.lastIndex < l.firstIndex) out.push(`"${at}.layers.lastIndex": expected an integer ≥ firstIndex ${l.firstIndex}, got ${l.lastIndex}`)
    if (l.count !== l.lastIndex - l.firstIndex + 1)
      out.push(`"${at}.layers.count": expected lastIndex - firstIndex + 1 = ${l.lastIndex - l.firstIndex + 1}, got ${l.count}`)
    expectFirst = l.lastIndex + 1
  })
  plan.baselines.forEach((b, i) => {
    if (!b.feasible) return
    if (!Number.isFinite(b.latencyMs)) out.push(`"baselines[${i}].latencyMs": expected a number, got ${JSON.stringify(b.latencyMs) ?? 'nothing'}`)
    if (!Number.isFinite(b.costPerMillionUsd))
      out.push(`"baselines[${i}].costPerMillionUsd": expected a number, got ${JSON.stringify(b.costPerMillionUsd) ?? 'nothing'}`)
  })
  return out
}

export const planFormat = defineFormat<Plan>({
  kind: 'plan',
  version: PLAN_VERSION,
  schema: planSchema,
  code: 'PLAN_INVALID',
  remake: 're-create it with `amps plan <model|profile.json> --slo <ms> -o {file}`',
  check: planConsistency,
})

/** Every problem with a parsed plan.json, as `"field": expected …, got …` lines. */
export function planProblems(raw: unknown): string[] {
  const problems = problemsOf(planSchema, raw)
  return problems.length > 0 ? problems : planConsistency(raw as Plan)
}

/** Validate a parsed plan; throws one AmpsUserError listing every problem. */
export function validatePlan(raw: unknown, file = 'plan.json'): Plan {
  return validateAs(planFormat, raw, file)
}

/**
 * Read and validate plan.json: the one place a plan on disk is checked. Commands that need more
 * (deploy: a model path and function-name-safe stage names; simulate: a request rate) add their own
 * checks on top of the Plan this returns.
 */
export function readPlan(path: string): Plan {
  return readAs(planFormat, path)
}

/** Write plan.json atomically (validated first: never write what readPlan would refuse). */
export function writePlan(path: string, plan: Plan): void {
  writeAs(planFormat, path, plan)
}
