/**
 * Ctrl-C / SIGTERM during a long command (deploy): every registered cleanup runs (stop what this
 * run started, leave deployment.json consistent), then the process exits 130 as a shell reports
 * an interrupt. Without a registered cleanup the process still exits 130 at once.
 */
const cleanups = new Set<() => Promise<void> | void>()
let installed = false
let interrupted = false

/** Registers `cleanup` for an interrupt; returns a function that unregisters it. */
export function onInterrupt(cleanup: () => Promise<void> | void): () => void {
  cleanups.add(cleanup)
  return () => cleanups.delete(cleanup)
}

/** True once SIGINT/SIGTERM arrived (long loops can stop starting new work). */
export function wasInterrupted(): boolean {
  return interrupted
}

/** Installs the SIGINT/SIGTERM handler (once per process). */
export function exitOnInterrupt(log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): void {
  if (installed) return
  installed = true
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return // a second Ctrl-C while cleaning up: keep cleaning
    interrupted = true
    log(`${signal}: stopping what this run started…`)
    void (async () => {
      for (const c of [...cleanups]) {
        try {
          await c()
        } catch (error) {
          log(`cleanup failed: ${(error as Error).message}`)
        }
      }
      process.exit(130)
    })()
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}
