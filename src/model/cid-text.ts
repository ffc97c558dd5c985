import { CID } from 'multiformats/cid'
import { Digest } from 'multiformats/hashes/digest'
import { BLAKE3_CODE, DIGEST_LENGTH } from './hash.js'

/*
 * A parser for the one string form ckpt writes: lowercase, unpadded base32 of a CIDv1 with a
 * BLAKE3-256 multihash and the raw or dag-json codec. A checkout parses one such link per file,
 * and multiformats' general parser (any base, any CID) cost about four times as much. Any other
 * text is left to multiformats: this only answers for text it can read exactly.
 */

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
/** The 5-bit value of each base32 character by char code; -1 for any other. */
const VALUES = new Int8Array(128).fill(-1)
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i

/** The bytes before the digest: version 1, the codec, BLAKE3's code and its length. */
const RAW_HEADER = [0x01, 0x55, BLAKE3_CODE, DIGEST_LENGTH]
const DAG_JSON_HEADER = [0x01, 0xa9, 0x02, BLAKE3_CODE, DIGEST_LENGTH]
/** 'b' and the base32 characters of a raw (36 bytes) or dag-json (37 bytes) CID. */
const RAW_TEXT_LENGTH = 1 + Math.ceil((RAW_HEADER.length + DIGEST_LENGTH) * 8 / 5)
const DAG_JSON_TEXT_LENGTH = 1 + Math.ceil((DAG_JSON_HEADER.length + DIGEST_LENGTH) * 8 / 5)

/** A CID that remembers the text it was read from, so its base32 string costs nothing (as CID.parse does). */
class TextCid extends CID {
  readonly #text: string

  constructor(text: string, code: number, digest: Digest<number, number>, bytes: Uint8Array) {
    super(1, code, digest, bytes)
    this.#text = text
  }

  override toString(base?: Parameters<CID['toString']>[0]): string {
    return base === undefined || base.prefix === 'b' ? this.#text : super.toString(base)
  }
}

/**
 * The CID `text` names when it is in the canonical form of a store CID (see above); undefined for
 * any other text, which may still be a CID in another form.
 */
export function parseCanonicalStoreCid(text: string): CID | undefined {
  const length = text.length
  if ((length !== RAW_TEXT_LENGTH && length !== DAG_JSON_TEXT_LENGTH) || text.charCodeAt(0) !== 0x62 /* b */) return undefined
  const bytes = new Uint8Array(((length - 1) * 5) >> 3)
  let buffer = 0
  let bits = 0
  let at = 0
  for (let i = 1; i < length; i++) {
    const code = text.charCodeAt(i)
    const value = code < 128 ? VALUES[code]! : -1
    if (value < 0) return undefined
    buffer = ((buffer << 5) | value) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      bytes[at++] = buffer >> bits
    }
  }
  // Canonical text leaves no set bit after the last byte.
  if ((buffer & ((1 << bits) - 1)) !== 0) return undefined
  const header = length === RAW_TEXT_LENGTH ? RAW_HEADER : DAG_JSON_HEADER
  for (let i = 0; i < header.length; i++) if (bytes[i] !== header[i]) return undefined
  const multihash = bytes.subarray(header.length - 2)
  const digest = new Digest(BLAKE3_CODE, DIGEST_LENGTH, multihash.subarray(2), multihash)
  return new TextCid(text, length === RAW_TEXT_LENGTH ? 0x55 : 0x0129, digest, bytes)
}
