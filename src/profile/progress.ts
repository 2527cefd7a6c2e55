/**
 * Progress for `amps profile` on stderr: a one-line bar redrawn in place when stderr is a terminal
 * (and CI is not set), plain lines otherwise so logs stay readable.
 */
import {LAMBDA} from '../platform/lambda.js'
import type {ProfileProgress} from './index.js'

export interface ProgressReporter {
  onProgress(p: ProfileProgress): void
  /** clears the bar (call before printing anything else) */
  finish(): void
}

export function progressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const live = Boolean(stream.isTTY) && !process.env.CI && process.env.TERM !== 'dumb'
  const started = Date.now()
  let pointStarted = Date.now()
  let lastDraw = 0
  let drawn = false
  const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
  // ETA: a point's work grows with its batch and with the CPU slowdown of its memory size
  // (m/1769 of a core); the time the finished points took per unit of work prices the rest.
  let schedule: {memoryMb: number; batch: number}[] = []
  let measuringSince = 0
  const work = (pt: {memoryMb: number; batch: number}): number => pt.batch * Math.max(1, LAMBDA.fullVcpuMemoryMb / pt.memoryMb) + 0.5
  const eta = (done: number, fractionOfNext = 0): string => {
    if (!schedule.length || measuringSince === 0) return ''
    const doneWork = schedule.slice(0, done).reduce((s, pt) => s + work(pt), 0) + (schedule[done] ? work(schedule[done]) * fractionOfNext : 0)
    if (doneWork <= 0) return ''
    const left = schedule.slice(done).reduce((s, pt) => s + work(pt), 0) - (schedule[done] ? work(schedule[done]) * fractionOfNext : 0)
    const ms = ((Date.now() - measuringSince) / doneWork) * Math.max(0, left)
    return ms >= 1000 ? `, about ${ms >= 90_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`} left` : ''
  }

  const line = (text: string): void => {
    if (drawn) stream.write('\r\x1b[2K')
    drawn = false
    stream.write(text + '\n')
  }
  const draw = (fraction: number, label: string): void => {
    const now = Date.now()
    if (now - lastDraw < 100 && fraction < 1) return
    lastDraw = now
    const width = 24
    const full = Math.round(Math.min(1, Math.max(0, fraction)) * width)
    const cols = stream.columns ?? 80
    const text = `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${Math.floor(fraction * 100)}% ${label} · ${secs(now - started)}`
    stream.write(`\r\x1b[2K${text.slice(0, cols - 1)}`)
    drawn = true
  }

  return {
    onProgress(p) {
      switch (p.phase) {
        case 'load':
          return live ? draw(0, 'loading the model') : line('profile: loading the model')
        case 'loaded':
          return live ? draw(0, `${p.layers} layers`) : line(`profile: ${p.layers} layers`)
        case 'cache-hit':
          return line(`profile: using the cached profile ${p.path} (--force measures again)`)
        case 'start':
          schedule = p.schedule ?? []
          return live ? draw(0, 'starting the runtime') : line(`profile: measuring ${p.points} points (memory × batch)`)
        case 'ready':
          pointStarted = Date.now()
          measuringSince = Date.now()
          return live ? draw(0, 'runtime ready') : line('profile: runtime ready (startup costs measured)')
        case 'warmup':
        case 'layers':
        case 'whole': {
          if (!live || p.point === undefined || !p.points) return
          const within =
            p.phase === 'warmup' ? 0 : p.phase === 'layers' ? 0.1 + 0.6 * ((p.done ?? 0) / (p.total || 1)) : 0.7 + 0.3 * ((p.done ?? 0) / (p.total || 1))
          return draw(
            (p.point + within) / p.points,
            `${p.memoryMb} MB × batch ${p.batch}: ${p.phase === 'whole' ? 'whole model' : p.phase}${eta(p.point, within)}`,
          )
        }
        case 'point-done': {
          const took = Date.now() - pointStarted
          pointStarted = Date.now()
          const n = (p.point ?? 0) + 1
          if (live) return draw(n / (p.points || 1), `${p.memoryMb} MB × batch ${p.batch} done${eta(n)}`)
          return line(`profile: [${n}/${p.points}] ${p.memoryMb} MB × batch ${p.batch} done in ${secs(took)}${eta(n)}`)
        }
        default:
          return undefined
      }
    },
    finish() {
      if (drawn) stream.write('\r\x1b[2K')
      drawn = false
    },
  }
}
