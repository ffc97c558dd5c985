/** Buffers are allocated in steps of this many bytes, so one freed by a chunk fits most of the next. */
const STEP = 128 * 1024
/** Free buffers kept for reuse at most; more are left to the garbage collector. */
const KEPT = 128

/**
 * Memory reused from read to read. A large blob's chunks are read into buffers taken here and
 * given back once written out, so reading a gigabyte touches a few dozen megabytes of fresh
 * memory instead of a gigabyte: each fresh page costs the kernel a fault, and V8 counts fresh
 * external memory toward its next garbage collection (docs/performance.md, "Reading").
 *
 * The buffers are SharedArrayBuffers so that a hashing worker can read them in place: a transfer
 * would detach them here. Only buffers taken from this pool are ever reused; whoever gives one
 * back must hold the last use of it.
 */
export class ReusableBuffers {
  readonly #free: SharedArrayBuffer[] = []
  readonly #out = new WeakSet<SharedArrayBuffer>()

  /** A view of `size` bytes of memory of its own, reused when a free buffer is large enough. */
  take(size: number): Uint8Array {
    const at = this.#free.findIndex((buffer) => buffer.byteLength >= size)
    const buffer = at >= 0 ? this.#free.splice(at, 1)[0]! : new SharedArrayBuffer(Math.max(STEP, Math.ceil(size / STEP) * STEP))
    this.#out.add(buffer)
    return new Uint8Array(buffer, 0, size)
  }

  /**
   * Gives back the memory of `pieces` (views of buffers from {@link take}, whole or cut) for reuse:
   * none of them may be read or written afterwards. Pieces of other memory are ignored, and so is
   * a buffer given back twice.
   */
  give(pieces: Iterable<Uint8Array>): void {
    for (const piece of pieces) {
      const buffer = piece.buffer
      if (!(buffer instanceof SharedArrayBuffer) || !this.#out.has(buffer)) continue
      this.#out.delete(buffer)
      if (this.#free.length < KEPT) this.#free.push(buffer)
    }
  }
}
