import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { WorkerCalls } from '../io/worker-calls.js'

/*
 * Hashing of large blobs on worker threads: when storing, each chunk's BLAKE3 (its id) and the
 * running BLAKE3 of the whole content (the blob's id); when reading, the check of each chunk. The
 * calling thread keeps content-defined chunking and the I/O, so the work spreads over the
 * machine's cores; one thread alone cannot keep up with the disk (docs/performance.md). Chunks
 * travel by transfer, not copy, both ways. Chunk ids use blake3-jit (fastest one-shot), the whole
 * content hash-wasm (fastest streaming; docs/hashing.md).
 */

/** Where the worker loads its hash libraries from; resolved on first use, which keeps CLI start-up lean. */
let modules: { blake3: string; hashWasm: string } | undefined
function hashModules(): { blake3: string; hashWasm: string } {
  const resolve = createRequire(import.meta.url).resolve
  modules ??= { blake3: pathToFileURL(resolve('blake3-jit')).href, hashWasm: resolve('hash-wasm') }
  return modules
}

// Evaluated as a CommonJS script in the worker, so it runs the same from dist/ and from sources under test.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createBLAKE3 } = require(workerData.hashWasm)
const ready = Promise.all([import(workerData.blake3), createBLAKE3(256)]).then(([{ hash }, whole]) => {
  whole.init()
  return { hash, whole }
})
let queue = Promise.resolve()
parentPort.on('message', (message) => {
  queue = queue.then(() => ready).then(({ hash, whole }) => {
    if (message.type === 'digest') return parentPort.postMessage({ id: message.id, digest: whole.digest('binary') })
    if (message.type === 'whole') {
      for (const chunk of message.chunks) whole.update(chunk)
      return parentPort.postMessage({ id: message.id })
    }
    const digests = message.chunks.map((chunk) => hash(chunk, 32))
    const moved = message.chunks.map((c) => c.buffer).filter((b) => !(b instanceof SharedArrayBuffer))
    parentPort.postMessage({ id: message.id, chunks: message.chunks, digests }, moved)
  })
})
`

interface Reply {
  readonly id: number
  readonly chunks?: Uint8Array[]
  readonly digests?: Uint8Array[]
  readonly digest?: Uint8Array
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
function hashThread(): WorkerCalls<Reply> {
  return new WorkerCalls<Reply>(new Worker(WORKER_SOURCE, { eval: true, workerData: hashModules() }), 'hashing')
}

/** Chunks that can go to a worker without copying: shared memory as it is, the rest moved whole. */
function transferable(chunks: Uint8Array[]): Uint8Array[] {
  return chunks.map((c) => (c.buffer instanceof SharedArrayBuffer || (c.byteOffset === 0 && c.byteLength === c.buffer.byteLength) ? c : new Uint8Array(c)))
}

/** The buffers a call moves to the worker: every chunk's, except shared memory, which is not moved. */
function movedBuffers(chunks: Uint8Array[]): ArrayBuffer[] {
  return chunks.flatMap((c) => (c.buffer instanceof SharedArrayBuffer ? [] : [c.buffer as ArrayBuffer]))
}
