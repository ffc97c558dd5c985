import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { CkptError } from '../errors.js'

/*
 * The whole-content BLAKE3 of a large stream, computed on a worker thread so that it overlaps
 * the chunking and chunk hashing on the calling thread (the machine has more than one core, and
 * one thread cannot keep up with the disk). Incremental hashing uses hash-wasm, the fastest
 * streaming BLAKE3 that installs from the registry (docs/hashing.md).
 */

/** Pieces not yet hashed by the worker are capped at this many bytes, so memory stays bounded. */
const MAX_QUEUED_BYTES = 32 * 1024 * 1024

const HASH_WASM = createRequire(import.meta.url).resolve('hash-wasm')

// Evaluated as a CommonJS script in the worker, so it runs the same from dist/ and from sources under test.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const { createBLAKE3 } = require(workerData.hashWasm)
const queue = []
let hasher
const handle = (message) => {
  if (message.type === 'update') {
    hasher.update(message.bytes)
    parentPort.postMessage({ type: 'ack', bytes: message.bytes.length })
  } else {
    parentPort.postMessage({ type: 'digest', digest: hasher.digest('binary') })
  }
}
createBLAKE3(256).then((h) => {
  hasher = h
  hasher.init()
  for (const message of queue.splice(0)) handle(message)
})
parentPort.on('message', (message) => (hasher ? handle(message) : queue.push(message)))
`

/** An incremental BLAKE3-256 running on its own thread. Call {@link close} when done, also on failure. */
export class WorkerHasher {
  readonly #worker: Worker
  #queued = 0
  #drained: (() => void) | undefined
  #digest: ((digest: Uint8Array) => void) | undefined
  #failure: Error | undefined

  constructor() {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { hashWasm: HASH_WASM } })
    this.#worker.on('message', (message: { type: 'ack'; bytes: number } | { type: 'digest'; digest: Uint8Array }) => {
      if (message.type === 'ack') {
        this.#queued -= message.bytes
        if (this.#queued <= MAX_QUEUED_BYTES / 2) this.#drained?.()
      } else {
        this.#digest?.(new Uint8Array(message.digest))
      }
    })
    this.#worker.on('error', (err) => this.#fail(err))
    this.#worker.on('exit', () => this.#fail(new Error('the hashing thread exited')))
  }

  /**
   * Queues `bytes` for hashing; waits only while too much is queued. With `transfer`, a Uint8Array
   * that spans its whole buffer is handed over to the hashing thread instead of copied, and is
   * unusable here afterwards.
   */
  async update(bytes: Uint8Array, options: { transfer?: boolean } = {}): Promise<void> {
    this.#throwIfFailed()
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    this.#worker.postMessage({ type: 'update', bytes }, options.transfer && whole ? [bytes.buffer as ArrayBuffer] : [])
    this.#queued += bytes.length
    if (this.#queued > MAX_QUEUED_BYTES) await new Promise<void>((resolve) => (this.#drained = resolve))
    this.#drained = undefined
    this.#throwIfFailed()
  }

  /** The digest of everything given to {@link update}. */
  digest(): Promise<Uint8Array> {
    this.#throwIfFailed()
    const result = new Promise<Uint8Array>((resolve) => (this.#digest = resolve))
    this.#worker.postMessage({ type: 'digest' })
    return result.then((digest) => {
      this.#throwIfFailed()
      return digest
    })
  }

  async close(): Promise<void> {
    this.#failure ??= new Error('closed')
    await this.#worker.terminate()
  }

  #fail(err: Error): void {
    this.#failure ??= err
    this.#drained?.()
    this.#digest?.(new Uint8Array(0))
  }

  #throwIfFailed(): void {
    if (this.#failure) throw new CkptError('IO_ERROR', `hashing on a worker thread failed: ${this.#failure.message}`, { cause: this.#failure })
  }
}
