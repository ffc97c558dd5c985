import { CkptError } from '../errors.js'
import { CID, RAW_CODE, cidFromDigest, cidOf } from '../model/cid.js'
import { Chunker } from '../model/chunker.js'
import { createBlake3 } from '../model/hash.js'
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
const READ_AHEAD = 4

/**
 * Stores a stream as one blob: content-defined chunks written as they are found, then the
 * manifest. A stream that ends at or under CHUNK_THRESHOLD becomes a single raw block instead.
 */
export async function writeBlobStream(source: AsyncIterable<Uint8Array | string>, sink: BlobSink): Promise<CID> {
  const chunker = new Chunker()
  const whole = createBlake3()
  const refs: ChunkRef[] = []
  const inFlight: Promise<void>[] = []
  let held: Uint8Array[] = []
  let heldBytes = 0
  let chunked = false
  let batch: Block[] = []
  let batchBytes = 0

  const flush = async () => {
    if (batch.length === 0) return
    const write = sink.putChunks(batch)
    write.catch(() => undefined) // awaited below; this only keeps an early failure from going unhandled
    inFlight.push(write)
    batch = []
    batchBytes = 0
    while (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift()
  }
  const addChunk = async (bytes: Uint8Array) => {
    const block = { cid: cidOf(RAW_CODE, bytes), bytes }
    refs.push({ cid: block.cid, size: bytes.length })
    batch.push(block)
    batchBytes += bytes.length
    if (batchBytes >= FLUSH_BYTES) await flush()
  }
  const accept = async (chunk: Uint8Array) => {
    if (chunked) return addChunk(chunk)
    held.push(chunk)
    heldBytes += chunk.length
    if (heldBytes <= CHUNK_THRESHOLD) return
    chunked = true
    const pending = held
    held = []
    for (const c of pending) await addChunk(c)
  }

  try {
    for await (const piece of source) {
      const bytes = typeof piece === 'string' ? new TextEncoder().encode(piece) : piece
      if (!(bytes instanceof Uint8Array)) throw new CkptError('INVALID_ARGUMENT', 'a blob stream must yield Uint8Array or string pieces')
      whole.update(bytes)
      for (const chunk of chunker.push(bytes)) await accept(chunk)
    }
    const last = chunker.finish()
    if (last) await accept(last)
    const blob = cidFromDigest(RAW_CODE, whole.digest())
    if (!chunked) {
      await sink.putChunks([{ cid: blob, bytes: new Uint8Array(Buffer.concat(held)) }])
      return blob
    }
    await flush()
    await Promise.all(inFlight)
    await sink.putManifest(blob, refs)
    return blob
  } finally {
    await Promise.allSettled(inFlight)
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
