/**
 * nsfwjs ships real Keras models (MobileNetV2, InceptionV3) as JS modules: model.min.js exports the
 * model.json object and each group1-shardXofY.min.js exports the shard as a base64 string. Tests
 * and benchmarks write them out once as an ordinary tfjs layers directory (model.json + .bin shards)
 * under test/.cache/, so every loader is exercised on real files the way a user has them.
 */
import {createRequire} from 'node:module'
import {existsSync, mkdirSync, readdirSync, renameSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

export type NsfwjsModel = 'mobilenet_v2' | 'inception_v3' | 'mobilenet_v2_mid'

const here = dirname(fileURLToPath(import.meta.url))
/** repository root (works from test/helpers and from dist-test/test/helpers) */
export const repoRoot = resolve(here, here.includes(`${'dist'}`) ? '../../..' : '../..')
export const cacheRoot = join(repoRoot, 'test', '.cache')

/** Returns the directory holding model.json for the named nsfwjs model, writing it on first use. */
export function nsfwjsModelDir(name: NsfwjsModel): string {
  const dir = join(cacheRoot, 'nsfwjs', name)
  if (existsSync(join(dir, 'model.json'))) return dir
  const require = createRequire(join(repoRoot, 'package.json'))
  // the package's exports map hides dist/models, so resolve the package root and walk from there
  const main = require.resolve('nsfwjs') // .../nsfwjs/dist/cjs/index.js
  const pkgRoot = resolve(dirname(main), '../..')
  const srcDir = join(pkgRoot, 'dist', 'models', name)
  const tmp = `${dir}.tmp-${process.pid}`
  mkdirSync(tmp, {recursive: true})
  const modelJson = require(join(srcDir, 'model.min.js')) as {weightsManifest: {paths: string[]}[]}
  for (const group of modelJson.weightsManifest) {
    group.paths = group.paths.map((p) => {
      const b64 = require(join(srcDir, `${p}.min.js`)) as string
      writeFileSync(join(tmp, `${p}.bin`), Buffer.from(b64, 'base64'))
      return `${p}.bin`
    })
  }
  writeFileSync(join(tmp, 'model.json'), JSON.stringify(modelJson))
  mkdirSync(dirname(dir), {recursive: true})
  try {
    renameSync(tmp, dir)
  } catch (error) {
    // another test worker won the race: theirs is complete, use it
    if (!existsSync(join(dir, 'model.json'))) throw error
  }
  return dir
}

export function nsfwjsModelJson(name: NsfwjsModel): string {
  return join(nsfwjsModelDir(name), 'model.json')
}

export function listCached(): string[] {
  return existsSync(cacheRoot) ? readdirSync(cacheRoot) : []
}
