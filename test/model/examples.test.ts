import {mkdtempSync, readFileSync, statSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {seededRandom, writeGenerated} from '../../examples/models.js'
import {loadModel} from '../../src/model/index.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const example = join(repoRoot, 'examples', 'tiny-cnn')

describe('examples/tiny-cnn (the quick-start model)', () => {
  it('is what the generator writes, byte for byte (regenerate with `npx tsx examples/generate.ts`)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'amps-example-'))
    await writeGenerated('tinyCnn', dir)
    for (const f of ['model.json', 'weights.bin']) {
      expect(readFileSync(join(dir, f)).equals(readFileSync(join(example, f))), f).toBe(true)
    }
  })

  it('is small and has residual, branch and gate blocks', async () => {
    const bytes = statSync(join(example, 'model.json')).size + statSync(join(example, 'weights.bin')).size
    expect(bytes).toBeLessThan(300 * 1024)
    const model = await loadModel(example)
    const classes = new Set(model.graph.layers.map((l) => l.className))
    for (const c of ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'Add', 'Concatenate', 'Multiply', 'Dense']) {
      expect(classes).toContain(c)
    }
    expect(model.graph.cuts.some((c) => c.tensors.length > 1)).toBe(true)
    expect(model.graph.name).toBe('tiny-cnn')
  })
})

describe('seededRandom', () => {
  it('repeats for a seed and differs across seeds', () => {
    const a = seededRandom(42)
    const b = seededRandom(42)
    const c = seededRandom(43)
    const xs = [a(), a(), a()]
    expect([b(), b(), b()]).toEqual(xs)
    expect(c()).not.toBe(xs[0])
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
  })
})
