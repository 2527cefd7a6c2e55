/**
 * What a stage bundle needs from tfjs: core + layers (the wasm backend is imported by initTf).
 * deploy/bundle/bundle.ts aliases '@tensorflow/tfjs' to this module when it bundles the handler, which
 * drops the webgl backend, converter and data packages (~1.7 MB of the 2.3 MB full bundle).
 */
export * from '@tensorflow/tfjs-core'
export * from '@tensorflow/tfjs-layers'
