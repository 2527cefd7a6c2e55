/**
 * The files of onnxruntime-node an ONNX stage carries (deploy/bundle/bundle.ts copies them) and
 * their size (the planner's package check): package.json + dist/*.js of onnxruntime-node and
 * onnxruntime-common (CommonJS build), and the one native directory
 * bin/napi-v6/linux/<x64|arm64>/ (onnxruntime_binding.node + libonnxruntime.so.1), not the other
 * platforms the npm package ships (~290 MB in all).
 */
import {readdirSync, statSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'

import type {Arch} from '../platform/lambda.js'

/** Node's name for a Lambda architecture. */
export function nodeArch(arch: Arch): 'x64' | 'arm64' {
  return arch === 'arm64' ? 'arm64' : 'x64'
}

/** Source path and path under the bundle's node_modules/ of every file an ONNX stage needs on `arch`. */
export function ortRuntimeFiles(arch: Arch): {from: string; rel: string}[] {
  const require = createRequire(import.meta.url)
  const nodeRoot = dirname(dirname(require.resolve('onnxruntime-node')))
  const commonRoot = dirname(dirname(dirname(createRequire(join(nodeRoot, 'package.json')).resolve('onnxruntime-common'))))
  const files: {from: string; rel: string}[] = []
  const add = (root: string, name: string, sub: string, filter: (f: string) => boolean): void => {
    for (const f of readdirSync(join(root, sub)).filter(filter).sort()) files.push({from: join(root, sub, f), rel: `${name}/${sub}/${f}`})
  }
  files.push({from: join(nodeRoot, 'package.json'), rel: 'onnxruntime-node/package.json'})
  add(nodeRoot, 'onnxruntime-node', 'dist', (f) => f.endsWith('.js'))
  add(nodeRoot, 'onnxruntime-node', `bin/napi-v6/linux/${nodeArch(arch)}`, () => true)
  files.push({from: join(commonRoot, 'package.json'), rel: 'onnxruntime-common/package.json'})
  add(commonRoot, 'onnxruntime-common', 'dist/cjs', (f) => f.endsWith('.js') || f === 'package.json')
  return files
}

/** Unzipped bytes of the ORT files for `arch` (x86_64 ≈ 48 MB, arm64 ≈ 27 MB with onnxruntime-node 1.31). */
export function ortRuntimeBytes(arch: Arch): number {
  return ortRuntimeFiles(arch).reduce((a, f) => a + statSync(f.from).size, 0)
}
