import { CkptError } from '../../src/index.js'

/** The CkptError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<CkptError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(err instanceof CkptError)) throw new Error(`expected a CkptError, got ${String(err)}`)
  return err
}
