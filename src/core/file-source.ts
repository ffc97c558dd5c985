import { ReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import path from 'node:path'
import type { ScratchStore } from '../backend/interface.js'
import { CID, RAW_CODE, cidFromDigest } from '../model/cid.js'

/*
 * Re-committing an unchanged large file is common (a stage re-run that writes the same weights),
 * and storing it again costs chunking and two hashes per byte. Like git's index, the store
 * remembers which blob a file's stat (device, inode, size, mtime, ctime) last stored. When the stat
 * matches, one hash pass over the file confirms the content, and nothing else is done. A stale
 * entry only costs that pass: the id is always checked against the bytes.
 *
 * The entries are this machine's, keyed by path, and replaced as files change: they live in the
 * backend's scratch space, never among the content-addressed objects. A backend without one
 * keeps no stat cache.
 */

/** Stat-cache keys in the scratch space: this prefix, then the absolute path. */
const STAT_KEY_PREFIX = 'stat:'

interface FileStat {
  readonly dev: string
  readonly ino: string
  readonly size: string
  readonly mtimeNs: string
  readonly ctimeNs: string
}

/** The absolute path of a stream that will read a whole file from its start, else undefined. */
export function wholeFileOf(source: unknown): string | undefined {
  if (!(source instanceof ReadStream)) return undefined
  const stream = source as ReadStream & { start?: number; end?: number }
  const whole = (stream.start ?? 0) === 0 && (stream.end === undefined || stream.end === Infinity)
  const untouched = stream.bytesRead === 0 && stream.readableLength === 0
  return typeof stream.path === 'string' && whole && untouched ? path.resolve(stream.path) : undefined
}

export async function fileStat(file: string): Promise<FileStat> {
  const s = await stat(file, { bigint: true })
  return { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) }
}

const sameStat = (a: FileStat, b: FileStat) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

const statKey = (file: string): Uint8Array => new TextEncoder().encode(STAT_KEY_PREFIX + file)

/** The blob this file held when its stat was last recorded, if the stat still matches. */
export async function rememberedBlob(scratch: ScratchStore, file: string, now: FileStat): Promise<CID | undefined> {
  const stored = await scratch.get(statKey(file))
  if (!stored) return undefined
  try {
    const entry = JSON.parse(new TextDecoder().decode(stored)) as FileStat & { blob: string }
    return sameStat(entry, now) ? CID.parse(entry.blob) : undefined
  } catch {
    return undefined // an unreadable entry is only a missed shortcut
  }
}

/** Records that `file`, with stat `before`, holds `blob`; forgets the file when it changed while being read. */
export async function rememberBlob(scratch: ScratchStore, file: string, before: FileStat, blob: CID): Promise<void> {
  if (!sameStat(before, await fileStat(file))) return scratch.delete(statKey(file))
  await scratch.put(statKey(file), new TextEncoder().encode(JSON.stringify({ ...before, blob: blob.toString() })))
}

/** Whether the file's bytes, read now, hash to `blob`; `onBytes` hears the bytes hashed so far. */
export async function fileHashesTo(file: string, blob: CID, onBytes?: (hashed: number) => void): Promise<boolean> {
  const { createBLAKE3 } = await import('hash-wasm')
  const hasher = await createBLAKE3(256)
  hasher.init()
  const handle = await open(file, 'r')
  try {
    const buffer = new Uint8Array(4 * 1024 * 1024)
    let hashed = 0
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hasher.update(buffer.subarray(0, bytesRead))
      onBytes?.((hashed += bytesRead))
    }
  } finally {
    await handle.close()
  }
  return cidFromDigest(RAW_CODE, hasher.digest('binary')).equals(blob)
}
