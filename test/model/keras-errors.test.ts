/**
 * Every way a Keras file can be wrong gives one AmpsUserError line with a stable code, naming the
 * file and, where there is one, the layer.
 */
import {zipSync} from 'fflate'
import {copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'
import h5wasm from 'h5wasm/node'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AmpsUserError, type AmpsErrorCode} from '../../src/errors.js'
import {readKerasFile} from '../../src/model/keras/index.js'
import {initTf} from '../../src/runtime/tf.js'
import {unzipMember} from '../fixtures/keras/check.js'
import {functionalAdd, sequentialCnn, writeKeras2H5} from '../fixtures/keras/make-h5.js'
import {keras3Residual, writeKeras3} from '../fixtures/keras/make-keras.js'

const MNIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'keras', 'mnist-cnn.keras')

let tmp: string
beforeAll(async () => {
  await initTf('cpu')
  tmp = mkdtempSync(join(tmpdir(), 'amps-kerr-'))
})
afterAll(() => rmSync(tmp, {recursive: true, force: true}))

async function failure(path: string): Promise<AmpsUserError> {
  try {
    await readKerasFile(path)
  } catch (error) {
    if (error instanceof AmpsUserError) return error
    throw error
  }
  throw new Error(`${path} was read without an error`)
}

async function expectError(path: string, code: AmpsErrorCode, message: RegExp): Promise<AmpsUserError> {
  const e = await failure(path)
  expect(e.ampsCode).toBe(code)
  expect(e.message).toMatch(message)
  expect(e.message).not.toContain('\n')
  return e
}

const file = (name: string): string => join(tmp, name)

