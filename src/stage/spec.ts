/**
 * stage.json, the file in every bundle that tells the handler which stage it is and what it takes.
 * Kept apart from stage-runtime.ts so bundling and the CLI do not load tfjs to read it.
 */
import type {TensorInfo} from '../model/types.js'

export const STAGE_SPEC_VERSION = 1

/** stage.json: everything the handler needs to know about its stage. */
export interface StageSpec {
  version: typeof STAGE_SPEC_VERSION
  index: number
  /** plan stage name, e.g. "stage-1" */
  name: string
  functionName: string
  model: {name: string; sha256: string}
  planHash: string
  layers: {first: string; last: string; firstIndex: number; lastIndex: number}
  /** in the order the stage model declares its inputs */
  inputs: TensorInfo[]
  /** in the order the stage model declares its outputs */
  outputs: TensorInfo[]
  /** largest batch the stage accepts (0 = no limit) */
  maxBatch: number
  /**
   * what runs the stage: 'onnx' (model.onnx on onnxruntime-node) or 'wasm' (model.json +
   * weights.bin on tfjs); absent in bundles built before backends existed = 'wasm'
   */
  backend?: StageBackend
  /** ORT intra-op threads when AWS_LAMBDA_FUNCTION_MEMORY_SIZE is not set (onnx only) */
  threads?: number
  /**
   * present when the stage's weights are not in the bundle (plan stage `weightsFrom: 's3'`): the
   * handler fetches them at INIT from the URL in AMPS_WEIGHTS_URL (src/stage/weights.ts) and checks
   * them against this; absent: weights.bin / model.onnx carry them
   */
  weights?: StageWeightsRef
}

/** Where a stage's fetched weights live, relative to the deployment's store, and what they must be. */
export interface StageWeightsRef {
  /** object key under the deployment's store: weights/<functionName>-<sha256 16 hex>.bin */
  key: string
  /** sha256 (hex) of the blob */
  sha256: string
  bytes: number
  /** the name the graph refers to the blob by (ONNX external data location; wasm: weights.bin) */
  location: string
}

export type StageBackend = 'onnx' | 'wasm'
