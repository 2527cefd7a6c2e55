/**
 * The local target: every stage is a front process (deploy/targets/local/front.ts) owning the stage's
 * port on 127.0.0.1 behind the Lambda Invoke REST path, dispatching to a pool of execution
 * environments (deploy/targets/local/runner.ts: one node process each running the stage bundle's
 * index.mjs, limited to the stage's memory and to memoryMb/1769 of a core, deploy/targets/local/cgroup.ts),
 * up to the stage's concurrency limit. The coordinator drives it with @aws-sdk/client-lambda
 * exactly as it drives AWS (plus the deployment's token header).
 *
 * Ownership: every deployment has a random id (deployment.json `deploymentId`) carried by every
 * process it starts (argv --amps-deployment=<id>), its cgroups (<stage>.<id>) and its folder
 * (.amps/local/<name>/owner.json). Destroy signals only the front pids its file names (verified by
 * command line and id) and environments of those fronts (or orphans of this id whose front is
 * gone), removes only groups that are then empty, and only its own folder: a stale or copied
 * deployment.json cannot touch another deployment.
 *
 * deployLocal is idempotent and repairs: stages whose process is alive, healthy and runs the same
 * code are kept; dead, stale or changed ones are (re)started; stages no longer in the plan are
 * stopped. deployment.json is rewritten atomically after every step.
 */
import {spawn} from 'node:child_process'
import {createHash} from 'node:crypto'
import {chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {availableParallelism, totalmem} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {AmpsUserError} from '../../../src/errors.js'
import type {Plan} from '../../../src/plan/types.js'
import {bundleEntry} from '../../bundle/bundle.js'
import {LAMBDA} from '../../../src/platform/lambda.js'
import {writeDeployment} from '../../state/deployment.js'
import {onInterrupt, wasInterrupted} from '../../../src/util/interrupt.js'
import {DEPLOYMENT_VERSION, type DeploymentState, type StageBundle, type StageDeployment} from '../../state/types.js'
import {cpuFraction} from '../../../src/profile/cgroup.js'
import {controllerWritable, cpuQuotaFor, groupPath, groupPids, removeGroup} from './cgroup.js'
import {LOCAL_TOKEN_HEADER, newDeploymentId, newToken, stageEnvironment, stageUser} from './confine.js'
import {createExchangeDir, removeExchangeDir} from './exchange.js'
import type {FrontConfig} from './front.js'
import {putLocalWeights, removeLocalWeights} from './weights.js'

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
  /** environments per stage at most (default: defaultConcurrency of the stage's memory) */
  concurrency?: number
  /** idle environments end after this long (default AMPS_LOCAL_KEEP_ALIVE_MS, else 600 s) */
  keepAliveSec?: number
  log?: (line: string) => void
}

const DEFAULT_KEEP_ALIVE_MS = 600_000

export type LocalAction = 'started' | 'restarted' | 'kept' | 'stopped'

export interface LocalDeployResult {
  state: DeploymentState
  actions: {stageIndex: number; functionName: string; action: LocalAction; reason?: string; pid?: number; port?: number; concurrency?: number}[]
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
  const base = abs
    .split('/')
    .pop()!
    .replace(/\.json$/, '')
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
 * True when `pid` is a live (non-zombie) process running our stage front for this stage: its
 * command line is `node [flags] <stateDir>/front.mjs <functionName> <config> --amps-deployment=<id>`
 * (a recycled pid is not). With `id`, the process must also carry that deployment id.
 */
export function isStageProcess(pid: number | undefined, functionName: string, logPath?: string, id?: string): boolean {
  if (!pid || !Number.isInteger(pid) || pid <= 0) return false
  const front = logPath ? join(dirname(logPath), 'front.mjs') : undefined
  return liveProcess(pid, (p) => {
    const cmdline = cmdlineOf(p)
    return (
      cmdline.some((a) => (front ? a === front : a.endsWith('front.mjs'))) &&
      cmdline.includes(functionName) &&
      (id === undefined || cmdline.includes(`--amps-deployment=${id}`))
    )
  })
}

function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
}

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

/** True while any process with this pid exists (zombies count as gone). */
export function pidAlive(pid: number): boolean {
  return liveProcess(pid)
}

