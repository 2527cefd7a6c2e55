/**
 * Reading plan.json for deploy/invoke: src/plan/schema.ts readPlan() validates the plan (the one
 * schema owner); this adds only what deploying needs on top of a valid plan.
 */
import {AmpsUserError} from '../../src/errors.js'
import {readPlan} from '../../src/plan/schema.js'
import type {Plan} from '../../src/plan/types.js'

/** Lambda function names are `amps-<model>-<hash>-<stage name>`: the stage name must fit in one. */
const STAGE_NAME = /^[A-Za-z0-9_-]{1,32}$/

/**
 * What stops a valid plan from being deployed, as `"field": expected …` lines (empty: deployable).
 * `modelPath`: the model given with --model, which stands in for the plan's model.source.
 */
export function deployProblems(plan: Plan, options: {modelPath?: string} = {}): string[] {
  const problems: string[] = []
  if (!options.modelPath && plan.model.source.trim() === '') problems.push('"model.source": expected the model\'s path (or pass --model), got ""')
  for (const [i, s] of plan.stages.entries()) {
    if (!STAGE_NAME.test(s.name))
      problems.push(`"stages[${i}].name": expected a short name like "stage-1" (letters, digits, - and _, at most 32), got ${JSON.stringify(s.name)}`)
  }
  return problems
}

/** Read plan.json (FILE_NOT_FOUND / PLAN_INVALID from readPlan) and check that it can be deployed (PLAN_INVALID). */
export function readPlanForDeploy(path: string, options: {modelPath?: string} = {}): Plan {
  const plan = readPlan(path)
  const problems = deployProblems(plan, options)
  if (problems.length > 0) {
    throw new AmpsUserError('PLAN_INVALID', `${path} cannot be deployed: ${problems.slice(0, 6).join('; ')}`, {
      suggestions: ['Re-run `amps plan` to write a fresh plan.json.'],
      details: {file: path, problems},
    })
  }
  return plan
}
