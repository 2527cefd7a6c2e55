/**
 * src/runtime/tfjs.ts stands in for the @tensorflow/tfjs umbrella: core + layers, with the chained
 * tensor methods registered by amps itself. These tests hold it to the umbrella's behaviour.
 */
import {readdirSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {initTf} from '../../src/runtime/tf.js'
import * as tf from '../../src/runtime/tfjs.js'

/** The method names tfjs-core's own register_all_chained_ops would add (one file per method). */
function coreChainedOps(): string[] {
  const core = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-core/package.json'))
  const dir = join(core, 'dist', 'public', 'chained_ops')
  const names: string[] = []
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.js') || f.endsWith('_test.js') || f.startsWith('register_all')) continue
    const m = /prototype\.(\w+)\s*=/.exec(readFileSync(join(dir, f), 'utf8'))
    if (m) names.push(m[1])
  }
  return names
}

beforeAll(async () => {
  // wasm through initTf (what stages run on); the cpu backend is switched to by hand below, as
  // initTf settles one backend per process
  await initTf('wasm')
})

describe.each(['wasm', 'cpu'] as const)('tfjs without the umbrella (%s backend)', (backend) => {
  beforeAll(async () => {
    if (backend === 'cpu') await import('@tensorflow/tfjs-backend-cpu')
    expect(await tf.setBackend(backend)).toBe(true)
  })

  it('every chained method of the installed tfjs-core is on Tensor', () => {
    const names = coreChainedOps()
    expect(names.length).toBeGreaterThan(130)
    const missing = names.filter((n) => typeof (tf.Tensor.prototype as unknown as Record<string, unknown>)[n] !== 'function')
    expect(missing).toEqual([])
  })

  it('chained methods compute what the functional ops compute', async () => {
    const x = tf.tensor2d([
      [1, -2, 3],
      [-4, 5, -6],
    ])
    const y = tf.tensor2d([
      [0.5, 0.5, 0.5],
      [2, 2, 2],
    ])
    const c = tf.tensor2d(
      [
        [1, 0, 1],
        [0, 1, 0],
      ],
      undefined,
      'bool',
    )
    type Chained = tf.Tensor & Record<string, (...a: unknown[]) => tf.Tensor>
    const cx = x as Chained
    const pairs: [tf.Tensor, tf.Tensor][] = [
      [cx.add(y), tf.add(x, y)],
      [cx.matMul(y, false, true), tf.matMul(x, y, false, true)],
      [cx.flatten(), tf.reshape(x, [6])],
      [cx.as1D(), tf.reshape(x, [6])],
      [cx.as3D(1, 2, 3), tf.reshape(x, [1, 2, 3])],
      [cx.concat(y, 1), tf.concat([x, y], 1)],
      [cx.concat([y, y]), tf.concat([x, y, y])],
      [cx.stack(y), tf.stack([x, y])],
      [cx.where(c, y), tf.where(c, x, y)],
      [cx.toInt(), tf.cast(x, 'int32')],
      [cx.asType('bool'), tf.cast(x, 'bool')],
      [cx.reshapeAs(tf.zeros([3, 2])), tf.reshape(x, [3, 2])],
      [cx.softmax(), tf.softmax(x)],
      [(tf.scalar(7) as Chained).asScalar(), tf.scalar(7)],
      [(tf.ones([1, 2, 2, 1]) as Chained).resizeBilinear([4, 4]), tf.image.resizeBilinear(tf.ones([1, 2, 2, 1]) as tf.Tensor4D, [4, 4])],
    ]
    for (const [a, b] of pairs) {
      expect(a.shape).toEqual(b.shape)
      expect(a.dtype).toBe(b.dtype)
      expect(Array.from(await a.data())).toEqual(Array.from(await b.data()))
    }
    expect(() => cx.asScalar()).toThrow(/only 1 element/)
    const gone = tf.tensor1d([1, 2]) as Chained
    gone.dispose()
    expect(() => gone.flatten()).toThrow(/disposed/)
  })

  it('an LSTM with the orthogonal recurrent initializer builds and runs (tfjs-layers calls chained methods there)', async () => {
    const input = tf.input({shape: [5, 3]})
    const output = tf.layers.lstm({units: 4, recurrentInitializer: 'orthogonal'}).apply(input) as tf.SymbolicTensor
    const model = tf.model({inputs: input, outputs: output})
    const y = model.predict(tf.ones([2, 5, 3])) as tf.Tensor
    expect(y.shape).toEqual([2, 4])
    const values = Array.from(await y.data())
    expect(values.every((v) => Number.isFinite(v) && Math.abs(v) < 1)).toBe(true)
    // the recurrent kernel (4 × 16) really is orthogonal: its rows are orthonormal, K·Kᵀ = I
    const kernel = model.layers[1].getWeights()[1] as tf.Tensor2D
    expect(kernel.shape).toEqual([4, 16])
    const kkT = Array.from(await tf.matMul(kernel, kernel, false, true).data())
    kkT.forEach((v, i) => expect(v).toBeCloseTo(i % 5 === 0 ? 1 : 0, 4))
    expect(tf.getBackend()).toBe(backend)
  })
})
