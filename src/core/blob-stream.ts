import { CkptError } from '../errors.js'
import { CID, RAW_CODE, cidFromDigest, cidOf } from '../model/cid.js'
import { Chunker } from '../model/chunker.js'
import { WorkerHasher } from '../model/stream-hash.js'
import { CHUNK_THRESHOLD, chunkAt, type ChunkManifest, type ChunkRef } from '../model/manifest.js'
import type { Block } from './objects.js'

/** A byte range of a blob: `length` bytes from `offset` (default: from the start, to the end). */
export interface ByteRange {
  readonly offset?: number
  readonly length?: number
}

/** Where a streamed blob goes. */
export interface BlobSink {
  putChunks(chunks: Block[]): Promise<void>
  putManifest(blob: CID, chunks: ChunkRef[]): Promise<void>
}

/** Chunks are written in batches of about this many bytes... */
const FLUSH_BYTES = 16 * 1024 * 1024
/** ...with at most this many batches in flight, which bounds memory while hashing overlaps writing. */
const MAX_IN_FLIGHT = 2
/** Chunks read ahead of the consumer, so reading and verifying overlap. */
const READ_AHEAD = 8

/**
 * Stores a stream as one blob: content-defined chunks written as they are found, then the
 * manifest. A stream that ends at or under CHUNK_THRESHOLD becomes a single raw block instead.
 */
export async function writeBlobStream(source: AsyncIterable<Uint8Array | string>, sink: BlobSink): Promise<CID> {
  const chunker = new Chunker()
  // The whole-content hash runs on a worker thread, started only once the blob proves large.
  let whole: WorkerHasher | undefined
  const refs: ChunkRef[] = []
  const inFlight: Promise<void>[] = []
  let held: Uint8Array[] = []
  let heldBytes = 0
  let batch: Block[] = []
  let batchBytes = 0

  // A batch's chunks go to the whole-content hasher once written: they are then handed over
  // (transferred, not copied) to its thread. Chaining keeps them in content order.
  let hashed: Promise<void> = Promise.resolve()
  const flush = async () => {
    if (batch.length === 0) return
    const chunks = batch
    const written = sink.putChunks(chunks)
    hashed = Promise.all([hashed, written]).then(async () => {
      for (const chunk of chunks) await whole!.update(chunk.bytes, { transfer: true })
    })
    hashed.catch(() => undefined) // awaited below; this only keeps an early failure from going unhandled
    inFlight.push(hashed)
    batch = []
    batchBytes = 0
    while (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift()
  }
  // Per-chunk work stays synchronous: awaiting once per chunk, not once per piece, cost V8 half
  // its speed on this loop (measured: 1 GiB in 3.8 s instead of 2.0 s).
  const addChunk = (bytes: Uint8Array) => {
    const block = { cid: cidOf(RAW_CODE, bytes), bytes }
    refs.push({ cid: block.cid, size: bytes.length })
    batch.push(block)
    batchBytes += bytes.length
  }
  const accept = (chunks: Uint8Array[]) => {
    if (whole) return chunks.forEach(addChunk)
    held.push(...chunks)
    heldBytes += chunks.reduce((sum, c) => sum + c.length, 0)
    if (heldBytes <= CHUNK_THRESHOLD) return
    whole = new WorkerHasher()
    held.forEach(addChunk)
    held = []
  }

  try {
    for await (const piece of source) {
      const bytes = typeof piece === 'string' ? new TextEncoder().encode(piece) : piece
      if (!(bytes instanceof Uint8Array)) throw new CkptError('INVALID_ARGUMENT', 'a blob stream must yield Uint8Array or string pieces')
      accept(chunker.push(bytes))
      if (batchBytes >= FLUSH_BYTES) await flush()
    }
    const last = chunker.finish()
    if (last) accept([last])
    if (!whole) {
      const bytes = new Uint8Array(Buffer.concat(held))
      const block = { cid: cidOf(RAW_CODE, bytes), bytes }
      await sink.putChunks([block])
      return block.cid
    }
    await flush()
    await Promise.all(inFlight)
    const blob = cidFromDigest(RAW_CODE, await whole.digest())
    await sink.putManifest(blob, refs)
    return blob
  } finally {
    await Promise.allSettled(inFlight)
    await whole?.close()
  }
}

/** The verified bytes of `range` of a chunked blob, reading only the chunks it touches. */
export async function* readBlobRange(manifest: ChunkManifest, range: ByteRange, getChunk: (cid: CID) => Promise<Uint8Array>): AsyncIterable<Uint8Array> {
  const { offset, end } = checkRange(range, manifest.size)
  if (offset >= end) return
  const starts: number[] = []
  let at = 0
  for (const chunk of manifest.chunks) {
    starts.push(at)
    at += chunk.size
  }
  const first = chunkAt(starts, offset)
  let next = first
  const pending: Promise<Uint8Array>[] = []
  const enqueue = () => {
    if (next >= manifest.chunks.length || starts[next]! >= end) return
    const read = getChunk(manifest.chunks[next]!.cid)
    read.catch(() => undefined)
    pending.push(read)
    next++
  }
  for (let i = 0; i < READ_AHEAD; i++) enqueue()
  for (let i = first; pending.length > 0; i++) {
    const bytes = await pending.shift()!
    enqueue()
    if (bytes.length !== manifest.chunks[i]!.size) {
      throw new CkptError('CORRUPT_OBJECT', `chunk ${i} of blob ${manifest.blob.toString()} has ${bytes.length} bytes, its manifest says ${manifest.chunks[i]!.size}`)
    }
    const from = Math.max(0, offset - starts[i]!)
    const to = Math.min(bytes.length, end - starts[i]!)
    yield from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to)
  }
}

/** The [offset, end) a range covers within a blob of `size` bytes; INVALID_ARGUMENT naming a bad value. */
export function checkRange(range: ByteRange, size: number): { offset: number; end: number } {
  const offset = range.offset ?? 0
  for (const [name, value] of [['offset', offset], ['length', range.length ?? 0]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new CkptError('INVALID_ARGUMENT', `a byte range's ${name} must be a whole number ≥ 0, not ${String(value)}`, { details: { [name]: value } })
    }
  }
  const start = Math.min(offset, size)
  return { offset: start, end: range.length === undefined ? size : Math.min(size, start + range.length) }
}
