import { createHasher } from 'blake3-jit'
import { describe, expect, it } from 'vitest'
import { pseudoRandomBytes } from './support/random.js'
import { blake3 } from '../src/model/hash.js'
import { CHUNKING, Chunker, cutPoints, type ChunkingParams } from '../src/model/chunker.js'

const SMALL: ChunkingParams = { min: 256, avg: 1024, max: 4096 }
const KiB = 1024
const MiB = 1024 * KiB

/** The gear table as the format describes it, built independently of the implementation. */
const REFERENCE_GEAR: number[] = (() => {
  const bytes = createHasher().update(new TextEncoder().encode('ckpt fastcdc gear v1')).finalize(1024)
  const table: number[] = []
  for (let i = 0; i < 256; i++) {
    table.push(bytes[4 * i]! + bytes[4 * i + 1]! * 2 ** 8 + bytes[4 * i + 2]! * 2 ** 16 + bytes[4 * i + 3]! * 2 ** 24)
  }
  return table
})()

/**
 * FastCDC with normalized chunking, written per byte straight from the description: a chunk's
 * first `min` bytes are not hashed; then h = (2h + GEAR[byte]) mod 2^32 from h = 0, and the chunk
 * ends after the first byte where the top k+2 bits of h are zero (k-2 bits once the chunk has
 * reached avg = 2^k bytes), or at `max` bytes, or at the end of the input.
 */
function referenceCutPoints(bytes: Uint8Array, { min, avg, max }: ChunkingParams): number[] {
  const k = Math.log2(avg)
  const cuts: number[] = []
  let start = 0
  while (start < bytes.length) {
    let end = Math.min(start + max, bytes.length)
    let h = 0
    for (let length = min; length < end - start; length++) {
      h = (h * 2 + REFERENCE_GEAR[bytes[start + length]!]!) % 2 ** 32
      const bits = length < avg ? k + 2 : k - 2
      if (h < 2 ** (32 - bits)) {
        end = start + length + 1
        break
      }
    }
    cuts.push(end)
    start = end
  }
  return cuts
}

function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  return cuts.map((end, i) => bytes.subarray(i === 0 ? 0 : cuts[i - 1]!, end))
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

function chunkDigests(bytes: Uint8Array, params: ChunkingParams = CHUNKING): string[] {
  return chunksOf(bytes, cutPoints(bytes, params)).map((chunk) => hex(blake3(chunk)))
}

/** Feeds `bytes` to a Chunker in pieces of the given sizes (cycled) and collects every chunk. */
function streamChunks(bytes: Uint8Array, pieceSizes: number[], params: ChunkingParams = CHUNKING): Uint8Array[] {
  const chunker = new Chunker(params)
  const chunks: Uint8Array[] = []
  for (let at = 0, n = 0; at < bytes.length; n++) {
    const size = pieceSizes[n % pieceSizes.length]!
    chunks.push(...chunker.push(bytes.subarray(at, at + size)))
    at += size
  }
  const last = chunker.finish()
  if (last) chunks.push(last)
  return chunks
}

describe('cutPoints agrees with a plain reference implementation', () => {
  it.each<[string, number, number, ChunkingParams]>([
    ['8 MiB, small params', 8 * MiB, 1, SMALL],
    ['1 MiB + 3 bytes, small params', MiB + 3, 2, SMALL],
    ['2 MiB, min = avg', 2 * MiB, 3, { min: 1024, avg: 1024, max: 8192 }],
    ['256 KiB, tiny chunks', 256 * KiB, 4, { min: 1, avg: 4, max: 16 }],
    ['256 KiB, min = avg = max', 256 * KiB + 5, 5, { min: 64, avg: 64, max: 64 }],
    ['256 KiB, max = avg', 256 * KiB, 6, { min: 16, avg: 128, max: 128 }],
    ['6 MiB, CHUNKING', 6 * MiB, 7, CHUNKING],
  ])('%s', (_name, length, seed, params) => {
    const bytes = pseudoRandomBytes(length, seed)
    expect(cutPoints(bytes, params)).toEqual(referenceCutPoints(bytes, params))
  })

  it('on inputs with long runs, where the hash settles into a cycle', () => {
    const bytes = new Uint8Array(3 * MiB)
    bytes.set(pseudoRandomBytes(MiB / 2, 8), MiB)
    expect(cutPoints(bytes)).toEqual(referenceCutPoints(bytes, CHUNKING))
    expect(cutPoints(bytes, SMALL)).toEqual(referenceCutPoints(bytes, SMALL))
  })
})

