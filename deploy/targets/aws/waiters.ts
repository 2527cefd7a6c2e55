/** Waiting for a function to become active/updated and for a published version, replaceable so --dry-run can record the waits. */
import {waitUntilFunctionActiveV2, waitUntilFunctionUpdatedV2, waitUntilPublishedVersionActive} from '@aws-sdk/client-lambda'

import type {AwsClients} from './clients.js'

/** Waiters, replaceable so --dry-run can record them instead of polling. */
export interface FunctionWaiters {
  active(functionName: string): Promise<void>
  updated(functionName: string): Promise<void>
  versionActive(functionName: string, version: string): Promise<void>
}

export function sdkWaiters(clients: AwsClients, maxWaitSec: number): FunctionWaiters {
  const params = {client: clients.lambda, maxWaitTime: maxWaitSec}
  return {
    active: async (FunctionName) => {
      await waitUntilFunctionActiveV2(params, {FunctionName})
    },
    updated: async (FunctionName) => {
      await waitUntilFunctionUpdatedV2(params, {FunctionName})
    },
    versionActive: async (FunctionName, Qualifier) => {
      await waitUntilPublishedVersionActive(params, {FunctionName, Qualifier})
    },
  }
}
