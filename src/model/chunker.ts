import { createHasher } from 'blake3-jit'
import { GearScanner } from './gear-scan.js'

/**
 * Content-defined chunking, so that an edit to a large blob changes only the chunks around it
 * and the rest are stored once. The algorithm is FastCDC (Xia et al., 2016/2020) with
 * normalized chunking level 2:
 *
 * - a chunk is never cut in its first `min` bytes, and those bytes are not hashed;
 * - from there a 32-bit gear hash `h = (h << 1) + GEAR[byte]` starts again from 0, and the chunk
 *   ends after the first byte where the top bits of `h` are all zero: k+2 bits while the chunk is
 *   shorter than `avg` = 2^k, k-2 bits once it is `avg` bytes or longer;
 * - a chunk that reaches `max` bytes ends there.
 *
 * The top bits are the ones tested because, with a left shift, bit j of `h` depends only on the
 * last j+1 bytes: the high end of the word is the one that sees a full 32-byte window.
 */

export interface ChunkingParams {
  readonly min: number
  readonly avg: number
  readonly max: number
}

/** The parameters ckpt stores blobs with (part of the on-disk format: changing them changes manifests). */
export const CHUNKING: ChunkingParams = Object.freeze({ min: 64 * 1024, avg: 256 * 1024, max: 1024 * 1024 })

/**
 * The gear table: 256 little-endian uint32 from BLAKE3's extendable output for the text
 * 'ckpt fastcdc gear v1', so anyone can rebuild it. Part of the on-disk format, like CHUNKING.
 * Kept as int32 (same bits) so the hash stays in V8's small-integer arithmetic.
 * (The Hasher, not blake3-jit's one-shot `hash()`, which throws for outputs over 64 bytes.)
 */
const GEAR: Int32Array = (() => {
  const bytes = createHasher().update(new TextEncoder().encode('ckpt fastcdc gear v1')).finalize(1024)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const table = new Int32Array(256)
  for (let i = 0; i < 256; i++) table[i] = view.getInt32(4 * i, true)
  return table
})()

/** The gear hash's loop, made on first use (this thread's). */
let scanner: GearScanner | undefined

/** An int32 whose top `bits` bits are set. */
const topBits = (bits: number): number => (bits === 0 ? 0 : -1 << (32 - bits))

const MAX_AVG = 2 ** 30 // k + 2 mask bits must fit in 32

function checkParams({ min, avg, max }: ChunkingParams): void {
  if (!Number.isSafeInteger(min) || min <= 0) throw new RangeError(`chunking min must be a positive integer, got ${min}`)
  if (!Number.isSafeInteger(avg) || avg < min) throw new RangeError(`chunking avg must be an integer >= min (${min}), got ${avg}`)
  if (avg < 4 || avg > MAX_AVG || (avg & (avg - 1)) !== 0) {
    throw new RangeError(`chunking avg must be a power of two from 4 to 2^30, got ${avg}`)
  }
  if (!Number.isSafeInteger(max) || max < avg) throw new RangeError(`chunking max must be an integer >= avg (${avg}), got ${max}`)
}

/**
 * The state of the chunk being cut: how many of its bytes have been seen and the rolling hash,
 * which is all a scan needs to resume where a previous piece of input ended.
 */
class Cutter {
  readonly min: number
  readonly avg: number
  readonly max: number
  readonly strictMask: number
  readonly looseMask: number
  seen = 0
  h = 0

  constructor(params: ChunkingParams) {
    checkParams(params)
    this.min = params.min
    this.avg = params.avg
    this.max = params.max
    const k = Math.log2(params.avg)
    this.strictMask = topBits(k + 2)
    this.looseMask = topBits(k - 2)
  }

