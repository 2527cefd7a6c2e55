/**
 * `npm run reliability [-- --verbose]` (= tsc -p tsconfig.bench.json && node dist-test/test/bench/reliability.js): the "Reliability" table
 * for BENCHMARKS.md. Runs the bad-input suite (test/bench/bad-inputs.ts: every case through the real
 * commands) and prints inputs tried, clean errors, crashes, partial files and accepted-but-wrong, plus
 * any lines other suites register (faults injected and survived, concurrent requests and lost/wrong)
 * through `addReliabilitySource`. Exits 1 when any case is not clean. Takes about a minute.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runBadInputSuite, type CaseResult} from './bad-inputs.js'

export interface ReliabilityLine {
  what: string
  value: string
  target?: string
}

type Source = () => Promise<ReliabilityLine[]>
const sources: Source[] = []

/** The hook for other suites (faults, concurrency): each source adds its lines to the table. */
export function addReliabilitySource(source: Source): void {
  sources.push(source)
}

export function badInputLines(results: CaseResult[]): ReliabilityLine[] {
  const count = (o: CaseResult['outcome']): number => results.filter((r) => r.outcome === o).length
  return [
    {what: 'malformed inputs tried', value: String(results.length), target: '≥ 120'},
    {what: 'clean errors (exit 2, one line naming the file or field, a hint, no stack)', value: String(count('clean')), target: 'all'},
    {what: 'crashes (exit 1, a stack, or no clear message)', value: String(count('crash')), target: '0'},
    {what: 'partial output files left behind', value: String(count('partial')), target: '0'},
    {what: 'accepted but wrong (exit 0)', value: String(count('wrong')), target: '0'},
  ]
}

export function renderReliability(lines: ReliabilityLine[]): string {
  return ['| | result | target |', '|---|---:|---:|', ...lines.map((l) => `| ${l.what} | ${l.value} | ${l.target ?? ''} |`)].join('\n')
}

/** The bench section (`npm run bench -- --only reliability`): the bad-input suite's table for BENCHMARKS.md. */
export async function runReliabilitySection(): Promise<{data: {lines: ReliabilityLine[]}; notes: string[]}> {
  const root = mkdtempSync(join(tmpdir(), 'amps-reliability-'))
  try {
    const results = await runBadInputSuite(root)
    const lines = badInputLines(results)
    for (const s of sources) lines.push(...(await s()))
    const unclean = results.filter((r) => r.outcome !== 'clean').map((r) => `${r.outcome}: ${r.name}${r.why ? ` (${r.why})` : ''}`)
    return {
      data: {lines},
      notes: [
        'Every case runs the real command (in-process, a few through bin/run.js) on a generated bad input (test/bench/bad-inputs.ts: model files, profile/plan/deployment files, invoke payloads, flags, price files, traces, output paths); the same cases are a test (test/bad-input/bad-input.test.ts).',
        'Faults and concurrency are asserted by tests that CI runs, not re-measured here: test/deploy/local-pool.test.ts (kill -9 of an environment, SIGSTOP, Timeout, SIGINT at deploy steps, destroy twice, destroy of a copy), test/deploy/aws-faults.test.ts (a failure at each of the 21 deploy calls and each destroy call, then convergence), test/serve/gateway.test.ts (500 concurrent requests: 0 lost, 0 wrong).',
        ...unclean,
      ],
    }
  } finally {
    rmSync(root, {recursive: true, force: true})
  }
}

async function main(): Promise<void> {
  const verbose = process.argv.includes('--verbose')
  const root = mkdtempSync(join(tmpdir(), 'amps-reliability-'))
  const started = Date.now()
  try {
    const results = await runBadInputSuite(root, (r) => {
      if (verbose || r.outcome !== 'clean') process.stderr.write(`${r.outcome.padEnd(7)} ${r.name}${r.why ? `: ${r.why}` : ''}\n`)
    })
    const lines = badInputLines(results)
    for (const s of sources) lines.push(...(await s()))
    process.stdout.write(renderReliability(lines) + '\n')
    process.stderr.write(`${results.length} cases in ${((Date.now() - started) / 1000).toFixed(1)} s\n`)
    if (results.some((r) => r.outcome !== 'clean')) process.exitCode = 1
  } finally {
    rmSync(root, {recursive: true, force: true})
  }
}

if (process.argv[1] && /reliability\.js$/.test(process.argv[1])) await main()
