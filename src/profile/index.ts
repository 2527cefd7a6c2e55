/**
 * The profiler: `profileModel(path, options)` measures a model (or returns the cached profile of
 * the same model and options) and `readProfile`/`writeProfile` move profile.json to and from disk.
 *
 * Cache: profiles are kept under $AMPS_CACHE_DIR/profiles (default ~/.cache/amps/profiles), keyed
 * by the model's sha256 (topology + weights) and everything that changes the numbers (batch sizes,
 * memory sizes, repeats, backend, quota switch, CPU model, Node version). `force` measures again.
 */
import {createHash} from 'node:crypto'
import {existsSync, readFileSync, writeFileSync} from 'node:fs'
import {cpus} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {AmpsUserError} from '../errors.js'
import type {LayerGraph} from '../model/types.js'
import {LAMBDA} from '../platform/lambda.js'
import type {ProfileBackend} from './protocol.js'
import {assembleProfile} from './assemble.js'
import {measureModel, type DriverProgress} from './driver.js'
import {readProfile, writeProfile} from './io.js'
import {measureEveryMemory} from './derive.js'
import {STAGED_ONNX, stageModelFiles} from './model-files.js'
import type {RepeatPlan} from './protocol.js'
import {PROFILE_VERSION, type Profile} from './types.js'
import {ampsCacheRoot} from '../files/paths.js'

export {readProfile, writeProfile, writeFileAtomic} from './io.js'
export {validateProfile} from './schema.js'
export {layerSampleMs, modelledScale} from './assemble.js'
export {cfsSettings, cpuFraction, openCpuQuota} from './cgroup.js'
export {formatSummary, summarizeProfile, type ProfileSummary} from './summary.js'
export type {CalibrationPoint, LayerProfile, Profile, TimingPoint} from './types.js'
export type {RepeatPlan} from './protocol.js'

export const DEFAULT_BATCH_SIZES = [1, 2, 4, 8]
export const DEFAULT_MEMORY_MB = [512, 1024, 1769, 3008]
export const QUICK_BATCH_SIZES = [1]
export const QUICK_MEMORY_MB = [512, 1769]

/** Default passes: at least 3 layer-by-layer passes (more while a point costs < 2 s), ≥ 2 whole-model runs. */
export const DEFAULT_PLAN: RepeatPlan = {warmup: 1, minRepeats: 3, maxRepeats: 15, budgetMs: 2000, wholeMin: 2, wholeMax: 15, wholeBudgetMs: 1000}
export const QUICK_PLAN: RepeatPlan = {warmup: 1, minRepeats: 2, maxRepeats: 5, budgetMs: 500, wholeMin: 1, wholeMax: 5, wholeBudgetMs: 300}

export type ProfileProgress =
  DriverProgress | {phase: 'load'} | {phase: 'loaded'; layers: number} | {phase: 'cache-hit'; path: string} | {phase: 'cache-miss'; path: string}

export interface ProfileOptions {
  /** batch sizes to measure (default 1,2,4,8; quick: 1) */
  batchSizes?: number[]
  /** Lambda memory sizes to emulate, MB (default 512,1024,1769,3008; quick: 512,1769) */
  memoryMb?: number[]
  /** fewer repeats, batch sizes and memory sizes for a first look */
  quick?: boolean
  /** measure again even when a cached profile exists */
  force?: boolean
  /** read and write the cache (default true) */
  cache?: boolean
  /**
   * force a tensor backend (default: initTf's choice); 'auto': onnx when every layer exports to
   * ONNX (what `amps plan` deploys by default), else initTf's choice
   */
  backend?: ProfileBackend | 'auto'
  /** override parts of the repeat plan */
  plan?: Partial<RepeatPlan>
  onProgress?: (p: ProfileProgress) => void
}

/** Where cached profiles live. */
export function profileCacheDir(): string {
  return join(ampsCacheRoot(), 'profiles')
}

let versionCache: string | undefined
/** amps' own version from its package.json. */
export function ampsVersion(): string {
  if (versionCache) return versionCache
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as {name?: string; version?: string}
      if (pkg.name === 'amps' && pkg.version) return (versionCache = pkg.version)
    }
    dir = dirname(dir)
  }
  return (versionCache = '0.0.0')
}

function checkList(values: number[], what: string, flag: string, min: number, max: number): number[] {
  if (values.length === 0) throw new AmpsUserError('FLAG_INVALID', `${flag} needs at least one ${what}`)
  for (const v of values) {
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new AmpsUserError('FLAG_INVALID', `${flag}: ${what} ${v} must be a whole number from ${min} to ${max}`, {
        suggestions: [`e.g. ${flag} ${flag === '--memory' ? DEFAULT_MEMORY_MB.join(',') : DEFAULT_BATCH_SIZES.join(',')}`],
      })
    }
  }
  return [...new Set(values)].sort((a, b) => a - b)
}

export interface ResolvedOptions {
  batchSizes: number[]
  memoryMb: number[]
  plan: RepeatPlan
  quick: boolean
}

