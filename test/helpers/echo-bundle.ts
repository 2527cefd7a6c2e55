/**
 * The StageBundle of stage i in a chain of echo stages (test/bench/echo-stage.ts: decode, then
 * encode under the next id; no model), as the handoff bench and the local exchange test deploy them.
 */
import type {StageBundle} from '../../deploy/state/types.js'

export function echoStageBundle(i: number, o: {dir: string; functionName: string; memoryMb: number; timeoutSec: number}): StageBundle {
  return {
    stageIndex: i,
    functionName: o.functionName,
    dir: o.dir,
    zipPath: '',
    zipBytes: 0,
    unzippedBytes: 0,
    codeSha256: 'echo',
    memoryMb: o.memoryMb,
    arch: 'x86_64',
    timeoutSec: o.timeoutSec,
    ephemeralStorageMb: 512,
    handler: 'index.handler',
    runtime: 'nodejs20.x',
    environment: {AMPS_ECHO_INDEX: String(i)},
    stageName: `stage-${i + 1}`,
    inputTensors: [`t${i}`],
    outputTensors: [`t${i + 1}`],
  }
}
