import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, type Stats } from 'node:fs'
import { lstat, open, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../errors.js'

/*
 * The files a store keeps beside its database (journal, packs, marker, socket) are opened only
 * as what ckpt made them: never through a symbolic link someone planted at their path, and never
 * as a folder or fifo, so a hostile link cannot make the store read, truncate or write a file
 * outside it. O_NOFOLLOW refuses a link at the last component; O_NONBLOCK keeps an open of a fifo
 * from hanging; fstat after the open checks what was actually opened.
 */
const OWN = (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0)

/** The open flags for a store file: `flags` (numeric) plus no-follow and non-blocking. */
export const ownFlags = (flags: number): number => flags | OWN

/** What a non-regular entry is, in words. */
export function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file'
  if (stats.isSymbolicLink()) return 'a symbolic link'
  if (stats.isDirectory()) return 'a folder'
  if (stats.isFIFO()) return 'a fifo'
  if (stats.isSocket()) return 'a socket'
  if (stats.isBlockDevice() || stats.isCharacterDevice()) return 'a device'
  return 'not a regular file'
}

/** CORRUPT_OBJECT: `file`, which the store owns, is something else than ckpt made it. */
export function notOwnFile(file: string, what: string, kind: string, cause?: unknown): CkptError {
  return new CkptError('CORRUPT_OBJECT', `${what} ${file} is ${kind}, not a regular file the store made; ckpt does not open it (move it aside)`, {
    ...(cause !== undefined && { cause }),
    details: { path: file },
  })
}

/** The error an open of a store file failed with, when it means the path holds something else. */
function refusal(file: string, what: string, cause: unknown): CkptError | undefined {
  const code = (cause as { code?: string }).code
  // ELOOP: a symlink under O_NOFOLLOW; EISDIR: a folder opened for writing; ENXIO: a fifo with no reader.
  if (code === 'ELOOP' || code === 'EMLINK') return notOwnFile(file, what, 'a symbolic link', cause)
  if (code === 'EISDIR') return notOwnFile(file, what, 'a folder', cause)
  if (code === 'ENXIO') return notOwnFile(file, what, 'a fifo or socket', cause)
  return undefined
}

/** Opens the regular file `file` with `flags` (numeric), refusing a link, folder, fifo or device. Other errors are thrown as they are. */
export function openOwnFileSync(file: string, flags: number, what: string, mode = 0o644): number {
  let fd: number
  try {
    fd = openSync(file, ownFlags(flags), mode)
  } catch (cause) {
    throw refusal(file, what, cause) ?? cause
  }
  const stats = fstatSync(fd)
  if (!stats.isFile()) {
    closeSync(fd)
    throw notOwnFile(file, what, kindOf(stats))
  }
  return fd
}

/** {@link openOwnFileSync}, for a FileHandle. */
export async function openOwnFile(file: string, flags: number, what: string, mode = 0o644): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(file, ownFlags(flags), mode)
  } catch (cause) {
    throw refusal(file, what, cause) ?? cause
  }
  const stats = await handle.stat()
  if (!stats.isFile()) {
    await handle.close()
    throw notOwnFile(file, what, kindOf(stats))
  }
  return handle
}

/** False when `dir` does not exist; CORRUPT_OBJECT when it is a link or anything but a folder. */
export async function checkOwnFolder(dir: string, what: string): Promise<boolean> {
  let stats: Stats
  try {
    stats = await lstat(dir)
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ENOENT') return false
    throw cause
  }
  if (stats.isSymbolicLink() || !stats.isDirectory()) {
    throw new CkptError('CORRUPT_OBJECT', `${what} ${dir} is ${stats.isDirectory() ? 'a folder' : kindOf(stats)}, not a folder the store made; ckpt does not use it (move it aside)`, {
      details: { path: dir },
    })
  }
  return true
}

/**
 * Checks that `dir` is a real folder holding only regular files (and real folders named in
 * `folders`), as LevelDB leaves its folder: LevelDB opens, truncates and renames its files itself
 * and would follow a link planted there.
 */
export function checkFolderOfOwnFiles(dir: string, what: string, folders: readonly string[] = []): void {
  let stats: Stats
  try {
    stats = lstatSync(dir)
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ENOENT') return
    throw cause
  }
  if (stats.isSymbolicLink() || !stats.isDirectory()) {
    throw new CkptError('CORRUPT_OBJECT', `${what} ${dir} is ${kindOf(stats)}, not a folder the store made; ckpt does not use it (move it aside)`, {
      details: { path: dir },
    })
  }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() || (entry.isDirectory() && folders.includes(entry.name))) continue
    const file = path.join(dir, entry.name)
    throw notOwnFile(file, `${what} holds`, kindOf(lstatSync(file)))
  }
}
