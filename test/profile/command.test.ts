/**
 * `amps profile` end to end through the built CLI: --json output, the file it writes, user errors,
 * and Ctrl-C (no partial file, no quota group left behind). Needs `npx tsc -p .` first.
 */
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {openCpuQuota, validateProfile} from '../../src/profile/index.js'
import {runAmps} from '../helpers/cli.js'
import {repoRoot} from '../helpers/nsfwjs.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-profile-cmd-'))
const env = {AMPS_CACHE_DIR: join(dir, 'cache')}
const model = join(repoRoot, 'examples', 'tiny-cnn')
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const probe = openCpuQuota(`${process.pid}`)
const cgroupDir = probe.ok ? probe.quota.parentDir : undefined
if (probe.ok) probe.quota.release()
const groupsOf = (pid: number | undefined): string[] => (cgroupDir && pid ? readdirSync(cgroupDir).filter((e) => e.startsWith(`amps-${pid}-`)) : [])

describe('amps profile', () => {
  it('--json prints the profile it writes', async () => {
    const out = join(dir, 'p.json')
    const r = await runAmps(['profile', model, '--quick', '--batch-sizes', '1,2', '--memory', '1024', '-o', out, '--json'], {env})
    expect(r.code, r.stderr.slice(-2000)).toBe(0)
    const p = validateProfile(r.json, 'stdout')
    expect(p.batchSizes).toEqual([1, 2])
    expect(p.memoryMb).toEqual([1024])
    expect(p.model.name).toBe('tiny-cnn')
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(r.json)
    // progress went to stderr as plain lines (CI is set), never to stdout
    expect(r.stderr).toMatch(/profile: \[1\/2\] 1024 MB × batch 1 done/)
    expect(r.stderr).not.toMatch(/\r/)

    // the second run is served from the cache and says so
    const again = await runAmps(['profile', model, '--quick', '--batch-sizes', '1,2', '--memory', '1024', '-o', out], {env})
    expect(again.code).toBe(0)
    expect(again.stderr).toMatch(/using the cached profile/)
    expect(again.stdout).toMatch(/Σ layer ms \(whole model ms\) per memory × batch/)
    expect(again.stdout).toMatch(/cut points; cheapest by bytes crossing/)
  })

  it('a bad flag is a user error with a code', async () => {
    const r = await runAmps(['profile', model, '--batch-sizes', 'one,two'], {env})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--batch-sizes: "one" is not a whole number from 1 to 1024/)
    expect(r.stderr).toMatch(/^Hint: /m)
    const j = await runAmps(['profile', model, '--batch-sizes', 'one,two', '--json'], {env})
    expect(j.json?.error?.code).toBe('FLAG_INVALID')
    expect(r.stderr).not.toMatch(/ at .*\.js:\d+/) // no stack
    const m = await runAmps(['profile', model, '--memory', '64', '--json'], {env})
    expect(m.code).not.toBe(0)
    expect(m.json?.error?.code).toBe('FLAG_INVALID')
    expect(m.json?.error?.message).toMatch(/--memory: "64" is not a whole number from 128 to 10240 \(MB\)/)
    const missing = await runAmps(['profile', join(dir, 'nope'), '--json'], {env})
    expect(missing.json?.error?.code).toBe('FILE_NOT_FOUND')
  })

  it('Ctrl-C stops cleanly: no profile written, no quota group left', async () => {
    const out = join(dir, 'interrupted.json')
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'run.js'), 'profile', model, '--batch-sizes', '1,2,4,8', '--no-cache', '-o', out], {
      cwd: dir,
      env: {...process.env, ...env, CI: 'true'},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stderr = ''
    const code = await new Promise<number | null>((resolvePromise) => {
      child.stderr.on('data', (d) => {
        stderr += d
        // interrupt in the middle of measuring, when the child sits in a quota group
        if (/\[1\/\d+\]/.test(stderr) && !child.killed) child.kill('SIGINT')
      })
      child.on('close', (c, signal) => resolvePromise(c ?? (signal ? 128 + 2 : null)))
    })
    expect(code, stderr.slice(-2000)).not.toBe(0)
    expect(/\[1\/\d+\]/.test(stderr)).toBe(true)
    expect(existsSync(out)).toBe(false)
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    expect(groupsOf(child.pid)).toEqual([])
    // nor the model copy it hands to the measuring child
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith(`amps-profile-${child.pid}-`))).toEqual([])
  })
})
