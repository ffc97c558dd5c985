import buffer from 'node:buffer'
import { CkptError, isCkptError } from '../errors.js'
import { NO_CAPABILITIES, type BackendSupports, type ObjectEntry, type ObjectStore, type PutOptions, type ScratchStore } from '../backend/interface.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidFromKey, cidString, isCidKey, objectKey, type Codec } from '../model/cid.js'
import { blake3, createBlake3 } from '../model/hash.js'
import { CHUNK_THRESHOLD, decodeManifest, encodeManifest, isManifestKey, manifestKey, storedKeys, type ChunkManifest, type ChunkRef } from '../model/manifest.js'
import { cutPoints } from '../model/chunker.js'
import { ChunkHasher } from '../model/stream-hash.js'
import type { ReusableBuffers } from '../io/reusable-buffers.js'
import { decodeNode } from '../model/value.js'
import { checkRange, readBlobRange, writeBlobStream, type ByteRange } from './blob-stream.js'
import { makeBlock, type Block } from './block.js'
import { fileHashesTo, rememberBlob, rememberedBlob, timedFileStat, wholeFileOf } from './file-source.js'

/** Reads of at least this many bytes of a chunked blob verify chunks on a worker thread. */
const VERIFY_ON_WORKER_BYTES = 8 * 1024 * 1024

/** The largest blob `getBytes` reads into one buffer (Node's Buffer limit); larger ones are read as streams. */
const MAX_WHOLE_READ = buffer.constants.MAX_LENGTH

/** Below this size a block is written without first asking whether it exists. */
const SKIP_CHECK_BELOW = 16 * 1024

/**
 * The object layer over a backend: writes only what is missing, and verifies every read
 * against its CID so wrong bytes are never returned.
 */
export class ObjectDb {
  /** `scratch`: the backend's per-machine space, where the stat cache lives; without it there is none. */
  constructor(
    readonly store: ObjectStore,
    /** What the backend declares beyond the required methods (interface.ts). */
    readonly supports: BackendSupports = NO_CAPABILITIES,
    private readonly scratch?: ScratchStore,
  ) {}

  /**
   * Stores blocks in one atomic batch. Large blocks the backend already has are not sent again;
   * small ones are rewritten blindly, which costs less than asking (a key always carries the
   * same bytes, so a rewrite changes nothing).
   */
  async putBlocks(blocks: readonly Block[], options?: PutOptions): Promise<void> {
    const entries = await this.entriesToWrite(blocks)
    if (entries.length > 0) await this.store.putMany(entries, this.supports.deferredSync ? options : undefined)
  }

  /**
   * The entries to send for `blocks`: each once, minus large ones already stored. A blob over
   * CHUNK_THRESHOLD becomes its chunks and manifest, minus chunks already stored, so storing a
   * slightly edited copy of a large blob writes only the chunks around the edit. The keys of what
   * was found stored and so not sent are added to `reused`, as `requires` groups for a ref update.
   */
  async entriesToWrite(blocks: readonly Block[], reused: Uint8Array[][] = []): Promise<ObjectEntry[]> {
    const unique = [...new Map(blocks.map((b) => [b.cid.toString(), b])).values()]
    const toChunk = unique.filter(isChunkedBlob)
    const manifests = toChunk.length === 0 ? [] : await this.store.has(toChunk.map((b) => manifestKey(b.cid)))
    const entries: ObjectEntry[] = []
    const plain: Block[] = unique.filter((b) => !isChunkedBlob(b))
    for (const [i, blob] of toChunk.entries()) {
      if (manifests[i]) {
        reused.push([manifestKey(blob.cid)])
        continue
      }
      const chunks = chunkBlocks(blob.bytes)
      plain.push(...chunks)
      entries.push(manifestEntry(blob.cid, chunks.map((c) => ({ cid: c.cid, size: c.bytes.length }))))
    }
    const large = plain.filter((b) => b.bytes.length >= SKIP_CHECK_BELOW)
    const present = large.length === 0 ? [] : await this.store.has(large.map((b) => objectKey(b.cid)))
    const stored = new Set(large.filter((_, i) => present[i]))
    for (const block of stored) reused.push([objectKey(block.cid)])
    const seen = new Set<string>()
    for (const b of plain) {
      const id = b.cid.toString()
      if (stored.has(b) || seen.has(id)) continue
      seen.add(id)
      entries.push({ key: objectKey(b.cid), value: b.bytes })
    }
    // Chunks before their manifest, so a reader that finds the manifest finds every chunk.
    return entries.sort((x, y) => Number(isManifestKey(x.key)) - Number(isManifestKey(y.key)))
  }

