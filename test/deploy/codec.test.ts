import {mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync, mkdirSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {unzipSync} from 'fflate'
import {afterAll, describe, expect, it} from 'vitest'

import {checkBundleLimits, functionNameFor, zipDirectory} from '../../deploy/bundle/bundle.js'
import {PayloadInvalidError, base64Length, checkWireTensor, decodeTensor, encodeInline, encodeTensors, isRef, type RawTensor} from '../../src/stage/codec.js'
import {planHash} from '../../deploy/state/deployment.js'
import {maxAbsDiff, parseNpy, resizeBilinear, summarizeOutputs} from '../../deploy/client/inputs.js'
import {cpuQuotaFor} from '../../deploy/targets/local/cgroup.js'
import {DirStore} from '../../src/stage/store.js'
import type {StageBundle} from '../../deploy/state/types.js'
import {AmpsUserError} from '../../src/errors.js'
import {LAMBDA} from '../../src/platform/lambda.js'
import type {Plan} from '../../src/plan/types.js'

const tmp = mkdtempSync(join(tmpdir(), 'amps-codec-'))
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

function floatTensor(id: string, shape: number[], fill: (i: number) => number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1)
  return {id, dtype: 'float32', shape, data: Float32Array.from({length: n}, (_, i) => fill(i))}
}

describe('wire codec', () => {
  it.each([
    ['float32', floatTensor('a', [2, 3, 4], (i) => Math.sin(i) * 1e3)],
    ['float32 specials', {id: 's', dtype: 'float32', shape: [1, 5], data: Float32Array.from([-0, Infinity, -Infinity, 1e-38, 3.4e38])} as RawTensor],
    ['int32', {id: 'b', dtype: 'int32', shape: [3, 2], data: Int32Array.from([-2147483648, -1, 0, 1, 7, 2147483647])} as RawTensor],
  ])('%s round-trips bit-exactly through base64', async (_name, t) => {
    const wire = encodeInline(t)
    expect(wire.b64.length).toBe(base64Length(t.data.byteLength))
    expect(Object.keys(wire).sort()).toEqual(['b64', 'dtype', 'id', 'shape']) // bytes as base64 text, no number arrays
    const back = await decodeTensor(checkWireTensor(JSON.parse(JSON.stringify(wire)), 't'))
    expect(back.shape).toEqual(t.shape)
    expect(back.dtype).toBe(t.dtype)
    expect(new Uint8Array(back.data.buffer)).toEqual(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))
  })

  it('bytes are little-endian float32', () => {
    const wire = encodeInline({id: 'x', dtype: 'float32', shape: [1], data: Float32Array.from([1])})
    expect([...Buffer.from(wire.b64, 'base64')]).toEqual([0x00, 0x00, 0x80, 0x3f])
  })

  it.each([
    ['a non-object', 42, /expected an object/],
    ['a missing id', {dtype: 'float32', shape: [1], b64: 'AACAPw=='}, /"id" must be/],
    ['dtype float64', {id: 'x', dtype: 'float64', shape: [1], b64: 'AACAPw=='}, /dtype must be one of float32, int32/],
    ['a negative dimension', {id: 'x', dtype: 'float32', shape: [-1], b64: ''}, /shape must be an array of non-negative integers/],
    ['too few bytes for the shape', {id: 'x', dtype: 'float32', shape: [2], b64: 'AACAPw=='}, /4 bytes of data but float32 shape \[2\] needs 8 bytes/],
    ['a JSON number array', {id: 'x', dtype: 'float32', shape: [2], data: [1, 2]}, /not JSON arrays/],
    ['invalid base64', {id: 'x', dtype: 'float32', shape: [1], b64: 'AA*APw=='}, /not valid base64/],
    ['neither b64 nor ref', {id: 'x', dtype: 'float32', shape: [1]}, /neither "b64" nor "ref"/],
    ['an http reference', {id: 'x', dtype: 'float32', shape: [1], ref: 'http://x/y', bytes: 4}, /s3:\/\/ or file:\/\//],
    [
      'a reference with the wrong size',
      {id: 'x', dtype: 'float32', shape: [3], ref: 's3://b/k', bytes: 4},
      /declares 4 bytes but float32 shape \[3\] needs 12/,
    ],
  ])('rejects %s', (_name, raw, message) => {
    expect(() => checkWireTensor(raw, 'event.tensors[0]')).toThrow(PayloadInvalidError)
    expect(() => checkWireTensor(raw, 'event.tensors[0]')).toThrow(message)
  })

  it('keeps a payload under the limit by sending the largest tensors by reference', async () => {
    const store = new DirStore(join(tmp, 'handoff'))
    const big = floatTensor('big', [1, 300, 300, 3], (i) => i % 251)
    const small = floatTensor('small', [1, 10], (i) => i)
    const wire = await encodeTensors([big, small], {limit: 200_000, store, keyPrefix: 'req/stage-1'})
    expect(isRef(wire[0])).toBe(true)
    expect(isRef(wire[1])).toBe(false)
    expect(Buffer.byteLength(JSON.stringify({tensors: wire}))).toBeLessThan(200_000)
    const back = await decodeTensor(checkWireTensor(JSON.parse(JSON.stringify(wire[0])), 'x'), store)
    expect(maxAbsDiff([big], [back]).maxAbsDiff).toBe(0)
    // under Lambda's real limit the same tensors go inline
    const inline = await encodeTensors([big, small], {limit: LAMBDA.syncPayloadBytes})
    expect(inline.every((t) => !isRef(t))).toBe(true)
    await store.delete((wire[0] as {ref: string}).ref)
    expect(readdirSync(join(tmp, 'handoff', 'req', 'stage-1'))).toEqual([])
  })

  it('inline exactly while the payload fits the limit less the 1 KB envelope, by reference past it', async () => {
    const store = new DirStore(join(tmp, 'edge'))
    const limit = 12_000
    let sawInline = false
    let sawRef = false
    for (let n = 1950; n <= 2150; n += 1) {
      const t = floatTensor('edge', [1, n], (i) => i)
      const [w] = await encodeTensors([t], {limit, store, keyPrefix: `n${n}`})
      const inlineBytes = Buffer.byteLength(JSON.stringify({tensors: [encodeInline(t)]}))
      if (isRef(w)) {
        sawRef = true
        expect(inlineBytes, `n=${n}`).toBeGreaterThan(limit - 1024)
      } else {
        sawInline = true
        expect(inlineBytes, `n=${n}`).toBeLessThanOrEqual(limit - 1024)
      }
    }
    expect(sawInline && sawRef).toBe(true)
  })

  it('refuses references outside the hand-off directory', async () => {
    const store = new DirStore(join(tmp, 'handoff'))
    await expect(store.get('file:///etc/passwd')).rejects.toThrow(/outside the hand-off directory/)
  })

  it('without a store, an oversized tensor is a clear error', async () => {
    await expect(encodeTensors([floatTensor('big', [1000, 1000], () => 1)], {limit: 1_000_000})).rejects.toThrow(/does not fit in a 1000000 B payload/)
  })
})

