import type { ErrorCode } from '../src/index.js'

/** One exit status per error class, so scripts can branch on them (docs/cli.md). */
export const EXIT_CODES: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 2,
  INVALID_REVISION: 2,
  INVALID_REF_NAME: 2,
  INVALID_OUTPUT: 2,
  NOT_A_STORE: 3,
  STORE_EXISTS: 3,
  UNSUPPORTED_FORMAT: 3,
  STORE_UNAVAILABLE: 3,
  STORE_CLOSED: 3,
  NOT_FOUND: 4,
  AMBIGUOUS_REF: 5,
  REF_CONFLICT: 6,
  WOULD_OVERWRITE: 7,
  CORRUPT_OBJECT: 8,
  IO_ERROR: 9,
  RUN_NOT_FOUND: 4,
  RUN_FAILED: 10,
  MERGE_CONFLICT: 6,
}

/** Usage errors (bad flags) exit 2, as in git and most Unix tools. */
export const USAGE_EXIT = 2
/** Anything not a CkptError is a bug. */
export const INTERNAL_EXIT = 70
