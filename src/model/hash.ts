import { createHasher, hash } from 'blake3-jit'

/**
 * BLAKE3-256, the only hash ckpt uses. `blake3-jit` was chosen by measurement
 * (docs/hashing.md); every digest is checked against the official test vectors in the tests.
 */
export const BLAKE3_CODE = 0x1e
export const DIGEST_LENGTH = 32

/** BLAKE3-256 digest of `bytes`. */
export function blake3(bytes: Uint8Array): Uint8Array {
  return hash(bytes, DIGEST_LENGTH)
}

/** Incremental BLAKE3 for inputs that arrive in pieces (streams). */
export interface IncrementalHash {
  update(piece: Uint8Array): void
  digest(): Uint8Array
}

export function createBlake3(): IncrementalHash {
  const hasher = createHasher()
  return {
    update(piece) {
      hasher.update(piece)
    },
    digest() {
      return hasher.finalize(DIGEST_LENGTH)
    },
  }
}
