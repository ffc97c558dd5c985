import { Worker } from 'node:worker_threads'
import { WorkerCalls } from '../io/worker-calls.js'
import type { RecordedFile } from './manifest.js'
import { DIGEST_LENGTH } from '../model/hash.js'
import { MISMATCH_CODE, type WriteBatch, type WriteReply } from './writer-worker.js'

/*
 * Creating a small file costs its open, write, fstat and close, about as much as everything else a
 * checkout does for it (reading the block, checking its hash, decoding the tree). A thread of its
 * own does those calls while the calling thread reads the next files, so a checkout of many small
 * files uses two cores, as `cp -r` cannot. The thread only creates files (O_EXCL, never through
 * anything already there) in folders the caller has made; it knows nothing of the store.
 */

/** The worker module, from dist/ also when this file runs from its sources under test. */
function workerUrl(): URL {
  const here = import.meta.url
  if (!here.endsWith('.ts')) return new URL('./writer-worker.js', here)
  return new URL(here.replace(/\/src\/checkout\/writer-thread\.ts$/, '/dist/src/checkout/writer-worker.js'))
}

export interface FileToWrite {
  /** Absolute path of a file that does not exist yet, in a folder that does. */
  readonly path: string
  readonly bytes: Uint8Array
  /** The BLAKE3 digest `bytes` must have: the file is not made otherwise. */
  readonly digest: Uint8Array
}

/** A file of a batch was not written because its bytes do not have the digest given; `written` is its index. */
export class BlockMismatch extends Error {
  constructor(readonly written: number) {
    super('bytes do not match their digest')
  }
}

/** The least a batch buffer holds: the caller's batches are about 1 MiB. Buffers go back and forth, so new ones are seldom made. */
const BUFFER_BYTES = 1280 * 1024

/** A thread that writes batches of small files, in the order given. Call {@link close} when done, also on failure. */
export class WriterThread {
  /** Buffers the thread has handed back, for the next batches: allocating a fresh one each time cost more than passing it. */
  readonly #spare: ArrayBuffer[] = []
  readonly #thread = new WorkerCalls<WriteReply>(new Worker(workerUrl()), 'writing files', (reply) => this.#spare.push(reply.data.buffer as ArrayBuffer))

  /**
   * Creates and writes each file; resolves with what the file system recorded of each. On the first
   * failure, the files before it stay written and the error (an errno error naming the file) is thrown.
   */
  async write(files: readonly FileToWrite[]): Promise<RecordedFile[]> {
    // One string and one buffer (handed over, not copied) cost far less to pass than an object per file.
    const size = files.reduce((sum, f) => sum + f.bytes.length, 0)
    const spare = this.#spare.pop()
    const data = new Uint8Array(spare && spare.byteLength >= size ? spare : new ArrayBuffer(Math.max(size, BUFFER_BYTES)))
    const ends = new Uint32Array(files.length)
    const digests = new Uint8Array(files.length * DIGEST_LENGTH)
    let at = 0
    files.forEach((file, i) => {
      data.set(file.bytes, at)
      ends[i] = at += file.bytes.length
      digests.set(file.digest, i * DIGEST_LENGTH)
    })
    const batch: Omit<WriteBatch, 'id'> = { paths: files.map((f) => f.path).join('\0'), data, ends, digests }
    const reply = await this.#thread.call(batch, [data.buffer as ArrayBuffer])
    if (reply.failed) {
      const { index, code, message } = reply.failed
      if (code === MISMATCH_CODE) throw new BlockMismatch(index)
      throw Object.assign(new Error(message), { code, path: files[index]?.path, written: index })
    }
    return (reply.stats ?? []).map(([size, ino, mtimeNs]) => ({ size, ino, mtimeNs }))
  }

  close(): Promise<void> {
    return this.#thread.close()
  }
}
