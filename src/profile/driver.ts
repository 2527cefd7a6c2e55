/**
 * Runs the measuring child (worker.ts) and walks it through every (batch, memory) point it measures,
 * moving it into the CPU-quota group for each memory size (cgroup.ts); the memories below one vCPU
 * are derived from the largest of them (derive.ts). Points are taken batch by batch, from
 * the largest memory size down, so each batch size warms up once, at the fastest setting.
 *
 * Cleanup is the driver's job: on success, error, Ctrl-C (SIGINT/SIGTERM/SIGHUP) and process exit
 * the child is killed and every quota group removed.
 */
import {fork, type ChildProcess} from 'node:child_process'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {AmpsUserError, type AmpsErrorCode} from '../errors.js'
import {LAMBDA} from '../platform/lambda.js'
import type {ProfileBackend} from './protocol.js'
import {cfsSettings, cpuFraction, openCpuQuota, type CgroupMethod, type CpuQuota} from './cgroup.js'
import {derivePoint, memoryPlan} from './derive.js'
import type {ParentMessage, PointResult, RepeatPlan, RuntimeProbe, WorkerInfo, WorkerJob, WorkerMessage} from './protocol.js'

export interface DriverProgress {
  phase: 'start' | 'ready' | 'warmup' | 'layers' | 'whole' | 'point-done'
  memoryMb?: number
  batch?: number
  /** 0-based index of the point being measured, and how many there are */
  point?: number
  points?: number
  done?: number
  total?: number
  /** with 'start': every point in the order it will be measured (for an ETA) */
  schedule?: {memoryMb: number; batch: number}[]
}

export interface MeasureRequest {
  /** a directory written by stageModelFiles */
  modelDir: string
  peakActivationBytesPerSample: number
  batchSizes: number[]
  memoryMb: number[]
  plan: RepeatPlan
  backend?: ProfileBackend
  onProgress?: (p: DriverProgress) => void
  /** synchronous cleanup to run when a signal ends the process (temp files) */
  onAbort?: () => void
}

export interface Measurement {
  info: WorkerInfo
  probe: RuntimeProbe
  points: PointResult[]
  quotaMethod: CgroupMethod | 'modelled'
  /** why quotas could not be used (modelled only) */
  quotaReason?: string
  /** CFS period at 1769 MB and above */
  cfsPeriodUs?: number
  throttledMs: Map<string, number>
}

function workerEntry(): {path: string; execArgv: string[]} {
  const here = fileURLToPath(import.meta.url)
  const ts = here.endsWith('.ts')
  const execArgv = ['--expose-gc']
  if (ts) {
    // running from sources (tests, tsx): the child needs the same TypeScript loader
    const require = createRequire(import.meta.url)
    execArgv.push('--import', pathToFileURL(require.resolve('tsx')).href)
  }
  return {path: join(dirname(here), ts ? 'worker.ts' : 'worker.js'), execArgv}
}

/** Last lines of the child's stderr, with minified-bundle lines cut short, for error messages. */
function tailOf(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l.trim())
    .slice(-12)
    .map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))
    .join('\n')
}

class Child {
  private readonly proc: ChildProcess
  private stderr = ''
  private waiting?: {accept: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void; reject: (e: Error) => void}
  private exited?: Error
  readonly exitPromise: Promise<void>

