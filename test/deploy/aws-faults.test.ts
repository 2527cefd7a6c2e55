/**
 * AWS target faults, against the in-memory AWS of aws-fake.ts (aws-sdk-client-mock at the SDK
 * boundary): a deploy that uses every kind of step (execution role + policy, a bucket with tags and
 * lifecycle, a > 50 MB zip through S3, three functions, waiters, versions, tags) is failed at each
 * of its calls in turn, with each kind of fault:
 * - throttling and ResourceConflictException (update in progress): retried, the same run succeeds;
 * - a service error (HTTP 500) or a timeout (AWS never answered): a one-line user error, then the
 *   re-run from deployment.json converges to exactly what an unfailed deploy builds;
 * and destroy is failed at each of its calls, then re-run: nothing is left behind. Assertions are on
 * the calls made and on the fake's resources.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {DeploymentState, StageBundle} from '../../deploy/state/types.js'
import {deployAws, destroyAws} from '../../deploy/targets/aws/index.js'
import {AmpsUserError} from '../../src/errors.js'
import {FakeAws, PLAN_HASH, awsError, makeBundle, makePlan, writeSparseZip} from './aws-fake.js'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'amps-aws-faults-'))
  made = undefined
})
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const TAGS = {team: 'ml'}
const plan = () => makePlan(3, {handoff: 's3'})

let made: StageBundle[] | undefined
/** the same three bundles for every run of a test (zips carry their write time) */
function bundles(): StageBundle[] {
  if (made) return made
  const big = join(dir, 'big.zip')
  const size = 51 * 1024 * 1024
  writeSparseZip(big, size)
  made = [
    makeBundle(join(dir, 'b'), 1),
    {...makeBundle(join(dir, 'b'), 2), zipPath: big, zipBytes: size, codeSha256: 'q83vEjRWeJA='.padEnd(44, 'A')},
    makeBundle(join(dir, 'b'), 3),
  ]
  return made
}

function options(fake: FakeAws, statePath: string, sleeps: number[] = []) {
  return {
    region: 'us-east-1',
    statePath,
    clients: fake.clients,
    planHash: PLAN_HASH,
    planPath: 'plan.json',
    createRole: true,
    tags: TAGS,
    sleep: async (ms: number) => {
      sleeps.push(ms)
    },
    random: () => 0.5,
    // a waiter polling an AWS that stays down gives up after this (real seconds; 600 by default)
    maxWaitSec: 2,
  }
}

/** Everything the fake AWS holds, comparable across runs. */
function snapshot(fake: FakeAws) {
  const sorted = <T>(m: Map<string, T>) => Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)))
  return {
    functions: sorted(
      new Map(
        [...fake.functions].map(([k, f]) => {
          const {State: _s, LastUpdateStatus: _l, ...config} = f.config
          return [k, {config, tags: f.tags, versions: f.versions.length, dirty: f.dirty}]
        }),
      ),
    ),
    roles: sorted(new Map([...fake.roles].map(([k, r]) => [k, {Arn: r.Arn, Tags: r.Tags, policies: sorted(r.policies)}]))),
    buckets: sorted(new Map([...fake.buckets].map(([k, b]) => [k, [...b.keys()].sort()]))),
    bucketConfig: sorted(fake.bucketConfig),
  }
}

/** deployment.json without its clocks */
function stateOf(path: string): unknown {
  const s = JSON.parse(readFileSync(path, 'utf8')) as DeploymentState
  const {createdAt: _c, updatedAt: _u, ...rest} = s
  return {...rest, stages: s.stages.map(({updatedAt: _t, ...st}) => st)}
}

/**
 * Makes the k-th call (0-based) the fake answers throw `error()` instead; with `sticky`, every call
 * after it too (AWS or the network stays down: the run stops at step k, retries and all).
 */
function failAt(fake: FakeAws, k: number, error: () => Error, sticky = false): {calls: number; failed?: string} {
  const seen: {calls: number; failed?: string} = {calls: 0}
  fake.onCall = (c) => {
    const n = seen.calls++
    if (n === k || (sticky && n > k)) {
      seen.failed ??= `${c.command}`
      throw error()
    }
  }
  return seen
}

const serviceError = () =>
  awsError('ServiceException', 'We encountered an internal error. Please try again.', {$fault: 'server', $metadata: {httpStatusCode: 500}})
// what @smithy/node-http-handler throws when AWS does not answer in time: no $metadata
const timeout = () => Object.assign(new Error('Connection timed out after 30000 ms'), {name: 'TimeoutError'})
const throttled = () => awsError('TooManyRequestsException', 'Rate exceeded', {$metadata: {httpStatusCode: 429}})
const conflict = () => awsError('ResourceConflictException', 'The operation cannot be performed at this time. An update is in progress for resource')

async function reference(): Promise<{snap: ReturnType<typeof snapshot>; state: unknown; calls: string[]}> {
  const fake = new FakeAws()
  try {
    const path = join(dir, 'reference.json')
    await deployAws(bundles(), plan(), options(fake, path))
    return {snap: snapshot(fake), state: stateOf(path), calls: fake.summary()}
  } finally {
    fake.restore()
  }
}

