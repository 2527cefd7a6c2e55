/**
 * The local target: every stage is its own node process running the stage bundle's index.mjs
 * behind the Lambda Invoke REST path on 127.0.0.1 (deploy/targets/local/runner.ts), limited to the
 * stage's memory and to memoryMb/1769 of a core (deploy/targets/local/cgroup.ts). The coordinator drives
 * it with @aws-sdk/client-lambda exactly as it drives AWS.
 *
 * deployLocal is idempotent and repairs: stages whose process is alive, healthy and runs the same
 * code are kept; dead, stale or changed ones are (re)started; stages no longer in the plan are
 * stopped. deployment.json is rewritten atomically after every step.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {AmpsUserError} from '../../../src/errors.js'
import type {Plan} from '../../../src/plan/types.js'
import {bundleEntry} from '../../bundle/bundle.js'
import {LAMBDA} from '../../../src/platform/lambda.js'
import {writeDeployment} from '../../state/deployment.js'
import {DEPLOYMENT_VERSION, type DeploymentState, type StageBundle, type StageDeployment} from '../../state/types.js'
import {controllerWritable, createCpuGroup, createMemoryGroup, groupPids, removeGroup} from './cgroup.js'
import type {RunnerConfig} from './runner.js'

export const LOCAL_HOST = '127.0.0.1'
export const LOCAL_REGION = 'local'
const READY_TIMEOUT_MS = Number(process.env.AMPS_LOCAL_READY_TIMEOUT_MS ?? 180_000)

export interface LocalDeployOptions {
  /** where deployment.json is written (after every step) */
  statePath: string
  planPath: string
  modelPath: string
  planHash: string
  /** previous state at statePath, to repair/update in place */
  previous?: DeploymentState
  log?: (line: string) => void
}

export type LocalAction = 'started' | 'restarted' | 'kept' | 'stopped'

export interface LocalDeployResult {
  state: DeploymentState
  actions: {stageIndex: number; functionName: string; action: LocalAction; reason?: string; pid?: number; port?: number}[]
}

const here = dirname(fileURLToPath(import.meta.url))

function sibling(rel: string): string {
  for (const ext of ['.js', '.ts']) if (existsSync(join(here, rel + ext))) return join(here, rel + ext)
  throw new Error(`cannot find ${rel}.js or .ts next to ${here}`)
}

/** Short id of a deployment file (its absolute path), used in cgroup names. */
export function deploymentId(statePath: string): string {
  return createHash('sha256').update(resolve(statePath)).digest('hex').slice(0, 8)
}

/** The local runtime directory for a deployment file: logs, ready files, runner, hand-offs. */
export function localStateDir(statePath: string): string {
  const abs = resolve(statePath)
  const base = abs.split('/').pop()!.replace(/\.json$/, '')
  return join(dirname(abs), '.amps', 'local', base)
}

/**
 * True while process `pid` exists (zombies count as gone) and `matches(pid)` holds; `matches` may
 * read /proc/<pid>/* (if the process vanishes meanwhile, that read throws: gone). Without /proc
 * (not Linux) falls back to process.kill(pid, 0), which cannot ask `matches`.
 */
function liveProcess(pid: number, matches: (pid: number) => boolean = () => true): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    if (state === 'Z' || state === 'X') return false
    return matches(pid)
  } catch {
    if (existsSync('/proc/self/stat')) return false
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
}

/**
 * True when `pid` is a live (non-zombie) process running our runner for this stage: its command
 * line is `node [flags] <stateDir>/runner.mjs <functionName> <config>` (a recycled pid is not).
 */
export function isStageProcess(pid: number | undefined, functionName: string, logPath?: string): boolean {
  if (!pid || !Number.isInteger(pid) || pid <= 0) return false
  const runner = logPath ? join(dirname(logPath), 'runner.mjs') : undefined
  return liveProcess(pid, (p) => {
    const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')
    return cmdline.some((a) => (runner ? a === runner : a.endsWith('runner.mjs'))) && cmdline.includes(functionName)
  })
}

/** True while any process with this pid exists (zombies count as gone). */
export function pidAlive(pid: number): boolean {
  return liveProcess(pid)
}

