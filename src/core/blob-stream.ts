import { CkptError } from '../errors.js'
import { CID, RAW_CODE, cidFromDigest, cidOf } from '../model/cid.js'
import { Chunker } from '../model/chunker.js'
import { BlobHasher } from '../model/stream-hash.js'
import { CHUNK_THRESHOLD, chunkAt, type ChunkManifest, type ChunkRef } from '../model/manifest.js'
import type { Block } from './block.js'

/** A byte range of a blob: `length` bytes from `offset` (default: from the start, to the end). */
export interface ByteRange {
  readonly offset?: number
  readonly length?: number
}

/** Where a streamed blob goes. */
export interface BlobSink {
  /** Stores a batch of chunks; they need to be durable only once the manifest is written. */
  putChunks(chunks: Block[]): Promise<void>
  putManifest(blob: CID, chunks: ChunkRef[]): Promise<void>
  /** Stores a blob small enough to be one block. */
  putBlock(block: Block): Promise<void>
}

/** Chunks are hashed and written in batches of about this many bytes... */
const FLUSH_BYTES = 8 * 1024 * 1024
/** ...with at most this many batches in flight, which bounds memory while hashing overlaps chunking and writing. */
const MAX_IN_FLIGHT = 2
/** Chunks read ahead of the consumer, so reading and verifying overlap. */
const READ_AHEAD = 8

/**
 * Stores a stream as one blob: content-defined chunks written as they are found, then the
 * manifest. A stream that ends at or under CHUNK_THRESHOLD becomes a single raw block instead.
 */
export async function writeBlobStream(source: AsyncIterable<Uint8Array | string>, sink: BlobSink): Promise<CID> {
  const chunker = new Chunker()
  // Started only once the blob proves large: small blobs are hashed here, in one call.
  let hasher: BlobHasher | undefined
  const refs: ChunkRef[] = []
  const inFlight: Promise<void>[] = []
  let wholeDone: Promise<void> = Promise.resolve()
  let pending: Uint8Array[] = []
  let pendingBytes = 0

  // A batch's chunk ids are computed on one worker, the chunks written, then added to the whole
  // hash on another. Batches keep their order in `refs` because each reserves its slots first.
  const flush = async () => {
    if (pending.length === 0) return
    hasher ??= new BlobHasher()
    const batch = pending
    const at = refs.length
    refs.length += batch.length
    pending = []
    pendingBytes = 0
    const ids = hasher.hashChunks(batch)
    const written = ids.then(({ chunks, digests }) => {
      const blocks = chunks.map((bytes, i) => ({ cid: cidFromDigest(RAW_CODE, digests[i]!), bytes }))
      blocks.forEach((b, i) => (refs[at + i] = { cid: b.cid, size: b.bytes.length }))
      return sink.putChunks(blocks).then(() => chunks)
    })
    // Once written, the chunks go on to the whole-content hash, in batch order.
    wholeDone = Promise.all([wholeDone, written]).then(([, chunks]) => hasher!.addToWhole(chunks))
    const done = wholeDone
    done.catch(() => undefined) // awaited below; this only keeps an early failure from going unhandled
    inFlight.push(done)
    while (inFlight.length > MAX_IN_FLIGHT) await inFlight.shift()
  }

  try {
    for await (const piece of source) {
      const bytes = typeof piece === 'string' ? new TextEncoder().encode(piece) : piece
      if (!(bytes instanceof Uint8Array)) throw new CkptError('INVALID_ARGUMENT', 'a blob stream must yield Uint8Array or string pieces')
      // No await per chunk: awaiting inside this loop once per chunk halved V8's speed on it.
      for (const chunk of chunker.push(bytes)) {
        pending.push(chunk)
        pendingBytes += chunk.length
      }
      if (pendingBytes >= FLUSH_BYTES) await flush()
    }
    const last = chunker.finish()
    if (last) {
      pending.push(last)
      pendingBytes += last.length
    }
    if (!hasher) return await storeHeld(pending, sink)
    await flush()
    await Promise.all(inFlight)
    const blob = cidFromDigest(RAW_CODE, await hasher!.digest())
    await sink.putManifest(blob, refs)
    return blob
  } finally {
    await Promise.allSettled(inFlight)
    await hasher?.close()
  }
}

/**
 * A stream that ended before its first batch was full: hashed here, which costs less than starting
 * the hashing threads. Up to CHUNK_THRESHOLD it is one block, else chunks and a manifest.
 */
async function storeHeld(chunks: Uint8Array[], sink: BlobSink): Promise<CID> {
  const whole = new Uint8Array(Buffer.concat(chunks))
  const blob = cidOf(RAW_CODE, whole)
  if (whole.length <= CHUNK_THRESHOLD) {
    await sink.putBlock({ cid: blob, bytes: whole })
    return blob
  }
  const blocks = chunks.map((bytes) => ({ cid: cidOf(RAW_CODE, bytes), bytes }))
  await sink.putChunks(blocks)
  await sink.putManifest(blob, blocks.map((b) => ({ cid: b.cid, size: b.bytes.length })))
  return blob
}

/** The verified bytes of `range` of a chunked blob, reading only the chunks it touches. */
export async function* readBlobRange(
  manifest: ChunkManifest,
  range: ByteRange,
  getChunks: (chunks: ChunkRef[]) => Promise<Uint8Array[]>,
  groupSize = 1,
): AsyncIterable<Uint8Array> {
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
  const pending: Promise<Uint8Array[]>[] = []
  const enqueue = () => {
    const chunks: ChunkRef[] = []
    while (chunks.length < groupSize && next < manifest.chunks.length && starts[next]! < end) chunks.push(manifest.chunks[next++]!)
    if (chunks.length === 0) return
    const read = getChunks(chunks)
    read.catch(() => undefined)
    pending.push(read)
  }
  for (let i = 0; i < Math.max(2, READ_AHEAD / groupSize); i++) enqueue()
  let i = first
  while (pending.length > 0) {
    const group = await pending.shift()!
    enqueue()
    for (const bytes of group) {
      yield checkedPiece(manifest, i, bytes, offset, end, starts)
      i++
    }
  }
}

/** Chunk `i` as read, cut to the range, after checking it has the size its manifest gives. */
function checkedPiece(manifest: ChunkManifest, i: number, bytes: Uint8Array, offset: number, end: number, starts: number[]): Uint8Array {
  if (bytes.length !== manifest.chunks[i]!.size) {
    throw new CkptError('CORRUPT_OBJECT', `chunk ${i} of blob ${manifest.blob.toString()} has ${bytes.length} bytes, its manifest says ${manifest.chunks[i]!.size}`)
  }
  const from = Math.max(0, offset - starts[i]!)
  const to = Math.min(bytes.length, end - starts[i]!)
  return from === 0 && to === bytes.length ? bytes : bytes.subarray(from, to)
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
