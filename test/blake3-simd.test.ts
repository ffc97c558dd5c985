import { blake3 as referenceBlake3 } from 'hash-wasm'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { Blake3Simd, blake3Simd } from '../src/model/blake3-simd.js'
import { BLAKE3_VECTORS, vectorInput } from './support/blake3-vectors.js'
import { pseudoRandomBytes } from './support/random.js'
import { tempStore } from './support/temp.js'

const KiB = 1024
const MiB = 1024 * KiB
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** `bytes` fed to a new hasher in pieces of the given sizes, cycled. */
function streamed(bytes: Uint8Array, pieceSizes: readonly number[]): string {
  const hasher = new Blake3Simd()
  for (let at = 0, n = 0; at < bytes.length; n++) {
    const size = pieceSizes[n % pieceSizes.length]!
    hasher.update(bytes.subarray(at, at + size))
    at += size
  }
  return hex(hasher.digest())
}

// Piece sizes that land on and beside the hasher's window (64 chunks, plus the chunk held back).
const PIECES: ReadonlyArray<readonly number[]> = [[1, 1000, 7777, 65536, 100003], [66560], [KiB], [65537, 3]]

describe('the WebAssembly SIMD BLAKE3 that hashes large blobs on worker threads', () => {
  it.each(BLAKE3_VECTORS)('gives the official digest of %i bytes, whole and in pieces', (length, expected) => {
    const input = vectorInput(length)
    expect(hex(blake3Simd(input))).toBe(expected)
    for (const pieces of PIECES) expect(streamed(input, pieces)).toBe(expected)
  })

  // Lengths around the window (64 KiB), the window with the chunk held back (65 KiB), chunk and
  // subtree edges, and long enough for the stack of chaining values to merge many times.
  it.each([64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 65 * KiB - 1, 65 * KiB, 65 * KiB + 1, 128 * KiB + 1025, 195 * KiB + 3, MiB + 12_345, 3 * MiB + 7])(
    'agrees with an independent BLAKE3 on %i bytes of random data, whole and in pieces',
    async (length) => {
      const input = pseudoRandomBytes(length, length)
      const expected = await referenceBlake3(input, 256)
      expect(hex(blake3Simd(input))).toBe(expected)
      for (const pieces of PIECES) expect(streamed(input, pieces)).toBe(expected)
    },
  )

  it('keeps two hashers in progress apart, with one-shot hashes between their pieces', async () => {
    const first = pseudoRandomBytes(5 * MiB, 1)
    const second = pseudoRandomBytes(3 * MiB + 17, 2)
    const between = pseudoRandomBytes(300_000, 3)
    const a = new Blake3Simd()
    const b = new Blake3Simd()
    for (let i = 0; i < 5; i++) {
      a.update(first.subarray(i * MiB, (i + 1) * MiB))
      if (i < 3) b.update(second.subarray(i * MiB, i === 2 ? undefined : (i + 1) * MiB))
      expect(hex(blake3Simd(between))).toBe(await referenceBlake3(between, 256))
    }
    expect(hex(a.digest())).toBe(await referenceBlake3(first, 256))
    expect(hex(b.digest())).toBe(await referenceBlake3(second, 256))
  })

  it('refuses to go on once finished', () => {
    const hasher = new Blake3Simd().update(vectorInput(10))
    hasher.digest()
    expect(() => hasher.update(vectorInput(1))).toThrow(/finished/)
    expect(() => hasher.digest()).toThrow(/finished/)
  })

  it('names a blob streamed into a store, chunked and hashed on the worker threads, by its BLAKE3', async () => {
    const { store } = await tempStore()
    const input = pseudoRandomBytes(5 * MiB + 333, 9)
    async function* pieces() {
      for (let at = 0; at < input.length; at += 100_003) yield input.subarray(at, at + 100_003)
    }
    const id = await store.putBlobStream(pieces())
    expect(hex(CID.parse(id).multihash.digest)).toBe(await referenceBlake3(input, 256))
    expect(Buffer.from(await store.getBlob(id)).equals(input)).toBe(true)
  })
})
