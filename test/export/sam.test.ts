/**
 * amps export --format sam on the real examples/tiny-cnn, cut in two by hand (no profiling): the
 * bundles are built as deploy builds them, and the template is checked two ways:
 * - always, against the properties CloudFormation and SAM define for the resource types it emits
 *   (transcribed below from the AWS::Serverless::Function (SAM specification), AWS::IAM::Role and
 *   AWS::S3::Bucket reference pages: names, types, ranges), as strict zod schemas, so any property
 *   they don't define fails;
 * - with cfn-lint (AWS's CloudFormation linter, which applies the SAM transform and validates the
 *   result against the CloudFormation resource schemas) when it is on PATH. Neither npm nor Debian
 *   packages it, so a fresh machine has none: that test then says so loudly and skips.
 */
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {z} from 'zod'

import {executionPolicy} from '../../deploy/targets/aws/naming.js'
import {loadModel} from '../../src/model/index.js'
import {handPlan} from '../deploy/hand-plan.js'
import {type CliResult, runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const model = join(repoRoot, 'examples', 'tiny-cnn')
let dir: string
let inline: CliResult
let s3: CliResult
let tf: CliResult
let templates: {inline: any; s3: any}

const cfnLint = spawnSync('cfn-lint', ['--version'], {encoding: 'utf8'}).status === 0
if (!cfnLint)
  console.warn('\n*** SKIPPING the cfn-lint check of the SAM template: cfn-lint is not on PATH (pip install cfn-lint; npm and Debian do not package it) ***\n')

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'amps-export-'))
  const loaded = await loadModel(model)
  const g = loaded.graph
  const cut = g.cuts.find((c) => c.after > 2 && c.after < g.layers.length - 3)!
  const plan = handPlan(loaded, [g.layers[cut.after].name], {memoryMb: 700})
  plan.model.source = model
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan, null, 2))
  // the same plan handing its tensors over through S3, with arm64 functions
  const viaS3 = structuredClone(plan)
  viaS3.stages[0].handoff = 's3'
  viaS3.stages.forEach((s) => (s.arch = 'arm64'))
  writeFileSync(join(dir, 'plan-s3.json'), JSON.stringify(viaS3, null, 2))
  inline = await runAmps(['export', 'plan.json', '--format', 'sam', '--tags', 'team=ml', '--tags', 'cost center=42', '-o', 'out/template.json', '--json'], {
    cwd: dir,
  })
  s3 = await runAmps(['export', 'plan-s3.json', '--role-arn', 'arn:aws:iam::123456789012:role/mine', '-o', 's3/template.json', '--json'], {cwd: dir})
  tf = await runAmps(['export', 'plan-s3.json', '--format', 'terraform', '--tags', 'team=ml', '-o', 'tf/main.tf.json', '--json'], {cwd: dir})
  expect(inline.code, inline.stderr).toBe(0)
  expect(s3.code, s3.stderr).toBe(0)
  expect(tf.code, tf.stderr).toBe(0)
  templates = {inline: JSON.parse(readFileSync(join(dir, 'out/template.json'), 'utf8')), s3: JSON.parse(readFileSync(join(dir, 's3/template.json'), 'utf8'))}
})

afterAll(() => rmSync(dir, {recursive: true, force: true}))