async function healthy(stage: StageDeployment): Promise<boolean> {
  if (!stage.port) return false
  try {
    const res = await fetch(`http://${LOCAL_HOST}:${stage.port}/2015-03-31/functions/${encodeURIComponent(stage.functionName)}`, {
      signal: AbortSignal.timeout(3000),
    })
    if (!res.ok) return false
    const body = (await res.json()) as {amps?: {pid?: number}}
    return body.amps?.pid === stage.pid
  } catch {
    return false
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Stops a stage process (SIGTERM, then SIGKILL after 3 s) if it is ours, then removes its cgroups. */
export async function stopStage(stage: StageDeployment): Promise<{stopped: boolean; cgroupsRemoved: string[]; cgroupsLeft: string[]}> {
  let stopped = false
  const pids = new Set<number>()
  if (stage.pid && isStageProcess(stage.pid, stage.functionName, stage.logPath)) pids.add(stage.pid)
  // anything still inside the stage's own cgroups was started by us for this stage
  for (const cg of stage.cgroups ?? []) for (const p of groupPids(cg)) pids.add(p)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM')
      stopped = true
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 3000
  while ([...pids].some(pidAlive) && Date.now() < deadline) await sleep(25)
  for (const pid of pids) {
    if (pidAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
    }
  }
  const killDeadline = Date.now() + 3000
  while ([...pids].some(pidAlive) && Date.now() < killDeadline) await sleep(25)
  const cgroupsRemoved: string[] = []
  const cgroupsLeft: string[] = []
  for (const cg of stage.cgroups ?? []) {
    let ok = removeGroup(cg)
    for (let i = 0; !ok && i < 40; i++) {
      await sleep(25)
      ok = removeGroup(cg)
    }
    ;(ok ? cgroupsRemoved : cgroupsLeft).push(cg)
  }
  return {stopped, cgroupsRemoved, cgroupsLeft}
}

interface Started {
  pid: number
  port: number
  initMs: number
  importMs: number
  cgroups: string[]
  limits: NonNullable<StageDeployment['limits']>
  logPath: string
}

/** Starts one stage process and waits until it serves (or fails with its log tail). */
async function startStage(
  bundle: StageBundle,
  ctx: {
    stateDir: string
    runnerPath: string
    handoffDir: string
    deploymentId: string
    preferredPort?: number
    /** called right after spawn, before init, so an interrupted deploy still records the pid and cgroups */
    onSpawn?: (spawned: {pid: number; cgroups: string[]; logPath: string}) => void
  },
): Promise<Started> {
  const name = bundle.functionName
  const logPath = join(ctx.stateDir, `${name}.log`)
  const readyFile = join(ctx.stateDir, `${name}.ready.json`)
  const configPath = join(ctx.stateDir, `${name}.config.json`)
  rmSync(readyFile, {force: true})
  const cgroups: string[] = []
  const limits: Started['limits'] = {memory: 'heap-flag', cpu: 'none'}
  const nodeArgs: string[] = []
  // one group per stage per deployment file, so two deployments of the same plan never share one
  const group = `${name}.${ctx.deploymentId}`
  if (controllerWritable('memory')) {
    const g = createMemoryGroup(group, bundle.memoryMb)
    cgroups.push(g.path)
    limits.memory = 'cgroup'
    limits.memoryLimitBytes = g.limitBytes
  } else {
    nodeArgs.push(`--max-old-space-size=${Math.max(64, Math.floor(bundle.memoryMb * 0.9))}`)
  }
  if (controllerWritable('cpu')) {
    const g = createCpuGroup(group, bundle.memoryMb)
    cgroups.push(g.path)
    limits.cpu = 'cgroup'
    limits.cpuQuotaUs = g.quotaUs
    limits.cpuPeriodUs = g.periodUs
  }
  const config: RunnerConfig = {
    functionName: name,
    bundleDir: bundle.dir,
    readyFile,
    cgroups,
    host: LOCAL_HOST,
    port: ctx.preferredPort ?? 0,
    handoffDir: ctx.handoffDir,
    memoryMb: bundle.memoryMb,
    timeoutSec: bundle.timeoutSec,
    maxPayloadBytes: LAMBDA.syncPayloadBytes,
  }
  writeFileSync(configPath, JSON.stringify(config, null, 2))
  const logFd = openSync(logPath, 'a')
  // Join the cgroups before node starts (a shell that execs node keeps the pid), so everything the
  // process allocates is charged to its group: the kernel no longer moves earlier charges along.
  const nodeCommand = [process.execPath, ...nodeArgs, ctx.runnerPath, name, configPath]
  const [command, args] =
    cgroups.length > 0
      ? ['/bin/sh', ['-c', 'for g in $AMPS_JOIN_CGROUPS; do echo $$ > "$g/cgroup.procs" || exit 97; done; exec "$@"', 'amps-stage', ...nodeCommand]]
      : [nodeCommand[0], nodeCommand.slice(1)]
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: {...process.env, ...bundle.environment, NODE_OPTIONS: '', AMPS_JOIN_CGROUPS: cgroups.join(' ')},
  })
  closeSync(logFd)
  let exited: {code: number | null; signal: NodeJS.Signals | null} | undefined
  child.on('exit', (code, signal) => (exited = {code, signal}))
  child.unref()
  const pid = child.pid
  if (!pid) throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `could not start ${name}: spawn failed`)
  ctx.onSpawn?.({pid, cgroups, logPath})

  const deadline = Date.now() + READY_TIMEOUT_MS
  for (;;) {
    if (existsSync(readyFile)) {
      const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as {pid: number; port?: number; importMs?: number; init?: {initMs?: number}; error?: string}
      if (ready.error || !ready.port) {
        throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `${bundle.stageName ?? name} failed to start: ${ready.error ?? 'no port'}`, {
          suggestions: [`Read its log: ${logPath}`],
          details: {logTail: tail(logPath)},
        })
      }
      return {pid, port: ready.port, initMs: ready.init?.initMs ?? ready.importMs ?? 0, importMs: ready.importMs ?? 0, cgroups, limits, logPath}
    }
    if (exited) {
      const how = exited.signal
        ? `was killed by ${exited.signal}`
        : exited.code === 97
          ? `could not join its cgroups (${cgroups.join(', ')})`
          : `exited with code ${exited.code}`
      const oom = exited.signal === 'SIGKILL' && limits.memory === 'cgroup'
      throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `${bundle.stageName ?? name} (pid ${pid}) ${how} while starting${oom ? ` (likely out of memory at ${bundle.memoryMb} MB)` : ''}`, {
        suggestions: [oom ? 'Re-plan this stage with more memory.' : `Read its log: ${logPath}`],
        details: {logTail: tail(logPath)},
      })
    }
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // gone
      }
      throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `${bundle.stageName ?? name} did not become ready within ${READY_TIMEOUT_MS / 1000} s`, {
        suggestions: [`Read its log: ${logPath}`],
      })
    }
    await sleep(20)
  }
}

