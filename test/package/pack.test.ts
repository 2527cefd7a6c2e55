/**
 * What `npm pack` would publish: only what users run (bin/, the compiled sources under dist/, the
 * example model, the oclif manifest). Tests, benchmarks, fixtures and TypeScript sources stay out.
 * Scripts are skipped (no rebuild): the test reads the dist/ that `npm test` built.
 */
import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {join} from 'node:path'

import {describe, expect, it} from 'vitest'

import {repoRoot} from '../helpers/nsfwjs.js'

interface PackEntry {
  files: {path: string; size: number}[]
}

function packedFiles(): string[] {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], {cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']})
  const [entry] = JSON.parse(out) as PackEntry[]
  return entry.files.map((f) => f.path).sort()
}

describe('npm pack', () => {
  it('ships the CLI and its compiled sources, and no test, bench or fixture file', () => {
    if (!existsSync(join(repoRoot, 'dist', 'src', 'commands'))) throw new Error('dist/ is missing: run `npm run build` (npm test does) first')
    const files = packedFiles()
    // what a user runs is there
    for (const f of [
      'bin/run.js',
      'dist/src/commands/plan.js',
      'dist/deploy/runtime/handler.js',
      'dist/src/stage/runtime.js',
      'oclif.manifest.json',
      'package.json',
    ]) {
      expect(files).toContain(f)
    }
    // and nothing else
    const shipped =
      /^(bin\/[^/]+\.js|dist\/(src|solver|deploy)\/.+\.js(\.map)?|examples\/tiny-cnn\/[^/]+|oclif\.manifest\.json|package\.json|README\.md|LICENSE)$/
    expect(files.filter((f) => !shipped.test(f))).toEqual([])
    expect(files.filter((f) => /(^|\/)(test|tests|bench|fixtures|\.cache)\//.test(f))).toEqual([])
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([])
  })
})
