import { randomBytes } from 'node:crypto'
import { closeSync, fstatSync, openSync, renameSync, rmSync, writeSync, type BigIntStats } from 'node:fs'
import { open, rm } from 'node:fs/promises'
import path from 'node:path'
import { ReusableBuffers } from '../io/reusable-buffers.js'
import { writeAllAt } from '../io/write-all.js'

const WRITE_BATCH_BYTES = 8 * 1024 * 1024
/**
 * A durable write starts flushing what it has written each time this much more is written, so
 * the disk works while the rest is read and verified and the closing fsync has little left to do.
 */
const FLUSH_EVERY_BYTES = 64 * 1024 * 1024
/** Files up to this size, when not fsynced, are written with a few blocking calls: far cheaper than a trip through the thread pool each. */
const SMALL_FILE_BYTES = 256 * 1024

/** Temporary names: `.ckpt-tmp-` and hex digits, unique per process by a random prefix and a counter. */
const tempPrefix = randomBytes(4).toString('hex')
let tempCounter = 0
export const tempName = (folder: string) => path.join(folder, `.ckpt-tmp-${tempPrefix}${(tempCounter++).toString(16).padStart(8, '0')}`)

/**
 * Writes under a temporary name in the same folder, fsyncs when `durable`, then renames: the final
 * name never holds a partial file. Returns the file's stat, taken before the rename (which keeps it).
 */
export async function writeAtomically(target: string, content: PieceSource, durable: boolean): Promise<BigIntStats> {
  // A short temporary name of its own, so a name near the length limit still has room.
  const temp = tempName(path.dirname(target))
  const written = await writeNewFile(temp, content, durable)
  renameSync(temp, target)
  return written
}

/**
 * A file's bytes, piece by piece. A large blob is read into memory taken from `buffers`; the
 * writer gives each piece back once it is written, and it is reused for the pieces after.
 */
export type PieceSource = (buffers: ReusableBuffers) => Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/**
 * Creates `file`, which must not exist (O_EXCL: never written through a link planted there),
 * writes `content` into it, fsyncs it when `durable` and returns its stat. A failed write
 * removes what it created.
 */
export async function writeNewFile(file: string, content: PieceSource, durable: boolean): Promise<BigIntStats> {
  const buffers = new ReusableBuffers()
  const source = content(buffers)
  const pieces = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source)
  // Pieces are gathered into large vectored writes: one system call per few MiB, not per chunk.
  let gathered: Uint8Array[] = []
  let gatheredBytes = 0
  for (;;) {
    const next = await pieces.next()
    if (next.done) break
    gathered.push(next.value)
    gatheredBytes += next.value.length
    if (gatheredBytes > SMALL_FILE_BYTES) break
  }
  if (gatheredBytes <= SMALL_FILE_BYTES && !durable) {
    const written = writeNewFileSync(file, gathered)
    buffers.give(gathered)
    return written
  }
  const handle = await open(file, 'wx')
  let written: BigIntStats
  // One batch is written while the next is read and verified: the two overlap, on the thread pool and here.
  let inFlight: Promise<unknown> = Promise.resolve()
  let flushing: Promise<unknown> = Promise.resolve()
  let position = 0
  let flushedUpTo = 0
  const write = async (batch: Uint8Array[], bytes: number) => {
    await inFlight
    inFlight = writeAllAt(handle, batch, position).then(() => buffers.give(batch))
    inFlight.catch(() => undefined) // awaited later; this only keeps a failure meanwhile from going unhandled
    position += bytes
    if (durable && position - flushedUpTo >= FLUSH_EVERY_BYTES) {
      const batchWritten = inFlight
      const flushedBefore = flushing
      flushing = Promise.all([batchWritten, flushedBefore]).then(() => handle.datasync())
      flushing.catch(() => undefined)
      flushedUpTo = position
    }
  }
  try {
    await write(gathered, gatheredBytes)
    gathered = []
    gatheredBytes = 0
    for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
      gathered.push(next.value)
      gatheredBytes += next.value.length
      if (gatheredBytes >= WRITE_BATCH_BYTES) {
        await write(gathered, gatheredBytes)
        gathered = []
        gatheredBytes = 0
      }
    }
    await write(gathered, gatheredBytes)
    await inFlight
    await flushing
    if (durable) await handle.sync()
    written = await handle.stat({ bigint: true })
  } catch (err) {
    await Promise.allSettled([inFlight, flushing])
    await handle.close()
    await rm(file, { force: true })
    throw err
  }
  await handle.close()
  return written
}

/** {@link writeNewFile} with blocking calls, for content already in memory; not fsynced. */
export function writeNewFileSync(file: string, pieces: readonly Uint8Array[]): BigIntStats {
  const fd = openSync(file, 'wx')
  let written: BigIntStats
  try {
    for (const piece of pieces) for (let at = 0; at < piece.length; ) at += writeSync(fd, piece, at)
    written = fstatSync(fd, { bigint: true })
  } catch (err) {
    closeSync(fd)
    rmSync(file, { force: true })
    throw err
  }
  closeSync(fd)
  return written
}

async function* toAsync<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items
}
