/**
 * Runs the built CLI (`node bin/run.js …`) as a real child process, the way a user runs it.
 * `npm test` builds first; during development run `npx tsc -p .` before command tests.
 */
import {spawn} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {repoRoot} from './nsfwjs.js'

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  /** stdout parsed as JSON when it is JSON */
  json?: any
}

export async function runAmps(args: string[], options: {cwd?: string; env?: Record<string, string>; timeoutMs?: number} = {}): Promise<CliResult> {
  const bin = join(repoRoot, 'bin', 'run.js')
  if (!existsSync(join(repoRoot, 'dist', 'src', 'commands'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does) before command tests')
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: {...process.env, CI: 'true', NO_COLOR: '1', ...options.env},
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      resolvePromise({code, stdout, stderr, json})
    })
  })
}