function tail(path: string, lines = 15): string {
  try {
    return readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/**
 * Deploys (or repairs) the local target for `bundles`. Returns the new state and what was done.
 */
export async function deployLocal(plan: Plan, bundles: StageBundle[], options: LocalDeployOptions): Promise<LocalDeployResult> {
  const log = options.log ?? (() => {})
  const stateDir = localStateDir(options.statePath)
  mkdirSync(stateDir, {recursive: true})
  const handoffDir = join(stateDir, 'handoff')
  mkdirSync(handoffDir, {recursive: true})
  const runnerPath = join(stateDir, 'runner.mjs')
  await bundleEntry(sibling('runner'), runnerPath)

  const prev = options.previous?.target === 'local' ? options.previous : undefined
  const now = new Date().toISOString()
  const state: DeploymentState = {
    version: DEPLOYMENT_VERSION,
    target: 'local',
    region: LOCAL_REGION,
    planHash: options.planHash,
    planPath: resolve(options.planPath),
    modelPath: resolve(options.modelPath),
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
    handoff: {kind: 'dir', path: handoffDir},
    stages: [],
    initMs: [],
  }
  const actions: LocalDeployResult['actions'] = []
  const wanted = new Set(bundles.map((b) => b.functionName))

  // stop what the plan no longer has (and keep it listed until it is gone)
  for (const old of prev?.stages ?? []) {
    if (wanted.has(old.functionName) || old.status === 'deleted') continue
    await stopStage(old)
    actions.push({stageIndex: old.stageIndex, functionName: old.functionName, action: 'stopped', reason: 'not in the plan any more'})
    log(`stopped ${old.functionName} (not in the plan any more)`)
  }

  // keep healthy stages that run the same code; (re)start the others, all at once
  const pending: Promise<void>[] = []
  for (const b of [...bundles].sort((x, y) => x.stageIndex - y.stageIndex)) {
    const old = prev?.stages.find((s) => s.functionName === b.functionName)
    const entry: StageDeployment = {
      stageIndex: b.stageIndex,
      stageName: b.stageName,
      functionName: b.functionName,
      status: 'pending',
      codeSha256: b.codeSha256,
      createdByUs: true,
      updatedAt: now,
      inputTensors: b.inputTensors,
      outputTensors: b.outputTensors,
      zipBytes: b.zipBytes,
      unzippedBytes: b.unzippedBytes,
      bundleDir: b.dir,
    }
    state.stages.push(entry)
    let reason: string | undefined
    if (old && old.status !== 'deleted') {
      const alive = isStageProcess(old.pid, old.functionName, old.logPath)
      if (!alive) reason = old.pid ? `pid ${old.pid} is not running` : 'never started'
      else if (old.codeSha256 !== b.codeSha256) reason = 'code changed'
      else if (!(await healthy(old))) reason = `pid ${old.pid} does not answer on port ${old.port}`
      if (!reason) {
        Object.assign(entry, {status: 'active', pid: old.pid, port: old.port, arn: old.arn, cgroups: old.cgroups, limits: old.limits, logPath: old.logPath, initMs: old.initMs})
        actions.push({stageIndex: b.stageIndex, functionName: b.functionName, action: 'kept', pid: old.pid, port: old.port})
        log(`${b.stageName}: kept ${b.functionName} (pid ${old.pid}, port ${old.port})`)
        continue
      }
      await stopStage(old)
    }
    const action: LocalAction = old && old.status !== 'deleted' ? 'restarted' : 'started'
    writeDeployment(options.statePath, state)
    pending.push(
      startStage(b, {
        stateDir,
        runnerPath,
        handoffDir,
        deploymentId: deploymentId(options.statePath),
        preferredPort: old?.port,
        onSpawn: (spawned) => {
          Object.assign(entry, spawned)
          writeDeployment(options.statePath, state)
        },
      }).then(
        (s) => {
          Object.assign(entry, {
            status: 'active',
            pid: s.pid,
            port: s.port,
            arn: `http://${LOCAL_HOST}:${s.port}`,
            cgroups: s.cgroups,
            limits: s.limits,
            logPath: s.logPath,
            initMs: s.initMs,
            updatedAt: new Date().toISOString(),
          })
          actions.push({stageIndex: b.stageIndex, functionName: b.functionName, action, reason, pid: s.pid, port: s.port})
          log(`${b.stageName}: ${action} ${b.functionName} on ${LOCAL_HOST}:${s.port} (pid ${s.pid}, init ${s.initMs.toFixed(0)} ms${reason ? `; ${reason}` : ''})`)
          writeDeployment(options.statePath, state)
        },
        (error: unknown) => {
          entry.status = 'failed'
          writeDeployment(options.statePath, state)
          throw error
        },
      ),
    )
  }
  const results = await Promise.allSettled(pending)
  state.initMs = state.stages.map((s) => s.initMs ?? 0)
  writeDeployment(options.statePath, state)
  const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
  if (failed) throw failed.reason
  actions.sort((a, b) => a.stageIndex - b.stageIndex)
  return {state, actions}
}

export interface LocalDestroyItem {
  stageIndex: number
  functionName: string
  pid?: number
  running: boolean
  cgroups: string[]
}

/** What destroy would stop and delete (for the confirmation list and --json). */
export function describeLocal(state: DeploymentState): {items: LocalDestroyItem[]; stateDir?: string} {
  const items = state.stages.map((s) => ({
    stageIndex: s.stageIndex,
    functionName: s.functionName,
    pid: s.pid,
    running: isStageProcess(s.pid, s.functionName, s.logPath),
    cgroups: (s.cgroups ?? []).filter((c) => existsSync(c)),
  }))
  const dir = state.handoff?.kind === 'dir' ? dirname(state.handoff.path) : undefined
  return {items, stateDir: dir}
}

/**
 * Stops every stage process of the deployment (those still running are ours by pid + command
 * line; stale pids from a crashed run are skipped), removes their cgroups and the local runtime
 * directory, and rewrites deployment.json after each stage. Returns what was done.
 */
export async function destroyLocal(
  state: DeploymentState,
  options: {statePath: string; log?: (line: string) => void},
): Promise<{stages: {stageIndex: number; functionName: string; pid?: number; stopped: boolean; wasRunning: boolean; cgroupsRemoved: string[]; cgroupsLeft: string[]}[]; removedDir?: string}> {
  const log = options.log ?? (() => {})
  const out = []
  for (const s of [...(state.stages ?? []), ...(state.retired ?? [])]) {
    const wasRunning = isStageProcess(s.pid, s.functionName, s.logPath)
    const r = await stopStage(s)
    if (r.cgroupsLeft.length > 0) {
      throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `could not remove cgroup ${r.cgroupsLeft.join(', ')} of ${s.functionName}: processes are still in it`, {
        suggestions: [`List them with: cat ${r.cgroupsLeft[0]}/cgroup.procs`],
      })
    }
    s.status = 'deleted'
    s.updatedAt = new Date().toISOString()
    writeDeployment(options.statePath, state)
    log(`${s.stageName ?? s.functionName}: ${wasRunning ? `stopped pid ${s.pid}` : `not running${s.pid ? ` (stale pid ${s.pid})` : ''}`}${r.cgroupsRemoved.length ? `, removed ${r.cgroupsRemoved.length} cgroup(s)` : ''}`)
    out.push({stageIndex: s.stageIndex, functionName: s.functionName, pid: s.pid, wasRunning, ...r})
  }
  const parents = new Set([...(state.stages ?? []), ...(state.retired ?? [])].flatMap((s) => (s.cgroups ?? []).map((c) => dirname(c))))
  for (const p of parents) if (p.endsWith('/amps')) removeGroup(p) // only succeeds when no other deployment uses it
  const dir = state.handoff?.kind === 'dir' ? dirname(state.handoff.path) : undefined
  if (dir && dir.includes(`${'/.amps/local/'}`)) rmSync(dir, {recursive: true, force: true})
  return {stages: out, removedDir: dir}
}
