import { CkptError } from '../errors.js'
import { CHUNKING } from './chunker.js'
import { CID, RAW_CODE, cidString, digestHex, isStoreCid, taggedKey } from './cid.js'
import { decodeNode, encodeNode } from './value.js'

/*
 * A blob larger than CHUNK_THRESHOLD is stored as content-defined chunks plus a manifest listing
 * them. The blob keeps its one identity, the raw CID of its whole content, however it is stored:
 * the manifest lives under a key derived from that CID and records the whole-content BLAKE3, so
 * equal outputs compare equal by id without reading a chunk (docs/format.md).
 */

/** Blobs up to this size are one raw block; larger ones are chunked. */
export const CHUNK_THRESHOLD = CHUNKING.max

const MANIFEST_TYPE = 'chunked-blob'
const CHUNKER = `fastcdc-gear-v1 min=${CHUNKING.min} avg=${CHUNKING.avg} max=${CHUNKING.max}`
/** Object keys start with the CID's version byte (1); a manifest's key starts with 0. */
const MANIFEST_KEY_TAG = 0x00

export interface ChunkRef {
  readonly cid: CID
  readonly size: number
}

export interface ChunkManifest {
  readonly blob: CID
  readonly size: number
  readonly chunks: readonly ChunkRef[]
}

/** Where the manifest of the chunked blob `blob` is stored. */
export function manifestKey(blob: CID): Uint8Array {
  return taggedKey(MANIFEST_KEY_TAG, blob)
}

/** Whether a stored key is a manifest's (as opposed to an object's CID). */
export function isManifestKey(key: Uint8Array): boolean {
  return key[0] === MANIFEST_KEY_TAG
}

/** The keys an object may be stored under: its CID, or for a blob also its manifest's key. */
export function storedKeys(cid: CID): Uint8Array[] {
  return cid.code === RAW_CODE ? [cid.bytes, manifestKey(cid)] : [cid.bytes]
}

/** The id a stored key belongs to, for messages; hex when the key is not an object's. */
export function idOfKey(key: Uint8Array): string {
  try {
    return cidString(CID.decode(isManifestKey(key) ? key.subarray(1) : key))
  } catch {
    return Buffer.from(key).toString('hex')
  }
}

export function encodeManifest(manifest: ChunkManifest): Uint8Array {
  return encodeNode({
    type: MANIFEST_TYPE,
    v: 1,
    blake3: digestHex(manifest.blob),
    size: manifest.size,
    chunker: CHUNKER,
    chunks: manifest.chunks.map((c) => [c.cid, c.size]),
  })
}

/**
 * Decodes and checks a manifest read for `blob`: it must name that blob's digest, list raw chunks
 * whose sizes add up to its size. Anything else is CORRUPT_OBJECT.
 */
export function decodeManifest(blob: CID, bytes: Uint8Array): ChunkManifest {
  const corrupt = (what: string, cause?: unknown): never => {
    throw new CkptError('CORRUPT_OBJECT', `the chunk manifest of blob ${cidString(blob)} is corrupt: ${what}`, { cause, details: { id: cidString(blob) } })
  }
  let node: unknown
  try {
    node = decodeNode(bytes)
  } catch (cause) {
    corrupt('it does not decode as dag-json', cause)
  }
  const m = node as { type?: unknown; v?: unknown; blake3?: unknown; size?: unknown; chunks?: unknown }
  if (m === null || typeof m !== 'object' || m.type !== MANIFEST_TYPE || m.v !== 1) corrupt('it is not a version 1 chunk manifest')
  if (m.blake3 !== digestHex(blob)) corrupt('it records a different whole-content BLAKE3')
  if (typeof m.size !== 'number' || !Number.isSafeInteger(m.size) || m.size < 0) corrupt('its size is not a byte count')
  if (!Array.isArray(m.chunks)) corrupt('it lists no chunks')
  const chunks: ChunkRef[] = []
  let total = 0
  for (const entry of m.chunks as unknown[]) {
    const [link, size] = Array.isArray(entry) ? entry : []
    const cid = CID.asCID(link)
    if (!cid || !isStoreCid(cid) || cid.code !== RAW_CODE || typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0) {
      corrupt(`chunk ${chunks.length} is not a [raw link, size] pair`)
    }
    if ((size as number) > CHUNKING.max) corrupt(`chunk ${chunks.length} claims ${String(size)} bytes, more than the chunker ever cuts`)
    chunks.push({ cid: cid as CID, size: size as number })
    total += size as number
  }
  if (total !== m.size) corrupt(`its chunks add up to ${total} bytes, not ${String(m.size)}`)
  return { blob, size: m.size as number, chunks }
}

/** Index of the chunk holding byte `offset`, given each chunk's start offset (ascending). */
export function chunkAt(starts: readonly number[], offset: number): number {
  let low = 0
  let high = starts.length - 1
  while (low < high) {
    const mid = (low + high + 1) >> 1
    if (starts[mid]! <= offset) low = mid
    else high = mid - 1
  }
  return low
}