/** Fills in defaults and checks the values (FLAG_INVALID on a mistake). */
export function resolveOptions(options: ProfileOptions = {}): ResolvedOptions {
  const quick = Boolean(options.quick)
  return {
    batchSizes: checkList(options.batchSizes ?? (quick ? QUICK_BATCH_SIZES : DEFAULT_BATCH_SIZES), 'batch size', '--batch-sizes', 1, 1024),
    memoryMb: checkList(
      options.memoryMb ?? (quick ? QUICK_MEMORY_MB : DEFAULT_MEMORY_MB),
      'memory size (MB)',
      '--memory',
      LAMBDA.memoryMinMb,
      LAMBDA.memoryMaxMb,
    ),
    plan: {...(quick ? QUICK_PLAN : DEFAULT_PLAN), ...options.plan},
    quick,
  }
}

/**
 * What the profiler measures, for the cache key: bump it when a profile starts recording something
 * new, so a cached profile without it is measured again (2: fusedFactor and runtime JSON ms/MB;
 * 3: memories below one vCPU derived from the largest of them, derive.ts; 4: ORT layer times at one
 * thread as shares of the run’s CPU time, ort-quota.ts; 5: codec and JSON probes as warm marginal
 * costs, and the local runner’s spliced JSON).
 */
export const PROFILER_REVISION = 5

/** The cache file for a model and resolved options. */
export function profileCachePath(graph: Pick<LayerGraph, 'sha256' | 'name'>, resolved: ResolvedOptions, backend?: ProfileBackend | 'auto'): string {
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: PROFILE_VERSION,
        rev: PROFILER_REVISION,
        model: graph.sha256,
        batchSizes: resolved.batchSizes,
        memoryMb: resolved.memoryMb,
        plan: resolved.plan,
        backend: backend ?? process.env.AMPS_BACKEND ?? 'auto',
        noCgroup: Boolean(process.env.AMPS_NO_CGROUP && process.env.AMPS_NO_CGROUP !== '0'),
        everyMemory: measureEveryMemory(),
        cpu: cpus()[0]?.model ?? '',
        node: process.version,
      }),
    )
    .digest('hex')
  const name = graph.name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 40) || 'model'
  return join(profileCacheDir(), `${name}-${key.slice(0, 20)}.json`)
}

/**
 * Profiles the model at `path` (a model.json, its directory, a .h5 or a .keras file): static facts
 * from the LayerGraph, times measured per layer at every (memory, batch) point, runtime costs.
 */
export async function profileModel(path: string, options: ProfileOptions = {}): Promise<Profile> {
  const resolved = resolveOptions(options)
  const progress = options.onProgress ?? (() => {})
  progress({phase: 'load'})
  const {loadModel, peakActivationBytes} = await import('../model/index.js')
  const loaded = await loadModel(path)
  const graph = loaded.graph
  progress({phase: 'loaded', layers: graph.layers.length})
  const useCache = options.cache !== false
  const cachePath = profileCachePath(graph, resolved, options.backend)
  const source = resolve(path)
  if (useCache && !options.force && existsSync(cachePath)) {
    try {
      const cached = readProfile(cachePath)
      if (cached.model.sha256 === graph.sha256) {
        progress({phase: 'cache-hit', path: cachePath})
        return {...cached, model: {...cached.model, source}}
      }
    } catch {
      // an unreadable cache entry is a miss; it gets overwritten below
    }
  }
  if (useCache) progress({phase: 'cache-miss', path: cachePath})

  const measuredAt = new Date().toISOString()
  const staged = stageModelFiles(loaded)
  let m: Awaited<ReturnType<typeof measureModel>>
  try {
    let backend = options.backend
    if (backend === 'auto') {
      // the stage default: onnx when the whole model exports (the child reuses the bytes)
      const {exportOnnx} = await import('../model/onnx/export.js')
      try {
        writeFileSync(join(staged.dir, STAGED_ONNX), (await exportOnnx(loaded)).bytes)
        backend = 'onnx'
      } catch (error) {
        if (!(error instanceof AmpsUserError)) throw error
        backend = undefined
      }
    }
    m = await measureModel({
      modelDir: staged.dir,
      peakActivationBytesPerSample: peakActivationBytes(graph, 0, graph.layers.length - 1),
      batchSizes: resolved.batchSizes,
      memoryMb: resolved.memoryMb,
      plan: resolved.plan,
      backend,
      onProgress: progress,
      onAbort: () => staged.remove(),
    })
  } finally {
    staged.remove()
  }
  const warnings: string[] = []
  if (m.quotaMethod === 'modelled') {
    warnings.push(`times at each memory size are modelled as ms(1769)·max(1, 1769/m), not measured under a CPU quota: ${m.quotaReason}`)
  }
  const profile = assembleProfile({
    graph,
    source,
    info: m.info,
    probe: m.probe,
    points: m.points,
    batchSizes: resolved.batchSizes,
    memoryMb: resolved.memoryMb,
    quotaMethod: m.quotaMethod,
    cfsPeriodUs: m.cfsPeriodUs,
    throttledMs: m.throttledMs,
    ampsVersion: ampsVersion(),
    measuredAt,
    warnings,
  })
  if (useCache) writeProfile(cachePath, profile)
  return profile
}
