/**
 * What amps uses from TensorFlow.js, in one place: tfjs-core (tensors, io, the engine) and
 * tfjs-layers (Keras layers models), re-exported as one namespace the way the `@tensorflow/tfjs`
 * umbrella does, without the umbrella's webgl backend, converter and data packages (≈ 200 MB of
 * node_modules amps never runs). Import tfjs from here, never from a package directly, so the
 * chained tensor methods below are always registered.
 *
 * Backends are not registered here: `initTf()` (./tf.ts) imports the wasm backend, or the pure-JS
 * cpu backend (@tensorflow/tfjs-backend-cpu, which the wasm backend depends on anyway), on demand.
 */
import * as tfc from '@tensorflow/tfjs-core'

export * from '@tensorflow/tfjs-core'
export * from '@tensorflow/tfjs-layers'

/**
 * Chained tensor methods (`x.flatten()`, `x.add(y)`): tfjs-layers calls a few of them (the
 * orthogonal initializer of LSTM/GRU kernels: `r.flatten().stridedSlice(…)`, `.sign()`,
 * `.transpose()`, `.reshape()`). The umbrella registers them with
 * `@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops`, which is ES module
 * source with extension-less imports that Node cannot load from tfjs-core's CommonJS package; so
 * this is the same registration for tfjs-core 4.22, written against its public ops.
 * test/runtime/tfjs.test.ts checks the list against the installed tfjs-core's chained_ops folder.
 */
// prettier-ignore
const CHAINED_OPS = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh',
  'avgPool', 'batchNorm', 'batchToSpaceND', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'conv1d', 'conv2d',
  'conv2dTranspose', 'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d',
  'div', 'divNoNan', 'dot', 'elu', 'equal', 'erf', 'euclideanNorm', 'exp', 'expandDims', 'expm1', 'fft',
  'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'ifft', 'irfft', 'isFinite', 'isInf', 'isNaN',
  'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p', 'logSigmoid', 'logSoftmax',
  'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool', 'maximum',
  'mean', 'min', 'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad',
  'pool', 'pow', 'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape', 'reverse', 'rfft', 'round',
  'rsqrt', 'selu', 'separableConv2d', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus',
  'spaceToBatchND', 'split', 'sqrt', 'square', 'squaredDifference', 'squeeze', 'step', 'stridedSlice', 'sub',
  'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const

type Self = tfc.Tensor & {throwIfDisposed(): void}
type Method = (this: Self, ...args: never[]) => unknown
const tensors = (x: tfc.Tensor | tfc.Tensor[]): tfc.Tensor[] => (x instanceof tfc.Tensor ? [x] : x)

/** The methods that are not `op(this, ...args)`: same bodies as tfjs-core's chained_ops files. */
const SPECIAL: Record<string, Method> = {
  asType(dtype: tfc.DataType) {
    return tfc.cast(this, dtype)
  },
  as1D() {
    return tfc.reshape(this, [this.size])
  },
  as2D(rows: number, columns: number) {
    return tfc.reshape(this, [rows, columns])
  },
  as3D(rows: number, columns: number, depth: number) {
    return tfc.reshape(this, [rows, columns, depth])
  },
  as4D(rows: number, columns: number, depth: number, depth2: number) {
    return tfc.reshape(this, [rows, columns, depth, depth2])
  },
  as5D(rows: number, columns: number, depth: number, depth2: number, depth3: number) {
    return tfc.reshape(this, [rows, columns, depth, depth2, depth3])
  },
  asScalar() {
    tfc.util.assert(this.size === 1, () => 'The array must have only 1 element.')
    return tfc.reshape(this, [])
  },
  concat(x: tfc.Tensor | tfc.Tensor[], axis?: number) {
    return tfc.concat([this, ...tensors(x)], axis)
  },
  flatten() {
    return tfc.reshape(this, [this.size])
  },
  reshapeAs(x: tfc.Tensor) {
    return tfc.reshape(this, x.shape)
  },
  resizeBilinear(newShape2D: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) {
    return tfc.image.resizeBilinear(this as tfc.Tensor3D, newShape2D, alignCorners, halfPixelCenters)
  },
  resizeNearestNeighbor(newShape2D: [number, number], alignCorners?: boolean, halfPixelCenters?: boolean) {
    return tfc.image.resizeNearestNeighbor(this as tfc.Tensor3D, newShape2D, alignCorners, halfPixelCenters)
  },
  stack(x: tfc.Tensor | tfc.Tensor[], axis?: number) {
    return tfc.stack([this, ...tensors(x)], axis)
  },
  toBool() {
    return tfc.cast(this, 'bool')
  },
  toFloat() {
    return tfc.cast(this, 'float32')
  },
  toInt() {
    return tfc.cast(this, 'int32')
  },
  where(condition: tfc.Tensor, x: tfc.Tensor) {
    return tfc.where(condition, this, x)
  },
}

function registerChainedOps(): void {
  const proto = tfc.Tensor.prototype as unknown as Record<string, unknown>
  const ops = tfc as unknown as Record<string, (...args: unknown[]) => unknown>
  const define = (name: string, body: Method) => {
    // a method already there came from the umbrella (e.g. loaded by @tensorflow/tfjs-node): keep it
    if (name in proto) return
    proto[name] = function (this: Self, ...args: never[]) {
      this.throwIfDisposed()
      return body.apply(this, args)
    }
  }
  for (const name of CHAINED_OPS)
    define(name, function (this: Self, ...args: unknown[]) {
      return ops[name](this, ...args)
    })
  for (const [name, body] of Object.entries(SPECIAL)) define(name, body)
}

registerChainedOps()
