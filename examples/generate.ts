/**
 * Regenerates the committed example models (deterministic: same files every run).
 *   npx tsx examples/generate.ts            # writes examples/tiny-cnn/
 */
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {writeGenerated} from './models.js'

const here = dirname(fileURLToPath(import.meta.url))
const file = await writeGenerated('tinyCnn', join(here, 'tiny-cnn'))
console.log(`wrote ${file}`)
