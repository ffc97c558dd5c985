import { hash } from 'blake3-jit'
import { Blake3Simd, blake3Simd } from './blake3-simd.js'

/**
 * BLAKE3-256, the only hash ckpt uses: `blake3-jit` for small inputs and our own WebAssembly SIMD
 * kernel from 128 KiB, each chosen by measurement (docs/hashing.md); every digest is checked
 * against the official test vectors in the tests.
 */
export const BLAKE3_CODE = 0x1e
export const DIGEST_LENGTH = 32

/** From this size our kernel is faster: 1.23 GB/s against 1.07 at 256 KiB, and the same at 64 KiB. */
const SIMD_FROM_BYTES = 128 * 1024

/** BLAKE3-256 digest of `bytes`. */
export function blake3(bytes: Uint8Array): Uint8Array {
  return bytes.length >= SIMD_FROM_BYTES ? blake3Simd(bytes) : hash(bytes, DIGEST_LENGTH)
}

/** Incremental BLAKE3 for inputs that arrive in pieces (streams). */
export interface IncrementalHash {
  update(piece: Uint8Array): void
  digest(): Uint8Array
}

/** Our kernel's streaming hasher: 1.15–1.21 GB/s here, where blake3-jit's is plain JavaScript at 0.31–0.51. */
export function createBlake3(): IncrementalHash {
  return new Blake3Simd()
}
