import { ReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import path from 'node:path'
import type { ObjectStore } from '../backend/interface.js'
import { CID, RAW_CODE, cidFromDigest } from '../model/cid.js'

/*
 * Re-committing an unchanged large file is common (a stage re-run that writes the same weights),
 * and storing it again costs chunking and two hashes per byte. Like git's index, the store
 * remembers which blob a file's stat (device, inode, size, mtime, ctime) last stored. When the stat
 * matches, one hash pass over the file confirms the content, and nothing else is done. A stale
 * entry only costs that pass: the id is always checked against the bytes.
 */

/** Stat-cache keys: a tag no CID starts with (CIDs begin with their version byte, 1), then the path. */
const STAT_KEY_TAG = 0x02

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

function statKey(file: string): Uint8Array {
  const name = new TextEncoder().encode(file)
  const key = new Uint8Array(name.length + 1)
  key[0] = STAT_KEY_TAG
  key.set(name, 1)
  return key
}

export function isStatKey(key: Uint8Array): boolean {
  return key[0] === STAT_KEY_TAG
}

/** The blob this file held when its stat was last recorded, if the stat still matches. */
export async function rememberedBlob(store: ObjectStore, file: string, now: FileStat): Promise<CID | undefined> {
  const stored = await store.get(statKey(file))
  if (!stored) return undefined
  try {
    const entry = JSON.parse(new TextDecoder().decode(stored)) as FileStat & { blob: string }
    return sameStat(entry, now) ? CID.parse(entry.blob) : undefined
  } catch {
    return undefined // an unreadable entry is only a missed shortcut
  }
}

/** Records that `file`, with stat `before`, holds `blob`, unless it changed while being read. */
export async function rememberBlob(store: ObjectStore, file: string, before: FileStat, blob: CID): Promise<void> {
  if (!sameStat(before, await fileStat(file))) return
  const value = new TextEncoder().encode(JSON.stringify({ ...before, blob: blob.toString() }))
  await store.putMany([{ key: statKey(file), value }], { deferSync: true })
}

/** Whether the file's bytes, read now, hash to `blob`. */
export async function fileHashesTo(file: string, blob: CID): Promise<boolean> {
  const { createBLAKE3 } = await import('hash-wasm')
  const hasher = await createBLAKE3(256)
  hasher.init()
  const handle = await open(file, 'r')
  try {
    const buffer = new Uint8Array(4 * 1024 * 1024)
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null)
      if (bytesRead === 0) break
      hasher.update(buffer.subarray(0, bytesRead))
    }
  } finally {
    await handle.close()
  }
  return cidFromDigest(RAW_CODE, hasher.digest('binary')).equals(blob)
}