/** Every live process carrying deployment id `id` in its argv: fronts and environments. */
export function processesOf(id: string): {pid: number; ppid?: number; kind: 'front' | 'env'; functionName?: string}[] {
  const out: {pid: number; ppid?: number; kind: 'front' | 'env'; functionName?: string}[] = []
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d))
  } catch {
    return out
  }
  const tag = `--amps-deployment=${id}`
  for (const d of pids) {
    const pid = Number(d)
    try {
      const cmd = cmdlineOf(pid)
      if (!cmd.includes(tag) || !liveProcess(pid)) continue
      const i = cmd.findIndex((a) => a.endsWith('front.mjs') || a.endsWith('runner.mjs'))
      if (i < 0) continue
      out.push({pid, ppid: ppidOf(pid), kind: cmd[i].endsWith('front.mjs') ? 'front' : 'env', functionName: cmd[i + 1]})
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** The deployment id of a state (legacy files without one: the hash of their path, as cgroups were named). */
export function idOf(state: DeploymentState, statePath: string): string {
  return state.deploymentId ?? deploymentId(statePath)
}

function localHeaders(state: Pick<DeploymentState, 'localToken'>): Record<string, string> {
  return state.localToken ? {[LOCAL_TOKEN_HEADER]: state.localToken} : {}
}

/** The front's health answer (GetFunction plus its environments), or undefined when it does not answer. */
export async function stageHealth(
  stage: StageDeployment,
  state: Pick<DeploymentState, 'localToken'>,
): Promise<
  | {
      amps?: {
        pid?: number
        deploymentId?: string
        environments?: {n: number; pid: number; state: string; invocations: number; initMs?: number; uid?: number; cgroups: string[]}[]
      }
    }
  | undefined
> {
  if (!stage.port) return undefined
  try {
    const res = await fetch(`http://${LOCAL_HOST}:${stage.port}/2015-03-31/functions/${encodeURIComponent(stage.functionName)}`, {
      headers: localHeaders(state),
      signal: AbortSignal.timeout(3000),
    })
    if (!res.ok) return undefined
    return (await res.json()) as never
  } catch {
    return undefined
  }
}

async function healthy(stage: StageDeployment, state: Pick<DeploymentState, 'localToken'>, id: string): Promise<boolean> {
  const h = await stageHealth(stage, state)
  return h?.amps?.pid === stage.pid && (h?.amps?.deploymentId === undefined || h.amps.deploymentId === id)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Sub-groups (environments) of a stage group, deepest first, then the group itself. */
function groupTree(path: string): string[] {
  const out: string[] = []
  try {
    for (const d of readdirSync(path, {withFileTypes: true})) if (d.isDirectory()) out.push(...groupTree(join(path, d.name)))
  } catch {
    return out
  }
  out.push(path)
  return out
}

export interface StopResult {
  /** pids signalled (the front and its environments) */
  stopped: number[]
  cgroupsRemoved: string[]
  /** groups left because processes not started by this deployment file are in them */
  cgroupsLeft: {path: string; pids: number[]}[]
}

/**
 * Stops a stage: its front (only if the pid is our front for this stage and deployment id),
 * the front's environments, and orphaned environments of this stage and id whose front is gone;
 * then removes its cgroups that are empty. Nothing else is signalled.
 */
export async function stopStage(stage: StageDeployment, id: string): Promise<StopResult> {
  const pids = new Set<number>()
  const front = stage.pid && isStageProcess(stage.pid, stage.functionName, stage.logPath, id) ? stage.pid : undefined
  if (front) pids.add(front)
  // a stage process from before fronts and ids (one runner.mjs per stage, in this file's folder)
  if (!front && stage.pid && stage.logPath) {
    const runner = join(dirname(stage.logPath), 'runner.mjs')
    const legacy = liveProcess(stage.pid, (p) => {
      const cmd = cmdlineOf(p)
      return cmd.includes(runner) && cmd.includes(stage.functionName) && !cmd.some((a) => a.startsWith('--amps-deployment='))
    })
    if (legacy) pids.add(stage.pid)
  }
  const mine = processesOf(id).filter((p) => p.functionName === stage.functionName)
  const liveFronts = new Set(mine.filter((p) => p.kind === 'front').map((p) => p.pid))
  for (const p of mine) {
    if (p.kind !== 'env') continue
    // ours: child of our front, or an orphan whose front is gone (re-parented to init/a subreaper)
    if ((front && p.ppid === front) || !liveFronts.has(p.ppid ?? -1)) pids.add(p.pid)
  }
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig)
      } catch {
        // already gone
      }
    }
  }
  signal('SIGTERM')
  // a stopped process only dies of SIGKILL (or after SIGCONT): give the front 3 s, then kill
  const deadline = Date.now() + 3000
  while ([...pids].some(pidAlive) && Date.now() < deadline) await sleep(25)
  signal('SIGKILL')
  const killDeadline = Date.now() + 3000
  while ([...pids].some(pidAlive) && Date.now() < killDeadline) await sleep(25)
  const cgroupsRemoved: string[] = []
  const cgroupsLeft: StopResult['cgroupsLeft'] = []
  for (const cg of stage.cgroups ?? []) {
    if (!cg.includes(`.${id}`)) {
      cgroupsLeft.push({path: cg, pids: []})
      continue
    }
    for (const g of groupTree(cg)) {
      let ok = removeGroup(g)
      // retry only while nothing is left in the group's subtree (the kernel frees it a moment after its last process)
      for (let i = 0; !ok && i < 40 && !groupTree(g).some((x) => groupPids(x).length > 0); i++) {
        await sleep(25)
        ok = removeGroup(g)
      }
      if (ok) cgroupsRemoved.push(g)
      else if (g === cg) cgroupsLeft.push({path: g, pids: groupPids(g)})
    }
  }
  return {stopped: [...pids], cgroupsRemoved, cgroupsLeft}
}

