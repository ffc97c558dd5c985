import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs'
import zlib from 'node:zlib'
import { CkptError } from '../../errors.js'

/** One LevelDB batch operation, as the journal records it. */
export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

/*
 * The journal file is a sequence of records, each one batch:
 *   u32 payload length, u32 CRC-32 of the payload, payload
 *   payload: u32 op count, then per op: u8 (1 put, 0 del), u32 key length, key[, u32 value length, value]
 * A record is written with one write(2), so a process killed mid-append leaves at most one torn
 * record at the end; the CRC finds it, and it was never acknowledged.
 */
const HEADER = 8
const PUT = 1
const DEL = 0

const crc32: (bytes: Uint8Array) => number = (zlib as { crc32?: (bytes: Uint8Array) => number }).crc32 ?? tableCrc32

/**
 * An append-only log of LevelDB batches, written synchronously. A batch in the journal survives
 * the process dying exactly as a batch in LevelDB's own log does, without waiting for LevelDB's
 * worker thread; {@link WriteQueue} applies it to LevelDB afterwards.
 */
export class Journal {
  #fd: number
  #size: number

  private constructor(fd: number, size: number) {
    this.#fd = fd
    this.#size = size
  }

  /**
   * Opens (creating) the journal at `path` and returns the batches it holds, oldest first.
   * CORRUPT_OBJECT when a whole record in it does not check.
   */
  static open(path: string): { journal: Journal; batches: BatchOp[][] } {
    const fd = openSync(path, 'a+')
    try {
      const bytes = readFileSync(fd)
      const { batches, validLength, damagedAt } = decodeRecords(bytes)
      if (damagedAt !== undefined) {
        throw new CkptError('CORRUPT_OBJECT', `the write journal ${path} is damaged at byte ${damagedAt}; move it aside to open the store without the writes from there on`, {
          details: { path },
        })
      }
      // A torn last record was never acknowledged; cut it so new records follow whole ones.
      if (validLength < bytes.length) ftruncateSync(fd, validLength)
      return { journal: new Journal(fd, validLength), batches }
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  get size(): number {
    return this.#size
  }

  /**
   * Appends one batch; when this returns, the batch survives the process dying. Returns the batch
   * as written: its keys and values are views of the journal record, not the caller's buffers.
   */
  append(ops: readonly BatchOp[]): BatchOp[] {
    const { record, written: views } = encodeRecord(ops)
    try {
      let written = 0
      while (written < record.length) written += writeSync(this.#fd, record, written)
    } catch (err) {
      // A part-written record must not stay in front of the records written after it.
      ftruncateSync(this.#fd, this.#size)
      throw err
    }
    this.#size += record.length
    return views
  }

  /** Empties the journal: every batch in it is in LevelDB. */
  clear(): void {
    ftruncateSync(this.#fd, 0)
    this.#size = 0
  }

  close(): void {
    closeSync(this.#fd)
  }
}

/** The record for `ops`, and `ops` again as views of it. */
function encodeRecord(ops: readonly BatchOp[]): { record: Buffer; written: BatchOp[] } {
  let length = HEADER + 4
  for (const op of ops) length += 5 + op.key.length + (op.type === 'put' ? 4 + op.value.length : 0)
  const out = Buffer.allocUnsafe(length)
  const written: BatchOp[] = []
  out.writeUInt32LE(length - HEADER, 0)
  let at = HEADER
  out.writeUInt32LE(ops.length, at)
  at += 4
  const field = (bytes: Uint8Array): Uint8Array => {
    out.writeUInt32LE(bytes.length, at)
    out.set(bytes, at + 4)
    at += 4 + bytes.length
    return out.subarray(at - bytes.length, at)
  }
  for (const op of ops) {
    out[at++] = op.type === 'put' ? PUT : DEL
    const key = field(op.key)
    written.push(op.type === 'put' ? { type: 'put', key, value: field(op.value) } : { type: 'del', key })
  }
  out.writeUInt32LE(crc32(out.subarray(HEADER)), 4)
  return { record: out, written }
}

/** The whole records in `bytes`, up to a torn last one. */
function decodeRecords(bytes: Buffer): { batches: BatchOp[][]; validLength: number; damagedAt?: number } {
  const batches: BatchOp[][] = []
  let at = 0
  while (at + HEADER <= bytes.length) {
    const length = bytes.readUInt32LE(at)
    const end = at + HEADER + length
    if (end > bytes.length) break
    const payload = bytes.subarray(at + HEADER, end)
    const ops = crc32(payload) === bytes.readUInt32LE(at + 4) ? decodePayload(payload) : undefined
    // A killed append leaves a short record; a whole record that does not check is damage.
    if (!ops) return { batches, validLength: at, damagedAt: at }
    batches.push(ops)
    at = end
  }
  return { batches, validLength: at }
}

/** The ops in a record's payload, as views of it; undefined when it does not parse. */
function decodePayload(payload: Buffer): BatchOp[] | undefined {
  if (payload.length < 4) return undefined
  const count = payload.readUInt32LE(0)
  const ops: BatchOp[] = []
  let at = 4
  const take = (): Uint8Array | undefined => {
    if (at + 4 > payload.length) return undefined
    const length = payload.readUInt32LE(at)
    if (at + 4 + length > payload.length) return undefined
    const bytes = payload.subarray(at + 4, at + 4 + length)
    at += 4 + length
    return bytes
  }
  for (let i = 0; i < count; i++) {
    if (at >= payload.length) return undefined
    const type = payload[at++]
    const key = take()
    if (key === undefined || (type !== PUT && type !== DEL)) return undefined
    if (type === DEL) {
      ops.push({ type: 'del', key })
      continue
    }
    const value = take()
    if (value === undefined) return undefined
    ops.push({ type: 'put', key, value })
  }
  return at === payload.length ? ops : undefined
}

let table: Int32Array | undefined

/** CRC-32 (IEEE) for Node versions before zlib.crc32 (20.15). */
function tableCrc32(bytes: Uint8Array): number {
  if (!table) {
    table = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c
    }
  }
  let c = -1
  for (const byte of bytes) c = table[(c ^ byte) & 0xff]! ^ (c >>> 8)
  return (c ^ -1) >>> 0
}
