/**
 * `amps export`: build the stage bundles exactly as `amps deploy --dry-run` does (same bundler, same
 * limits, plan.json left untouched), then write infrastructure-as-code that deploys them.
 */
import {dirname, join, resolve} from 'node:path'

import {buildBundles, checkBundleLimits} from '../../deploy/bundle/bundle.js'
import {resolvePlanModel} from '../../deploy/deploy-plan.js'
import {planHash as computePlanHash} from '../../deploy/state/deployment.js'
import {readPlanForDeploy} from '../../deploy/state/plan-input.js'
import {extractStage, loadModel} from '../model/index.js'
import {writeFileAtomic} from '../profile/io.js'
import {samTemplate} from './sam.js'

export type ExportFormat = 'sam'

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
  stages: {name: string; functionName: string; codeUri: string; zipBytes: number; memoryMb: number; arch: string}[]
  next: string
}

export async function exportPlan(o: ExportOptions): Promise<ExportResult> {
  const log = o.log ?? (() => {})
  const plan = readPlanForDeploy(o.planPath, {modelPath: o.modelPath})
  const modelPath = resolvePlanModel(plan, o.planPath, o.modelPath)
  const out = resolve(o.outPath)
  const templateDir = dirname(out)
  log(`loading model ${modelPath}`)
  const model = await loadModel(modelPath)
  const hash = computePlanHash(plan)
  const bundleDir = o.bundleDir ? resolve(o.bundleDir) : join(templateDir, '.amps', 'bundles')
  log(`building ${plan.stages.length} stage bundles in ${bundleDir}`)
  const set = await buildBundles(plan, model, {outDir: bundleDir, extract: extractStage, planHash: hash, log})
  checkBundleLimits(set.bundles)
  const template = samTemplate({plan, bundles: set.bundles, planHash: hash, templateDir, tags: o.tags, roleArn: o.roleArn})
  writeFileAtomic(out, JSON.stringify(template, null, 2) + '\n')
  const resources = Object.entries(template.Resources as Record<string, {Type: string; Properties: {CodeUri?: string}}>)
  return {
    schemaVersion: 1,
    format: o.format,
    output: out,
    planHash: hash,
    resources: resources.map(([logicalId, r]) => ({logicalId, type: r.Type})),
    stages: set.bundles.map((b) => ({
      name: b.stageName ?? `stage-${b.stageIndex + 1}`,
      functionName: b.functionName,
      codeUri:
        resources.find(([, r]) => r.Type === 'AWS::Serverless::Function' && (r.Properties as {FunctionName?: string}).FunctionName === b.functionName)?.[1]
          .Properties.CodeUri ?? '',
      zipBytes: b.zipBytes,
      memoryMb: b.memoryMb,
      arch: b.arch,
    })),
    next: `sam deploy --template-file ${o.outPath} --stack-name ${plan.model.name.replace(/[^A-Za-z0-9-]/g, '-').replace(/^[^A-Za-z]+/, '') || 'amps'}-amps --capabilities CAPABILITY_IAM --resolve-s3`,
  }
}
