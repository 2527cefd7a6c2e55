/** Checks on the bundles that need no network, made before AWS is touched. */
import {stat} from 'node:fs/promises'

import {AmpsUserError} from '../../../src/errors.js'
import {LAMBDA} from '../../../src/platform/lambda.js'
import type {StageBundle} from '../../state/types.js'

/** Checks that need no network: every problem here is reported before AWS is touched. */
export async function validateBundles(bundles: StageBundle[]): Promise<void> {
  if (bundles.length === 0) throw new AmpsUserError('PLAN_INVALID', 'the plan has no stages to deploy')
  const names = new Set<string>()
  const indexes = new Set<number>()
  const problems: string[] = []
  for (const b of bundles) {
    if (names.has(b.functionName)) problems.push(`two stages are named ${b.functionName}`)
    if (indexes.has(b.stageIndex)) problems.push(`two stages have index ${b.stageIndex}`)
    names.add(b.functionName)
    indexes.add(b.stageIndex)
    if (!new RegExp(`^[A-Za-z0-9_-]{1,${LAMBDA.functionNameMax}}$`).test(b.functionName))
      problems.push(`"${b.functionName}": function names are 1–${LAMBDA.functionNameMax} of A–Z a–z 0–9 _ -`)
    if (!(b.memoryMb >= LAMBDA.memoryMinMb && b.memoryMb <= LAMBDA.memoryMaxMb && Number.isInteger(b.memoryMb)))
      problems.push(`${b.functionName}: memory ${b.memoryMb} MB is outside ${LAMBDA.memoryMinMb}–${LAMBDA.memoryMaxMb}`)
    if (!(b.timeoutSec >= 1 && b.timeoutSec <= LAMBDA.timeoutS && Number.isInteger(b.timeoutSec)))
      problems.push(`${b.functionName}: timeout ${b.timeoutSec} s is outside 1–${LAMBDA.timeoutS}`)
    if (!(b.ephemeralStorageMb >= LAMBDA.ephemeralStorageMinMb && b.ephemeralStorageMb <= LAMBDA.ephemeralStorageMaxMb))
      problems.push(`${b.functionName}: /tmp ${b.ephemeralStorageMb} MB is outside ${LAMBDA.ephemeralStorageMinMb}–${LAMBDA.ephemeralStorageMaxMb}`)
  }
  if (problems.length > 0) throw new AmpsUserError('PLAN_INVALID', `cannot deploy: ${problems.join('; ')}`)
  for (const b of bundles) {
    if (b.unzippedBytes > LAMBDA.unzippedPackageBytes) {
      throw new AmpsUserError('BUNDLE_TOO_LARGE', `${b.functionName} unzips to ${b.unzippedBytes} bytes; Lambda allows ${LAMBDA.unzippedPackageBytes}`, {
        suggestions: ['Plan with more stages (`amps plan --stages N`) so each stage carries fewer weights.'],
      })
    }
    let size: number
    try {
      size = (await stat(b.zipPath)).size
    } catch {
      throw new AmpsUserError('FILE_NOT_FOUND', `bundle zip ${b.zipPath} for ${b.functionName} is missing`, {
        suggestions: ['Rerun `amps deploy`; it rebuilds the bundles.'],
      })
    }
    if (b.weights) {
      const have = await stat(b.weights.path).then(
        (st) => st.size,
        () => undefined,
      )
      if (have !== b.weights.bytes) {
        throw new AmpsUserError(
          have === undefined ? 'FILE_NOT_FOUND' : 'FILE_INVALID',
          `${b.functionName}: its weights blob ${b.weights.path} ${have === undefined ? 'is missing' : `is ${have} bytes but its bundle says ${b.weights.bytes}`}`,
          {suggestions: ['Rerun `amps deploy`; it rebuilds the bundles.']},
        )
      }
    }
    if (size !== b.zipBytes) {
      throw new AmpsUserError('FILE_INVALID', `bundle zip ${b.zipPath} is ${size} bytes but its bundle says ${b.zipBytes}`, {
        suggestions: ['Rerun `amps deploy`; it rebuilds the bundles.'],
      })
    }
  }
}
