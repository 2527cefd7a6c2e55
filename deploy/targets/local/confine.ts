/**
 * What a local stage process may see and be: a minimal environment (an allow-list, not the
 * deployer's environment minus a deny-list: on Lambda a function sees only its own variables and
 * role), the unprivileged user it drops to after joining its cgroups, and the per-deployment token
 * the local Invoke API requires.
 */
import {randomBytes, timingSafeEqual} from 'node:crypto'
import {readFileSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

/** Header the invocation client adds (an SDK middleware) and every local stage front checks. */
export const LOCAL_TOKEN_HEADER = 'x-amps-local-token'

/** Deployer variables a stage process may inherit (everything else, AWS_* included, is dropped). */
const ALLOWED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR']

/** The environment a stage process starts with: the allow-list, then the bundle's own variables, then `extra`. */
export function stageEnvironment(bundleEnv: Record<string, string> = {}, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const k of ALLOWED) if (process.env[k] !== undefined) env[k] = process.env[k]!
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin'
  env.HOME = '/tmp'
  env.NODE_OPTIONS = ''
  return {...env, ...bundleEnv, ...extra}
}

/** A fresh random token / deployment id. */
export function newToken(bytes = 24): string {
  return randomBytes(bytes).toString('base64url')
}

export function newDeploymentId(): string {
  return randomBytes(6).toString('hex')
}

/** Constant-time comparison of a presented token with the expected one. */
export function tokenMatches(presented: string | string[] | undefined, expected: string): boolean {
  if (typeof presented !== 'string') return false
  const a = Buffer.from(presented)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** uid/gid of `nobody` (from /etc/passwd; 65534 when not listed). */
export function nobody(): {uid: number; gid: number} {
  try {
    const line = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('nobody:'))
    const [, , uid, gid] = line!.split(':')
    return {uid: Number(uid), gid: Number(gid)}
  } catch {
    return {uid: 65534, gid: 65534}
  }
}

/** True when `user` may traverse every ancestor of `path` (others' or its own x bit). */
function traversable(path: string, user: {uid: number; gid: number}): boolean {
  let dir = resolve(path)
  for (;;) {
    const st = statSync(dir)
    const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : st.gid === user.gid ? (st.mode >> 3) & 7 : st.mode & 7
    if ((bits & 1) === 0) return false
    const up = dirname(dir)
    if (up === dir) return true
    dir = up
  }
}

/**
 * The user a stage environment drops to after joining its cgroups: `nobody` when the deployer runs
 * as root and nobody can reach the bundle (the hand-off folder is chowned to it by the caller);
 * otherwise undefined, with the reason (not root: nothing to drop; folder not reachable: e.g. a
 * 0700 temporary directory above the deployment).
 */
export function stageUser(bundleDir: string, handoffDir: string): {user?: {uid: number; gid: number}; reason?: string} {
  if (process.getuid?.() !== 0) return {reason: 'the deployer is not root (the stages run as the deployer)'}
  const user = nobody()
  for (const p of [bundleDir, handoffDir]) {
    try {
      if (!traversable(p, user)) return {reason: `nobody cannot reach ${p} (a parent folder is not world-traversable); the stage runs as root`}
    } catch {
      return {reason: `cannot check ${p}`}
    }
  }
  return {user}
}