describe('files that are not Keras models', () => {
  it('a missing path', async () => {
    await expectError(file('nope.h5'), 'FILE_NOT_FOUND', /no such file: .*nope\.h5/)
  })

  it('an empty file', async () => {
    writeFileSync(file('empty.keras'), '')
    await expectError(file('empty.keras'), 'FILE_INVALID', /empty\.keras is empty/)
  })

  it('garbage named .h5 and .keras', async () => {
    writeFileSync(file('garbage.h5'), 'this is not a model at all\n'.repeat(20))
    writeFileSync(file('garbage.keras'), 'this is not a model at all\n'.repeat(20))
    await expectError(file('garbage.h5'), 'FILE_INVALID', /garbage\.h5 is not an HDF5 file \(Keras \.h5\)$/)
    await expectError(file('garbage.keras'), 'FILE_INVALID', /garbage\.keras is not a zip archive \(Keras 3 \.keras\)$/)
  })

  it('a truncated .h5', async () => {
    await writeKeras2H5(file('whole.h5'), sequentialCnn())
    const bytes = readFileSync(file('whole.h5'))
    writeFileSync(file('truncated.h5'), bytes.subarray(0, Math.floor(bytes.length / 2)))
    await expectError(file('truncated.h5'), 'FILE_INVALID', /truncated\.h5 is damaged or incomplete \(HDF5: .*truncated/i)
  })

  it('a truncated .keras', async () => {
    const bytes = readFileSync(MNIST)
    writeFileSync(file('truncated.keras'), bytes.subarray(0, Math.floor(bytes.length * 0.6)))
    await expectError(file('truncated.keras'), 'FILE_INVALID', /truncated\.keras is damaged or incomplete \(zip: /)
  })

  it('an HDF5 file that holds no Keras model', async () => {
    await h5wasm.ready
    const f = new h5wasm.File(file('data.h5'), 'w')
    f.create_dataset({name: 'temperatures', data: new Float32Array([1, 2, 3])})
    f.close()
    await expectError(file('data.h5'), 'FILE_INVALID', /data\.h5 is an HDF5 file but not a Keras model/)
  })
})

describe('incomplete Keras files', () => {
  it('a zip without config.json', async () => {
    writeFileSync(
      file('noconfig.keras'),
      zipSync({'metadata.json': new TextEncoder().encode('{"keras_version": "3.15.1"}'), 'model.weights.h5': unzipMember(MNIST, 'model.weights.h5')}),
    )
    await expectError(file('noconfig.keras'), 'FILE_INVALID', /noconfig\.keras is a zip archive without config\.json/)
  })

  it('a .keras without model.weights.h5', async () => {
    await writeKeras3(file('noweights.keras'), keras3Residual(), {omit: ['model.weights.h5']})
    await expectError(file('noweights.keras'), 'FILE_INVALID', /noweights\.keras has no model\.weights\.h5/)
  })

  it("a weights-only .h5 (model.save_weights) asks for model.save('model.h5')", async () => {
    await writeKeras2H5(file('weights-only.h5'), sequentialCnn(), {weightsOnly: true})
    const e = await expectError(file('weights-only.h5'), 'MODEL_FORMAT_UNSUPPORTED', /weights-only\.h5: /)
    expect(e.message).toContain("this file holds only weights; save the whole model with model.save('model.h5')")
  })

  it('a Keras 3 weights file (model.save_weights) asks for the whole model too', async () => {
    writeFileSync(file('model.weights.h5'), unzipMember(MNIST, 'model.weights.h5'))
    const e = await expectError(file('model.weights.h5'), 'MODEL_FORMAT_UNSUPPORTED', /model\.weights\.h5: /)
    expect(e.message).toContain('this file holds only weights')
  })

  it('an .h5 missing one layer’s weights names the layer', async () => {
    await writeKeras2H5(file('missing.h5'), functionalAdd(), {omitLayers: ['branch_pw']})
    const e = await expectError(
      file('missing.h5'),
      'MODEL_WEIGHTS_INVALID',
      /weights missing for layer 'branch_pw' \(Conv2D\); it needs kernel \[1,1,4,4\], bias \[4\]/,
    )
    expect(e.details).toMatchObject({layer: 'branch_pw'})
  })

  it('a .keras missing one layer’s weight group names the layer', async () => {
    await writeKeras3(file('missing.keras'), keras3Residual(), {omitGroups: ['layers/conv2d_1']})
    await expectError(file('missing.keras'), 'MODEL_WEIGHTS_INVALID', /weights missing for layer 'branch_a' \(Conv2D\)/)
  })
})

describe('configs that disagree with the weights or with tfjs-layers', () => {
  it('a shape mismatch names the layer, the expected and the stored shape', async () => {
    const fx = sequentialCnn()
    const layers = (fx.modelConfig.config as {layers: {config: Record<string, unknown>}[]}).layers
    const conv = layers.find((l) => l.config.name === 'conv2d_1') as {config: Record<string, unknown>}
    conv.config.filters = 8
    await writeKeras2H5(file('mismatch.h5'), fx)
    const e = await expectError(
      file('mismatch.h5'),
      'MODEL_WEIGHTS_INVALID',
      /layer 'conv2d_1' \(Conv2D\) weight kernel: the config implies shape \[3,3,4,8\] but the file stores \[3,3,4,6\]/,
    )
    expect(e.details).toMatchObject({layer: 'conv2d_1', expected: [3, 3, 4, 8], got: [3, 3, 4, 6]})
  })

  it('a layer class tfjs-layers lacks names the layer and the class', async () => {
    const fx = sequentialCnn()
    const layers = (fx.modelConfig.config as {layers: {class_name: string; config: Record<string, unknown>}[]}).layers
    const act = layers.find((l) => l.config.name === 'activation_1') as {class_name: string; config: Record<string, unknown>}
    act.class_name = 'Lambda'
    act.config = {name: 'activation_1', trainable: true, dtype: 'float32', function: ['4wEAAAAAAAAA', null, null], function_type: 'lambda', output_shape: null}
    await writeKeras2H5(file('lambda.h5'), fx)
    const e = await expectError(
      file('lambda.h5'),
      'MODEL_UNSUPPORTED_LAYER',
      /layer 'activation_1' \(Lambda\) is of class Lambda, which tfjs-layers does not implement/,
    )
    expect(e.details).toMatchObject({layer: 'activation_1', className: 'Lambda'})
  })

  it('a Keras 3 GRU with reset_after=True is rejected rather than computed differently', async () => {
    const src = JSON.parse(new TextDecoder().decode(unzipMember(MNIST, 'config.json'))) as {config: {layers: Record<string, unknown>[]}}
    src.config.layers.splice(1, 0, {
      module: 'keras.layers',
      class_name: 'GRU',
      config: {name: 'gru', trainable: true, units: 4, activation: 'tanh', recurrent_activation: 'sigmoid', reset_after: true},
      registered_name: null,
    })
    writeFileSync(
      file('gru.keras'),
      zipSync({
        'config.json': new TextEncoder().encode(JSON.stringify(src)),
        'metadata.json': unzipMember(MNIST, 'metadata.json'),
        'model.weights.h5': unzipMember(MNIST, 'model.weights.h5'),
      }),
    )
    await expectError(file('gru.keras'), 'MODEL_UNSUPPORTED_LAYER', /layer 'gru' \(GRU\) uses reset_after=True/)
  })

  it('a copy of a good file still reads (the errors above come from the damage, not the path)', async () => {
    copyFileSync(MNIST, file('copy.keras'))
    await expect(readKerasFile(file('copy.keras'))).resolves.toMatchObject({format: 'keras-v3'})
  })
})
