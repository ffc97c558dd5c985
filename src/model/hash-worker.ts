import { parentPort } from 'node:worker_threads'
import { movedBuffers } from '../io/worker-calls.js'
import { Blake3Simd, blake3Simd } from './blake3-simd.js'

/*
 * The hashing thread of stream-hash.ts: each chunk's BLAKE3 (its id) when asked, and the running
 * BLAKE3 of a blob's whole content, chunk after chunk. Chunks come by transfer, not copy, and go
 * back the same way with the reply; chunks in shared memory are read in place.
 */

/** Chunk ids of these chunks; or these chunks added to the whole-content hash; or that hash. Chunks go back with the reply. */
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

/** The whole-content hash, made on first use: a thread that only computes chunk ids never needs it. */
let whole: Blake3Simd | undefined

parentPort?.on('message', (call: HashCall) => {
  const port = parentPort!
  if (call.type === 'digest') {
    port.postMessage({ id: call.id, digest: (whole ??= new Blake3Simd()).digest() } satisfies HashReply)
  } else if (call.type === 'whole') {
    whole ??= new Blake3Simd()
    for (const chunk of call.chunks) whole.update(chunk)
    // Handed back to be dropped there: this thread allocates so little that dead chunks would pile
    // up here for long before a collection (peak RSS of a 4 GiB commit: 292–298 MiB, 237–238 so).
    port.postMessage({ id: call.id, chunks: call.chunks } satisfies HashReply, movedBuffers(call.chunks))
  } else {
    const digests = call.chunks.map(blake3Simd)
    port.postMessage({ id: call.id, chunks: call.chunks, digests } satisfies HashReply, movedBuffers(call.chunks))
  }
})
