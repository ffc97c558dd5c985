import { parentPort } from 'node:worker_threads'
import { Blake3Simd, blake3Simd } from './blake3-simd.js'

/*
 * The hashing thread of stream-hash.ts: each chunk's BLAKE3 (its id) when asked, and the running
 * BLAKE3 of a blob's whole content, chunk after chunk. Chunks come by transfer, not copy, and the
 * ones hashed for their ids go back the same way; chunks in shared memory are read in place.
 */

/** Chunk ids of these chunks, given back with them; or chunks added to the whole-content hash; or that hash. */
export type HashCall =
  | { readonly id: number; readonly type: 'ids'; readonly chunks: Uint8Array[] }
  | { readonly id: number; readonly type: 'whole'; readonly chunks: Uint8Array[] }
  | { readonly id: number; readonly type: 'digest' }

export interface HashReply {
  readonly id: number
  readonly chunks?: Uint8Array[]
  readonly digests?: Uint8Array[]
  readonly digest?: Uint8Array
}

const whole = new Blake3Simd()

parentPort?.on('message', (call: HashCall) => {
  const port = parentPort!
  if (call.type === 'digest') {
    port.postMessage({ id: call.id, digest: whole.digest() } satisfies HashReply)
  } else if (call.type === 'whole') {
    for (const chunk of call.chunks) whole.update(chunk)
    port.postMessage({ id: call.id } satisfies HashReply)
  } else {
    const digests = call.chunks.map(blake3Simd)
    const moved = call.chunks.flatMap((c) => (c.buffer instanceof SharedArrayBuffer ? [] : [c.buffer as ArrayBuffer]))
    port.postMessage({ id: call.id, chunks: call.chunks, digests } satisfies HashReply, moved)
  }
})
