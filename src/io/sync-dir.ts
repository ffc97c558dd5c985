import { constants } from 'node:fs'
import { mkdir, open, rm } from 'node:fs/promises'
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

/** Creates `dir` (and missing parents) and makes each new directory's name durable in its parent. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true })
  if (first === undefined) return
  // Every directory from the first one created down to `dir` is new: sync each one's parent.
  const created = [dir]
  for (let d = dir; d !== first; d = path.dirname(d)) created.push(path.dirname(d))
  for (const d of created) await syncDirectory(path.dirname(d))
}
