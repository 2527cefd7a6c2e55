/**
 * `amps plan --verify` as a measurement (run on a quiet machine): plans from a profile.json with
 * its saved corrections, runs the plan's stages on the local target (deploy/verify-plan.ts) with
 * `measured` requests after 5 warm-up ones, and prints measured vs predicted per stage. Nothing is
 * saved to the profile; the deployment is destroyed after.
 *
 *   npx tsc -p tsconfig.bench.json && node dist-test/test/bench/verify-plan.js <profile.json> <slo ms> <rate req/s> [measured=50] [max-stages=8]
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, resolve} from 'node:path'

import {verifyPlan} from '../../deploy/verify-plan.js'
import {applyBackend} from '../../src/plan/backend.js'
import {planFromProfile, writePlan} from '../../src/plan/index.js'
import {applyCorrections} from '../../src/profile/corrections.js'
import {readProfile} from '../../src/profile/io.js'

const [profileArg, sloArg, rateArg, measuredArg, maxStagesArg] = process.argv.slice(2)
if (!profileArg || !(Number(sloArg) > 0) || !(Number(rateArg) >= 0)) {
  process.stderr.write('usage: node dist-test/test/bench/verify-plan.js <profile.json> <slo ms> <rate req/s> [measured=50] [max-stages=8]\n')
  process.exit(2)
}
const profilePath = resolve(profileArg)
const profile = readProfile(profilePath)
const backend = profile.environment.backend === 'onnx' ? 'onnx' : 'wasm'
const plan = applyBackend(
  planFromProfile(applyCorrections(profile), {sloMs: Number(sloArg), ratePerSecond: Number(rateArg), maxStages: Number(maxStagesArg ?? 8), profilePath}),
  backend,
)
const dir = mkdtempSync(join(tmpdir(), 'amps-bench-verify-'))
try {
  const planPath = join(dir, 'plan.json')
  writePlan(planPath, plan)
  const r = await verifyPlan({
    plan,
    planPath,
    target: 'local',
    measured: Number(measuredArg ?? 50),
    timeLimitMs: 600_000,
    log: (l) => process.stderr.write(`${l}\n`),
  })
  for (const s of r.stages) {
    process.stdout.write(
      `${plan.model.name} ${s.name} layers ${s.firstIndex}–${s.lastIndex} @ ${s.memoryMb} MB, batch ${s.batch}: predicted ${s.predictedMs.toFixed(2)} ms, measured median Duration ${s.measuredMs.toFixed(2)} ms over ${s.samples} (${s.error >= 0 ? '+' : ''}${(s.error * 100).toFixed(1)} %)\n`,
    )
  }
} finally {
  rmSync(dir, {recursive: true, force: true})
}