// ---- the resource types' properties, from the CloudFormation / SAM references ----
const intrinsic = z.union([
  z.strictObject({Ref: z.string()}),
  z.strictObject({'Fn::GetAtt': z.tuple([z.string(), z.string()])}),
  z.strictObject({'Fn::Sub': z.string()}),
])
const str = (max: number) => z.string().min(1).max(max)
const tagMap = z.record(z.string().min(1).max(128), z.string().max(256))
const tagList = z.array(z.strictObject({Key: str(128), Value: z.string().max(256)})).max(50)
const policyDocument = z.strictObject({
  Version: z.literal('2012-10-17'),
  Statement: z.array(
    z.strictObject({
      Sid: z
        .string()
        .regex(/^[A-Za-z0-9]*$/)
        .optional(),
      Effect: z.enum(['Allow', 'Deny']),
      Principal: z.strictObject({Service: z.string()}).optional(),
      Action: z.union([z.string(), z.array(z.string()).min(1)]),
      Resource: z.union([z.string(), z.array(z.union([z.string(), intrinsic])).min(1)]).optional(),
    }),
  ),
})
// AWS::Serverless::Function (the properties amps may emit; Lambda's limits)
const serverlessFunction = z.strictObject({
  FunctionName: z.string().regex(/^[a-zA-Z0-9-_]{1,64}$/),
  Description: z.string().max(256),
  CodeUri: z.string().min(1),
  Handler: str(128),
  Runtime: z.enum(['nodejs20.x', 'nodejs22.x']),
  Architectures: z.tuple([z.enum(['x86_64', 'arm64'])]),
  MemorySize: z.number().int().min(128).max(10240),
  Timeout: z.number().int().min(1).max(900),
  EphemeralStorage: z.strictObject({Size: z.number().int().min(512).max(10240)}),
  Environment: z.strictObject({Variables: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]+$/), z.union([z.string(), intrinsic]))}),
  Role: z.union([z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/), intrinsic]),
  Tags: tagMap,
})
// AWS::IAM::Role
const iamRole = z.strictObject({
  Description: z.string().max(1000),
  AssumeRolePolicyDocument: policyDocument,
  Policies: z.array(z.strictObject({PolicyName: z.string().regex(/^[\w+=,.@-]{1,128}$/), PolicyDocument: policyDocument})),
  Tags: tagList,
})
// AWS::S3::Bucket
const s3Bucket = z.strictObject({
  LifecycleConfiguration: z.strictObject({
    Rules: z.array(
      z.strictObject({
        Id: str(255),
        Status: z.enum(['Enabled', 'Disabled']),
        Prefix: z.string(),
        ExpirationInDays: z.number().int().min(1),
        AbortIncompleteMultipartUpload: z.strictObject({DaysAfterInitiation: z.number().int().min(0)}),
      }),
    ),
  }),
  Tags: tagList,
})
const resource = z.discriminatedUnion('Type', [
  z.strictObject({Type: z.literal('AWS::Serverless::Function'), Properties: serverlessFunction}),
  z.strictObject({Type: z.literal('AWS::IAM::Role'), Properties: iamRole}),
  z.strictObject({Type: z.literal('AWS::S3::Bucket'), Properties: s3Bucket}),
])
const template = z.strictObject({
  AWSTemplateFormatVersion: z.literal('2010-09-09'),
  Transform: z.literal('AWS::Serverless-2016-10-31'),
  Description: z.string().max(1024),
  Resources: z.record(z.string().regex(/^[A-Za-z0-9]{1,255}$/), resource),
  Outputs: z.record(z.string().regex(/^[A-Za-z0-9]{1,255}$/), z.strictObject({Description: z.string().max(1024), Value: intrinsic})),
})

/** Every Ref / Fn::GetAtt / ${X} in Fn::Sub names a resource of the template or a pseudo parameter. */
function danglingRefs(t: any): string[] {
  const ids = new Set(Object.keys(t.Resources))
  const bad: string[] = []
  const visit = (v: any): void => {
    if (Array.isArray(v)) return v.forEach(visit)
    if (v === null || typeof v !== 'object') return
    if (typeof v.Ref === 'string' && !ids.has(v.Ref) && !v.Ref.startsWith('AWS::')) bad.push(v.Ref)
    if (Array.isArray(v['Fn::GetAtt']) && !ids.has(v['Fn::GetAtt'][0])) bad.push(v['Fn::GetAtt'][0])
    if (typeof v['Fn::Sub'] === 'string')
      for (const m of v['Fn::Sub'].matchAll(/\$\{([^}]+)\}/g)) if (!ids.has(m[1]) && !m[1].startsWith('AWS::')) bad.push(m[1])
    Object.values(v).forEach(visit)
  }
  visit(t)
  return bad
}

