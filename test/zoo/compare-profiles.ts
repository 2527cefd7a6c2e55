/**
 * How far two profiles of the same model move the planner's predictions: the whole model as one
 * stage and each of its valid two-stage splits' stages, handler ms at memory × batch, by the same
 * cost model (src/cost/model.ts). Used to check that a profiler change (e.g. deriving the memories
 * below one vCPU, src/profile/derive.ts) keeps predictions where they were: compare a profile made
 * the old way with one made the new way, next to two profiles made the same way (the noise floor).
 *
 *   npx tsx test/zoo/compare-profiles.ts old.json new.json [--memory 512,1024,1769,3008] [--batch 1,4,8]
 *   npx tsx test/zoo/compare-profiles.ts every-memory.json --derived
 *
 * Old way on this branch: AMPS_PROFILE_EVERY_MEMORY=1 amps profile <model> --no-cache -o old.json
 * Prints one line per (memory, batch) with the median and the largest |Δ| over the stages, and the
 * overall median and max; --json for the numbers.
 */
import {readFileSync} from 'node:fs'

import {CostModel, type StageRange} from '../../src/cost/model.js'
import {DEFAULT_PRICE_TABLE} from '../../src/cost/prices.js'
import type {Profile} from '../../src/profile/types.js'

const args = process.argv.slice(2)
const flag = (name: string, fallback: string): number[] => {
  const i = args.indexOf(name)
  return (i >= 0 ? args[i + 1] : fallback).split(',').map(Number)
}
const paths = args.filter((a, i) => !a.startsWith('--') && !['--memory', '--batch'].includes(args[i - 1]))
const derivedOnly = args.includes('--derived')
const aPath = paths[0]
const bPath = derivedOnly ? `${aPath} (memories below 1,769 MB dropped)` : paths[1]
if (!aPath || !bPath) throw new Error('usage: compare-profiles.ts old.json (new.json | --derived) [--memory …] [--batch …] [--json]')
const memories = flag('--memory', '512,768,1024,1536,1769,2048,3008')
const batches = flag('--batch', '1,4,8')

const read = (p: string): Profile => JSON.parse(readFileSync(p, 'utf8')) as Profile
const a = read(aPath)
/**
 * --derived: the same profile without its points below one vCPU, which the cost model then
 * extrapolates from 1,769 MB as time × 1769/m, exactly what derive.ts gives: the method's effect
 * on the same measurement, free of run-to-run noise.
 */
const dropBelowVcpu = (p: Profile): Profile => ({
  ...p,
  memoryMb: p.memoryMb.filter((m) => m >= 1769),
  layers: p.layers.map((l) => ({...l, timing: l.timing.filter((t) => t.memoryMb >= 1769)})),
})
const b = derivedOnly ? dropBelowVcpu(a) : read(bPath)
if (a.model.sha256 !== b.model.sha256) throw new Error('the two profiles are of different models')
const model = (p: Profile): CostModel => new CostModel(p, {arch: 'x86_64', prices: DEFAULT_PRICE_TABLE})
const ma = model(a)
const mb = model(b)
const L = a.layers.length
// the whole model, and both halves of every valid cut
const ranges: StageRange[] = [{first: 0, last: L - 1}]
for (const c of a.cuts) if (c.after >= 0 && c.after < L - 1) ranges.push({first: 0, last: c.after}, {first: c.after + 1, last: L - 1})

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const rows: {memoryMb: number; batch: number; wholeOldMs: number; wholeNewMs: number; wholePct: number; medianAbsPct: number; maxAbsPct: number}[] = []
const all: number[] = []
for (const m of memories) {
  for (const k of batches) {
    const pct = ranges.map((r) => {
      const x = ma.handlerMs(r, m, k)
      const y = mb.handlerMs(r, m, k)
      return (100 * (y - x)) / x
    })
    all.push(...pct.map(Math.abs))
    rows.push({
      memoryMb: m,
      batch: k,
      wholeOldMs: ma.handlerMs(ranges[0], m, k),
      wholeNewMs: mb.handlerMs(ranges[0], m, k),
      wholePct: pct[0],
      medianAbsPct: median(pct.map(Math.abs)),
      maxAbsPct: Math.max(...pct.map(Math.abs)),
    })
  }
}
const summary = {model: a.model.name, stages: ranges.length, medianAbsPct: median(all), maxAbsPct: Math.max(...all)}
if (args.includes('--json')) console.log(JSON.stringify({summary, rows}, null, 2))
else {
  console.log(`${a.model.name}: ${ranges.length} stages (whole model + both sides of every cut), handler ms, ${aPath} → ${bPath}`)
  console.log('memory  batch   whole old    whole new   Δ whole   median |Δ|   max |Δ|')
  for (const r of rows) {
    console.log(
      `${String(r.memoryMb).padStart(6)}  ${String(r.batch).padStart(5)}  ${r.wholeOldMs.toFixed(2).padStart(10)}  ${r.wholeNewMs.toFixed(2).padStart(11)}  ${r.wholePct.toFixed(1).padStart(7)}%  ${r.medianAbsPct.toFixed(1).padStart(10)}%  ${r.maxAbsPct.toFixed(1).padStart(7)}%`,
    )
  }
  console.log(`all: median |Δ| ${summary.medianAbsPct.toFixed(1)}%, max |Δ| ${summary.maxAbsPct.toFixed(1)}%`)
}
