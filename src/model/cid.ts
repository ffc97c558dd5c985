import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base32 } from 'multiformats/bases/base32'
import { parseCanonicalStoreCid } from './cid-text.js'
import { BoundedMap } from '../bounded-map.js'
import { CkptError } from '../errors.js'
import { BLAKE3_CODE, DIGEST_LENGTH, blake3 } from './hash.js'

/** Multicodec of a bytes object (a blob). */
export const RAW_CODE = 0x55
/** Multicodec of a structured node (outputs, checkpoints). */
export const DAG_JSON_CODE = 0x0129

export type Codec = typeof RAW_CODE | typeof DAG_JSON_CODE

export { CID }

/** The CIDv1 that names `bytes` encoded with `codec`. */
export function cidOf(codec: Codec, bytes: Uint8Array): CID {
  return CID.createV1(codec, Digest.create(BLAKE3_CODE, blake3(bytes)))
}

/** The CIDv1 for an already computed BLAKE3 digest. */
export function cidFromDigest(codec: Codec, digest: Uint8Array): CID {
  return CID.createV1(codec, Digest.create(BLAKE3_CODE, digest))
}

/** Whether `cid` is one ckpt can store: v1, BLAKE3-256, raw or dag-json. */
export function isStoreCid(cid: CID): boolean {
  return (
    cid.version === 1 &&
    cid.multihash.code === BLAKE3_CODE &&
    cid.multihash.size === DIGEST_LENGTH &&
    (cid.code === RAW_CODE || cid.code === DAG_JSON_CODE)
  )
}

/** Parses a full CID string; throws INVALID_REVISION naming the text when it is not one ckpt stores. */
export function parseCid(text: string): CID {
  const known = parsed.get(text)
  if (known) return known
  let cid: CID
  try {
    cid = parseCanonicalStoreCid(text) ?? CID.parse(text)
  } catch (cause) {
    throw new CkptError('INVALID_REVISION', `"${text}" is not a CID`, { cause, details: { value: text } })
  }
  if (!isStoreCid(cid)) {
    throw new CkptError('INVALID_REVISION', `"${text}" is not a CIDv1 with a BLAKE3-256 multihash and raw or dag-json codec`, {
      details: { value: text },
    })
  }
  parsed.set(text, cid)
  return cid
}

/** Like {@link parseCid}, but undefined instead of an error for text that is not a store CID. */
export function tryParseCid(text: string): CID | undefined {
  // 36 bytes take at least 48 characters in any multibase; ids and names of other things are shorter.
  if (text.length < 48) return undefined
  const known = parsed.get(text)
  if (known !== undefined) return known ?? undefined
  let cid: CID | null = null
  try {
    const candidate = CID.parse(text)
    if (isStoreCid(candidate)) cid = candidate
  } catch {
    // not a CID
  }
  parsed.set(text, cid)
  return cid ?? undefined
}

/**
 * Text already parsed (null: not a store CID). A commit parses the same parent and ref values
 * several times, and parsing is base32 decoding; CIDs are immutable, so sharing them is safe.
 */
const parsed = new BoundedMap<string, CID | null>(10_000)

/** Canonical string form of a CID: base32, as IPFS tools print CIDv1. */
export function cidString(cid: CID): string {
  return cid.toString(base32)
}

/** {@link cidString}, remembered so that parsing the string back (as callers given it often do) costs nothing. */
export function newCidString(cid: CID): string {
  const text = cid.toString(base32)
  parsed.set(text, cid)
  return text
}

/**
 * Hex of the BLAKE3 digest. Every ckpt CID of one codec shares its first characters
 * (`baguqehra…`), so short ids are prefixes of the digest, like git's.
 */
export function digestHex(cid: CID): string {
  return Buffer.from(cid.multihash.digest).toString('hex')
}

/** Default length of a displayed short id. */
export const SHORT_ID_LENGTH = 10

export function shortId(cid: CID, length = SHORT_ID_LENGTH): string {
  return digestHex(cid).slice(0, length)
}

/** The short id of an id string, as `ckpt log` shows it; INVALID_REVISION when it is not a ckpt CID. */
export function shortIdOf(id: string, length = SHORT_ID_LENGTH): string {
  return shortId(parseCid(id), length)
}

/** The key an object is stored under: the CID's binary form. */
export function objectKey(cid: CID): Uint8Array {
  return cid.bytes
}

/** A key beside an object's own: `tag` (a byte no CID starts with), then the CID's bytes. */
export function taggedKey(tag: number, cid: CID): Uint8Array {
  const key = new Uint8Array(cid.bytes.length + 1)
  key[0] = tag
  key.set(cid.bytes, 1)
  return key
}

/** Whether a stored key is an object's own key (a CIDv1 starts with its version byte, 1), not a manifest's. */
export function isCidKey(key: Uint8Array): boolean {
  return key[0] === 0x01
}

/**
 * The key range holding every object of `codec` whose digest starts with `hexPrefix`
 * (an odd number of hex digits is allowed).
 */
export function keyRangeForDigestPrefix(codec: Codec, hexPrefix: string): { gte: Uint8Array; lt: Uint8Array } {
  const header = CID.createV1(codec, Digest.create(BLAKE3_CODE, new Uint8Array(DIGEST_LENGTH))).bytes.subarray(
    0,
    -DIGEST_LENGTH,
  )
  const even = hexPrefix.length % 2 === 0 ? hexPrefix : hexPrefix + '0'
  const low = Buffer.concat([header, Buffer.from(even, 'hex')])
  const step = hexPrefix.length % 2 === 0 ? 1 : 16
  return { gte: new Uint8Array(low), lt: incrementBy(new Uint8Array(low), step) }
}

function incrementBy(bytes: Uint8Array, step: number): Uint8Array {
  const out = Uint8Array.from(bytes)
  let carry = step
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + carry
    out[i] = sum & 0xff
    carry = sum >> 8
  }
  return out
}

/** Decodes stored key bytes back into a CID. */
export function cidFromKey(key: Uint8Array): CID {
  return CID.decode(key)
}
