import path from 'node:path'
import { fileSystemError } from '../io/fs-errors.js'
import { recordOf, type RecordedFile } from './manifest.js'
import { writeNewFile, writeNewFileSync, type PieceSource } from './write-file.js'
import { BlockMismatch, WriterThread, type FileToWrite } from './writer-thread.js'
import { checkBlock, corruptObject } from '../core/objects.js'
import type { CID } from '../model/cid.js'

/** Small files written here before a writer thread is worth starting (it takes a few tens of ms). */
const WRITTEN_HERE_FIRST = 256
/** Files up to this size go to the writer thread; larger ones cost more to copy than to write here. */
const THREAD_FILE_BYTES = 64 * 1024
const BATCH_FILES = 256
const BATCH_BYTES = 1024 * 1024
/** Batches handed to the thread and not yet done: keeps it busy, and memory bounded. */
const BATCHES_IN_FLIGHT = 4

type Settled = { recorded: RecordedFile[] } | { err: unknown }

/**
 * Writes the new files of a checkout into folders that exist, and reports each one written. Once
 * a checkout has many small files, they are written in batches on a writer thread while the
 * caller reads the next ones; the rest are written here. Call {@link finish} on success, or
 * {@link abandon} on failure, which waits for the thread so nothing is written after it returns.
 */
export class FileSink {
  #thread: WriterThread | undefined
  #writtenHere = 0
  #batch: FileToWrite[] = []
  #batchNames: string[] = []
  #batchIds: CID[] = []
  #batchBytes = 0
  readonly #inFlight: Array<{ names: string[]; ids: CID[]; done: Promise<Settled> }> = []

  constructor(
    /** The checkout folder as the user named it, for error messages. */
    readonly root: string,
    readonly onWritten: (name: string, recorded: RecordedFile) => void,
  ) {}

  /**
   * Writes `name` at `file`: `block`, the unchecked bytes of the one block of object `id`, when
   * there is one, else `content()` streamed. A block is written only once its bytes hash to `id`
   * (CORRUPT_OBJECT otherwise, and no file made for it).
   */
  async add(name: string, file: string, block: Uint8Array | undefined, content: PieceSource, id?: CID): Promise<void> {
    if (block && !id) throw new Error('FileSink: a block without its id cannot be checked')
    if (block && id && block.length <= THREAD_FILE_BYTES && this.#writtenHere >= WRITTEN_HERE_FIRST) {
      this.#batch.push({ path: file, bytes: block, digest: id.multihash.digest })
      this.#batchNames.push(name)
      this.#batchIds.push(id)
      this.#batchBytes += block.length
      if (this.#batch.length >= BATCH_FILES || this.#batchBytes >= BATCH_BYTES) await this.#send()
      return
    }
    if (block && id) checkBlock(id, block)
    try {
      this.onWritten(name, recordOf(block ? writeNewFileSync(file, [block]) : await writeNewFile(file, content, false)))
    } catch (err) {
      throw fileSystemError(err, path.join(this.root, name), 'cannot write')
    }
    if (block) this.#writtenHere++
  }

  /** Waits for every file to be written; throws the first failure. */
  async finish(): Promise<void> {
    await this.#send()
    while (this.#inFlight.length > 0) await this.#settleOldest()
    await this.#thread?.close()
  }

  /** Waits for the writes under way, ignoring their outcome, and stops the thread. */
  async abandon(): Promise<void> {
    await Promise.all(this.#inFlight.map((batch) => batch.done))
    this.#inFlight.length = 0
    await this.#thread?.close()
  }

  async #send(): Promise<void> {
    if (this.#batch.length === 0) return
    this.#thread ??= new WriterThread()
    const files = this.#batch
    const done = this.#thread.write(files).then(
      (recorded): Settled => ({ recorded }),
      (err: unknown): Settled => ({ err }),
    )
    this.#inFlight.push({ names: this.#batchNames, ids: this.#batchIds, done })
    this.#batch = []
    this.#batchNames = []
    this.#batchIds = []
    this.#batchBytes = 0
    if (this.#inFlight.length > BATCHES_IN_FLIGHT) await this.#settleOldest()
  }

  async #settleOldest(): Promise<void> {
    const batch = this.#inFlight.shift()
    if (!batch) return
    const settled = await batch.done
    if ('err' in settled) {
      const failed = (settled.err as { written?: number }).written
      if (settled.err instanceof BlockMismatch) throw corruptObject(batch.ids[failed ?? 0]!)
      const name = batch.names[failed ?? 0] ?? ''
      throw fileSystemError(settled.err, path.join(this.root, name), 'cannot write')
    }
    settled.recorded.forEach((recorded, i) => this.onWritten(batch.names[i] as string, recorded))
  }
}