  constructor(
    job: WorkerJob,
    private readonly onProgress: (m: Extract<WorkerMessage, {type: 'progress'}>) => void,
  ) {
    const {path, execArgv} = workerEntry()
    this.proc = fork(path, [], {
      execArgv,
      env: {...process.env, AMPS_PROFILE_JOB: JSON.stringify(job)},
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    })
    this.proc.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000)
    })
    this.proc.on('message', (m: WorkerMessage) => this.onMessage(m))
    this.exitPromise = new Promise((resolvePromise) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = new Error(
          `the profiling child exited (${signal ?? `code ${code}`}) before it finished` + (this.stderr ? `:\n${tailOf(this.stderr)}` : ''),
        )
        this.fail(this.exited)
        resolvePromise()
      })
      this.proc.on('error', (error) => {
        this.fail(error)
        resolvePromise()
      })
    })
  }

  get pid(): number {
    return this.proc.pid as number
  }

  private fail(error: Error): void {
    const w = this.waiting
    this.waiting = undefined
    w?.reject(error)
  }

  private onMessage(m: WorkerMessage): void {
    if (m.type === 'progress') return this.onProgress(m)
    if (m.type === 'error') {
      const error = m.code
        ? new AmpsUserError(m.code as AmpsErrorCode, m.message, {suggestions: m.suggestions})
        : Object.assign(new Error(`profiling child failed: ${m.message}`), {childStack: m.stack})
      return this.fail(error)
    }
    const w = this.waiting
    if (w && w.accept(m)) {
      this.waiting = undefined
      w.resolve(m)
    }
  }

  next<T extends WorkerMessage['type']>(type: T, send?: ParentMessage): Promise<Extract<WorkerMessage, {type: T}>> {
    if (this.exited) return Promise.reject(this.exited)
    return new Promise((resolvePromise, reject) => {
      this.waiting = {
        accept: (m) => m.type === type,
        resolve: (m) => resolvePromise(m as Extract<WorkerMessage, {type: T}>),
        reject,
      }
      if (send) this.proc.send(send)
    })
  }

  async stop(): Promise<void> {
    if (this.exited) return
    try {
      this.proc.send({type: 'exit'} satisfies ParentMessage)
    } catch {
      /* channel closed */
    }
    const timer = setTimeout(() => this.kill(), 5000)
    await this.exitPromise
    clearTimeout(timer)
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL')
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/** One measurement at a time per process: concurrent runs would skew each other and share group names. */
let queue: Promise<unknown> = Promise.resolve()

/** Measures the model at every requested point. */
export function measureModel(req: MeasureRequest): Promise<Measurement> {
  const run = queue.then(() => measureOnce(req))
  queue = run.catch(() => undefined)
  return run
}

async function measureOnce(req: MeasureRequest): Promise<Measurement> {
  const progress = req.onProgress ?? (() => {})
  const probe = openCpuQuota()
  const quota: CpuQuota | undefined = probe.ok ? probe.quota : undefined
  // memories up to one vCPU are measured once, at the largest of them (derive.ts)
  const {measure, derive} = memoryPlan(req.memoryMb)
  const memories = quota ? [...measure].sort((a, b) => b - a) : []
  const targets: {memoryMb: number; fraction: number; batch: number}[] = []
  for (const batch of req.batchSizes) {
    if (quota) for (const m of memories) targets.push({memoryMb: m, fraction: cpuFraction(m), batch})
    else targets.push({memoryMb: LAMBDA.fullVcpuMemoryMb, fraction: 1, batch})
  }
  let current = 0

  const job: WorkerJob = {
    modelDir: req.modelDir,
    backend: req.backend,
    // at least 4 so the activation-memory probe sees a growth well above RSS noise
    probeBatch: Math.max(4, ...req.batchSizes),
    peakActivationBytesPerSample: req.peakActivationBytesPerSample,
  }
  progress({phase: 'start', points: targets.length, schedule: targets.map((t) => ({memoryMb: t.memoryMb, batch: t.batch}))})
  const child = new Child(job, (m) =>
    progress({phase: m.phase, memoryMb: m.memoryMb, batch: m.batch, point: current, points: targets.length, done: m.done, total: m.total}),
  )

  let interrupted: NodeJS.Signals | undefined
  const cleanup = (): void => {
    child.kill()
    quota?.release()
  }
  const onSignal = (signal: NodeJS.Signals): void => {
    interrupted = signal
    cleanup()
    req.onAbort?.()
    for (const s of SIGNALS) process.removeListener(s, onSignal)
    // behave as if we had not caught it (exit 130 etc.) unless someone else handles it too
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  for (const s of SIGNALS) process.on(s, onSignal)

  try {
    const ready = await child.next('ready')
    progress({phase: 'ready', points: targets.length})
    const points: PointResult[] = []
    const throttledMs = new Map<string, number>()
    for (const [i, t] of targets.entries()) {
      current = i
      if (quota) quota.enter(child.pid, t.memoryMb)
      const before = quota?.throttledMs(t.memoryMb)
      const msg = await child.next('point', {type: 'measure', memoryMb: t.memoryMb, fraction: t.fraction, batch: t.batch, plan: req.plan})
      const after = quota?.throttledMs(t.memoryMb)
      if (quota) quota.leave(child.pid)
      if (before !== undefined && after !== undefined) throttledMs.set(`${t.memoryMb}x${t.batch}`, after - before)
      points.push(msg.result)
      progress({phase: 'point-done', memoryMb: t.memoryMb, batch: t.batch, point: i, points: targets.length})
    }
    if (quota) {
      for (const [m, from] of derive) {
        for (const b of req.batchSizes) {
          const ref = points.find((p) => p.memoryMb === from && p.batch === b && p.derivedFrom === undefined)
          if (ref) points.push(derivePoint(ref, m, cpuFraction(m)))
        }
      }
    }
    await child.stop()
    return {
      info: ready.info,
      probe: ready.probe,
      points,
      quotaMethod: quota ? quota.method : 'modelled',
      quotaReason: probe.ok ? undefined : probe.reason,
      cfsPeriodUs: quota ? cfsSettings(1).periodUs : undefined,
      throttledMs,
    }
  } catch (error) {
    if (interrupted) throw new Error(`profiling interrupted by ${interrupted}; nothing was written`, {cause: error})
    throw error
  } finally {
    cleanup()
    await child.exitPromise
    for (const s of SIGNALS) process.removeListener(s, onSignal)
  }
}
