/**
 * A plan's stage bundles → an AWS SAM template (JSON, which SAM and CloudFormation read as they
 * read YAML) that `sam deploy` takes as is: one AWS::Serverless::Function per stage with the
 * configuration `amps deploy --target aws` gives it (deploy/aws desiredConfig: memory, architecture,
 * timeout, /tmp, environment, handler, runtime), the stage's zip as CodeUri (SAM uploads it), the
 * same least-privilege execution role as `amps deploy --create-role` (deploy/aws executionPolicy,
 * its account, region and partition left to CloudFormation), an S3 bucket for hand-offs when the
 * plan needs one, and the user's tags on every resource. Pure: no fs, no SDK calls.
 */
import {relative, sep} from 'node:path'

import type {Plan} from '../plan/types.js'
import {desiredConfig, functionTags} from '../../deploy/targets/aws/function-config.js'
import {
  INLINE_POLICY_NAME,
  LAMBDA_TRUST_POLICY,
  TAG_PLAN_HASH,
  deploymentBaseName,
  executionPolicy,
  handoffPrefix,
  planNeedsS3Handoff,
} from '../../deploy/targets/aws/naming.js'
import {tagList} from '../../deploy/targets/aws/tags.js'
import type {StageBundle} from '../../deploy/state/types.js'

export const SAM_TRANSFORM = 'AWS::Serverless-2016-10-31'
export const ROLE_ID = 'ExecutionRole'
export const BUCKET_ID = 'HandoffBucket'

export interface SamOptions {
  plan: Plan
  bundles: StageBundle[]
  planHash: string
  /** the folder the template is written to: CodeUri paths are relative to it */
  templateDir: string
  /** user tags for every resource */
  tags?: Record<string, string>
  /** use this execution role instead of creating one */
  roleArn?: string
}

type Cfn = Record<string, unknown>

/** The logical id of stage i's function (CloudFormation ids are alphanumeric). */
export function functionLogicalId(bundle: StageBundle): string {
  return `Stage${bundle.stageIndex + 1}Function`
}

export function samTemplate(o: SamOptions): Cfn {
  const bundles = [...o.bundles].sort((a, b) => a.stageIndex - b.stageIndex)
  const userTags = o.tags ?? {}
  const baseName = deploymentBaseName(bundles, o.planHash)
  const handoff = planNeedsS3Handoff(o.plan) ? {bucket: `\${${BUCKET_ID}}`, prefix: handoffPrefix(baseName)} : undefined
  const resources: Record<string, Cfn> = {}

  if (!o.roleArn) {
    // the policy `amps deploy --create-role` writes, with CloudFormation filling in where it runs
    const policy = executionPolicy({
      partition: '${AWS::Partition}',
      region: '${AWS::Region}',
      account: '${AWS::AccountId}',
      functionNames: bundles.map((b) => b.functionName),
      handoff,
    })
    resources[ROLE_ID] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        Description: `amps execution role for ${baseName}`,
        AssumeRolePolicyDocument: LAMBDA_TRUST_POLICY,
        Policies: [
          {
            PolicyName: INLINE_POLICY_NAME,
            PolicyDocument: {...policy, Statement: policy.Statement.map((s) => ({...s, Resource: s.Resource.map((r) => ({'Fn::Sub': r}))}))},
          },
        ],
        Tags: tagList({...userTags, [TAG_PLAN_HASH]: o.planHash}),
      },
    }
  }
  if (handoff) {
    resources[BUCKET_ID] = {
      Type: 'AWS::S3::Bucket',
      Properties: {
        LifecycleConfiguration: {
          Rules: [
            {Id: 'amps-expire-handoff', Status: 'Enabled', Prefix: 'handoff/', ExpirationInDays: 1, AbortIncompleteMultipartUpload: {DaysAfterInitiation: 1}},
          ],
        },
        Tags: tagList({...userTags, [TAG_PLAN_HASH]: o.planHash}),
      },
    }
  }
  const outputs: Record<string, Cfn> = {}
  for (const [i, b] of bundles.entries()) {
    const want = desiredConfig(b, {
      roleArn: o.roleArn ?? 'ROLE',
      handoff: handoff ? {bucket: 'BUCKET', prefix: handoff.prefix} : undefined,
      modelName: o.plan.model.name,
      planHash: o.planHash,
      stageCount: bundles.length,
      stageNumber: i + 1,
    })
    const variables: Record<string, unknown> = {...want.Environment.Variables}
    for (const [k, v] of Object.entries(variables)) if (v === 'BUCKET') variables[k] = {Ref: BUCKET_ID}
    const id = functionLogicalId(b)
    resources[id] = {
      Type: 'AWS::Serverless::Function',
      Properties: {
        FunctionName: want.FunctionName,
        Description: want.Description,
        CodeUri: relative(o.templateDir, b.zipPath).split(sep).join('/'),
        Handler: want.Handler,
        Runtime: want.Runtime,
        Architectures: want.Architectures,
        MemorySize: want.MemorySize,
        Timeout: want.Timeout,
        EphemeralStorage: want.EphemeralStorage,
        Environment: {Variables: variables},
        Role: o.roleArn ?? {'Fn::GetAtt': [ROLE_ID, 'Arn']},
        Tags: {...userTags, ...functionTags(b, o.planHash, o.plan.model.name)},
      },
    }
    outputs[`${id}Arn`] = {Description: `${b.stageName ?? `stage ${i + 1}`}: ${b.functionName}`, Value: {'Fn::GetAtt': [id, 'Arn']}}
  }
  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Transform: SAM_TRANSFORM,
    Description:
      `amps: ${o.plan.model.name} as a chain of ${bundles.length} Lambda functions (plan ${o.planHash.slice(0, 8)}, SLO ${o.plan.inputs.sloMs} ms at p${o.plan.inputs.percentile})`.slice(
        0,
        1024,
      ),
    Resources: resources,
    Outputs: outputs,
  }
}
