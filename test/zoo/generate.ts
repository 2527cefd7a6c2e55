/**
 * Writes a generated Keras-application model in the tfjs converter's model.json format:
 *
 *   npx tsx test/zoo/generate.ts vgg16 /tmp/zoo/vgg16            # full size (224×224, 553 MB)
 *   npx tsx test/zoo/generate.ts resnet50 /tmp/zoo/r50 --size 64  # reduced input resolution
 *   npx tsx test/zoo/generate.ts all /tmp/zoo                      # every model, full size
 *
 * Weights are deterministic pseudo-random numbers (see builder.ts); nothing here is committed.
 */
import {join} from 'node:path'

import {buildZooModel, KERAS_FACTS, type ZooName} from './apps.js'

const [which, out, ...rest] = process.argv.slice(2)
const names = Object.keys(KERAS_FACTS) as ZooName[]
if (!which || !out || (which !== 'all' && !names.includes(which as ZooName))) {
  console.error(`usage: tsx test/zoo/generate.ts <${names.join('|')}|all> <dir> [--size N]`)
  process.exit(2)
}
const sizeAt = rest.indexOf('--size')
const size = sizeAt >= 0 ? Number(rest[sizeAt + 1]) : undefined
for (const name of which === 'all' ? names : [which as ZooName]) {
  const g = buildZooModel(name, size)
  const dir = which === 'all' ? join(out, name) : out
  const t0 = Date.now()
  const file = g.write(dir)
  console.error(
    `${name}: ${g.layers.length} layers, ${g.paramCount().toLocaleString('en-US')} params, ${(g.weightBytes() / 1e6).toFixed(1)} MB → ${file} (${Date.now() - t0} ms)`,
  )
}
