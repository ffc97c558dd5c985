import { lstat, readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../errors.js'
import { checkTreePath } from '../model/tree.js'

/** Marks every Directory, whichever copy of this library made it (Symbol.for is shared by all). */
const DIRECTORY_BRAND = Symbol.for('ckpt.Directory')

/**
 * A directory output: files by relative path (`/`-separated). Commit it as a stage output to
 * store it as a tree; read it back as a `Directory` too. Empty folders are not kept, as in git.
 */
export class Directory {
  readonly files: ReadonlyMap<string, Uint8Array>

  /**
   * A Directory made by another copy of this library is one too: the bundled `ckpt` command runs
   * pipeline modules that import the package's own build, whose class is a different object.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[DIRECTORY_BRAND] === true
  }

  /** Throws INVALID_OUTPUT for a path that is absolute, has `.`/`..`/empty parts, or control characters. */
  constructor(files: ReadonlyMap<string, Uint8Array> | Readonly<Record<string, Uint8Array>>) {
    const map = files instanceof Map ? new Map(files) : new Map(Object.entries(files))
    for (const [file, bytes] of map) {
      checkTreePath(file)
      if (!(bytes instanceof Uint8Array)) throw new CkptError('INVALID_OUTPUT', `directory entry "${file}" is not bytes`, { details: { path: file } })
    }
    this.files = map
    Object.defineProperty(this, DIRECTORY_BRAND, { value: true })
  }
}

export interface ReadDirectoryOptions {
  /** Whether to take this file, or walk into this folder (`path` relative to the root, `/`-separated). */
  readonly include?: (path: string, isFolder: boolean) => boolean
  /** Told the bytes read so far, after each file, for a progress bar. */
  readonly onBytes?: (read: number) => void
}

/**
 * Reads a folder from disk as a {@link Directory}. Symbolic links and special files are refused
 * (INVALID_OUTPUT naming them) rather than followed, so a stored tree never depends on what a
 * link pointed at. `include` leaves files and folders out (ckpt commit --dir: .gitignore, .git).
 */
export async function readDirectory(root: string, options: ReadDirectoryOptions = {}): Promise<Directory> {
  const files = new Map<string, Uint8Array>()
  const include = options.include ?? (() => true)
  let read = 0
  const walk = async (relative: string): Promise<void> => {
    const here = path.join(root, relative)
    for (const entry of (await readdir(here, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const rel = relative === '' ? entry.name : `${relative}/${entry.name}`
      if (!include(rel, entry.isDirectory())) continue
      if (entry.isDirectory()) await walk(rel)
      else if (entry.isFile()) {
        const bytes = new Uint8Array(await readFile(path.join(root, rel)))
        files.set(rel, bytes)
        options.onBytes?.((read += bytes.length))
      }
      else throw new CkptError('INVALID_OUTPUT', `${path.join(root, rel)} is not a regular file or folder (links are not followed)`, { details: { path: rel } })
    }
  }
  const stat = await lstat(root).catch(() => undefined)
  if (!stat?.isDirectory()) throw new CkptError('INVALID_ARGUMENT', `${root} is not a folder`, { details: { path: root } })
  await walk('')
  return new Directory(files)
}
