/**
 * A stage bundle entry with no model: it decodes its input tensor and encodes it again under the
 * next id, through the same codec, checks and hand-off store as a real stage (src/stage/runtime.ts
 * minus the compute). The handoff bench (test/bench/handoff.ts) chains these to measure what one
 * cut costs beyond compute: HTTP, JSON, base64, the front's dispatch, the coordinator.
 */
import {LAMBDA} from '../../src/platform/lambda.js'
import {checkWireTensor, decodeTensor, encodeTensors} from '../../src/stage/codec.js'
import {storeFor} from '../../src/stage/store.js'

const store = process.env.AMPS_HANDOFF_DIR ? storeFor({kind: 'dir', path: process.env.AMPS_HANDOFF_DIR}) : undefined
const index = Number(process.env.AMPS_ECHO_INDEX ?? 0)
const limit = Number(process.env.AMPS_MAX_PAYLOAD_BYTES) || LAMBDA.syncPayloadBytes
let served = 0

export async function handler(event: {tensors: unknown[]; requestId?: string}): Promise<unknown> {
  const h0 = performance.now()
  const wire = event.tensors.map((t, i) => checkWireTensor(t, `event.tensors[${i}]`))
  const inputs = await Promise.all(wire.map((t) => decodeTensor(t, store)))
  const h1 = performance.now()
  const outputs = inputs.map((t) => ({...t, id: `t${index + 1}`}))
  const tensors = await encodeTensors(outputs, {limit, store, keyPrefix: `${event.requestId ?? 'r'}/echo-${index}`})
  const h2 = performance.now()
  const coldStart = served++ === 0
  return {
    stage: {index, name: `stage-${index + 1}`},
    tensors,
    metrics: {initMs: 0, coldStart, handlerMs: h2 - h0, decodeMs: h1 - h0, runMs: 0, encodeMs: h2 - h1, backend: 'echo'},
  }
}
