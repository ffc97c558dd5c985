import { CkptError } from '../errors.js'
import type { ObjectEntry, ObjectStore } from '../backend/interface.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidFromKey, cidOf, cidString, objectKey, type Codec } from '../model/cid.js'
import { blake3 } from '../model/hash.js'
import { decodeNode, encodeNode } from '../model/value.js'

/** A block ready to store: its CID and exact bytes. */
export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/** Encodes a block, computing its CID. */
export function makeBlock(codec: Codec, bytes: Uint8Array): Block {
  return { cid: cidOf(codec, bytes), bytes }
}

export function nodeBlock(node: unknown): Block {
  return makeBlock(DAG_JSON_CODE, encodeNode(node))
}

/** Below this size a block is written without first asking whether it exists. */
const SKIP_CHECK_BELOW = 16 * 1024

/**
 * The object layer over a backend: writes only what is missing, and verifies every read
 * against its CID so wrong bytes are never returned.
 */
export class ObjectDb {
  constructor(private readonly store: ObjectStore) {}

  /**
   * Stores blocks in one atomic batch. Large blocks the backend already has are not sent again;
   * small ones are rewritten blindly, which costs less than asking (a key always carries the
   * same bytes, so a rewrite changes nothing).
   */
  async putBlocks(blocks: readonly Block[]): Promise<void> {
    const entries = await this.entriesToWrite(blocks)
    if (entries.length > 0) await this.store.putMany(entries)
  }

  /** The entries to send for `blocks`: each once, minus large ones already stored. */
  async entriesToWrite(blocks: readonly Block[]): Promise<ObjectEntry[]> {
    const unique = [...new Map(blocks.map((b) => [b.cid.toString(), b])).values()]
    const large = unique.filter((b) => b.bytes.length >= SKIP_CHECK_BELOW)
    const present = large.length === 0 ? [] : await this.store.has(large.map((b) => objectKey(b.cid)))
    const stored = new Set(large.filter((_, i) => present[i]))
    return unique.filter((b) => !stored.has(b)).map((b) => ({ key: objectKey(b.cid), value: b.bytes }))
  }

  async has(cid: CID): Promise<boolean> {
    const [present] = await this.store.has([objectKey(cid)])
    return present === true
  }

  /** The verified bytes of `cid`; NOT_FOUND when absent, CORRUPT_OBJECT when they do not hash to it. */
  async getBytes(cid: CID): Promise<Uint8Array> {
    const stored = await this.store.get(objectKey(cid))
    if (stored === undefined) {
      throw new CkptError('NOT_FOUND', `object ${cidString(cid)} is not in the store`, { details: { id: cidString(cid) } })
    }
    // A plain Uint8Array view, whatever subclass (Buffer) the backend hands back.
    const bytes = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength)
    const digest = blake3(bytes)
    if (!equalBytes(digest, cid.multihash.digest)) {
      throw new CkptError('CORRUPT_OBJECT', `object ${cidString(cid)} is corrupt: its bytes hash to a different id`, {
        details: { id: cidString(cid) },
      })
    }
    return bytes
  }

  /** The decoded dag-json node `cid` names, verified. */
  async getNode(cid: CID): Promise<unknown> {
    if (cid.code !== DAG_JSON_CODE) {
      throw new CkptError('INVALID_ARGUMENT', `object ${cidString(cid)} is bytes, not a structured node`, { details: { id: cidString(cid) } })
    }
    const bytes = await this.getBytes(cid)
    try {
      return decodeNode(bytes)
    } catch (cause) {
      throw new CkptError('CORRUPT_OBJECT', `object ${cidString(cid)} does not decode as dag-json`, { cause, details: { id: cidString(cid) } })
    }
  }

  /** Every stored object id within the given codec (or all), in key order. */
  async *list(codec?: Codec): AsyncIterable<CID> {
    for await (const key of this.store.keys()) {
      const cid = cidFromKey(key)
      if (codec === undefined || cid.code === codec) yield cid
    }
  }

  /** Stored ids in a key range (for short-id lookups). */
  async *listRange(range: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<CID> {
    for await (const key of this.store.keys(range)) yield cidFromKey(key)
  }
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0
}

export { RAW_CODE, DAG_JSON_CODE }
