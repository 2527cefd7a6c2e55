/**
 * `amps serve` on loopback against a REAL local deployment of examples/tiny-cnn cut in two stages
 * (two stage processes behind the Lambda Invoke API), no mocks: every prediction is checked against
 * the same input run alone through the whole model in this process (max abs diff ≤ 1e-5). Also
 * 500 concurrent requests, the error answers (400/401/404/413/429/502/504), a killed stage and its
 * recovery after `amps deploy`, `amps load` through the CLI, and SIGTERM draining the real CLI.
 * The tests share one deployment and run in order.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {readDeployment} from '../../deploy/state/deployment.js'
import {destroyLocal, pidAlive} from '../../deploy/targets/local/index.js'
import {loadModel} from '../../src/model/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {startGateway, type Gateway} from '../../src/serve/gateway.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {handPlan} from '../deploy/hand-plan.js'

const modelDir = join(repoRoot, 'examples', 'tiny-cnn')
const dir = mkdtempSync(join(tmpdir(), 'amps-serve-'))
const planPath = join(dir, 'plan.json')
const depPath = join(dir, 'deployment.json')
const SIDE = 64 * 64 * 3
const DISTINCT = 40
let inputs: Float32Array[] = []
const expected: Float32Array[] = []
let gw: Gateway
const extra: Gateway[] = []

/** A deterministic image-like input per index. */
function input(i: number): Float32Array {
  const x = new Float32Array(SIDE)
  let s = (i + 1) * 2654435761
  for (let j = 0; j < SIDE; j++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0
    x[j] = Math.round((s >>> 8) / 167772.16) / 100 // two decimals: short JSON, the same float32 on both sides
  }
  return x
}

/** JSON text of one instance, cached per input (the bodies are the bulk of the test's own work). */
const jsonOf = new Map<number, string>()
const instanceJson = (i: number): string => {
  let t = jsonOf.get(i)
  if (!t) jsonOf.set(i, (t = JSON.stringify(nested(inputs[i]))))
  return t
}
const rowBody = (ids: number[]) => `{"instances":[${ids.map(instanceJson).join(',')}]}`
const nested = (x: Float32Array) =>
  Array.from({length: 64}, (_, r) => Array.from({length: 64}, (_, c) => Array.from(x.subarray((r * 64 + c) * 3, (r * 64 + c) * 3 + 3))))

function maxDiff(got: unknown, want: Float32Array): number {
  const g = got as number[]
  if (!Array.isArray(g) || g.length !== want.length) return Infinity
  return Math.max(...g.map((v, i) => Math.abs(v - want[i])))
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{status: number; body: any; headers: Headers}> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/json', ...headers},
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let parsed: any
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = text
  }
  return {status: res.status, body: parsed, headers: res.headers}
}

const predictUrl = (g: Gateway) => `${g.url}/v1/models/tiny-cnn:predict`

beforeAll(async () => {
  const model = await loadModel(modelDir)
  const plan = handPlan(model, ['pool_1'], {memoryMb: 1769, batch: 8})
  plan.batch.timeoutMs = 15
  writeFileSync(planPath, JSON.stringify(plan, null, 2) + '\n')
  const deployed = await runAmps(['deploy', planPath, '--out', depPath, '--json'], {cwd: dir})
  expect(deployed.code, deployed.stderr).toBe(0)
  // the reference: each input alone through the whole model, in this process
  const {tf} = await initTf()
  const m = await tf.loadLayersModel(tf.io.fromMemory(model.artifacts))
  inputs = Array.from({length: DISTINCT}, (_, i) => input(i))
  for (const x of inputs) {
    const t = tf.tensor(x, [1, 64, 64, 3])
    const y = m.predict(t) as import('@tensorflow/tfjs-core').Tensor
    expected.push((await y.data()) as Float32Array)
    tf.dispose([t, y])
  }
  m.dispose()
  gw = await startGateway({deploymentPath: depPath, port: 0, fixed: true, maxQueue: 5000, maxConcurrency: 4})
}, 180_000)