  /**
   * Stores a stream as one blob in bounded memory; returns its id (the raw CID of the whole content).
   * A stream over a whole file that is unchanged since it was last stored is not stored again: its
   * stat proves it unchanged, or one hash pass does (src/core/file-source.ts).
   * `onBytes` hears the bytes read (or hashed) so far.
   */
  async putBlobStream(source: AsyncIterable<Uint8Array | string>, onBytes?: (read: number) => void): Promise<CID> {
    const file = wholeFileOf(source)
    const scratch = this.scratch
    const counted = onBytes ? countingBytes(source, onBytes) : source
    if (file === undefined || scratch === undefined) return this.#writeStream(counted)
    const before = await timedFileStat(file)
    const known = await rememberedBlob(scratch, file, before.stat)
    if (known && (await this.has(known.blob)) && (known.trusted || (await fileHashesTo(file, known.blob, onBytes)))) {
      ;(source as { destroy?: () => void }).destroy?.()
      // Confirmed by its bytes: taken again, now with a time the racy rule may trust next time.
      if (!known.trusted) await rememberBlob(scratch, file, before, known.blob)
      return known.blob
    }
    // A failed hash pass counted bytes too: the count starts again with the write.
    onBytes?.(0)
    const blob = await this.#writeStream(counted)
    await rememberBlob(scratch, file, before, blob)
    return blob
  }

