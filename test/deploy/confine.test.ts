/**
 * Confinement helpers of the local target and the stage side (issue 15 item 5): hand-off keys and
 * request ids, the stage environment allow-list, the token comparison.
 */
import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {stageEnvironment, tokenMatches} from '../../deploy/targets/local/confine.js'
import {safeKey} from '../../src/stage/codec.js'
import {DirStore, checkHandoffKey, isSafeName} from '../../src/stage/store.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-confine-'))
afterAll(() => rmSync(dir, {recursive: true, force: true}))

describe('confinement', () => {
  it('hand-off keys: no path separators out of the folder, no dots-only segments', async () => {
    const store = new DirStore(join(dir, 'handoff'))
    for (const key of ['../x.bin', 'a/../../x.bin', '..', 'a/./b.bin', '/etc/x', 'a//b', 'a/…/b', '']) {
      await expect(store.put(key, new Uint8Array(4)), key).rejects.toThrow(/hand-off key .* is not allowed/)
    }
    expect(readdirSync(dir)).toEqual([])
    const ref = await store.put('req-1/stage-1/x.bin', new Uint8Array(4))
    expect(ref).toBe(`file://${join(dir, 'handoff', 'req-1', 'stage-1', 'x.bin')}`)
    expect(() => checkHandoffKey('req.1/to-stage-2/t_0.bin')).not.toThrow()
    for (const name of ['.', '..', '...', 'a/b', 'a\\b', '']) expect(isSafeName(name), name).toBe(false)
    for (const name of ['a', 'a.b', '.hidden', 'x-1_2']) expect(isSafeName(name), name).toBe(true)
    // tensor ids become safe key segments
    expect(safeKey('..')).toBe('_..')
    expect(safeKey('../../etc')).toBe('.._.._etc')
    expect(isSafeName(safeKey('.'))).toBe(true)
  })

  it("a stage starts with an allow-listed environment, never the deployer's credentials", () => {
    const saved = {...process.env}
    try {
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: 'AKIA1',
        AWS_SECRET_ACCESS_KEY: 's',
        AWS_SESSION_TOKEN: 't',
        AWS_PROFILE: 'p',
        GITHUB_TOKEN: 'g',
        NODE_OPTIONS: '--require /tmp/evil.js',
        LANG: 'C.UTF-8',
      })
      const env = stageEnvironment({AMPS_STAGE: 'stage-1'}, {AMPS_DEPLOYMENT_ID: 'abc'})
      expect(Object.keys(env).filter((k) => k.startsWith('AWS_') || k === 'GITHUB_TOKEN')).toEqual([])
      expect(env.NODE_OPTIONS).toBe('')
      expect(env).toMatchObject({LANG: 'C.UTF-8', AMPS_STAGE: 'stage-1', AMPS_DEPLOYMENT_ID: 'abc', HOME: '/tmp'})
      expect(env.PATH).toBeTruthy()
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k]
      Object.assign(process.env, saved)
    }
  })

  it('tokens compare in constant time and only when equal', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true)
    for (const t of ['abd', 'ab', 'abcd', '', undefined, ['abc']]) expect(tokenMatches(t as string | undefined, 'abc')).toBe(false)
  })
})