afterAll(async () => {
  for (const g of extra) await g.close().catch(() => {})
  await gw?.close().catch(() => {})
  if (existsSync(depPath)) await destroyLocal(readDeployment(depPath), {statePath: depPath}).catch(() => {})
  rmSync(dir, {recursive: true, force: true})
})

describe('amps serve against a local tiny-cnn deployment (2 stages, B = 8, T = 15 ms)', () => {
  it('answers model status and metadata as TF Serving does', async () => {
    const status = await (await fetch(`${gw.url}/v1/models/tiny-cnn`)).json()
    expect(status.model_version_status[0].state).toBe('AVAILABLE')
    const meta = await (await fetch(`${gw.url}/v1/models/tiny-cnn/metadata`)).json()
    const sig = meta.metadata.signature_def.signature_def.serving_default
    expect(sig.inputs.image.tensor_shape.dim.map((d: {size: string}) => d.size)).toEqual(['-1', '64', '64', '3'])
    expect(sig.outputs.classes.dtype).toBe('DT_FLOAT')
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  it('concurrent clients each get exactly their own predictions, in order (row and columnar, split when > B)', async () => {
    const clients = Array.from({length: 16}, (_, c) => {
      const k = (c % 11) + 1 // up to 11 instances: more than B = 8 is split across batches
      const ids = Array.from({length: k}, (_, j) => (c * 7 + j * 3) % DISTINCT)
      const columnar = c % 2 === 1
      const body = columnar ? {inputs: ids.map((i) => nested(inputs[i]))} : {instances: ids.map((i) => nested(inputs[i]))}
      return post(predictUrl(gw), body).then((r) => ({r, ids, columnar}))
    })
    for (const {r, ids, columnar} of await Promise.all(clients)) {
      expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200)
      const rows = columnar ? r.body.outputs : r.body.predictions
      expect(rows).toHaveLength(ids.length)
      ids.forEach((id, j) => expect(maxDiff(rows[j], expected[id])).toBeLessThanOrEqual(1e-5))
    }
    const s = gw.stats()
    expect(s.batches).toBeGreaterThan(0)
    expect(s.instances).toBe(Array.from({length: 16}, (_, c) => (c % 11) + 1).reduce((a, b) => a + b, 0))
  })

  it('500 concurrent requests: none lost, none wrong', async () => {
    const before = gw.stats()
    const all = await Promise.all(Array.from({length: 500}, (_, i) => post(predictUrl(gw), rowBody([i % DISTINCT])).then((r) => ({r, id: i % DISTINCT}))))
    const wrong = all.filter(({r, id}) => r.status !== 200 || maxDiff(r.body.predictions?.[0], expected[id]) > 1e-5)
    expect(wrong.length, JSON.stringify(wrong[0]?.r.body ?? null).slice(0, 300)).toBe(0)
    const after = gw.stats()
    expect(after.instances - before.instances).toBe(500)
    expect(after.batches - before.batches).toBeGreaterThanOrEqual(63) // B = 8
  }, 120_000)

  it('exports Prometheus metrics and the running cost from billed ms', async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text()
    for (const name of [
      'amps_serve_request_duration_seconds_bucket',
      'amps_serve_batch_size_bucket',
      'amps_serve_queue_depth',
      'amps_serve_inflight_batches',
      'amps_serve_slo_misses_total',
      'amps_serve_stage_duration_ms_bucket',
      'amps_serve_stage_billed_ms_total',
      'amps_serve_cost_per_million_usd',
    ]) {
      expect(text).toContain(name)
    }
    expect(text).toMatch(/amps_serve_stage_billed_ms_total\{stage="stage-2"\} [1-9]/)
    const s = gw.stats()
    expect(s.stages.map((x) => x.name).sort()).toEqual(['stage-1', 'stage-2'])
    const billedUsd = s.stages.reduce((a, st) => a + (st.billedMs / 1000) * (1769 / 1024) * 0.0000166667 + st.invocations * 0.2e-6, 0)
    expect(s.costUsd).toBeCloseTo(billedUsd, 9)
  })

  it('answers 400 naming the problem, 404 for another model, 413 over the body limit, 504 past the deadline', async () => {
    const url = predictUrl(gw)
    const bad = await post(url, '{"instances": [')
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatch(/JSON/)
    const shape = await post(url, {instances: [[[1, 2, 3]]]})
    expect(shape.status).toBe(400)
    expect(shape.body.error).toMatch(/instances\[0\].*64/)
    const dtype = await post(url, {instances: [nested(inputs[0]).map((r, i) => (i === 5 ? r.map(() => ['a', 'b', 'c']) : r))]})
    expect(dtype.status).toBe(400)
    expect(dtype.body.error).toMatch(/instances\[0\]\[5\]\[0\]\[0\]: expected a finite number/)
    const neither = await post(url, {rows: []})
    expect(neither.status).toBe(400)
    expect(neither.body.error).toMatch(/instances.*inputs/)
    const other = await post(`${gw.url}/v1/models/resnet:predict`, {instances: [nested(inputs[0])]})
    expect(other.status).toBe(404)
    expect(other.body.error).toMatch(/serves "tiny-cnn"/)

    const small = await startGateway({deploymentPath: depPath, port: 0, fixed: true, bodyLimitBytes: 10_000, deadlineMs: 5})
    extra.push(small)
    const big = await post(predictUrl(small), {instances: [nested(inputs[0])]})
    expect(big.status).toBe(413)
    expect(big.body.error).toMatch(/10000 bytes/)
    // T = 15 ms > the 5 ms deadline: the lone instance waits for its batch and the request gives up
    const late = await post(predictUrl(small), {instances: [Array.from({length: 64}, () => Array.from({length: 64}, () => [0, 0, 0]))]}).catch((e) => e)
    expect([413, 504]).toContain(late.status) // a zero image is still ~24 kB of JSON here
  })

  it('needs a bearer token off loopback, and checks it (401) when one is set', async () => {
    await expect(startGateway({deploymentPath: depPath, port: 0, host: '0.0.0.0'})).rejects.toThrow(/needs? .*token|--token/)
    const token = 'a-test-token-of-sufficient-length'
    const guarded = await startGateway({deploymentPath: depPath, port: 0, fixed: true, token})
    extra.push(guarded)
    const body = {instances: [nested(inputs[1])]}
    expect((await post(predictUrl(guarded), body)).status).toBe(401)
    expect((await post(predictUrl(guarded), body, {authorization: 'Bearer wrong-token-wrong-token'})).status).toBe(401)
    const ok = await post(predictUrl(guarded), body, {authorization: `Bearer ${token}`})
    expect(ok.status).toBe(200)
    expect(maxDiff(ok.body.predictions[0], expected[1])).toBeLessThanOrEqual(1e-5)
    expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200)
  })

  it('an overloaded gateway answers 429 with Retry-After instead of dropping anything', async () => {
    const tiny = await startGateway({deploymentPath: depPath, port: 0, fixed: true, maxQueue: 3, maxConcurrency: 1})
    extra.push(tiny)
    const all = await Promise.all(Array.from({length: 40}, (_, i) => post(predictUrl(tiny), rowBody([i % DISTINCT])).then((r) => ({r, id: i % DISTINCT}))))
    const ok = all.filter((x) => x.r.status === 200)
    const refused = all.filter((x) => x.r.status === 429)
    expect(ok.length + refused.length).toBe(40)
    expect(refused.length).toBeGreaterThan(0)
    expect(ok.length).toBeGreaterThan(0)
    for (const x of refused) expect(Number(x.r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    for (const x of ok) expect(maxDiff(x.r.body.predictions[0], expected[x.id])).toBeLessThanOrEqual(1e-5)
  })

  it('`amps load` drives it open-loop and reports the cost from the billed ms the gateway recorded', async () => {
    const r = await runAmps(['load', `${gw.url}/v1/models/tiny-cnn`, '--rate', '15', '--duration', '2', '--slo', '60000', '--json'], {
      cwd: dir,
      timeoutMs: 60_000,
    })
    expect(r.code, r.stderr).toBe(0)
    const rep = r.json
    expect(rep.sent).toBeGreaterThan(10)
    expect(rep.byStatus).toEqual({200: rep.sent})
    expect(rep.ok).toBe(rep.sent)
    expect(rep.sloMissRate).toBe(0)
    expect(rep.gateway.instances).toBe(rep.sent)
    expect(rep.gateway.costUsd).toBeGreaterThan(0)
    expect(Object.keys(rep.gateway.billedMsByStage).sort()).toEqual(['stage-1', 'stage-2'])
    expect(rep.latencyMs.p99).toBeGreaterThanOrEqual(rep.latencyMs.p50)
  }, 60_000)

  it('a killed stage gives 502 naming it; after `amps deploy` restarts it the gateway serves again', async () => {
    const stage2 = readDeployment(depPath).stages.find((s) => s.stageName === 'stage-2')!
    process.kill(stage2.pid!, 'SIGKILL')
    for (let i = 0; i < 100 && pidAlive(stage2.pid!); i++) await new Promise((r) => setTimeout(r, 50))
    const dead = await post(predictUrl(gw), {instances: [nested(inputs[2])]})
    expect(dead.status).toBe(502)
    expect(dead.body.error).toMatch(/stage-2.*not running/)
    const again = await runAmps(['deploy', planPath, '--out', depPath, '--json'], {cwd: dir})
    expect(again.code, again.stderr).toBe(0)
    const back = await post(predictUrl(gw), {instances: [nested(inputs[2])]})
    expect(back.status, JSON.stringify(back.body).slice(0, 300)).toBe(200)
    expect(maxDiff(back.body.predictions[0], expected[2])).toBeLessThanOrEqual(1e-5)
  }, 120_000)

  it('SIGTERM: the CLI stops accepting, finishes the requests it holds, and exits 0', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run.js'), 'serve', depPath, '--port', '0', '--fixed', '--json'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const listening = await new Promise<{url: string}>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += d
        const line = out.split('\n')[0]
        if (out.includes('\n')) resolve(JSON.parse(line))
      })
      child.on('exit', () => reject(new Error(`serve exited early: ${err}`)))
    })
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    const url = `${listening.url}/v1/models/tiny-cnn:predict`
    const requests = Array.from({length: 12}, (_, i) => post(url, rowBody([i])))
    // signal once the gateway holds some of them (queued or in a batch in flight)
    for (let i = 0; i < 2000; i++) {
      const st = await (await fetch(`${listening.url}/v1/stats`)).json()
      if (st.queued + st.inflight > 0 || st.requests > 0) break
      await new Promise((r) => setTimeout(r, 2))
    }
    child.kill('SIGTERM')
    const answers = await Promise.all(requests.map((p) => p.catch((e: Error) => ({status: -1, body: e.message, headers: new Headers()}))))
    const code = await exited
    expect(code, err).toBe(0)
    // every request the gateway accepted was answered correctly; none was cut off
    const accepted = answers.filter((a) => a.status === 200)
    expect(answers.filter((a) => a.status !== 200 && a.status !== 503 && a.status !== -1)).toEqual([])
    expect(accepted.length).toBeGreaterThan(0)
    answers.forEach((a, i) => a.status === 200 && expect(maxDiff(a.body.predictions[0], expected[i])).toBeLessThanOrEqual(1e-5))
    const stopped = JSON.parse(out.trim().split('\n').at(-1)!)
    expect(stopped.event).toBe('stopped')
    expect(stopped.stats.instances).toBe(accepted.length)
    expect(err).toMatch(/SIGTERM: not accepting new requests/)
  }, 60_000)
})
