import { constants } from 'node:fs'
import { mkdir, open, rm, stat } from 'node:fs/promises'
import { openOwnFile } from './own-files.js'
import path from 'node:path'

/**
 * Makes the entries of `dir` durable: a new or renamed file's own fsync does not cover its name,
 * which lives in the directory.
 */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Writes `text` to a new file and fsyncs it (the caller renames it into place and syncs the
 * folder). Whatever was at `file` is removed first, so a link planted there is never written through.
 */
export async function writeFileSynced(file: string, text: string): Promise<void> {
  await rm(file, { force: true })
  const handle = await openOwnFile(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 'the temporary file')
  try {
    await handle.writeFile(text)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/**
 * Creates `dir` (and missing parents) and makes each new directory's name durable in its parent.
 * One level at a time, never `mkdir -p`'s retry loop, which spins forever where mkdir fails with
 * ENOENT under an existing folder (/proc). A path through a file fails with ENOTDIR.
 * Returns the folders it created, outermost first.
 */
export async function mkdirDurable(dir: string): Promise<string[]> {
  const missing: string[] = []
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const found = await stat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
    if (found?.isDirectory()) break
    if (found) throw Object.assign(new Error(`${current} is not a folder`), { code: 'ENOTDIR', path: current })
    if (path.dirname(current) === current) break
    missing.push(current)
  }
  for (const created of missing.reverse()) {
    await mkdir(created).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST' || !(await stat(created)).isDirectory()) throw err
    })
    await syncDirectory(path.dirname(created))
  }
  return missing
}
