import { CkptError } from '../errors.js'

/**
 * `layer` (a backend's objects or refs) with every rejection that is not a CkptError turned into
 * IO_ERROR naming the backend: the interface asks backends for coded errors, and one that throws
 * a bare `Error` (a third-party backend, a driver's ENOSPC) must still reach callers with a code.
 * Methods are looked up at each call, so the layer may be patched after the store opened.
 */
export function withCodedFailures<T extends object>(layer: T, description: string): T {
  const coded = (err: unknown): never => {
    if (err instanceof CkptError) throw err
    const message = err instanceof Error ? err.message : String(err)
    const errno = (err as { code?: unknown } | null)?.code
    throw new CkptError('IO_ERROR', `the store (${description}) failed: ${message}`, { cause: err, details: typeof errno === 'string' ? { errno } : {} })
  }
  return new Proxy(layer, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args)
        return result instanceof Promise ? result.catch(coded) : result
      }
    },
  })
}
