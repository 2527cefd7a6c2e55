/**
 * deployment.json is rewritten after every AWS step through the src/files kit (validated, temp
 * file in the same directory, fsync, rename), so a crash or Ctrl-C leaves either the previous or the
 * next complete state, never a torn file.
 */
import {writeAs} from '../../../src/files/format.js'
import {deploymentFormat} from '../../state/deployment.js'
import type {DeploymentState} from '../../state/types.js'

export async function writeStateAtomic(path: string, state: DeploymentState): Promise<void> {
  writeAs(deploymentFormat, path, state)
}