  #writeStream(source: AsyncIterable<Uint8Array | string>): Promise<CID> {
    return writeBlobStream(source, {
      // Chunks need not be durable one batch at a time: the manifest's write makes them so.
      putChunks: (chunks) => this.putBlocks(chunks, { deferSync: true }),
      putManifest: (blob, chunks) => this.store.putMany([manifestEntry(blob, chunks)]),
      putBlock: (block) => this.putBlocks([block]),
    })
  }

  async has(cid: CID): Promise<boolean> {
    return (await this.store.has(storedKeys(cid))).some(Boolean)
  }

  /** The manifest of a chunked blob, or undefined when `cid` is stored as one block (or not at all). */
  async manifest(cid: CID): Promise<ChunkManifest | undefined> {
    if (cid.code !== RAW_CODE) return undefined
    const bytes = await this.store.get(manifestKey(cid))
    return bytes === undefined ? undefined : decodeManifest(cid, bytes)
  }

  /**
   * A blob's size, with its verified bytes when it is stored as one block (at most 1 MiB, read
   * anyway to learn the size); a chunked blob's size comes from its manifest.
   */
  async sizeOf(cid: CID): Promise<{ size: number; bytes?: Uint8Array }> {
    const { bytes, manifest } = await this.#blob(cid)
    return bytes ? { size: bytes.length, bytes } : { size: manifest.size }
  }

  /**
   * A blob's verified bytes, piece by piece, optionally only `range`: a chunked blob reads just
   * the chunks the range touches, so memory stays bounded whatever the blob's size. With
   * `buffers`, a large read takes its chunks' memory from there, and the caller gives each piece
   * back once done with it (checkout does, once the piece is written).
   */
  async *readBlob(cid: CID, range: ByteRange = {}, buffers?: ReusableBuffers): AsyncIterable<Uint8Array> {
    const { bytes, manifest } = await this.#blob(cid)
    if (bytes) {
      const { offset, end } = checkRange(range, bytes.length)
      yield bytes.subarray(offset, end)
      return
    }
    // Reading much of a large blob, chunks are verified on a worker thread, eight at a time,
    // while this thread does the I/O.
    const { offset, end } = checkRange(range, manifest.size)
    if (end - offset < VERIFY_ON_WORKER_BYTES) {
      yield* readBlobRange(manifest, range, (chunks) => this.#getBlocks(chunks))
      return
    }
    const verifier = new ChunkHasher()
    try {
      yield* readBlobRange(manifest, range, (chunks) => this.#getBlocksVerifiedBy(chunks, verifier, buffers), 8)
    } finally {
      await verifier.close()
    }
  }

  async #getBlocksVerifiedBy(refs: ChunkRef[], verifier: ChunkHasher, buffers?: ReusableBuffers): Promise<Uint8Array[]> {
    const stored = await Promise.all(refs.map((ref) => this.#storedChunk(ref.cid, buffers && this.#lentFor(ref, buffers))))
    const { chunks, digests } = await verifier.hashChunks(stored)
    digests.forEach((digest, i) => {
      if (!equalBytes(digest, refs[i]!.cid.multihash.digest)) throw corruptObject(refs[i]!.cid)
    })
    return chunks
  }

  /**
   * Memory from `buffers` for reading the chunk `ref` into, where the backend reads into lent
   * memory; none for a size no chunk has (a damaged manifest must not make a read allocate).
   */
  #lentFor(ref: ChunkRef, buffers: ReusableBuffers): Uint8Array | undefined {
    return this.supports.readsInto && ref.size <= CHUNK_THRESHOLD ? buffers.take(ref.size) : undefined
  }

  /**
   * Checks that a blob is present and intact without holding it in memory: every chunk re-hashes
   * to its id and the whole content to the blob's. With `rehash` false, only that each piece exists.
   * Throws NOT_FOUND or CORRUPT_OBJECT naming the blob and, for chunked blobs, the chunk.
   */
  async checkBlob(cid: CID, rehash: boolean): Promise<void> {
    const manifest = await this.manifest(cid)
    if (!manifest) {
      if (!rehash && (await this.store.has([objectKey(cid)]))[0]) return
      await this.getBytes(cid)
      return
    }
    if (!rehash) {
      const present = await this.store.has(manifest.chunks.map((c) => objectKey(c.cid)))
      const missing = present.indexOf(false)
      if (missing >= 0) throw missingChunk(cid, manifest.chunks[missing]!.cid)
      return
    }
    const whole = createBlake3()
    const pieces = readBlobRange(manifest, {}, (chunks) => Promise.all(chunks.map(async ({ cid: chunk }) => {
      const stored = await this.#storedChunk(chunk).catch((err: unknown) => {
        throw isCkptError(err, 'NOT_FOUND') ? missingChunk(cid, chunk) : err
      })
      return verified(chunk, stored)
    })))
    for await (const piece of pieces) whole.update(piece)
    if (!equalBytes(whole.digest(), cid.multihash.digest)) {
      throw new CkptError('CORRUPT_OBJECT', `blob ${cidString(cid)} is corrupt: its chunks put together hash to a different id`, { details: { id: cidString(cid) } })
    }
  }

  /** The verified bytes of `cid`; NOT_FOUND when absent, CORRUPT_OBJECT when they do not hash to it. */
  async getBytes(cid: CID): Promise<Uint8Array> {
    const { bytes, manifest } = await this.#blob(cid)
    if (bytes) return bytes
    if (manifest.size > MAX_WHOLE_READ) {
      throw new CkptError('INVALID_ARGUMENT', `blob ${cidString(cid)} has ${manifest.size} bytes, too many to read into one buffer; read it as a stream`, {
        details: { id: cidString(cid), size: manifest.size },
      })
    }
    await this.#checkChunkSizes(cid, manifest)
    return joinPieces(readBlobRange(manifest, {}, (chunks) => this.#getBlocks(chunks)), manifest.size)
  }

  /**
   * The verified bytes of `cid` when it is stored as one block, as every blob of up to
   * CHUNK_THRESHOLD bytes is; undefined for a chunked blob, to be read as a stream. NOT_FOUND when absent.
   */
  async getBlock(cid: CID): Promise<Uint8Array | undefined> {
    return (await this.#blob(cid)).bytes
  }

  /**
   * {@link getBlock} of each id, in order, but NOT checked against the ids: for a caller that
   * checks each block itself with {@link checkBlock} before any use (checkout does, on its writer
   * thread). Blocks are read in one call where the backend offers batched reads
   * (`supports.batchedReads`), else with one read each, all at once.
   */
  async getBlocksUnchecked(cids: readonly CID[]): Promise<Array<Uint8Array | undefined>> {
    const stored = await this.#storedMany(cids)
    return Promise.all(stored.map((bytes, i) => bytes ?? this.getBlock(cids[i]!)))
  }

  /** What is stored under each id's object key, not yet checked: one call where the backend batches reads, else one read each, all at once. */
  #storedMany(cids: readonly CID[]): Promise<Array<Uint8Array | undefined>> {
    const keys = cids.map(objectKey)
    return this.supports.batchedReads && this.store.getMany ? this.store.getMany(keys) : Promise.all(keys.map((key) => this.store.get(key)))
  }

  /**
   * Compares the manifest's chunk sizes with what is stored before a whole read allocates its
   * buffer, so a damaged manifest cannot make a read allocate what the store does not hold.
   */
  async #checkChunkSizes(blob: CID, manifest: ChunkManifest): Promise<void> {
    const sizes = await this.store.sizes(manifest.chunks.map((c) => objectKey(c.cid)))
    manifest.chunks.forEach((chunk, i) => {
      if (sizes[i] === undefined) throw missingChunk(blob, chunk.cid)
      if (sizes[i] !== chunk.size) {
        throw new CkptError('CORRUPT_OBJECT', `the chunk manifest of blob ${cidString(blob)} is corrupt: chunk ${i} is stored with ${sizes[i]} bytes, not ${chunk.size}`, {
          details: { id: cidString(blob), chunk: cidString(chunk.cid) },
        })
      }
    })
  }

  /**
   * An object as stored: its verified bytes when it is one block (looked up first: most are), else
   * the manifest of a chunked blob. NOT_FOUND when it is neither.
   */
  async #blob(cid: CID): Promise<{ bytes: Uint8Array; manifest?: undefined } | { bytes?: undefined; manifest: ChunkManifest }> {
    const stored = await this.store.get(objectKey(cid))
    if (stored !== undefined) return { bytes: verified(cid, stored) }
    const manifest = await this.manifest(cid)
    if (manifest) return { manifest }
    throw new CkptError('NOT_FOUND', `object ${cidString(cid)} is not in the store`, { details: { id: cidString(cid) } })
  }

  /** Chunks of a chunked blob, each verified; never chunked blobs themselves. */
  #getBlocks(chunks: readonly ChunkRef[]): Promise<Uint8Array[]> {
    return Promise.all(chunks.map(async ({ cid }) => verified(cid, await this.#storedChunk(cid))))
  }

  /**
   * A chunk's stored bytes, not yet verified, read into `into` where the backend can (a view of
   * it then; `into` is otherwise left unused); NOT_FOUND naming it when absent.
   */
  async #storedChunk(cid: CID, into?: Uint8Array): Promise<Uint8Array> {
    const stored = await (into && this.store.getInto ? this.store.getInto(objectKey(cid), into) : this.store.get(objectKey(cid)))
    if (stored === undefined) throw new CkptError('NOT_FOUND', `chunk ${cidString(cid)} is not in the store`, { details: { id: cidString(cid) } })
    return stored
  }

  /** The decoded dag-json node `cid` names, verified. */
  async getNode(cid: CID): Promise<unknown> {
    if (cid.code !== DAG_JSON_CODE) {
      throw new CkptError('INVALID_ARGUMENT', `object ${cidString(cid)} is bytes, not a structured node`, { details: { id: cidString(cid) } })
    }
    return decodeStoredNode(cid, await this.getBytes(cid))
  }

  /** Every stored object id within the given codec (or all), in key order. Chunked blobs are listed as their chunks. */
  async *list(codec?: Codec): AsyncIterable<CID> {
    for await (const key of this.store.keys()) {
      // Manifests are listed as their chunks. Anything else that is not a CID is no object: the
      // stat-cache entries builds before the scratch space left here, until gc deletes them.
      if (!isCidKey(key)) continue
      const cid = cidFromKey(key)
      if (codec === undefined || cid.code === codec) yield cid
    }
  }

  /**
   * {@link getBytes} of each, in order. Blobs stored as one block are read together, in one call
   * where the backend batches reads; the others (chunked, missing, damaged) as getBytes reads them.
   */
  async getBytesMany(cids: readonly CID[]): Promise<Uint8Array[]> {
    const stored = cids.length > 1 && this.supports.batchedReads ? await this.#storedMany(cids) : []
    return Promise.all(cids.map((cid, i) => {
      const bytes = stored[i]
      return bytes === undefined ? this.getBytes(cid) : verified(cid, bytes)
    }))
  }

  /** Stored ids in a key range (for short-id lookups). */
  async *listRange(range: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<CID> {
    for await (const key of this.store.keys(range)) yield cidFromKey(key)
  }
}

/** `stored` as a plain Uint8Array, after checking that it hashes to `cid`. */
function verified(cid: CID, stored: Uint8Array): Uint8Array {
  // A plain Uint8Array view, whatever subclass (Buffer) the backend hands back.
  const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength)
  if (!equalBytes(blake3(bytes), cid.multihash.digest)) throw corruptObject(cid)
  return bytes
}

