import { closeSync, fstatSync, openSync, rmSync, writeSync } from 'node:fs'
import { parentPort } from 'node:worker_threads'
import { DIGEST_LENGTH, blake3 } from '../model/hash.js'

/** The `failed.code` of a file whose bytes do not hash to the digest given: it was not made. */
export const MISMATCH_CODE = 'CKPT_DIGEST_MISMATCH'

/*
 * The file-writing thread of writer-thread.ts: creates each file of a batch (O_EXCL, so never
 * through anything already at its path), writes its bytes and reports what the file system
 * recorded. It knows nothing of the store.
 */

/** One batch: the files' paths joined by NUL, their bytes back to back, and where each ends. */
export interface WriteBatch {
  readonly id: number
  readonly paths: string
  readonly data: Uint8Array
  readonly ends: Uint32Array
  /** Each file's BLAKE3 digest, 32 bytes apiece: a file whose bytes hash otherwise is not made. */
  readonly digests: Uint8Array
}

/** The batch's buffer comes back with the answer, to be used again. */
export interface WriteReply {
  readonly id: number
  readonly data: Uint8Array
  /** Per file written: size, inode and mtime in ns (as strings: bigints do not cross as plain data). */
  readonly stats?: Array<[number, string, string]>
  /** The first file that failed; the ones before it are written, it and the ones after are not. */
  readonly failed?: { readonly index: number; readonly code?: string; readonly message: string }
}

function writeBatch({ id, paths, data, ends, digests }: WriteBatch): WriteReply {
  const files = paths.split('\0')
  const stats: Array<[number, string, string]> = []
  for (let i = 0, start = 0; i < files.length; start = ends[i++]!) {
    const path = files[i]!
    if (!hashesTo(data.subarray(start, ends[i]!), digests.subarray(i * DIGEST_LENGTH, (i + 1) * DIGEST_LENGTH))) {
      return { id, data, failed: { index: i, code: MISMATCH_CODE, message: `${path}: bytes do not match their id` } }
    }
    let fd: number | undefined
    try {
      fd = openSync(path, 'wx')
      for (let at = start; at < ends[i]!; ) at += writeSync(fd, data, at, ends[i]! - at)
      const stat = fstatSync(fd, { bigint: true })
      stats.push([Number(stat.size), String(stat.ino), String(stat.mtimeNs)])
    } catch (err) {
      if (fd !== undefined) {
        closeSync(fd)
        rmSync(path, { force: true })
      }
      const { code, message } = err as NodeJS.ErrnoException
      return { id, data, failed: { index: i, ...(code !== undefined && { code }), message } }
    }
    closeSync(fd)
  }
  return { id, data, stats }
}

function hashesTo(bytes: Uint8Array, digest: Uint8Array): boolean {
  const actual = blake3(bytes)
  for (let i = 0; i < DIGEST_LENGTH; i++) if (actual[i] !== digest[i]) return false
  return true
}

parentPort?.on('message', (batch: WriteBatch) => {
  const reply = writeBatch(batch)
  parentPort!.postMessage(reply, [reply.data.buffer as ArrayBuffer])
})