  /**
   * Feeds `data[from, to)` to the current chunk. Returns the index in `data` just after the
   * chunk's last byte if the chunk ends within that range (and starts the next chunk), else -1.
   */
  scan(data: Uint8Array, from: number, to: number): number {
    scanner ??= new GearScanner(GEAR)
    const offset = this.seen - from // data[i] is byte number offset + i of the chunk
    let i = Math.max(from, Math.min(to, this.min - offset))
    let h = this.h
    // Up to `avg` bytes the strict mask, then the loose one up to `max`.
    for (const [limit, mask] of [[this.avg, this.strictMask], [this.max, this.looseMask]] as const) {
      const end = Math.min(to, limit - offset)
      if (i >= end) continue
      const cut = scanner.scan(data, i, end, h, mask)
      if (cut >= 0) return this.#cut(cut)
      h = scanner.h
      i = end
    }
    if (offset + i === this.max) return this.#cut(i)
    this.seen = offset + i
    this.h = h
    return -1
  }

  #cut(at: number): number {
    this.seen = 0
    this.h = 0
    return at
  }
}

/** Cut offsets (exclusive chunk ends, last one === bytes.length; [] for empty input) of a whole buffer. */
export function cutPoints(bytes: Uint8Array, params: ChunkingParams = CHUNKING): number[] {
  const cutter = new Cutter(params)
  const cuts: number[] = []
  for (let start = 0; start < bytes.length; ) {
    const cut = cutter.scan(bytes, start, bytes.length)
    start = cut < 0 ? bytes.length : cut
    cuts.push(start)
  }
  return cuts
}

/** Incremental chunker for streams: feed pieces of any size, get back complete chunks. */
export class Chunker {
  readonly #cutter: Cutter
  /** The current chunk's bytes from earlier pieces; it never reaches `max`, so neither does this. */
  #pending = new Uint8Array(0)
  #pendingLength = 0
  #spent = false

  constructor(params: ChunkingParams = CHUNKING) {
    this.#cutter = new Cutter(params)
  }

  /** Completed chunks found so far after adding `piece` (zero or more). Each returned chunk is a fresh Uint8Array that the caller owns (not a view into a reused buffer). */
  push(piece: Uint8Array): Uint8Array[] {
    this.#checkLive()
    const chunks: Uint8Array[] = []
    for (let from = 0; from < piece.length; ) {
      const cut = this.#cutter.scan(piece, from, piece.length)
      if (cut < 0) {
        this.#keep(piece.subarray(from))
        break
      }
      chunks.push(this.#take(piece.subarray(from, cut)))
      from = cut
    }
    return chunks
  }

  /** The final partial chunk, if any bytes remain. After finish() the chunker is spent. */
  finish(): Uint8Array | undefined {
    this.#checkLive()
    this.#spent = true
    return this.#pendingLength === 0 ? undefined : this.#take(new Uint8Array(0))
  }

  #checkLive(): void {
    if (this.#spent) throw new Error('Chunker already finished')
  }

  #keep(bytes: Uint8Array): void {
    const needed = this.#pendingLength + bytes.length
    if (needed > this.#pending.length) {
      const grown = new Uint8Array(Math.min(this.#cutter.max, Math.max(needed, 2 * this.#pending.length)))
      grown.set(this.#pending.subarray(0, this.#pendingLength))
      this.#pending = grown
    }
    this.#pending.set(bytes, this.#pendingLength)
    this.#pendingLength = needed
  }

  /** The pending bytes followed by `tail`, as a new array; empties the pending buffer. */
  #take(tail: Uint8Array): Uint8Array {
    // A copy into a plain, unshared Uint8Array (a Buffer's slice() would be a view of the piece).
    if (this.#pendingLength === 0) {
      const copy = new Uint8Array(tail.length)
      copy.set(tail)
      return copy
    }
    const chunk = new Uint8Array(this.#pendingLength + tail.length)
    chunk.set(this.#pending.subarray(0, this.#pendingLength))
    chunk.set(tail, this.#pendingLength)
    this.#pendingLength = 0
    return chunk
  }
}
