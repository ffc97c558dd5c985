import { Worker } from 'node:worker_threads'
import { WorkerCalls, movedBuffers } from '../io/worker-calls.js'
import type { HashReply } from './hash-worker.js'

/*
 * Hashing of large blobs on worker threads: when storing, each chunk's BLAKE3 (its id) and the
 * running BLAKE3 of the whole content (the blob's id); when reading, the check of each chunk. The
 * calling thread keeps content-defined chunking and the I/O, so the work spreads over the
 * machine's cores; one thread alone cannot keep up with the disk (docs/performance.md). Chunks
 * travel by transfer, not copy, both ways. Both hashes run on our WebAssembly SIMD BLAKE3
 * (blake3-simd.ts; docs/hashing.md).
 */

/** The worker module, from dist/ also when this file runs from its sources under test. */
function workerUrl(): URL {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new URL('./hash-worker.js', here)
  return new URL(here.replace(/\/src\/model\/stream-hash\.ts$/, '/dist/src/model/hash-worker.js'))
}

/**
 * Hashes one blob on two threads of its own: one computes chunk ids, the other the whole-content
 * hash, so with the caller's chunking all of the machine's cores are busy. Call {@link close} when
 * done, also on failure.
 */
export class BlobHasher {
  readonly #ids = new ChunkHasher()
  readonly #whole = hashThread()

  /** See {@link ChunkHasher.hashChunks}. */
  hashChunks(chunks: Uint8Array[]): Promise<{ chunks: Uint8Array[]; digests: Uint8Array[] }> {
    return this.#ids.hashChunks(chunks)
  }

  /** Adds chunks, in content order, to the whole-content hash. They are handed over for good. */
  async addToWhole(given: Uint8Array[]): Promise<void> {
    const chunks = transferable(given)
    await this.#whole.call({ type: 'whole', chunks }, movedBuffers(chunks))
  }

  /** The BLAKE3-256 of every chunk added so far, in order. */
  async digest(): Promise<Uint8Array> {
    return new Uint8Array((await this.#whole.call({ type: 'digest' }, [])).digest ?? [])
  }

  async close(): Promise<void> {
    await Promise.all([this.#ids.close(), this.#whole.close()])
  }
}

/** Chunk ids (BLAKE3-256 of each chunk) on a thread of its own: for storing, and for verifying reads. */
export class ChunkHasher {
  readonly #thread = hashThread()

  /**
   * Each chunk's BLAKE3-256, and the chunks back. The chunks are handed to the worker thread and
   * are unusable here until returned (one that shares its buffer is copied first). A chunk in
   * shared memory is read there in place, and comes back as the same view.
   */
  async hashChunks(given: Uint8Array[]): Promise<{ chunks: Uint8Array[]; digests: Uint8Array[] }> {
    const chunks = transferable(given)
    const reply = await this.#thread.call({ type: 'ids', chunks }, movedBuffers(chunks))
    const returned = reply.chunks ?? []
    return { chunks: chunks.map((c, i) => (c.buffer instanceof SharedArrayBuffer ? c : returned[i]!)), digests: reply.digests ?? [] }
  }

  close(): Promise<void> {
    return this.#thread.close()
  }
}

/** A hashing worker thread, answering calls in order. */
function hashThread(): WorkerCalls<HashReply> {
  return new WorkerCalls<HashReply>(new Worker(workerUrl()), 'hashing')
}

/** Chunks that can go to a worker without copying: shared memory as it is, the rest moved whole. */
function transferable(chunks: Uint8Array[]): Uint8Array[] {
  return chunks.map((c) => (c.buffer instanceof SharedArrayBuffer || (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength) ? c : new Uint8Array(c)))
}

