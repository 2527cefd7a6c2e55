/**
 * `amps export`: build the stage bundles exactly as `amps deploy --dry-run` does (same bundler, same
 * limits, plan.json left untouched), then write infrastructure-as-code that deploys them.
 */
import {dirname, join, relative, resolve, sep} from 'node:path'

import {buildBundles, checkBundleLimits} from '../../deploy/bundle/bundle.js'
import {AmpsUserError} from '../errors.js'
import {resolvePlanModel} from '../../deploy/deploy-plan.js'
import {planHash as computePlanHash} from '../../deploy/state/deployment.js'
import {readPlanForDeploy} from '../../deploy/state/plan-input.js'
import {extractStage, loadModel} from '../model/index.js'
import {writeFileAtomic} from '../profile/io.js'
import {functionLogicalId, samTemplate} from './sam.js'
import {terraformConfig, tfFunctionName} from './terraform.js'

export type ExportFormat = 'sam' | 'terraform'

/** Where each format is written by default. */
export const DEFAULT_EXPORT_FILE: Record<ExportFormat, string> = {sam: 'template.json', terraform: 'main.tf.json'}

export interface ExportOptions {
  planPath: string
  format: ExportFormat
  outPath: string
  modelPath?: string
  /** bundles directory (default: .amps/bundles next to the template) */
  bundleDir?: string
  tags?: Record<string, string>
  roleArn?: string
  log?: (line: string) => void
}

export interface ExportResult {
  schemaVersion: 1
  format: ExportFormat
  output: string
  planHash: string
  resources: {logicalId: string; type: string}[]
  /** resource: the function's logical id (SAM) or address (Terraform); codeUri: its zip, relative to the output */
  stages: {name: string; functionName: string; resource: string; codeUri: string; zipBytes: number; memoryMb: number; arch: string}[]
  next: string
}

export async function exportPlan(o: ExportOptions): Promise<ExportResult> {
  const log = o.log ?? (() => {})
  const plan = readPlanForDeploy(o.planPath, {modelPath: o.modelPath})
  const modelPath = resolvePlanModel(plan, o.planPath, o.modelPath)
  const out = resolve(o.outPath)
  const templateDir = dirname(out)
  log(`loading model ${modelPath}`)
  // a template cannot upload a stage's fetched weights (nor name them in the function's environment): refuse rather than export a stage that cannot start
  const fetched = plan.stages.filter((s) => s.weightsFrom === 's3')
  if (fetched.length > 0) {
    throw new AmpsUserError(
      'PLAN_INVALID',
      `${fetched.map((s) => s.name).join(', ')} fetch${fetched.length === 1 ? 'es its' : ' their'} weights from S3 at INIT, which ${o.format === 'terraform' ? 'Terraform' : 'SAM'} export does not carry yet`,
      {suggestions: ['Deploy this plan with `amps deploy plan.json --target aws` (it uploads the weights and sets the role and environment).']},
    )
  }
  const model = await loadModel(modelPath)
  const hash = computePlanHash(plan)
  const bundleDir = o.bundleDir ? resolve(o.bundleDir) : join(templateDir, '.amps', 'bundles')
  log(`building ${plan.stages.length} stage bundles in ${bundleDir}`)
  const set = await buildBundles(plan, model, {outDir: bundleDir, extract: extractStage, planHash: hash, log})
  checkBundleLimits(set.bundles)
  const input = {plan, bundles: set.bundles, planHash: hash, templateDir, tags: o.tags, roleArn: o.roleArn}
  const doc = o.format === 'terraform' ? terraformConfig(input) : samTemplate(input)
  writeFileAtomic(out, JSON.stringify(doc, null, 2) + '\n')
  const resources: {logicalId: string; type: string}[] =
    o.format === 'terraform'
      ? Object.entries(doc.resource as Record<string, Record<string, unknown>>).flatMap(([type, byName]) =>
          Object.keys(byName).map((name) => ({logicalId: `${type}.${name}`, type})),
        )
      : Object.entries(doc.Resources as Record<string, {Type: string}>).map(([logicalId, r]) => ({logicalId, type: r.Type}))
  const stack = plan.model.name.replace(/[^A-Za-z0-9-]/g, '-').replace(/^[^A-Za-z]+/, '') || 'amps'
  return {
    schemaVersion: 1,
    format: o.format,
    output: out,
    planHash: hash,
    resources,
    stages: set.bundles.map((b) => ({
      name: b.stageName ?? `stage-${b.stageIndex + 1}`,
      functionName: b.functionName,
      resource: o.format === 'terraform' ? `aws_lambda_function.${tfFunctionName(b.stageIndex)}` : functionLogicalId(b),
      codeUri: relative(templateDir, b.zipPath).split(sep).join('/'),
      zipBytes: b.zipBytes,
      memoryMb: b.memoryMb,
      arch: b.arch,
    })),
    next:
      o.format === 'terraform'
        ? `terraform -chdir=${relative(process.cwd(), templateDir) || '.'} init && terraform -chdir=${relative(process.cwd(), templateDir) || '.'} apply`
        : `sam deploy --template-file ${o.outPath} --stack-name ${stack}-amps --capabilities CAPABILITY_IAM --resolve-s3`,
  }
}