interface Started {
  pid: number
  port: number
  initMs: number
  envPid?: number
  uid?: number
  cgroups: string[]
  limits: NonNullable<StageDeployment['limits']>
  logPath: string
}

/** Lambda's reserved concurrency for a local stage by default: as many environments as the machine's cores carry at the stage's CPU quota (and its memory holds), at least 1. */
export function defaultConcurrency(memoryMb: number): number {
  const byCpu = Math.floor(availableParallelism() / cpuFraction(memoryMb))
  const byMemory = Math.floor((0.75 * totalmem()) / (memoryMb * 1024 * 1024))
  return Math.max(1, Math.min(byCpu, byMemory))
}

/** Starts one stage front (which starts and initialises its first environment) and waits until it serves. */
async function startStage(
  bundle: StageBundle,
  ctx: {
    stateDir: string
    frontPath: string
    runnerPath: string
    handoffDir: string
    deploymentId: string
    token: string
    concurrency: number
    keepAliveMs: number
    maxPayloadBytes: number
    user?: {uid: number; gid: number}
    exchangeDir?: string
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
  // one group per stage per deployment (its id), each environment its own limited group inside it
  const group = `${name}.${ctx.deploymentId}`
  let memoryGroup: string | undefined
  let cpuGroup: string | undefined
  if (controllerWritable('memory')) {
    const path = groupPath('memory', group)
    mkdirSync(path, {recursive: true})
    cgroups.push(path)
    memoryGroup = group
    limits.memory = 'cgroup'
    limits.memoryLimitBytes = bundle.memoryMb * 1024 * 1024
  } else {
    nodeArgs.push(`--max-old-space-size=${Math.max(64, Math.floor(bundle.memoryMb * 0.9))}`)
  }
  if (controllerWritable('cpu')) {
    const path = groupPath('cpu', group)
    mkdirSync(path, {recursive: true})
    cgroups.push(path)
    cpuGroup = group
    const q = cpuQuotaFor(bundle.memoryMb)
    limits.cpu = 'cgroup'
    limits.cpuQuotaUs = q.quotaUs
    limits.cpuPeriodUs = q.periodUs
  }
  const config: FrontConfig = {
    functionName: name,
    stageName: bundle.stageName,
    deploymentId: ctx.deploymentId,
    bundleDir: bundle.dir,
    runnerPath: ctx.runnerPath,
    readyFile,
    logPath,
    host: LOCAL_HOST,
    port: ctx.preferredPort ?? 0,
    handoffDir: ctx.handoffDir,
    memoryMb: bundle.memoryMb,
    timeoutSec: bundle.timeoutSec,
    maxPayloadBytes: ctx.maxPayloadBytes,
    concurrency: ctx.concurrency,
    keepAliveMs: ctx.keepAliveMs,
    memoryGroup,
    cpuGroup,
    nodeArgs,
    user: ctx.user,
    env: stageEnvironment(bundle.environment),
    exchangeDir: ctx.exchangeDir,
  }
  writeFileSync(configPath, JSON.stringify(config, null, 2), {mode: 0o600})
  const logFd = openSync(logPath, 'a')
  const child = spawn(process.execPath, [ctx.frontPath, name, configPath, `--amps-deployment=${ctx.deploymentId}`], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    // the front is the platform, not the function: it keeps root to create environments' cgroups,
    // but still sees only the allow-list and the token
    env: stageEnvironment({}, {AMPS_LOCAL_TOKEN: ctx.token, AMPS_DEPLOYMENT_ID: ctx.deploymentId}),
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
      const ready = JSON.parse(readFileSync(readyFile, 'utf8')) as {pid: number; port?: number; envPid?: number; initMs?: number; uid?: number; error?: string}
      if (ready.error || !ready.port) {
        const oom = /SIGKILL|signal: killed/.test(ready.error ?? '') && limits.memory === 'cgroup'
        throw new AmpsUserError(
          'LOCAL_RUNTIME_ERROR',
          `${bundle.stageName ?? name} failed to start: ${ready.error ?? 'no port'}${oom ? ` (likely out of memory at ${bundle.memoryMb} MB)` : ''}`,
          {
            suggestions: [oom ? 'Re-plan this stage with more memory.' : `Read its log: ${logPath}`],
            details: {logTail: tail(logPath)},
          },
        )
      }
      return {pid, port: ready.port, envPid: ready.envPid, initMs: ready.initMs ?? 0, uid: ready.uid, cgroups, limits, logPath}
    }
    if (exited) {
      const how = exited.signal ? `was killed by ${exited.signal}` : `exited with code ${exited.code}`
      throw new AmpsUserError('LOCAL_RUNTIME_ERROR', `${bundle.stageName ?? name} (pid ${pid}) ${how} while starting`, {
        suggestions: [`Read its log: ${logPath}`],
        details: {logTail: tail(logPath)},
      })
    }
    if (Date.now() > deadline) {
      try {
        process.kill(-pid, 'SIGKILL')
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
 * SIGINT/SIGTERM meanwhile (src/util/interrupt.ts): every stage this run started is stopped with its
 * environments and cgroups, its entry is marked failed without pid or port, deployment.json is
 * written (destroy and a re-run work from it), and the process exits 130.
 */
export async function deployLocal(plan: Plan, bundles: StageBundle[], options: LocalDeployOptions): Promise<LocalDeployResult> {
  const log = options.log ?? (() => {})
  const stateDir = localStateDir(options.statePath)
  mkdirSync(stateDir, {recursive: true})
  const handoffDir = join(stateDir, 'handoff')
  mkdirSync(handoffDir, {recursive: true})
  const runnerPath = join(stateDir, 'runner.mjs')
  const frontPath = join(stateDir, 'front.mjs')
  await bundleEntry(sibling('runner'), runnerPath)
  await bundleEntry(sibling('front'), frontPath)

  const prev = options.previous?.target === 'local' ? options.previous : undefined
  const id = prev?.deploymentId ?? newDeploymentId()
  // a file from before deployment ids: its processes and cgroups carry the hash of its path
  const prevId = prev ? idOf(prev, options.statePath) : id
  const ownerFile = join(stateDir, 'owner.json')
  const owner = existsSync(ownerFile) ? (JSON.parse(readFileSync(ownerFile, 'utf8')) as {deploymentId?: string}) : undefined
  if (owner?.deploymentId && owner.deploymentId !== id) {
    throw new AmpsUserError('DEPLOYMENT_INVALID', `${stateDir} belongs to deployment ${owner.deploymentId}, not to ${options.statePath} (${id})`, {
      suggestions: [`Destroy the deployment that owns it, or pass another --out.`],
    })
  }
  writeFileSync(ownerFile, JSON.stringify({deploymentId: id, statePath: resolve(options.statePath)}) + '\n')
  const now = new Date().toISOString()
  const state: DeploymentState = {
    version: DEPLOYMENT_VERSION,
    target: 'local',
    region: LOCAL_REGION,
    deploymentId: id,
    localToken: prev?.localToken ?? newToken(),
    planHash: options.planHash,
    planPath: resolve(options.planPath),
    modelPath: resolve(options.modelPath),
    createdAt: prev?.createdAt ?? now,
    updatedAt: now,
    handoff: {kind: 'dir', path: handoffDir},
    stages: [],
    initMs: [],
  }
  const maxPayloadBytes = Number(process.env.AMPS_LOCAL_MAX_PAYLOAD_BYTES) > 0 ? Number(process.env.AMPS_LOCAL_MAX_PAYLOAD_BYTES) : LAMBDA.syncPayloadBytes
  const keepAliveMs = options.keepAliveSec !== undefined ? options.keepAliveSec * 1000 : Number(process.env.AMPS_LOCAL_KEEP_ALIVE_MS ?? DEFAULT_KEEP_ALIVE_MS)
  // the functions' Timeout comes from the plan (bundle.timeoutSec); AMPS_LOCAL_TIMEOUT_SEC overrides it locally (tests, debugging)
  const timeoutOverride = Number(process.env.AMPS_LOCAL_TIMEOUT_SEC) > 0 ? Number(process.env.AMPS_LOCAL_TIMEOUT_SEC) : undefined
  if (timeoutOverride) bundles = bundles.map((b) => ({...b, timeoutSec: timeoutOverride}))
  // large bodies between fronts and environments go through files on /dev/shm (exchange.ts);
  // AMPS_LOCAL_EXCHANGE=ipc (or no tmpfs) sends them inline over IPC
  const exchangeDir = process.env.AMPS_LOCAL_EXCHANGE === 'ipc' ? undefined : createExchangeDir(id)
  const actions: LocalDeployResult['actions'] = []
  const wanted = new Set(bundles.map((b) => b.functionName))

  // stop what the plan no longer has (and keep it listed until it is gone)
  for (const old of prev?.stages ?? []) {
    if (wanted.has(old.functionName) || old.status === 'deleted') continue
    await stopStage(old, prevId)
    actions.push({stageIndex: old.stageIndex, functionName: old.functionName, action: 'stopped', reason: 'not in the plan any more'})
    log(`stopped ${old.functionName} (not in the plan any more)`)
  }

  // what this run started, stopped again on Ctrl-C
  const startedHere = new Map<StageDeployment, number>()
  const offInterrupt = onInterrupt(async () => {
    for (const [entry, pid] of startedHere) {
      try {
        process.kill(-pid, 'SIGKILL') // the front's process group: the front, its shells and environments
      } catch {
        // gone
      }
      const r = await stopStage({...entry, pid}, id)
      log(
        `${entry.stageName ?? entry.functionName}: stopped pid ${pid} (interrupted before it was ready)${r.cgroupsRemoved.length ? `, removed ${r.cgroupsRemoved.length} cgroup(s)` : ''}`,
      )
      Object.assign(entry, {status: 'failed', pid: undefined, port: undefined, arn: undefined, updatedAt: new Date().toISOString()})
    }
    for (const s of state.stages) if (s.status === 'pending') s.status = 'failed'
    writeDeployment(options.statePath, state)
  })

  // keep healthy stages that run the same code; (re)start the others, all at once
  const pending: Promise<void>[] = []
  try {
    for (const built of [...bundles].sort((x, y) => x.stageIndex - y.stageIndex)) {
      // weights fetched at INIT: into the hand-off directory (the local bucket), the URL into the function's environment
      const {bundle: b, weights} = putLocalWeights(built, handoffDir)
      if (weights) log(`${b.stageName}: weights (${weights.bytes} B) at ${weights.url}, fetched at INIT`)
      const old = prev?.stages.find((s) => s.functionName === b.functionName)
      const concurrency = options.concurrency ?? defaultConcurrency(b.memoryMb)
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
        concurrency,
        timeoutSec: b.timeoutSec,
        keepAliveSec: keepAliveMs / 1000,
        maxPayloadBytes,
        ...(weights ? {weights} : {}),
      }
      state.stages.push(entry)
      let reason: string | undefined
      if (old && old.status !== 'deleted') {
        const alive = isStageProcess(old.pid, old.functionName, old.logPath, id)
        if (!alive) reason = old.pid ? `pid ${old.pid} is not running` : 'never started'
        else if (old.codeSha256 !== b.codeSha256) reason = 'code changed'
        else if (old.concurrency !== concurrency) reason = `concurrency ${old.concurrency} → ${concurrency}`
        else if (old.timeoutSec !== b.timeoutSec || old.maxPayloadBytes !== maxPayloadBytes || old.keepAliveSec !== keepAliveMs / 1000)
          reason = 'settings changed'
        else if (!(await healthy(old, state, id))) reason = `pid ${old.pid} does not answer on port ${old.port}`
        if (!reason) {
          Object.assign(entry, {
            status: 'active',
            pid: old.pid,
            port: old.port,
            arn: old.arn,
            cgroups: old.cgroups,
            limits: old.limits,
            logPath: old.logPath,
            initMs: old.initMs,
            user: old.user,
          })
          actions.push({stageIndex: b.stageIndex, functionName: b.functionName, action: 'kept', pid: old.pid, port: old.port, concurrency})
          log(`${b.stageName}: kept ${b.functionName} (pid ${old.pid}, port ${old.port}, up to ${concurrency} environments)`)
          continue
        }
        await stopStage(old, prevId)
      }
      if (wasInterrupted()) break
      const action: LocalAction = old && old.status !== 'deleted' ? 'restarted' : 'started'
      const confined = stageUser(b.dir, handoffDir)
      if (confined.user) chownSync(handoffDir, confined.user.uid, confined.user.gid)
      entry.user = confined.user ? `nobody (uid ${confined.user.uid})` : `${process.getuid?.() === 0 ? 'root' : 'deployer'}: ${confined.reason}`
      writeDeployment(options.statePath, state)
      pending.push(
        startStage(b, {
          stateDir,
          frontPath,
          runnerPath,
          handoffDir,
          deploymentId: id,
          token: state.localToken!,
          concurrency,
          keepAliveMs,
          maxPayloadBytes,
          user: confined.user,
          exchangeDir,
          preferredPort: old?.port,
          onSpawn: (spawned) => {
            startedHere.set(entry, spawned.pid)
            Object.assign(entry, spawned)
            writeDeployment(options.statePath, state)
          },
        }).then(
          (s) => {
            if (wasInterrupted()) return
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
            actions.push({stageIndex: b.stageIndex, functionName: b.functionName, action, reason, pid: s.pid, port: s.port, concurrency})
            log(
              `${b.stageName}: ${action} ${b.functionName} on ${LOCAL_HOST}:${s.port} (pid ${s.pid}, up to ${concurrency} environments, first one's init ${s.initMs.toFixed(0)} ms${reason ? `; ${reason}` : ''})`,
            )
            writeDeployment(options.statePath, state)
          },
          (error: unknown) => {
            if (wasInterrupted()) return
            startedHere.delete(entry)
            entry.status = 'failed'
            writeDeployment(options.statePath, state)
            throw error
          },
        ),
      )
    }
    const results = await Promise.allSettled(pending)
    if (wasInterrupted()) await new Promise(() => {}) // the interrupt handler finishes and exits 130
    state.initMs = state.stages.map((s) => s.initMs ?? 0)
    writeDeployment(options.statePath, state)
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined
    if (failed) throw failed.reason
  } finally {
    offInterrupt()
  }
  actions.sort((a, b) => a.stageIndex - b.stageIndex)
  return {state, actions}
}

export interface LocalDestroyItem {
  stageIndex: number
  functionName: string
  pid?: number
  running: boolean
  /** environments of this stage's front (or orphans of this deployment) */
  environments: number[]
  cgroups: string[]
}

/** What destroy would stop and delete (for the confirmation list and --json). */
export function describeLocal(state: DeploymentState, statePath: string): {items: LocalDestroyItem[]; stateDir?: string; foreign: string[]} {
  const id = idOf(state, statePath)
  const procs = processesOf(id)
  const fronts = new Set(procs.filter((p) => p.kind === 'front').map((p) => p.pid))
  const foreign: string[] = []
  const items = [...(state.stages ?? []), ...(state.retired ?? [])].map((s) => {
    const running = isStageProcess(s.pid, s.functionName, s.logPath, state.deploymentId)
    const environments = procs
      .filter((p) => p.kind === 'env' && p.functionName === s.functionName && ((running && p.ppid === s.pid) || !fronts.has(p.ppid ?? -1)))
      .map((p) => p.pid)
    const other = procs.filter((p) => p.kind === 'front' && p.functionName === s.functionName && p.pid !== s.pid)
    for (const o of other)
      foreign.push(`${s.functionName}: front pid ${o.pid} carries this deployment's id but is not the pid this file names (a copy or stale file?): left alone`)
    return {
      stageIndex: s.stageIndex,
      functionName: s.functionName,
      pid: s.pid,
      running,
      environments,
      cgroups: (s.cgroups ?? []).filter((c) => existsSync(c) && c.includes(`.${id}`)),
    }
  })
  return {items, stateDir: ownedStateDir(state, statePath), foreign}
}

/** This deployment file's own runtime folder (only when it exists and its owner.json names this deployment). */
function ownedStateDir(state: DeploymentState, statePath: string): string | undefined {
  const dir = localStateDir(statePath)
  if (!existsSync(dir)) return undefined
  try {
    const owner = JSON.parse(readFileSync(join(dir, 'owner.json'), 'utf8')) as {deploymentId?: string}
    return owner.deploymentId === idOf(state, statePath) ? dir : undefined
  } catch {
    // a folder from before deployment ids: ours when the file's hand-off folder is inside it
    return state.handoff?.kind === 'dir' && dirname(state.handoff.path) === dir && !state.deploymentId ? dir : undefined
  }
}

export interface LocalDestroyStage {
  stageIndex: number
  functionName: string
  pid?: number
  wasRunning: boolean
  stopped: number[]
  cgroupsRemoved: string[]
  cgroupsLeft: {path: string; pids: number[]}[]
}

/**
 * Stops every stage of the deployment (fronts verified by pid, command line and deployment id;
 * their environments; orphaned environments of this id), removes their cgroups that are then empty
 * and this file's own runtime folder, and rewrites deployment.json after each stage. Processes of
 * another deployment (or of the live deployment a copied file came from) are never signalled;
 * groups they still use are left and reported.
 */
export async function destroyLocal(
  state: DeploymentState,
  options: {statePath: string; log?: (line: string) => void},
): Promise<{stages: LocalDestroyStage[]; removedDir?: string; keptDir?: string}> {
  const log = options.log ?? (() => {})
  const id = idOf(state, options.statePath)
  const out: LocalDestroyStage[] = []
  for (const s of [...(state.stages ?? []), ...(state.retired ?? [])]) {
    const wasRunning = isStageProcess(s.pid, s.functionName, s.logPath, state.deploymentId)
    const r = await stopStage(s, id)
    s.status = 'deleted'
    s.updatedAt = new Date().toISOString()
    writeDeployment(options.statePath, state)
    const what =
      r.stopped.length > 0
        ? `stopped pid${r.stopped.length > 1 ? 's' : ''} ${r.stopped.join(', ')}`
        : `not running${s.pid ? ` (pid ${s.pid} ${pidAlive(s.pid) ? "is not this deployment's" : 'is gone'})` : ''}`
    log(`${s.stageName ?? s.functionName}: ${what}${r.cgroupsRemoved.length ? `, removed ${r.cgroupsRemoved.length} cgroup(s)` : ''}`)
    for (const left of r.cgroupsLeft)
      log(
        `${s.stageName ?? s.functionName}: kept cgroup ${left.path}${left.pids.length ? `: used by pids ${left.pids.join(', ')} that this file did not start` : ''}`,
      )
    const weights = removeLocalWeights(s, state.handoff?.kind === 'dir' ? state.handoff.path : undefined)
    if (weights) log(`${s.stageName ?? s.functionName}: removed its weights ${weights}`)
    out.push({stageIndex: s.stageIndex, functionName: s.functionName, pid: s.pid, wasRunning, ...r})
  }
  removeExchangeDir(id)
  const parents = new Set([...(state.stages ?? []), ...(state.retired ?? [])].flatMap((s) => (s.cgroups ?? []).map((c) => dirname(c))))
  for (const p of parents) if (p.endsWith('/amps')) removeGroup(p) // only succeeds when no other deployment uses it
  const dir = ownedStateDir(state, options.statePath)
  if (dir) {
    rmSync(dir, {recursive: true, force: true})
    log(`removed ${dir}`)
  }
  const other = state.handoff?.kind === 'dir' ? dirname(state.handoff.path) : undefined
  const keptDir = other && other !== dir && existsSync(other) ? other : undefined
  if (keptDir) log(`kept ${keptDir}: it is not this file's folder (it belongs to the deployment this file was copied from)`)
  return {stages: out, removedDir: dir, keptDir}
}