// These pin the on-disk format: blobs are stored as these chunks, so a change here changes
// manifests and breaks deduplication against existing stores. Never update them casually.
describe('known answers', () => {
  it('the gear table is BLAKE3 XOF of "ckpt fastcdc gear v1", as little-endian uint32', () => {
    expect(REFERENCE_GEAR.slice(0, 4)).toEqual([0xcd200706, 0xdf059626, 0x5bf84ac8, 0x56ee231d])
  })

  it('CHUNKING is 64 KiB / 256 KiB / 1 MiB', () => {
    expect(CHUNKING).toEqual({ min: 65536, avg: 262144, max: 1048576 })
  })

  it('4 MiB of mulberry32(1) with CHUNKING', () => {
    expect(cutPoints(pseudoRandomBytes(4 * MiB, 1))).toEqual([
      287324, 915473, 1190104, 1464839, 1760062, 2203379, 2469340, 2639336, 3101933, 3403286, 3600587, 3944034,
      4194304,
    ])
  })

  it('64 KiB of mulberry32(2) with {min: 256, avg: 1024, max: 4096}', () => {
    expect(cutPoints(pseudoRandomBytes(64 * KiB, 2), SMALL)).toEqual([
      1415, 2145, 3249, 4331, 5432, 6565, 7662, 8691, 10113, 11141, 11993, 13102, 14355, 15979,
      17090, 18118, 19361, 20937, 22216, 23473, 25076, 26382, 27513, 29034, 29323, 30120, 31332, 32487,
      33371, 34432, 34985, 36092, 37323, 38560, 39960, 41130, 42715, 44416, 45567, 47146, 48295, 49272,
      51275, 52439, 52783, 53891, 55044, 56072, 57019, 58540, 59782, 60473, 62181, 63427, 64930, 65536,
    ])
  })

  it('3 MiB of zeros with CHUNKING: no content cut, so every chunk is max', () => {
    expect(cutPoints(new Uint8Array(3 * MiB + 5))).toEqual([MiB, 2 * MiB, 3 * MiB, 3 * MiB + 5])
  })
})

describe('chunk sizes', () => {
  it.each<[string, ChunkingParams]>([
    ['CHUNKING', CHUNKING],
    ['small params', SMALL],
  ])('every chunk is within [min, max], the last within [1, max] (%s)', (_name, params) => {
    const bytes = pseudoRandomBytes(8 * MiB + 12345, 9)
    const sizes = chunksOf(bytes, cutPoints(bytes, params)).map((chunk) => chunk.length)
    const last = sizes.pop()!
    for (const size of sizes) {
      expect(size).toBeGreaterThanOrEqual(params.min)
      expect(size).toBeLessThanOrEqual(params.max)
    }
    expect(last).toBeGreaterThanOrEqual(1)
    expect(last).toBeLessThanOrEqual(params.max)
  })

  it('empty input has no chunks', () => {
    expect(cutPoints(new Uint8Array(0))).toEqual([])
    expect(new Chunker().push(new Uint8Array(0))).toEqual([])
    expect(new Chunker().finish()).toBeUndefined()
  })

  it('input shorter than min is one chunk', () => {
    expect(cutPoints(pseudoRandomBytes(1, 10))).toEqual([1])
    expect(cutPoints(pseudoRandomBytes(CHUNKING.min - 1, 10))).toEqual([CHUNKING.min - 1])
    expect(cutPoints(pseudoRandomBytes(CHUNKING.min, 10))).toEqual([CHUNKING.min])
  })

  it('averages within ±40% of avg on 32 MiB of random data', () => {
    const bytes = pseudoRandomBytes(32 * MiB, 11)
    const mean = bytes.length / cutPoints(bytes).length
    expect(mean).toBeGreaterThan(0.6 * CHUNKING.avg)
    expect(mean).toBeLessThan(1.4 * CHUNKING.avg)
  })
})

describe('Chunker', () => {
  const bytes = pseudoRandomBytes(6 * MiB + 777, 12)
  const expected = chunksOf(bytes, cutPoints(bytes)).map(hex)

  it.each<[string, number[]]>([
    ['7 bytes', [7]],
    ['64 KiB', [64 * KiB]],
    ['1 MiB', [MiB]],
    ['the whole input at once', [bytes.length]],
    ['mixed sizes', [1, 7, MiB, 3, 100_000, 65_537, 2 * MiB + 1, 0, 13]],
  ])('gives the same chunks as cutPoints with pieces of %s', (_name, sizes) => {
    expect(streamChunks(bytes, sizes).map(hex)).toEqual(expected)
  })

  it('gives the same chunks as cutPoints with 1-byte and random-size pieces (small params)', () => {
    const small = pseudoRandomBytes(256 * KiB + 1, 13)
    const cuts = chunksOf(small, cutPoints(small, SMALL)).map(hex)
    expect(streamChunks(small, [1], SMALL).map(hex)).toEqual(cuts)
    const sizes = Array.from(pseudoRandomBytes(4096, 14), (b) => b * 37)
    expect(streamChunks(small, sizes, SMALL).map(hex)).toEqual(cuts)
  })

  it('returns chunks the caller owns', () => {
    const input = pseudoRandomBytes(3 * MiB, 15)
    const chunker = new Chunker()
    const chunks = [...chunker.push(input.subarray(0, MiB)), ...chunker.push(input.subarray(MiB))]
    chunks.push(chunker.finish()!)
    const before = chunks.map(hex)
    input.fill(0)
    for (const chunk of chunks) {
      expect(chunk.byteOffset).toBe(0)
      expect(chunk.buffer.byteLength).toBe(chunk.length)
    }
    expect(chunks.map(hex)).toEqual(before)
  })

  it('is spent after finish()', () => {
    const chunker = new Chunker()
    chunker.push(new Uint8Array(10))
    expect(chunker.finish()).toEqual(new Uint8Array(10))
    expect(() => chunker.push(new Uint8Array(1))).toThrow()
    expect(() => chunker.finish()).toThrow()
  })
})

