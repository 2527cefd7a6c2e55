/**
 * What `amps profile` prints after measuring: model size, Σ layer times per memory × batch, and
 * the cheapest places to cut by bytes crossing. Pure functions.
 */
import {table as renderTable} from '../util/format.js'
import type {Profile} from './types.js'

export interface ProfileSummary {
  name: string
  layers: number
  params: number
  weightMb: number
  macs: number
  cutPoints: number
  quotaMethod: Profile['environment']['quotaMethod']
  backend: Profile['environment']['backend']
  /** Σ layer medians and the whole-model median per (memory, batch) */
  totals: {memoryMb: number; batch: number; sumLayersMs: number; wholeModelMs: number; modelled: boolean}[]
  /** the cuts with the fewest bytes crossing per sample, fewest first */
  cheapestCuts: {after: number; afterLayer: string; bytesPerSample: number; tensors: number}[]
}

export function summarizeProfile(profile: Profile, topCuts = 5): ProfileSummary {
  const totals = profile.memoryMb.flatMap((m) =>
    profile.batchSizes.map((b) => {
      let s = 0
      let modelled = false
      for (const l of profile.layers) {
        const t = l.timing.find((x) => x.memoryMb === m && x.batch === b)
        if (t) {
          s += t.medianMs
          modelled ||= t.modelled
        }
      }
      const whole = profile.wholeModel.find((x) => x.memoryMb === m && x.batch === b)
      return {memoryMb: m, batch: b, sumLayersMs: Math.round(s * 100) / 100, wholeModelMs: whole?.medianMs ?? NaN, modelled}
    }),
  )
  const cheapestCuts = [...profile.cuts]
    .sort((a, b) => a.bytesPerSample - b.bytesPerSample || a.after - b.after)
    .slice(0, topCuts)
    .map((c) => ({after: c.after, afterLayer: c.afterLayer, bytesPerSample: c.bytesPerSample, tensors: c.tensors.length}))
  return {
    name: profile.model.name,
    layers: profile.model.layers,
    params: profile.model.params,
    weightMb: Math.round((profile.model.weightBytes / (1024 * 1024)) * 100) / 100,
    macs: profile.model.macs,
    cutPoints: profile.cuts.length,
    quotaMethod: profile.environment.quotaMethod,
    backend: profile.environment.backend,
    totals,
    cheapestCuts,
  }
}

function si(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return String(n)
}

function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MB`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KB`
  return `${n} B`
}

/** First row is the header; the first column left-aligned, the others right-aligned. */
function table(rows: string[][]): string {
  return renderTable(
    rows[0],
    rows.slice(1),
    rows[0].map((_, i) => (i === 0 ? 'left' : 'right')),
  )
}

/** The human-readable summary (no colours; fits 80 columns for 4 batch sizes). */
export function formatSummary(s: ProfileSummary): string {
  const batches = [...new Set(s.totals.map((t) => t.batch))]
  const memories = [...new Set(s.totals.map((t) => t.memoryMb))]
  const head = [
    `${s.name}: ${s.layers} layers, ${si(s.params)} params, ${s.weightMb} MB of weights (float32), ${si(s.macs)}MACs/sample`,
    `backend ${s.backend}; memory sizes ${s.quotaMethod === 'modelled' ? 'MODELLED (no CPU quota available)' : `measured under a CPU quota (${s.quotaMethod})`}`,
    '',
    'Σ layer ms (whole model ms) per memory × batch:',
  ]
  const rows: string[][] = [['memory', ...batches.map((b) => `batch ${b}`)]]
  for (const m of memories) {
    rows.push([
      `${m} MB`,
      ...batches.map((b) => {
        const t = s.totals.find((x) => x.memoryMb === m && x.batch === b)
        return t ? `${t.sumLayersMs.toFixed(1)} (${t.wholeModelMs.toFixed(1)})${t.modelled ? '*' : ''}` : '-'
      }),
    ])
  }
  const cutRows: string[][] = [['cut after', 'position', 'bytes/sample', 'tensors']]
  for (const c of s.cheapestCuts) cutRows.push([c.afterLayer, String(c.after), bytes(c.bytesPerSample), String(c.tensors)])
  return [
    ...head,
    table(rows),
    ...(s.totals.some((t) => t.modelled) ? ['* modelled, not measured'] : []),
    '',
    `${s.cutPoints} cut points; cheapest by bytes crossing:`,
    table(cutRows),
  ].join('\n')
}