describe('amps export --format sam', () => {
  it('writes a template whose every property is one CloudFormation/SAM defines, within its limits', () => {
    for (const t of [templates.inline, templates.s3]) {
      const r = template.safeParse(t)
      expect(r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual([])
      expect(danglingRefs(t)).toEqual([])
    }
    // and the schema does reject what CloudFormation rejects
    const bad = structuredClone(templates.inline)
    bad.Resources.Stage1Function.Properties.MemorySize = 20_000
    bad.Resources.Stage2Function.Properties.Bogus = 1
    expect(template.safeParse(bad).success).toBe(false)
  })

  it('gives each stage the configuration amps deploy gives it, its zip as CodeUri, and the tags', async () => {
    const t = templates.inline
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8'))
    const fns = Object.values<any>(t.Resources).filter((r) => r.Type === 'AWS::Serverless::Function')
    expect(fns).toHaveLength(plan.stages.length)
    for (const [i, f] of fns.entries()) {
      const p = f.Properties
      expect(p.MemorySize).toBe(plan.stages[i].memoryMb)
      expect(p.Architectures).toEqual([plan.stages[i].arch])
      expect(p.Environment.Variables.AMPS_STAGE).toBe(plan.stages[i].name)
      // CodeUri: a real zip, relative to the template, the one deploy would upload
      const zip = resolve(join(dir, 'out'), p.CodeUri)
      expect(existsSync(zip) && statSync(zip).size).toBeGreaterThan(1000)
      expect(inline.json.stages[i]).toMatchObject({functionName: p.FunctionName, codeUri: p.CodeUri, zipBytes: statSync(zip).size})
      expect(p.Tags).toMatchObject({team: 'ml', 'cost center': '42', 'amps:stage': String(i), 'amps:model': 'tiny-cnn'})
      expect(p.Role).toEqual({'Fn::GetAtt': ['ExecutionRole', 'Arn']})
    }
    // plan.json is an input: export leaves it as it was
    expect(plan.stages[0].measuredPackageBytes).toBeUndefined()
    // the role: deploy's least-privilege policy, with CloudFormation's account/region/partition
    const role = t.Resources.ExecutionRole.Properties
    expect(role.Tags).toEqual(
      expect.arrayContaining([
        {Key: 'team', Value: 'ml'},
        {Key: 'cost center', Value: '42'},
      ]),
    )
    const want = executionPolicy({
      partition: '${AWS::Partition}',
      region: '${AWS::Region}',
      account: '${AWS::AccountId}',
      functionNames: fns.map((f) => f.Properties.FunctionName),
    })
    expect(role.Policies[0].PolicyDocument.Statement.map((s: any) => ({...s, Resource: s.Resource.map((r: any) => r['Fn::Sub'])}))).toEqual(want.Statement)
    expect(t.Resources.HandoffBucket).toBeUndefined()
  })

  it('adds the hand-off bucket only when the plan needs it, and uses a given role instead of creating one', () => {
    const t = templates.s3
    expect(t.Resources.ExecutionRole).toBeUndefined()
    expect(t.Resources.HandoffBucket.Type).toBe('AWS::S3::Bucket')
    for (const f of Object.values<any>(t.Resources).filter((r) => r.Type === 'AWS::Serverless::Function')) {
      expect(f.Properties.Role).toBe('arn:aws:iam::123456789012:role/mine')
      expect(f.Properties.Architectures).toEqual(['arm64'])
      expect(f.Properties.Environment.Variables.AMPS_HANDOFF_BUCKET).toEqual({Ref: 'HandoffBucket'})
      expect(f.Properties.Environment.Variables.AMPS_HANDOFF_PREFIX).toMatch(/^handoff\/amps-tiny-cnn-/)
    }
  })

  it.skipIf(!cfnLint)('passes cfn-lint (SAM transform + CloudFormation resource schemas)', () => {
    for (const f of ['out/template.json', 's3/template.json']) {
      const r = spawnSync('cfn-lint', ['--format', 'parseable', join(dir, f)], {encoding: 'utf8'})
      expect(`${r.stdout}${r.stderr}`.trim()).toBe('')
      expect(r.status).toBe(0)
    }
    // and cfn-lint does catch a wrong property
    const bad = structuredClone(templates.inline)
    bad.Resources.ExecutionRole.Properties.Tags[0] = {Key: 'team', Valu: 'ml'}
    writeFileSync(join(dir, 'bad.json'), JSON.stringify(bad))
    expect(spawnSync('cfn-lint', [join(dir, 'bad.json')], {encoding: 'utf8'}).status).not.toBe(0)
  })

  it('refuses a malformed tag in one line (exit 2)', async () => {
    const [noEq, reserved] = await Promise.all([
      runAmps(['export', 'plan.json', '--tags', 'team', '-o', 'x/template.json', '--json'], {cwd: dir}),
      runAmps(['export', 'plan.json', '--tags', 'aws:x=1', '-o', 'x/template.json', '--json'], {cwd: dir}),
    ])
    expect(noEq.code).toBe(2)
    expect(noEq.json.error.message).toBe('--tags "team": expected key=value')
    expect(reserved.code).toBe(2)
    expect(reserved.json.error.message).toMatch(/reserved by AWS/)
    expect(existsSync(join(dir, 'x'))).toBe(false)
  })

  it('--format terraform writes the same resources as Terraform JSON, every reference resolving', () => {
    const t = JSON.parse(readFileSync(join(dir, 'tf/main.tf.json'), 'utf8'))
    const declared = new Set<string>()
    for (const [type, byName] of Object.entries<any>(t.resource)) for (const name of Object.keys(byName)) declared.add(`${type}.${name}`)
    for (const [type, byName] of Object.entries<any>(t.data)) for (const name of Object.keys(byName)) declared.add(`data.${type}.${name}`)
    expect([...declared].sort()).toEqual(
      [
        'aws_iam_role.execution',
        'aws_iam_role_policy.execution',
        'aws_lambda_function.stage_1',
        'aws_lambda_function.stage_2',
        'aws_s3_bucket.handoff',
        'aws_s3_bucket_lifecycle_configuration.handoff',
        'data.aws_caller_identity.current',
        'data.aws_partition.current',
        'data.aws_region.current',
      ].sort(),
    )
    // every ${…} interpolation names a declared resource or data source
    const refs = [...JSON.stringify(t).matchAll(/\$\{((?:data\.)?[a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+\}/g)].map((m) => m[1])
    expect(refs.length).toBeGreaterThan(5)
    expect(refs.filter((r) => !declared.has(r!))).toEqual([])
    // aws_lambda_function: the provider's argument names, the values deploy would set
    const fnArgs = z.strictObject({
      function_name: z.string().regex(/^[a-zA-Z0-9-_]{1,64}$/),
      description: z.string().max(256),
      filename: z.string(),
      source_code_hash: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
      handler: z.string(),
      runtime: z.enum(['nodejs20.x', 'nodejs22.x']),
      architectures: z.tuple([z.enum(['x86_64', 'arm64'])]),
      memory_size: z.number().int().min(128).max(10240),
      timeout: z.number().int().min(1).max(900),
      ephemeral_storage: z.tuple([z.strictObject({size: z.number().int().min(512).max(10240)})]),
      environment: z.tuple([z.strictObject({variables: z.record(z.string(), z.string())})]),
      role: z.string(),
      publish: z.literal(true),
      tags: tagMap,
      depends_on: z.array(z.string()).optional(),
    })
    const plan = JSON.parse(readFileSync(join(dir, 'plan-s3.json'), 'utf8'))
    for (const [i, f] of Object.values<any>(t.resource.aws_lambda_function).entries()) {
      const r = fnArgs.safeParse(f)
      expect(r.success ? [] : r.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`)).toEqual([])
      expect(f.memory_size).toBe(plan.stages[i].memoryMb)
      expect(f.architectures).toEqual(['arm64'])
      expect(f.role).toBe('${aws_iam_role.execution.arn}')
      expect(f.environment[0].variables.AMPS_HANDOFF_BUCKET).toBe('${aws_s3_bucket.handoff.bucket}')
      expect(f.tags).toMatchObject({team: 'ml', 'amps:stage': String(i)})
      expect(statSync(resolve(join(dir, 'tf'), f.filename)).size).toBe(tf.json.stages[i].zipBytes)
    }
    // the role policy: deploy's, with Terraform's account/region/partition
    const policy = JSON.parse(t.resource.aws_iam_role_policy.execution.policy)
    const fns = Object.values<any>(t.resource.aws_lambda_function).map((f) => f.function_name)
    expect(policy).toEqual(
      executionPolicy({
        partition: '${data.aws_partition.current.partition}',
        region: '${data.aws_region.current.name}',
        account: '${data.aws_caller_identity.current.account_id}',
        functionNames: fns,
        handoff: {bucket: '${aws_s3_bucket.handoff.bucket}', prefix: fns[0].replace(/-stage-1$/, '').replace(/^/, 'handoff/')},
      }),
    )
    expect(tf.json.next).toMatch(/^terraform -chdir=tf init && terraform -chdir=tf apply$/)
  })
})
