import type { Worker } from 'node:worker_threads'
import { CkptError } from '../errors.js'

/**
 * Calls to a worker thread that answers them in order: each message goes with an `id`, each reply
 * names it. Once the thread fails or exits, every call waiting and every later one fails with
 * `IO_ERROR` saying what the thread was `doing`. Call {@link close} when done, also on failure.
 */
export class WorkerCalls<Reply extends { readonly id: number }> {
  readonly #waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>()
  #nextId = 0
  #failure: Error | undefined

  /** `onReply` sees each reply first (to take back a buffer handed over with the call). */
  constructor(
    private readonly worker: Worker,
    private readonly doing: string,
    onReply?: (reply: Reply) => void,
  ) {
    worker.on('message', (reply: Reply) => {
      onReply?.(reply)
      this.#waiting.get(reply.id)?.resolve(reply)
      this.#waiting.delete(reply.id)
    })
    worker.on('error', (err) => this.#fail(err))
    worker.on('exit', () => this.#fail(new Error(`the thread for ${doing} exited`)))
  }

  /** Sends `message` with the next id, handing over `transfer`; resolves with the thread's reply. */
  call(message: object, transfer: ArrayBuffer[]): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#error())
    const id = this.#nextId++
    const reply = new Promise<Reply>((resolve, reject) => this.#waiting.set(id, { resolve, reject }))
    this.worker.postMessage({ ...message, id }, transfer)
    return reply
  }

  async close(): Promise<void> {
    this.#failure ??= new Error('closed')
    await this.worker.terminate()
  }

  #fail(err: Error): void {
    this.#failure ??= err
    for (const { reject } of this.#waiting.values()) reject(this.#error())
    this.#waiting.clear()
  }

  #error(): CkptError {
    const cause = this.#failure as Error
    return new CkptError('IO_ERROR', `${this.doing} on a worker thread failed: ${cause.message}`, { cause })
  }
}

/** The buffers a message hands over to the other thread: every chunk's, except shared memory, which is not moved. */
export function movedBuffers(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  return chunks.flatMap((c) => (c.buffer instanceof SharedArrayBuffer ? [] : [c.buffer as ArrayBuffer]))
}
