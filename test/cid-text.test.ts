import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base32, base32upper, base32pad } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { parseCanonicalStoreCid } from '../src/model/cid-text.js'
import { prng } from './support/random.js'

const random = prng(1813)
const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256))
const storeCid = (code: number, digest = bytes(32)) => CID.createV1(code, Digest.create(0x1e, digest))

describe('the fast parser of canonical store CIDs', () => {
  it('reads every raw and dag-json BLAKE3 CID exactly as multiformats does', () => {
    const digests = [new Uint8Array(32), new Uint8Array(32).fill(255), ...Array.from({ length: 500 }, () => bytes(32))]
    for (const code of [0x55, 0x0129]) {
      for (const digest of digests) {
        const text = storeCid(code, digest).toString()
        const fast = parseCanonicalStoreCid(text)
        const reference = CID.parse(text)
        expect(fast).toBeInstanceOf(CID)
        expect(fast!.equals(reference)).toBe(true)
        expect(fast!.bytes).toEqual(reference.bytes)
        expect(fast!.code).toBe(reference.code)
        expect(fast!.version).toBe(1)
        expect(fast!.multihash.code).toBe(reference.multihash.code)
        expect(fast!.multihash.size).toBe(32)
        expect(fast!.multihash.digest).toEqual(reference.multihash.digest)
        expect(fast!.multihash.bytes).toEqual(reference.multihash.bytes)
        expect(fast!.toString()).toBe(text)
        expect(fast!.toString(base32)).toBe(text)
        expect(fast!.toString(base58btc)).toBe(reference.toString(base58btc))
        expect(CID.asCID(fast)).toBe(fast)
        expect(JSON.stringify(fast)).toBe(JSON.stringify(reference))
      }
    }
  })

  it('leaves every other form to multiformats, answering undefined', () => {
    const raw = storeCid(0x55)
    const text = raw.toString()
    const others = [
      '',
      'b',
      text.toUpperCase(),
      raw.toString(base32upper),
      raw.toString(base32pad),
      raw.toString(base58btc),
      text.slice(0, -1),
      text + 'a',
      `${text.slice(0, 10)}1${text.slice(11)}`,
      `${text.slice(0, 10)}é${text.slice(11)}`,
      storeCid(0x71).toString(),
      CID.createV1(0x55, Digest.create(0x12, bytes(32))).toString(),
      CID.createV0(Digest.create(0x12, bytes(32))).toString(),
      CID.createV1(0x55, Digest.create(0x1e, bytes(31))).toString(),
    ]
    for (const other of others) expect(parseCanonicalStoreCid(other)).toBeUndefined()
  })

  it('refuses text whose last character carries bits beyond the last byte, as multiformats does', () => {
    for (const code of [0x55, 0x0129]) {
      const text = storeCid(code).toString()
      const last = text.at(-1)!
      const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
      for (const ch of alphabet) {
        const changed = text.slice(0, -1) + ch
        let reference: CID | undefined
        try {
          reference = CID.parse(changed)
        } catch {
          reference = undefined
        }
        const fast = parseCanonicalStoreCid(changed)
        if (reference === undefined || reference.toString() !== changed) expect(fast, `${last}→${ch}`).toBeUndefined()
        else expect(fast?.equals(reference)).toBe(true)
      }
    }
  })
})
