import {type ChildProcess, spawn} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {isStageProcess, pidAlive} from '../../deploy/targets/local/index.js'

const dir = mkdtempSync(join(tmpdir(), 'amps-liveness-'))
const children: ChildProcess[] = []
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(dir, {recursive: true, force: true})
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
async function until(check: () => boolean, withinMs = 8000): Promise<boolean> {
  const end = Date.now() + withinMs
  while (Date.now() < end) {
    if (check()) return true
    await sleep(25)
  }
  return check()
}

describe('local stage liveness', () => {
  it('isStageProcess knows our stage front by its command line; pidAlive only asks whether the pid lives', async () => {
    // a stand-in for the stage front: <stateDir>/front.mjs <functionName>
    const runner = join(dir, 'front.mjs')
    writeFileSync(runner, 'setInterval(() => {}, 1000)\n')
    const child = spawn(process.execPath, [runner, 'amps-m-1a2b3c4d-stage-1', '{}'], {stdio: 'ignore'})
    children.push(child)
    const pid = child.pid!
    const logPath = join(dir, 'stage-1.log')
    expect(await until(() => isStageProcess(pid, 'amps-m-1a2b3c4d-stage-1', logPath))).toBe(true)
    expect(isStageProcess(pid, 'amps-m-1a2b3c4d-stage-1')).toBe(true)
    // another function name, or a runner in another state dir, is not this stage
    expect(isStageProcess(pid, 'amps-m-1a2b3c4d-stage-2', logPath)).toBe(false)
    expect(isStageProcess(pid, 'amps-m-1a2b3c4d-stage-1', join(tmpdir(), 'elsewhere', 'stage-1.log'))).toBe(false)
    expect(pidAlive(pid)).toBe(true)
    // a live process that is not a runner (this test) is alive but no stage
    expect(pidAlive(process.pid)).toBe(true)
    expect(isStageProcess(process.pid, 'amps-m-1a2b3c4d-stage-1')).toBe(false)
    for (const bad of [undefined, 0, -1, 1.5]) expect(isStageProcess(bad, 'amps-m-1a2b3c4d-stage-1')).toBe(false)

    child.kill('SIGKILL')
    expect(await until(() => !pidAlive(pid))).toBe(true)
    expect(isStageProcess(pid, 'amps-m-1a2b3c4d-stage-1', logPath)).toBe(false)
  })

  it('a zombie counts as gone for both', async () => {
    // sh forks `sleep 0`, prints its pid and execs a long sleep that never reaps it: a zombie
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], {stdio: ['ignore', 'pipe', 'ignore']})
    children.push(parent)
    const zombie = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))))
    expect(Number.isInteger(zombie) && zombie > 0).toBe(true)
    const state = () => {
      const stat = readFileSync(`/proc/${zombie}/stat`, 'utf8')
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    }
    expect(await until(() => state() === 'Z')).toBe(true)
    expect(pidAlive(zombie)).toBe(false)
    expect(isStageProcess(zombie, 'sleep')).toBe(false)
    // the parent itself is alive
    expect(pidAlive(parent.pid!)).toBe(true)
  })
})