describe('locality', () => {
  const original = pseudoRandomBytes(8 * MiB, 16)
  const originalDigests = chunkDigests(original)
  const originalCuts = cutPoints(original)

  it('overwriting 1 KiB in the middle changes only the chunks around it', () => {
    const at = 4 * MiB
    const edited = original.slice()
    edited.set(pseudoRandomBytes(KiB, 17), at)
    const editedDigests = chunkDigests(edited)
    const before = originalCuts.filter((end) => end <= at).length
    expect(editedDigests.slice(0, before)).toEqual(originalDigests.slice(0, before))
    const kept = new Set(editedDigests)
    const lost = originalDigests.slice(before).filter((digest) => !kept.has(digest))
    expect(lost.length).toBeGreaterThanOrEqual(1)
    expect(lost.length).toBeLessThanOrEqual(2)
  })

  it('inserting 1 KiB at 1/3 resynchronises after a few chunks', () => {
    const at = Math.floor(original.length / 3)
    const edited = new Uint8Array(original.length + KiB)
    edited.set(original.subarray(0, at))
    edited.set(pseudoRandomBytes(KiB, 18), at)
    edited.set(original.subarray(at), at + KiB)
    const editedDigests = chunkDigests(edited)
    const before = originalCuts.filter((end) => end <= at).length
    expect(editedDigests.slice(0, before)).toEqual(originalDigests.slice(0, before))
    const kept = new Set(editedDigests)
    const after = originalDigests.slice(before)
    const lost = after.filter((digest) => !kept.has(digest))
    expect(after.length).toBeGreaterThan(10)
    expect(lost.length).toBeLessThanOrEqual(2)
  })

  it('the same holds for many small chunks', () => {
    const at = 4 * MiB + 100
    const edited = original.slice()
    edited.set(pseudoRandomBytes(KiB, 19), at)
    const originalSmall = chunkDigests(original, SMALL)
    const editedSmall = new Set(chunkDigests(edited, SMALL))
    const lost = originalSmall.filter((digest) => !editedSmall.has(digest))
    // 1 KiB touches at most a handful of ~1 KiB chunks, plus the one that resynchronises.
    expect(originalSmall.length).toBeGreaterThan(5000)
    expect(lost.length).toBeGreaterThanOrEqual(1)
    expect(lost.length).toBeLessThanOrEqual(6)
  })
})

describe('bad params', () => {
  it.each<[string, ChunkingParams, string]>([
    ['min 0', { min: 0, avg: 1024, max: 4096 }, '0'],
    ['negative min', { min: -1, avg: 1024, max: 4096 }, '-1'],
    ['fractional min', { min: 1.5, avg: 1024, max: 4096 }, '1.5'],
    ['NaN avg', { min: 256, avg: NaN, max: 4096 }, 'NaN'],
    ['min > avg', { min: 2048, avg: 1024, max: 4096 }, '1024'],
    ['avg not a power of two', { min: 256, avg: 1000, max: 4096 }, '1000'],
    ['avg too small for k - 2 mask bits', { min: 1, avg: 2, max: 4096 }, '2'],
    ['avg too large for k + 2 mask bits', { min: 256, avg: 2 ** 31, max: 2 ** 32 }, '2147483648'],
    ['avg > max', { min: 256, avg: 1024, max: 1023 }, '1023'],
    ['infinite max', { min: 256, avg: 1024, max: Infinity }, 'Infinity'],
  ])('%s throws a RangeError naming the value', (_name, params, value) => {
    expect(() => cutPoints(new Uint8Array(1), params)).toThrow(RangeError)
    expect(() => cutPoints(new Uint8Array(1), params)).toThrow(value)
    expect(() => new Chunker(params)).toThrow(RangeError)
  })
})
