import { RAW_CODE, type CID } from '../model/cid.js'

/**
 * The set of objects a collector has proved reachable, keyed by their 32-byte BLAKE3 digest.
 *
 * An open-addressing table in one flat buffer: about 46 bytes per object, with no per-entry
 * JavaScript object, so a store of ten million objects marks in under half a gigabyte where a
 * `Set<string>` of ids would need several. A digest stands for every key that shares it (the
 * raw and dag-json ids of the same bytes, and a chunked blob's manifest): keeping one more
 * object than needed is safe, deleting one too many is not.
 */
export class MarkSet {
  static readonly DIGEST_BYTES = 32
  #slots: Uint32Array
  #used: Uint8Array
  #size = 0

  constructor(initialCapacity = 1 << 16) {
    const capacity = 1 << Math.ceil(Math.log2(Math.max(16, initialCapacity)))
    this.#slots = new Uint32Array(capacity * 8)
    this.#used = new Uint8Array(capacity)
  }

  get size(): number {
    return this.#size
  }

  /** Bytes the table holds, for memory reports. */
  get bytes(): number {
    return this.#slots.byteLength + this.#used.byteLength
  }

  /** Adds `digest`; returns false when it was already there. */
  add(digest: Uint8Array): boolean {
    if ((this.#size + 1) * 10 > this.#used.length * 7) this.#grow()
    const words = toWords(digest)
    const slot = this.#find(words)
    if (this.#used[slot]) return false
    this.#used[slot] = 1
    this.#slots.set(words, slot * 8)
    this.#size++
    return true
  }

  has(digest: Uint8Array): boolean {
    return this.#used[this.#find(toWords(digest))] === 1
  }

  /** The slot holding `words`, or the empty slot where they would go. */
  #find(words: Uint32Array): number {
    const mask = this.#used.length - 1
    // Digests are uniformly random, so their first word is a good hash.
    for (let slot = words[0]! & mask; ; slot = (slot + 1) & mask) {
      if (!this.#used[slot]) return slot
      const base = slot * 8
      let same = true
      for (let i = 0; i < 8; i++) {
        if (this.#slots[base + i] !== words[i]) {
          same = false
          break
        }
      }
      if (same) return slot
    }
  }

  #grow(): void {
    const oldSlots = this.#slots
    const oldUsed = this.#used
    this.#slots = new Uint32Array(oldSlots.length * 2)
    this.#used = new Uint8Array(oldUsed.length * 2)
    for (let slot = 0; slot < oldUsed.length; slot++) {
      if (!oldUsed[slot]) continue
      const words = oldSlots.subarray(slot * 8, slot * 8 + 8)
      const target = this.#find(words)
      this.#used[target] = 1
      this.#slots.set(words, target * 8)
    }
  }
}

const scratch = new Uint32Array(8)

function toWords(digest: Uint8Array): Uint32Array {
  if (digest.length !== MarkSet.DIGEST_BYTES) throw new RangeError(`a mark is a ${MarkSet.DIGEST_BYTES}-byte digest, not ${digest.length} bytes`)
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength)
  for (let i = 0; i < 8; i++) scratch[i] = view.getUint32(i * 4, true)
  return scratch
}

/**
 * Visited objects for a walk of the object graph: raw and dag-json apart, because the same bytes
 * can be both a blob and a node, and only the node has links to follow.
 */
export class ObjectMarks {
  readonly #nodes = new MarkSet()
  readonly #bytes = new MarkSet()

  get size(): number {
    return this.#nodes.size + this.#bytes.size
  }

  /** Marks `cid`; false when it was marked already. */
  add(cid: CID): boolean {
    return (cid.code === RAW_CODE ? this.#bytes : this.#nodes).add(cid.multihash.digest)
  }

  /** Whether any object with this digest is marked, raw or dag-json. */
  hasDigest(digest: Uint8Array): boolean {
    return this.#nodes.has(digest) || this.#bytes.has(digest)
  }
}
