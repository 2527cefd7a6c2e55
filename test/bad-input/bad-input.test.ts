/**
 * The bad-input suite (issue 15, item 8): every generated malformed input must end as a clean user
 * error: exit 2, one line naming the file, field or flag, a hint, no stack trace, no output file left
 * behind. Cases and the classifier live in test/bench/bad-inputs.ts (shared with the reliability
 * table); most run in-process, a few through `node bin/run.js`.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {badInputCases, runCase, writeFixtures, type Fixtures} from '../bench/bad-inputs.js'

const root = mkdtempSync(join(tmpdir(), 'amps-bad-input-'))
let fixtures: {dir: string; f: Fixtures} | undefined
afterAll(() => rmSync(root, {recursive: true, force: true}))

function ensureFixtures(): {dir: string; f: Fixtures} {
  fixtures ??= {dir: join(root, '_fixtures'), f: writeFixtures(join(root, '_fixtures'))}
  return fixtures
}

const cases = badInputCases()

describe('bad-input suite', () => {
  it('covers at least 120 cases in every category', () => {
    expect(cases.length).toBeGreaterThanOrEqual(120)
    const categories = new Set(cases.map((c) => c.category))
    expect([...categories].sort()).toEqual(['deployment', 'flags', 'model', 'output', 'payload', 'plan', 'prices', 'profile', 'trace'])
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length)
  })

  it.each(cases.map((c) => [c.name, c] as const))('%s: a clean user error', async (_name, c) => {
    const r = await runCase(c, root, ensureFixtures())
    expect(r.why ?? '', `${c.name}: ${r.errorLine}`).toBe('')
    expect(r.outcome).toBe('clean')
    expect(r.exit).toBe(2)
    expect(r.errorLine).not.toMatch(/\n/)
    expect(r.hint.length).toBeGreaterThan(0)
  })

  it('tells an accepted input and an unnamed field apart from a clean error', async () => {
    const f = ensureFixtures()
    // an input that is accepted (exit 0) is "wrong" for a bad-input case, never "clean"
    const ok = await runCase({name: 'meta: valid plan', category: 'plan', argv: ['schema', 'plan'], names: 'plan'}, root, f)
    expect(ok.outcome).toBe('wrong')
    // a clean error that does not name what the case says it must is not clean
    const unnamed = await runCase(
      {name: 'meta: wrong name', category: 'flags', argv: ['plan', '{dir}/profile.json', '--slo', '0'], names: 'something-else'},
      root,
      f,
    )
    expect(unnamed.outcome).toBe('crash')
  })
})
