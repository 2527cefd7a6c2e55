/**
 * AWS conventions: the region as the AWS CLI resolves it (flag, AWS_REGION, AWS_DEFAULT_REGION, the
 * chosen profile's entry in a real shared config file read by the SDK's own loader, then the plan's
 * with a note); --tags on every function, role and bucket amps creates (aws-sdk-client-mock fake);
 * --endpoint-url sending real HTTP requests of the built CLI to a server on 127.0.0.1.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {regionFromSharedConfig, resolveRegion} from '../../deploy/targets/aws/config.js'
import {deployAws, planAwsCalls} from '../../deploy/targets/aws/index.js'
import {parseTags} from '../../deploy/targets/aws/tags.js'
import {runAmps} from '../helpers/cli.js'
import {ACCOUNT, FakeAws, PLAN_HASH, makeBundle, makePlan} from './aws-fake.js'

let dir: string
const saved = {...process.env}
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-conv-'))
  writeFileSync(
    join(dir, 'config'),
    ['[default]', 'region = eu-west-1', '', '[profile ml]', 'region = ap-south-1', '', '[profile noregion]', 'output = json', ''].join('\n'),
  )
})
afterAll(() => {
  process.env = saved
  rmSync(dir, {recursive: true, force: true})
})
beforeEach(() => {
  for (const k of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ENDPOINT_URL']) delete process.env[k]
  process.env.AWS_CONFIG_FILE = join(dir, 'config')
  process.env.AWS_SHARED_CREDENTIALS_FILE = join(dir, 'no-credentials')
})

describe('region, as the AWS CLI resolves it', () => {
  it("reads the chosen profile's region from AWS_CONFIG_FILE with the SDK's loader ([profile x], else [default])", async () => {
    expect(await regionFromSharedConfig('ml')).toBe('ap-south-1')
    expect(await regionFromSharedConfig(undefined)).toBe('eu-west-1')
    process.env.AWS_PROFILE = 'ml'
    expect(await regionFromSharedConfig(undefined)).toBe('ap-south-1')
    expect(await regionFromSharedConfig('noregion')).toBeUndefined()
    expect(await regionFromSharedConfig('missing')).toBeUndefined()
  })

  it('flag, then AWS_REGION, then AWS_DEFAULT_REGION, then the profile, then the plan with a note', async () => {
    const r = (env: NodeJS.ProcessEnv, flag?: string, profile?: string) => resolveRegion({flag, profile, planRegion: 'us-east-1', env})
    expect(await r({AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-north-1'}, 'ca-central-1', 'ml')).toEqual({region: 'ca-central-1', source: 'flag'})
    expect(await r({AWS_REGION: 'us-west-2', AWS_DEFAULT_REGION: 'eu-north-1'}, undefined, 'ml')).toEqual({region: 'us-west-2', source: 'AWS_REGION'})
    expect(await r({AWS_DEFAULT_REGION: 'eu-north-1'}, undefined, 'ml')).toEqual({region: 'eu-north-1', source: 'AWS_DEFAULT_REGION'})
    expect(await r({}, undefined, 'ml')).toEqual({region: 'ap-south-1', source: 'config file'})
    expect(await r({}, undefined, undefined)).toEqual({region: 'eu-west-1', source: 'config file'})
    const fallback = await r({AWS_CONFIG_FILE: join(dir, 'config')}, undefined, 'noregion')
    expect(fallback).toMatchObject({region: 'us-east-1', source: 'plan'})
    expect(fallback.note).toBe(
      `no region given (--region, AWS_REGION, AWS_DEFAULT_REGION, or region in profile noregion of ${join(dir, 'config')}): using the plan's us-east-1`,
    )
  })
})

describe('--tags', () => {
  let fake: FakeAws
  beforeEach(() => {
    fake = new FakeAws()
  })
  afterEach(() => fake.restore())

  it('parses key=value pairs and refuses what AWS refuses, in one line', () => {
    expect(parseTags(['team=ml', 'cost center=4=2', 'empty='])).toEqual({team: 'ml', 'cost center': '4=2', empty: ''})
    expect(parseTags(undefined)).toEqual({})
    for (const [bad, why] of [
      ['team', 'expected key=value'],
      ['=x', 'the key must be 1 to 128 characters'],
      ['aws:owner=me', 'reserved by AWS'],
      ['amps:stage=1', 'reserved by amps'],
      ['a=<script>', 'letters, digits, spaces'],
    ]) {
      expect(() => parseTags([bad])).toThrow(why)
    }
    expect(() => parseTags(['a=1', 'a=2'])).toThrow('given twice')
  })

  it('go on every function, the role and the bucket a deploy creates; a re-run without --tags keeps them', async () => {
    const bundles = [1, 2].map((i) => makeBundle(join(dir, 'bundles'), i))
    const tags = {team: 'ml', 'cost center': '42'}
    const o = {region: 'us-east-1', statePath: join(dir, 'tags.json'), clients: fake.clients, planHash: PLAN_HASH, sleep: async () => {}, createRole: true}
    const state = await deployAws(bundles, makePlan(2, {handoff: 's3'}), {...o, tags})
    expect(state.tags).toEqual(tags)
    for (const f of fake.functions.values()) expect(f.tags).toMatchObject({...tags, 'amps:plan-hash': PLAN_HASH})
    const [role] = [...fake.roles.values()]
    expect(role!.Tags).toEqual(
      expect.arrayContaining([
        {Key: 'team', Value: 'ml'},
        {Key: 'cost center', Value: '42'},
      ]),
    )
    const bucket = `amps-${ACCOUNT}-us-east-1`
    expect(fake.bucketConfig.get(bucket)).toMatchObject({
      tags: [
        {Key: 'team', Value: 'ml'},
        {Key: 'cost center', Value: '42'},
      ],
      lifecycle: {Rules: [{ID: 'amps-expire-handoff'}]},
    })

    // unchanged: nothing to tag again, and the dry run agrees
    fake.resetCalls()
    const again = await deployAws(bundles, makePlan(2, {handoff: 's3'}), {...o, existing: state})
    expect(again.tags).toEqual(tags)
    expect(fake.summary((c) => !/^(Get|Head)/.test(c.command))).toEqual([])
    const dry = await planAwsCalls(bundles, makePlan(2, {handoff: 's3'}), {...o, existing: state})
    expect(dry.calls.filter((c) => /Tag/.test(c.command))).toEqual([])

    // a new tag on a re-run: TagResource on each function
    fake.resetCalls()
    await deployAws(bundles, makePlan(2, {handoff: 's3'}), {...o, existing: again, tags: {...tags, env: 'prod'}})
    expect(fake.summary((c) => c.command === 'TagResource')).toHaveLength(2)
    for (const f of fake.functions.values()) expect(f.tags.env).toBe('prod')
  })
})

describe('--endpoint-url', () => {
  let server: Server
  let requests: {method: string; url: string; auth: string}[]
  let url: string
  beforeAll(async () => {
    requests = []
    server = createServer((req: IncomingMessage, res) => {
      requests.push({method: req.method ?? '', url: req.url ?? '', auth: String(req.headers.authorization ?? '')})
      req.resume()
      if (req.method === 'DELETE') {
        res.writeHead(204).end()
        return
      }
      res
        .writeHead(404, {'content-type': 'application/json', 'x-amzn-errortype': 'ResourceNotFoundException'})
        .end(JSON.stringify({Type: 'User', message: 'Function not found'}))
    })
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())))

  it('amps destroy sends its signed Lambda calls to the given endpoint', async () => {
    const fn = 'amps-tiny-a1b2c3d4-stage-1'
    const deployment = {
      version: 1,
      target: 'aws',
      region: 'eu-west-1',
      planHash: PLAN_HASH,
      planPath: 'plan.json',
      modelPath: 'model.json',
      createdAt: '2026-12-01T00:00:00.000Z',
      updatedAt: '2026-12-01T00:00:00.000Z',
      stages: [
        {
          stageIndex: 0,
          functionName: fn,
          status: 'active',
          arn: `arn:aws:lambda:eu-west-1:${ACCOUNT}:function:${fn}`,
          version: '1',
          createdByUs: true,
          updatedAt: '2026-12-01T00:00:00.000Z',
        },
      ],
    }
    writeFileSync(join(dir, 'deployment.json'), JSON.stringify(deployment))
    const r = await runAmps(['destroy', 'deployment.json', '--force', '--endpoint-url', url, '--json'], {
      cwd: dir,
      env: {AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'test', AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none')},
    })
    expect(r.code, r.stderr).toBe(0)
    const deletes = requests.filter((q) => q.method === 'DELETE')
    expect(deletes.map((q) => q.url)).toEqual([`/2015-03-31/functions/${fn}`])
    // SigV4-signed for the deployment's region and the Lambda service
    expect(deletes[0]!.auth).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/lambda\/aws4_request/)
  })
})
