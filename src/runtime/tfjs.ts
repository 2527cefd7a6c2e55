/**
 * The TensorFlow.js amps uses: core (tensors, ops, io) and layers (Keras-style models). This replaces
 * the `@tensorflow/tfjs` umbrella, which also pulls the webgl backend, the graph-model converter, the
 * data package and their polyfills (≈ 200 MB installed) that amps never runs. Backends are registered
 * by initTf() in ./tf.ts: wasm (@tensorflow/tfjs-backend-wasm), tfjs-node when installed, and the
 * pure-JS cpu backend (@tensorflow/tfjs-backend-cpu, a dependency of the wasm backend).
 * Import tfjs from here (or its types: `import type * as tfType from '../runtime/tfjs.js'`).
 */
export * from '@tensorflow/tfjs-core'
export * from '@tensorflow/tfjs-layers'
