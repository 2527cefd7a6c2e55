import {expect} from 'vitest'

import {AmpsUserError} from '../../src/errors.js'

/** Runs `fn`, which must throw an AmpsUserError, and returns that error (fails the test otherwise). */
export function userError(fn: () => unknown): AmpsUserError {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(AmpsUserError)
    return error as AmpsUserError
  }
  throw new Error('expected an AmpsUserError')
}
