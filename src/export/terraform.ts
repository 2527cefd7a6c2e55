/**
 * A plan's stage bundles → Terraform in its JSON syntax (main.tf.json): the same resources as the
 * SAM template (src/export/sam.ts), from the same sources (deploy/targets/aws desiredConfig,
 * executionPolicy, functionTags), with the zips as `filename` + `source_code_hash`. Account,
 * region and partition come from Terraform's data sources. Pure: no fs, no SDK calls.
 */
import {relative, sep} from 'node:path'

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
import type {SamOptions} from './sam.js'

type Tf = Record<string, unknown>

/** Terraform resource name of stage i's function. */
export function tfFunctionName(stageIndex: number): string {
  return `stage_${stageIndex + 1}`
}

export function terraformConfig(o: SamOptions): Tf {
  const bundles = [...o.bundles].sort((a, b) => a.stageIndex - b.stageIndex)
  const userTags = o.tags ?? {}
  const baseName = deploymentBaseName(bundles, o.planHash)
  const handoff = planNeedsS3Handoff(o.plan) ? {bucket: '${aws_s3_bucket.handoff.bucket}', prefix: handoffPrefix(baseName)} : undefined
  const resource: Record<string, Record<string, Tf>> = {}
  const add = (type: string, name: string, body: Tf): void => {
    resource[type] ??= {}
    resource[type][name] = body
  }
  const roleArn = o.roleArn ?? '${aws_iam_role.execution.arn}'
  if (!o.roleArn) {
    add('aws_iam_role', 'execution', {
      name_prefix: `${baseName.slice(0, 32)}-`,
      description: `amps execution role for ${baseName}`,
      assume_role_policy: JSON.stringify(LAMBDA_TRUST_POLICY),
      tags: {...userTags, [TAG_PLAN_HASH]: o.planHash},
    })
    add('aws_iam_role_policy', 'execution', {
      name: INLINE_POLICY_NAME,
      role: '${aws_iam_role.execution.id}',
      policy: JSON.stringify(
        executionPolicy({
          partition: '${data.aws_partition.current.partition}',
          region: '${data.aws_region.current.name}',
          account: '${data.aws_caller_identity.current.account_id}',
          functionNames: bundles.map((b) => b.functionName),
          handoff,
        }),
      ),
    })
  }
  if (handoff) {
    add('aws_s3_bucket', 'handoff', {bucket_prefix: 'amps-handoff-', tags: {...userTags, [TAG_PLAN_HASH]: o.planHash}})
    add('aws_s3_bucket_lifecycle_configuration', 'handoff', {
      bucket: '${aws_s3_bucket.handoff.id}',
      rule: [
        {
          id: 'amps-expire-handoff',
          status: 'Enabled',
          filter: [{prefix: 'handoff/'}],
          expiration: [{days: 1}],
          abort_incomplete_multipart_upload: [{days_after_initiation: 1}],
        },
      ],
    })
  }
  const output: Record<string, Tf> = {}
  for (const [i, b] of bundles.entries()) {
    const want = desiredConfig(b, {
      roleArn,
      handoff,
      modelName: o.plan.model.name,
      planHash: o.planHash,
      stageCount: bundles.length,
      stageNumber: i + 1,
    })
    const name = tfFunctionName(b.stageIndex)
    add('aws_lambda_function', name, {
      function_name: want.FunctionName,
      description: want.Description,
      filename: relative(o.templateDir, b.zipPath).split(sep).join('/'),
      source_code_hash: b.codeSha256,
      handler: want.Handler,
      runtime: want.Runtime,
      architectures: want.Architectures,
      memory_size: want.MemorySize,
      timeout: want.Timeout,
      ephemeral_storage: [{size: want.EphemeralStorage.Size}],
      environment: [{variables: want.Environment.Variables}],
      role: roleArn,
      publish: true,
      tags: functionTags(b, o.planHash, o.plan.model.name, userTags),
      ...(o.roleArn ? {} : {depends_on: ['aws_iam_role_policy.execution']}),
    })
    output[`${name}_arn`] = {description: `${b.stageName ?? `stage ${i + 1}`}: ${b.functionName}`, value: `\${aws_lambda_function.${name}.arn}`}
  }
  return {
    '//': `amps: ${o.plan.model.name} as a chain of ${bundles.length} Lambda functions (plan ${o.planHash.slice(0, 8)}); terraform init && terraform apply`,
    terraform: {required_providers: {aws: {source: 'hashicorp/aws', version: '>= 5.0'}}},
    data: {aws_partition: {current: {}}, aws_region: {current: {}}, aws_caller_identity: {current: {}}},
    resource,
    output,
  }
}
