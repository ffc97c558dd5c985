import { CkptError, quoted, type ErrorCode } from '../errors.js'

/** What an ordinary file-system failure means to the user, by errno. Anything else is IO_ERROR. */
const CODES: Readonly<Record<string, ErrorCode>> = {
  ENOENT: 'NOT_FOUND',
  ENOTDIR: 'INVALID_ARGUMENT',
  EISDIR: 'INVALID_ARGUMENT',
  ENAMETOOLONG: 'INVALID_ARGUMENT',
  ELOOP: 'INVALID_ARGUMENT',
  EEXIST: 'WOULD_OVERWRITE',
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
  EEXIST: 'it already exists',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
}

/**
 * A node file-system error as a CkptError naming `userPath` (the path as the user wrote it), so
 * that a missing or unwritable file is a clear error, not an internal one. Non-errno errors pass through.
 */
export function fileSystemError(err: unknown, userPath: string, action = 'cannot use'): unknown {
  const errno = (err as { code?: unknown } | null)?.code
  if (err instanceof CkptError || typeof errno !== 'string' || !/^E[A-Z]+$/.test(errno)) return err
  const reason = REASONS[errno] ?? errno
  return new CkptError(CODES[errno] ?? 'IO_ERROR', `${action} ${quoted(userPath)}: ${reason} (${errno})`, { cause: err, details: { path: userPath, errno } })
}

/** Runs `operation`, turning a file-system error into a CkptError naming `userPath`. */
export async function onPath<T>(userPath: string, operation: () => Promise<T>, action?: string): Promise<T> {
  try {
    return await operation()
  } catch (err) {
    throw fileSystemError(err, userPath, action)
  }
}
