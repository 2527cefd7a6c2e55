/**
 * Layers with the same class, config and input shape are measured once per point (the profiler's
 * dedupe): the copies carry the first one's samples; a layer that differs only in its input
 * shape, or in its config, is measured on its own. Real profiling child, real model.json.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {profileModel} from '../../src/profile/index.js'
import {KerasGraph} from '../zoo/builder.js'

const root = mkdtempSync(join(tmpdir(), 'amps-dedupe-'))
afterAll(() => rmSync(root, {recursive: true, force: true}))

describe('profiler dedupe', () => {
  it('measures repeated identical layers once and gives every copy the same samples', async () => {
    const g = new KerasGraph('repeats')
    let x = g.input([16, 16, 8])
    x = g.conv(x, 8, 3, {padding: 'same', activation: 'relu', name: 'a1'})
    x = g.conv(x, 8, 3, {padding: 'same', activation: 'relu', name: 'a2'}) // same as a1
    x = g.conv(x, 8, 3, {padding: 'same', activation: 'relu', name: 'a3'}) // same as a1
    x = g.conv(x, 8, 3, {padding: 'same', activation: 'tanh', name: 'b'}) // another activation
    x = g.pool('MaxPooling2D', x, 2, {name: 'p'})
    x = g.conv(x, 8, 3, {padding: 'same', activation: 'relu', name: 'c'}) // a1's config, smaller input
    g.outputs = [g.dense(g.flatten(x, 'f'), 4, {name: 'head'})]
    const dir = join(root, 'repeats')
    g.write(dir)
    const p = await profileModel(dir, {batchSizes: [1, 2], memoryMb: [1769], quick: true, cache: false})
    const timing = (name: string) => p.layers.find((l) => l.name === name)!.timing
    for (const batch of [1, 2]) {
      const at = (name: string) => timing(name).find((t) => t.batch === batch)!
      expect(at('a2')).toEqual(at('a1'))
      expect(at('a3')).toEqual(at('a1'))
      expect(at('a1').medianMs).toBeGreaterThan(0)
      expect(at('b')).not.toEqual(at('a1'))
      expect(at('c')).not.toEqual(at('a1'))
    }
  }, 120_000)
})
