/**
 * Every failure ckpt reports is a {@link CkptError} with a stable `code`.
 * Codes, not messages, are the contract: callers and tests branch on `err.code`.
 */
export type ErrorCode =
  /** The path holds no ckpt store. */
  | 'NOT_A_STORE'
  /** `init` on a path that already holds a store. */
  | 'STORE_EXISTS'
  /** The store was written by a newer (or unknown) format version. */
  | 'UNSUPPORTED_FORMAT'
  /** The store could not be reached (no leader process answered, the database failed to open). */
  | 'STORE_UNAVAILABLE'
  /** The store was closed before the call. */
  | 'STORE_CLOSED'
  /** A named revision, ref, stage or object does not exist. */
  | 'NOT_FOUND'
  /** A short id or name matches more than one thing. */
  | 'AMBIGUOUS_REF'
  /** A compare-and-swap ref update lost a race: the ref was not where the caller expected. */
  | 'REF_CONFLICT'
  /** A ref name breaks git's check-ref-format rules. */
  | 'INVALID_REF_NAME'
  /** A revision expression does not parse. */
  | 'INVALID_REVISION'
  /** A stage output cannot be represented (NaN, undefined in an array, a cycle, a class instance, …). */
  | 'INVALID_OUTPUT'
  /** Any other argument that is out of its domain (a bad stage name, a non-JSON config, …). */
  | 'INVALID_ARGUMENT'
  /** Stored bytes do not hash to their id, or do not decode as the object they should be. */
  | 'CORRUPT_OBJECT'
  /** A restore would overwrite a file that ckpt did not write. */
  | 'WOULD_OVERWRITE'
  /** The storage layer failed (disk, database). */
  | 'IO_ERROR'
  /** No pipeline run with that id is recorded in the store. */
  | 'RUN_NOT_FOUND'
  /** A pipeline run stopped because a stage failed (strict mode, or a failed checkpoint write). */
  | 'RUN_FAILED'
  /** A merge, cherry-pick or revert found stages changed on both sides (`details.conflicts`); nothing was written. */
  | 'MERGE_CONFLICT'

/** Marks every CkptError, whichever copy of this library made it (Symbol.for is shared by all). */
const ERROR_BRAND = Symbol.for('ckpt.CkptError')

/** The one error class ckpt throws. `code` is stable; `message` names the offending value. */
export class CkptError extends Error {
  readonly code: ErrorCode
  /** Extra machine-readable facts, e.g. `candidates` for AMBIGUOUS_REF or `path` for INVALID_OUTPUT. */
  readonly details: Readonly<Record<string, unknown>>

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CkptError'
    this.code = code
    this.details = options.details ?? {}
    Object.defineProperty(this, ERROR_BRAND, { value: true })
  }

  /**
   * A CkptError thrown by another copy of this library is one too (a pipeline module run by the
   * bundled `ckpt` command imports the package's own build). Subclasses keep the usual test.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== CkptError) return Function.prototype[Symbol.hasInstance].call(this, value)
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[ERROR_BRAND] === true
  }
}

/** Longest stretch of a user's value quoted in a message, so a huge name or path cannot flood a log. */
const MAX_QUOTED_CHARS = 80

/**
 * A value as an error message should show it: JSON-quoted so that control characters and lone
 * surrogates show as escapes, and shortened with an ellipsis.
 */
export function quoted(value: unknown): string {
  if (typeof value !== 'string') return String(value)
  return JSON.stringify(value.length > MAX_QUOTED_CHARS ? `${value.slice(0, MAX_QUOTED_CHARS)}…` : value)
}

/** A path-like text (a JSON pointer) shortened for a message, unquoted. */
export function shortened(text: string): string {
  return text.length > MAX_QUOTED_CHARS ? `${text.slice(0, MAX_QUOTED_CHARS)}…` : text
}

/** True when `err` is a CkptError, optionally with the given code. */
export function isCkptError(err: unknown, code?: ErrorCode): err is CkptError {
  return err instanceof CkptError && (code === undefined || err.code === code)
}
