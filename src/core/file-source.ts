import { ReadStream } from 'node:fs'
import { open, stat } from 'node:fs/promises'
import path from 'node:path'
import type { ScratchStore } from '../backend/interface.js'
import { CID, RAW_CODE, cidFromDigest } from '../model/cid.js'
import { createBlake3 } from '../model/hash.js'

/*
 * Re-committing an unchanged large file is common (a stage re-run that writes the same weights),
 * and storing it again costs chunking and two hashes per byte. Like git's index, the store
 * remembers which blob a file's stat (device, inode, size, mtime, ctime) last stored, and when
 * (by this machine's clock) the stat was taken.
 *
 * When the stat matches, git's racy-clean rule decides whether the bytes must be read again. A
 * write changes mtime and ctime to the time of the write, rounded down to the file system's
 * timestamp granularity. So if the file's times were already RACY_MARGIN_NS older than the moment
 * its stat was taken, any later write gives it a newer mtime and ctime, and an equal stat proves
 * the bytes unchanged: the file is not read at all. Otherwise (a file written just before it was
 * stored, a clock that ran backwards) one hash pass confirms the content, and the entry is taken
 * again so that the next commit can trust it. A stale entry only costs that pass: an entry is
 * only trusted when the rule proves it, and otherwise checked against the bytes.
 *
 * The entries are this machine's, keyed by path, and replaced as files change: they live in the
 * backend's scratch space, never among the content-addressed objects. A backend without one
 * keeps no stat cache.
 */

/** Stat-cache keys in the scratch space: this prefix, then the absolute path. */
const STAT_KEY_PREFIX = 'stat:'

/**
 * How much older than the moment of its stat a file's mtime and ctime must be for the stat alone to
 * prove its bytes unchanged: above the coarsest timestamp granularity in use (FAT's 2 s; ext3 and
 * HFS+ 1 s; a few ms of kernel clock tick on ns file systems).
 */
const RACY_MARGIN_NS = 2_000_000_000n

interface FileStat {
  readonly dev: string
  readonly ino: string
  readonly size: string
  readonly mtimeNs: string
  readonly ctimeNs: string
}

/** A file's stat, and this machine's clock just before it was taken (ns since the epoch). */
export interface TimedStat {
  readonly stat: FileStat
  readonly takenNs: bigint
}

/** The absolute path of a stream that will read a whole file from its start, else undefined. */
export function wholeFileOf(source: unknown): string | undefined {
  if (!(source instanceof ReadStream)) return undefined
  const stream = source as ReadStream & { start?: number; end?: number }
  const whole = (stream.start ?? 0) === 0 && (stream.end === undefined || stream.end === Infinity)
  const untouched = stream.bytesRead === 0 && stream.readableLength === 0
  return typeof stream.path === 'string' && whole && untouched ? path.resolve(stream.path) : undefined
}

async function fileStat(file: string): Promise<FileStat> {
  const s = await stat(file, { bigint: true })
  return { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) }
}

export async function timedFileStat(file: string): Promise<TimedStat> {
  const takenNs = BigInt(Date.now()) * 1_000_000n
  return { stat: await fileStat(file), takenNs }
}

const sameStat = (a: FileStat, b: FileStat) => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

/** Whether no write can have left this stat unchanged since `takenNs` (the racy-clean rule above). */
const settledBefore = (s: FileStat, takenNs: bigint) => BigInt(s.mtimeNs) < takenNs - RACY_MARGIN_NS && BigInt(s.ctimeNs) < takenNs - RACY_MARGIN_NS

const statKey = (file: string): Uint8Array => new TextEncoder().encode(STAT_KEY_PREFIX + file)

/**
 * What the stat cache knows of this file, whose stat is `now`: the blob it held when its stat was
 * last recorded (if the stat still matches), and whether the stat alone proves the bytes unchanged
 * (`trusted`); when not, the caller must hash the file before using `blob`.
 */
export async function rememberedBlob(scratch: ScratchStore, file: string, now: FileStat): Promise<{ blob: CID; trusted: boolean } | undefined> {
  const stored = await scratch.get(statKey(file))
  if (!stored) return undefined
  try {
    const entry = JSON.parse(new TextDecoder().decode(stored)) as FileStat & { blob: string; takenNs?: string }
    if (!sameStat(entry, now)) return undefined
    // Entries written before the racy rule carry no time: they are confirmed by a hash pass, then taken again.
    const trusted = typeof entry.takenNs === 'string' && /^\d+$/.test(entry.takenNs) && settledBefore(entry, BigInt(entry.takenNs))
    return { blob: CID.parse(entry.blob), trusted }
  } catch {
    return undefined // an unreadable entry is only a missed shortcut
  }
}

/** Records that `file`, with stat `before`, holds `blob`; forgets the file when it changed while being read. */
export async function rememberBlob(scratch: ScratchStore, file: string, before: TimedStat, blob: CID): Promise<void> {
  if (!sameStat(before.stat, await fileStat(file))) return scratch.delete(statKey(file))
  await scratch.put(statKey(file), new TextEncoder().encode(JSON.stringify({ ...before.stat, blob: blob.toString(), takenNs: String(before.takenNs) })))
}

/** Whether the file's bytes, read now, hash to `blob`; `onBytes` hears the bytes hashed so far. */
export async function fileHashesTo(file: string, blob: CID, onBytes?: (hashed: number) => void): Promise<boolean> {
  const hasher = createBlake3()
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
  return cidFromDigest(RAW_CODE, hasher.digest()).equals(blob)
}