/** Throws CORRUPT_OBJECT unless `bytes` hash to `cid`. */
export function checkBlock(cid: CID, bytes: Uint8Array): void {
  verified(cid, bytes)
}

export function corruptObject(cid: CID): CkptError {
  return new CkptError('CORRUPT_OBJECT', `object ${cidString(cid)} is corrupt: its bytes hash to a different id`, { details: { id: cidString(cid) } })
}

function missingChunk(blob: CID, chunk: CID): CkptError {
  return new CkptError('NOT_FOUND', `chunk ${cidString(chunk)} of blob ${cidString(blob)} is missing`, { details: { id: cidString(blob), chunk: cidString(chunk) } })
}

function isChunkedBlob(block: Block): boolean {
  return block.cid.code === RAW_CODE && block.bytes.length > CHUNK_THRESHOLD
}

function chunkBlocks(bytes: Uint8Array): Block[] {
  let start = 0
  return cutPoints(bytes).map((end) => {
    const block = makeBlock(RAW_CODE, bytes.subarray(start, end))
    start = end
    return block
  })
}

function manifestEntry(blob: CID, chunks: readonly ChunkRef[]): ObjectEntry {
  const size = chunks.reduce((sum, c) => sum + c.size, 0)
  return { key: manifestKey(blob), value: encodeManifest({ blob, size, chunks }) }
}

async function joinPieces(pieces: AsyncIterable<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size)
  let at = 0
  for await (const piece of pieces) {
    out.set(piece, at)
    at += piece.length
  }
  return out
}

/** Decodes the verified bytes of dag-json object `cid`; CORRUPT_OBJECT when they are not dag-json. */
export function decodeStoredNode(cid: CID, bytes: Uint8Array): unknown {
  try {
    return decodeNode(bytes)
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', `object ${cidString(cid)} does not decode as dag-json`, { cause, details: { id: cidString(cid) } })
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export { RAW_CODE, DAG_JSON_CODE }

/** `source` as it is, telling `onBytes` the bytes passed on so far after each piece. */
async function* countingBytes(source: AsyncIterable<Uint8Array | string>, onBytes: (read: number) => void): AsyncIterable<Uint8Array | string> {
  let read = 0
  for await (const piece of source) {
    yield piece
    read += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.length
    onBytes(read)
  }
}
