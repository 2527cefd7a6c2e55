/**
 * Integrity of what amps reads (issue 15, failures 3, 6 and 9): damaged .keras entries, weight paths
 * leading out of the model folder, NaN/Inf in weights and in invoke inputs.
 */
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {readInputs} from '../../deploy/client/inputs.js'
import {AmpsUserError} from '../../src/errors.js'
import {loadModel} from '../../src/model/index.js'
import {crc32} from '../../src/model/keras/zip-crc.js'
import type {TensorInfo} from '../../src/model/types.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'
import {KerasGraph} from '../zoo/builder.js'

const root = mkdtempSync(join(tmpdir(), 'amps-integrity-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

async function userError(run: Promise<unknown>): Promise<AmpsUserError> {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(AmpsUserError)
  expect((error as Error).message.split('\n')).toHaveLength(1)
  return error as AmpsUserError
}

function smallModel(dir: string): string {
  const g = new KerasGraph('small')
  const x = g.input([4, 4, 2])
  g.outputs = [g.dense(g.flatten(g.conv(x, 3, 3, {name: 'conv'})), 5, {name: 'head', activation: 'softmax'})]
  g.write(dir)
  return dir
}

describe('.keras zip CRC-32', () => {
  it('crc32 is the zip polynomial', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926)
  })

  it('a .keras with flipped bytes inside model.weights.h5 is refused, naming the entry', async () => {
    const zip = readFileSync(join(repoRoot, 'test/fixtures/keras/mnist-cnn.keras'))
    // the local header of model.weights.h5: flip 200 bytes well inside its data
    const name = Buffer.from('model.weights.h5')
    let header = -1
    for (let i = zip.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04])); i >= 0; i = zip.indexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), i + 4)) {
      if (zip.subarray(i + 30, i + 30 + zip.readUInt16LE(i + 26)).equals(name)) {
        header = i
        break
      }
    }
    expect(header).toBeGreaterThanOrEqual(0)
    expect(zip.readUInt16LE(header + 8)).toBe(0) // stored, as Keras writes it: no inflate error to catch it
    const size = zip.readUInt32LE(header + 18)
    const data = header + 30 + zip.readUInt16LE(header + 26) + zip.readUInt16LE(header + 28)
    const damaged = Buffer.from(zip)
    const start = data + Math.floor(size / 2)
    for (let i = 0; i < 200; i++) damaged[start + i] ^= 0xff
    const file = join(root, 'damaged.keras')
    writeFileSync(file, damaged)
    const e = await userError(loadModel(file))
    expect(e.ampsCode).toBe('FILE_INVALID')
    expect(e.message).toMatch(/damaged\.keras is damaged: model\.weights\.h5 inside the archive fails its CRC-32 check/)
    // the intact file still loads
    copyFileSync(join(repoRoot, 'test/fixtures/keras/mnist-cnn.keras'), join(root, 'ok.keras'))
    await expect(loadModel(join(root, 'ok.keras'))).resolves.toBeDefined()
  })
})

describe('weight paths stay inside the model folder', () => {
  const withPaths = (paths: string[]): string => {
    const dir = smallModel(join(root, `paths-${Math.random().toString(36).slice(2)}`))
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    json.weightsManifest[0].paths = paths
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json))
    return dir
  }

  it.each([['../../../../etc/passwd'], ['/etc/passwd'], ['..%2F..%2F..%2Fetc%2Fpasswd'], ['sub/../../outside.bin']])('%s is refused', async (p) => {
    const e = await userError(loadModel(withPaths([p])))
    expect(e.ampsCode).toBe('MODEL_WEIGHTS_INVALID')
    expect(e.message).toContain(`lists weight file ${JSON.stringify(p)}, which is outside the model folder`)
  })

  it('a shard that is a symlink to a file outside the folder is refused', async () => {
    const dir = smallModel(join(root, 'linked'))
    const outside = join(root, 'outside.bin')
    copyFileSync(join(dir, 'group1-shard1of1.bin'), outside)
    rmSync(join(dir, 'group1-shard1of1.bin'))
    symlinkSync(outside, join(dir, 'group1-shard1of1.bin'))
    const e = await userError(loadModel(dir))
    expect(e.message).toMatch(/is a link to .*outside\.bin, outside the model folder/)
  })

  it('names in a subfolder of the model folder are fine', async () => {
    const dir = smallModel(join(root, 'subdir'))
    mkdirSync(join(dir, 'w'))
    copyFileSync(join(dir, 'group1-shard1of1.bin'), join(dir, 'w', 'g1.bin'))
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'))
    json.weightsManifest[0].paths = ['w/g1.bin']
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json))
    await expect(loadModel(dir)).resolves.toBeDefined()
  })
})

describe('NaN and infinity', () => {
  it('weights holding NaN are refused by amps profile, naming the weight (exit 2, one line)', async () => {
    const dir = smallModel(join(root, 'nan'))
    // group 1 is conv: kernel (3·3·2·3 floats) then bias; poison the bias with NaN and +Inf
    const shard = join(dir, 'group1-shard1of1.bin')
    const bytes = readFileSync(shard)
    const f = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
    f[54] = Number.NaN
    f[55] = Number.POSITIVE_INFINITY
    writeFileSync(shard, bytes)
    const e = await userError(loadModel(dir))
    expect(e.ampsCode).toBe('MODEL_WEIGHTS_INVALID')
    expect(e.message).toMatch(/weight conv\/bias holds 2 NaN or infinite value\(s\) of 3/)
    const cli = await runAmps(['profile', dir, '--quick', '-o', join(root, 'nan-profile.json')], {env: {AMPS_CACHE_DIR: join(root, 'cache')}})
    expect(cli.code).toBe(2)
    expect(cli.stderr).toMatch(/weight conv\/bias holds 2/)
    expect(cli.stderr).not.toMatch(/\n\s+at /)
  }, 60_000)

  it('an input file holding NaN is refused, naming the tensor', async () => {
    const t: TensorInfo = {id: 'input_1:0', shape: [null, 2, 2], dtype: 'float32', bytesPerSample: 16}
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }"
    const padded = header.padEnd(118 - 1, ' ') + '\n'
    const head = Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]),
      Buffer.from([padded.length & 0xff, padded.length >> 8]),
      Buffer.from(padded, 'latin1'),
    ])
    const file = join(root, 'nan.npy')
    writeFileSync(file, Buffer.concat([head, Buffer.from(new Float32Array([1, Number.NaN, 3, 4]).buffer)]))
    const e = await userError(readInputs(file, [t]))
    expect(e.ampsCode).toBe('PAYLOAD_INVALID')
    expect(e.message).toMatch(/input "input_1:0" from .*nan\.npy holds 1 NaN or infinite value\(s\) of 4/)
    writeFileSync(file, Buffer.concat([head, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]))
    await expect(readInputs(file, [t])).resolves.toHaveLength(1)
  })
})