function npy(descr: string, shape: number[], body: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`
  const total = 10 + header.length + 1
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n'
  const h = Buffer.alloc(10)
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h)
  h.writeUInt16LE(header.length, 8)
  return Buffer.concat([h, Buffer.from(header, 'latin1'), body])
}

describe('inputs', () => {
  it('parses float32 and int32 .npy files', () => {
    const f = Float32Array.from([1.5, -2, 3.25, 4, 5, 6])
    const a = parseNpy(npy('<f4', [2, 3], Buffer.from(f.buffer)))
    expect(a.shape).toEqual([2, 3])
    expect([...a.data]).toEqual([...f])
    const i = Int32Array.from([7, -8, 9])
    const b = parseNpy(npy('<i4', [3], Buffer.from(i.buffer)))
    expect(b.shape).toEqual([3])
    expect([...b.data]).toEqual([7, -8, 9])
    expect(() => parseNpy(npy('<c8', [1], Buffer.alloc(8)))).toThrow(/not supported/)
    expect(() => parseNpy(Buffer.from('hello world'))).toThrow(/not a \.npy file/)
  })

  it('bilinear resize keeps a constant image constant and scales to [0, 1]', () => {
    const rgba = new Uint8Array(3 * 2 * 4)
    for (let p = 0; p < 6; p++) rgba.set([255, 51, 0, 255], p * 4)
    const out = resizeBilinear(rgba, 3, 2, 7, 5, 3)
    expect(out.length).toBe(7 * 5 * 3)
    for (let p = 0; p < 35; p++) {
      expect(out[p * 3]).toBeCloseTo(1, 6)
      expect(out[p * 3 + 1]).toBeCloseTo(0.2, 6)
      expect(out[p * 3 + 2]).toBe(0)
    }
  })

  it('bilinear resize interpolates between pixels', () => {
    // 2×1 image black → white, upsampled to 4×1 with half-pixel centres: 0, 0.25, 0.75, 1
    const rgba = Uint8Array.from([0, 0, 0, 255, 255, 255, 255, 255])
    const out = resizeBilinear(rgba, 2, 1, 4, 1, 1)
    expect([...out].map((v) => Number(v.toFixed(4)))).toEqual([0, 0.25, 0.75, 1])
  })

  it('summarises classifier outputs with a top-5', () => {
    const [s] = summarizeOutputs([{id: 'p', dtype: 'float32', shape: [1, 6], data: Float32Array.from([0.1, 0.5, 0.05, 0.2, 0.1, 0.05])}])
    expect(s.top5![0].map((t) => t.index)).toEqual([1, 3, 0, 4, 2])
    expect(s.max).toBeCloseTo(0.5)
  })
})

describe('bundle helpers', () => {
  it('function names fit Lambda (≤ 64 chars of [A-Za-z0-9-_])', () => {
    const n = functionNameFor('a very long model name with spaces and ünïcode '.repeat(3), 'deadbeefcafe', 'stage-12')
    expect(n.length).toBeLessThanOrEqual(64)
    expect(n).toMatch(/^amps-[A-Za-z0-9_-]+-deadbeef-stage-12$/)
  })

  it('zips deterministically: same files, different mtimes → same bytes, sorted entries', () => {
    const dir = join(tmp, 'zipme')
    mkdirSync(join(dir, 'sub'), {recursive: true})
    writeFileSync(join(dir, 'b.txt'), 'bbb'.repeat(100))
    writeFileSync(join(dir, 'a.bin'), Buffer.from([1, 2, 3]))
    writeFileSync(join(dir, 'sub', 'c.json'), '{"c":1}')
    const z1 = zipDirectory(dir)
    utimesSync(join(dir, 'b.txt'), new Date('2001-01-01'), new Date('2001-01-01'))
    const z2 = zipDirectory(dir)
    expect(Buffer.from(z1).equals(Buffer.from(z2))).toBe(true)
    const files = unzipSync(z1)
    expect(Object.keys(files)).toEqual(['a.bin', 'b.txt', 'sub/c.json'])
    expect(Buffer.from(files['b.txt']).toString()).toBe('bbb'.repeat(100))
  })

  it('refuses a bundle over 250 MB unzipped, naming the stage and the limit', () => {
    const bundle = {stageIndex: 1, stageName: 'stage-2', functionName: 'amps-m-12345678-stage-2', unzippedBytes: LAMBDA.unzippedPackageBytes + 1} as StageBundle
    let error: unknown
    try {
      checkBundleLimits([bundle])
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(AmpsUserError)
    expect((error as AmpsUserError).ampsCode).toBe('BUNDLE_TOO_LARGE')
    expect((error as AmpsUserError).message).toMatch(/stage-2 .*250 MB \(262144000 B\) unzipped/)
    expect(() => checkBundleLimits([{...bundle, unzippedBytes: LAMBDA.unzippedPackageBytes - 1}])).not.toThrow()
  })

  it('the plan hash ignores the sizes deploy writes back', () => {
    const plan = {version: 1, model: {name: 'm', sha256: 'x', source: 's'}, stages: [{index: 0, name: 'stage-1', memoryMb: 1024}]} as unknown as Plan
    const measured = {...plan, stages: [{...plan.stages[0], measuredPackageBytes: 123}]} as Plan
    expect(planHash(measured)).toBe(planHash(plan))
    expect(planHash({...plan, stages: [{...plan.stages[0], memoryMb: 2048}]} as Plan)).not.toBe(planHash(plan))
  })
})

describe('local CPU quota', () => {
  it.each([
    [1769, 10000, 10000],
    [1024, 10000, 5789],
    [3538, 10000, 20000],
  ])('%i MB → period %i µs, quota %i µs', (mb, period, quota) => {
    expect(cpuQuotaFor(mb)).toEqual({periodUs: period, quotaUs: quota})
  })

  it('small memories lengthen the period so the quota stays ≥ 1 ms', () => {
    const q = cpuQuotaFor(128)
    expect(q.quotaUs).toBeGreaterThanOrEqual(1000)
    expect(q.quotaUs / q.periodUs).toBeCloseTo(128 / 1769, 3)
  })
})
