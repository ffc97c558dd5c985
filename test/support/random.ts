/** mulberry32: a tiny seeded PRNG of uint32 words, so every run, and every failure, reproduces. */
export function mulberry32(seed: number): () => number {
  let state = seed | 0
  return () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), state | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** Seeded numbers in [0, 1). */
export function prng(seed: number): () => number {
  const next = mulberry32(seed)
  return () => next() / 4294967296
}

/** Deterministic incompressible bytes: mulberry32 words from `seed`, each as 4 little-endian bytes. */
export function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const next = mulberry32(seed)
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i += 4) {
    const word = next()
    for (let j = 0; j < 4 && i + j < length; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff
  }
  return bytes
}