describe('AWS deploy faults at every step', () => {
  it('throttling and update-in-progress conflicts at any call are retried and the same run completes', async () => {
    const ref = await reference()
    expect(ref.calls.length).toBeGreaterThan(15)
    for (const [name, error] of [
      ['throttling', throttled],
      ['conflict', conflict],
    ] as const) {
      for (let k = 0; k < ref.calls.length; k++) {
        const fake = new FakeAws()
        try {
          const path = join(dir, `${name}-${k}.json`)
          const sleeps: number[] = []
          const at = failAt(fake, k, error)
          await deployAws(bundles(), plan(), options(fake, path, sleeps)).catch((e) => {
            throw new Error(`${name} at call ${k} (${ref.calls[k]}): ${e.message}`)
          })
          expect(at.failed, `call ${k}`).toBe(ref.calls[k]!.split(' ')[0])
          // one extra try of the failed call, after one backoff (amps's, or the SDK waiter's own for its polls)
          expect(fake.summary(), `${name} at call ${k}`).toEqual([...ref.calls.slice(0, k + 1), ...ref.calls.slice(k)])
          expect(sleeps.length, `${name} at call ${k}`).toBeLessThanOrEqual(1)
          expect(snapshot(fake)).toEqual(ref.snap)
          expect(stateOf(path)).toEqual(ref.state)
        } finally {
          fake.restore()
        }
      }
    }
  })

  it('AWS failing (HTTP 500 after the retries) or not answering (timeout) from any call on fails the run in one line; the re-run converges; destroy leaves nothing', async () => {
    const ref = await reference()
    for (let k = 0; k < ref.calls.length; k++) {
      const fake = new FakeAws()
      try {
        const path = join(dir, `fatal-${k}.json`)
        const kind = k % 2 === 0 ? serviceError : timeout
        failAt(fake, k, kind, true)
        const err = await deployAws(bundles(), plan(), options(fake, path)).then(
          () => undefined,
          (e) => e,
        )
        expect(err, `call ${k} (${ref.calls[k]})`).toBeInstanceOf(AmpsUserError)
        expect(err.ampsCode).toBe('AWS_ERROR')
        expect(err.message).not.toContain('\n')
        expect(err.message).toMatch(kind === timeout ? /timed out/ : /ServiceException/)

        // re-run from what deployment.json recorded (if the fault came before the first write, from nothing)
        fake.onCall = undefined
        const existing = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as DeploymentState) : undefined
        const state = await deployAws(bundles(), plan(), {...options(fake, path), existing}).catch((e) => {
          throw new Error(`re-run after a fault at call ${k} (${ref.calls[k]}): ${e.message}`)
        })
        expect(snapshot(fake), `after a fault at call ${k} (${ref.calls[k]})`).toEqual(ref.snap)
        expect(stateOf(path), `after a fault at call ${k} (${ref.calls[k]})`).toEqual(ref.state)

        await destroyAws(state, {statePath: path, clients: fake.clients})
        expect(fake.functions.size + fake.roles.size + fake.buckets.size, `destroy after a fault at call ${k}`).toBe(0)
      } finally {
        fake.restore()
      }
    }
  })
})

describe('AWS destroy faults at every step', () => {
  it('AWS failing or not answering from any destroy call on fails it in one line; destroy again removes everything; a third run calls nothing', async () => {
    // the calls a destroy makes
    const first = new FakeAws()
    let destroyCalls: string[]
    try {
      const state = await deployAws(bundles(), plan(), options(first, join(dir, 'd-ref.json')))
      first.resetCalls()
      await destroyAws(state, {statePath: join(dir, 'd-ref.json'), clients: first.clients})
      destroyCalls = first.summary()
    } finally {
      first.restore()
    }
    expect(destroyCalls).toEqual(
      expect.arrayContaining([expect.stringMatching(/^DeleteFunction /), expect.stringMatching(/^DeleteBucket /), expect.stringMatching(/^DeleteRole /)]),
    )

    for (let k = 0; k < destroyCalls.length; k++) {
      for (const kind of [serviceError, timeout, throttled]) {
        const fake = new FakeAws()
        try {
          const path = join(dir, `d-${k}.json`)
          const state = await deployAws(bundles(), plan(), options(fake, path))
          fake.resetCalls()
          failAt(fake, k, kind, kind !== throttled)
          const err = await destroyAws(state, {statePath: path, clients: fake.clients, sleep: async () => {}}).then(
            () => undefined,
            (e) => e,
          )
          fake.onCall = undefined
          if (kind === throttled) {
            // retried within the run
            expect(err, `throttled destroy call ${k} (${destroyCalls[k]})`).toBeUndefined()
          } else {
            expect(err, `destroy call ${k} (${destroyCalls[k]})`).toBeInstanceOf(AmpsUserError)
            expect(err.message).not.toContain('\n')
            const recorded = JSON.parse(readFileSync(path, 'utf8')) as DeploymentState
            await destroyAws(recorded, {statePath: path, clients: fake.clients})
          }
          expect(fake.functions.size + fake.roles.size + fake.buckets.size, `after a fault at destroy call ${k} (${destroyCalls[k]})`).toBe(0)
          fake.resetCalls()
          await destroyAws(JSON.parse(readFileSync(path, 'utf8')) as DeploymentState, {statePath: path, clients: fake.clients})
          expect(fake.calls).toEqual([])
        } finally {
          fake.restore()
        }
      }
    }
  })
})
