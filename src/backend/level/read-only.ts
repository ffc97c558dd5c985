import { chmod, copyFile, mkdtemp, readdir, rm, symlink } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { CkptError } from '../../errors.js'
import type { Backend } from '../interface.js'
import { checkFolderOfOwnFiles } from '../../io/own-files.js'
import { LEVELDB_FOLDERS, LEVEL_SUPPORTS, openLocalLevel, type LocalLevelBackend } from './local.js'

/*
 * LevelDB cannot open a database it may not write: it takes a lock file, replays its log into a
 * new table and writes a new manifest. A store on a read-only mount, made read-only with
 * `chmod -R a-w`, or on a full disk is opened instead from a scratch copy in the temp directory:
 * the table files, which LevelDB never changes, are symlinked, and only the small files (CURRENT,
 * the manifest, the log, ckpt's write journal) are copied. LevelDB writes its recovery into the
 * copy; the store itself is never touched. Reads see the store as it was when it was opened.
 */

/** File-system errors that mean "this process cannot write here", as LevelDB and Node word them. */
const CANNOT_WRITE = /EROFS|EACCES|EPERM|ENOSPC|EDQUOT|Read-only file system|Permission denied|Operation not permitted|No space left on device|Disk quota exceeded/i
/** Of those, the ones that may clear by themselves once space is freed. */
const TRANSIENT = /ENOSPC|EDQUOT|No space left on device|Disk quota exceeded/i

/** Whether `err` (a LevelDB or Node error, or a CkptError wrapping one) says the store cannot be written here. */
export function cannotWrite(err: unknown): boolean {
  return CANNOT_WRITE.test(errorText(err))
}

/** Whether the reason a store could not be written may clear by itself (a full disk). */
export function isTransient(reason: string): boolean {
  return TRANSIENT.test(reason)
}

function errorText(err: unknown): string {
  const parts: string[] = []
  for (let e = err as { message?: string; code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    parts.push(String(e.message ?? ''), String(e.code ?? ''))
  }
  return parts.join(' ')
}

/** The innermost message of `err`: LevelDB's own words. */
export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown }
  while (e.cause && typeof (e.cause as { message?: unknown }).message === 'string') e = e.cause as typeof e
  return e.message ?? String(err)
}

const SMALL_FILE = /^(CURRENT|MANIFEST-\d+|\d+\.log|ckpt-journal|ckpt-journal-2)$/
const TABLE_FILE = /^\d+\.(ldb|sst)$/

/**
 * Opens the database at `location` for reading only, from a scratch copy (see above). `reason`
 * says why it could not be opened for writing; every write then fails with STORE_UNAVAILABLE naming it.
 */
export async function openReadOnlyLevel(location: string, options: { packDir: string; reason: string }): Promise<Backend> {
  checkFolderOfOwnFiles(location, 'the database folder', LEVELDB_FOLDERS)
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ckpt-read-only-'))
  let local: LocalLevelBackend
  try {
    for (const name of await readdir(location)) {
      if (TABLE_FILE.test(name)) await symlink(path.join(location, name), path.join(scratch, name))
      else if (SMALL_FILE.test(name)) {
        await copyFile(path.join(location, name), path.join(scratch, name))
        // The copy keeps the store's mode, which may deny this user writing it.
        await chmod(path.join(scratch, name), 0o600)
      }
    }
    local = await openLocalLevel(scratch, { durability: 'process', createIfMissing: false, packDir: options.packDir, linkedTables: true })
  } catch (cause) {
    await rm(scratch, { recursive: true, force: true })
    throw new CkptError('STORE_UNAVAILABLE', `cannot open the database at ${location}, not even to read it (it cannot be written: ${options.reason}): ${rootMessage(cause)}`, {
      cause,
      details: { path: location },
    })
  }
  const refuse = (): never => {
    throw readOnlyError(location, options.reason)
  }
  const { objects, refs, scratch: hints } = local
  return {
    description: `level:${location} (read-only)`,
    supports: LEVEL_SUPPORTS,
    objects: {
      get: (key) => objects.get(key),
      getMany: (keys) => objects.getMany(keys),
      getInto: (key, into) => objects.getInto(key, into),
      has: (keys) => objects.has(keys),
      keys: (range) => objects.keys(range),
      sizes: (keys) => objects.sizes(keys),
      writtenSince: (since) => objects.writtenSince(since),
      checkStorage: () => objects.checkStorage(),
      putMany: async () => refuse(),
      forgetWritesBefore: async () => refuse(),
      beginSweep: async () => refuse(),
      reclaim: async () => refuse(),
    },
    refs: {
      readRef: (name) => refs.readRef(name),
      listRefs: (prefix) => refs.listRefs(prefix),
      readReflog: (name, opts) => refs.readReflog(name, opts),
      listReflogs: (prefix) => refs.listReflogs(prefix),
      updateRefs: async () => refuse(),
      expireReflog: async () => refuse(),
    },
    ...(hints && {
      scratch: {
        get: (key) => hints.get(key),
        put: async () => refuse(),
        delete: async () => refuse(),
      },
    }),
    close: async () => {
      try {
        await local.close()
      } finally {
        await rm(scratch, { recursive: true, force: true })
      }
    },
  }
}

/** The one error every write to a read-only store fails with. */
export function readOnlyError(location: string, reason: string): CkptError {
  return new CkptError('STORE_UNAVAILABLE', `the store at ${path.dirname(location)} is read-only here: it can be read but not written (${reason})`, {
    details: { path: location, readOnly: true, reason },
  })
}

export function isReadOnlyError(err: unknown): boolean {
  return err instanceof CkptError && (err.details as { readOnly?: unknown } | undefined)?.readOnly === true
}
