import { closeSync, constants, fsyncSync, ftruncateSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import zlib from 'node:zlib'
import { CkptError } from '../../errors.js'
import { openOwnFileSync } from '../../io/own-files.js'

/** One LevelDB batch operation, as the journal records it. */
export type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

/*
 * The journal file is a sequence of records, each one batch:
 *   u32 payload length, u32 CRC-32 of the payload, u32 CRC-32 of the 8 bytes before it, payload
 *   payload: u32 op count, then per op: u8 (1 put, 0 del), u32 key length, key[, u32 value length, value]
 * A record is written with one write(2), so a process killed mid-append leaves at most one torn
 * record at the end, a prefix of what it wrote. The header's own CRC tells a torn record (a whole
 * header promising more bytes than there are) from a damaged length field, which must not be
 * taken for the end of the journal: the records after it were acknowledged.
 *
 * Store format 1 wrote the journal without the header CRC, at LEGACY_JOURNAL_FILE; it is replayed
 * once when such a store is opened, then removed (docs/format.md).
 */
const HEADER = 12
const LEGACY_HEADER = 8
const PUT = 1
const DEL = 0

const crc32: (bytes: Uint8Array) => number = (zlib as { crc32?: (bytes: Uint8Array) => number }).crc32 ?? tableCrc32

/** What cutting a damaged journal did: where, how much, and where the cut bytes are kept. */
export interface JournalCut {
  /** The journal file. */
  readonly path: string
  /** Where it was damaged, and cut. */
  readonly offset: number
  /** How many bytes from there on were cut off. */
  readonly droppedBytes: number
  /** The file that keeps the bytes cut off. */
  readonly savedTo: string
}

/** Which record layout a journal file holds. */
export type JournalLayout = 'current' | 'legacy'

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
   * CORRUPT_OBJECT when anything but a torn last record does not check.
   */
  static open(path: string): { journal: Journal; batches: BatchOp[][] } {
    const fd = openOwnFileSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 'the write journal')
    try {
      const { batches, validLength, length } = readChecked(fd, path, 'current')
      // A torn last record was never acknowledged; cut it so new records follow whole ones.
      if (validLength < length) ftruncateSync(fd, validLength)
      return { journal: new Journal(fd, validLength), batches }
    } catch (err) {
      closeSync(fd)
      throw err
    }
  }

  /**
   * The batches a format-1 journal at `path` holds; undefined when there is none. The caller
   * applies them, then calls {@link Journal.removeLegacy}.
   */
  static readLegacy(path: string): BatchOp[][] | undefined {
    const fd = openExisting(path)
    if (fd === undefined) return undefined
    try {
      return readChecked(fd, path, 'legacy').batches
    } finally {
      closeSync(fd)
    }
  }

  static removeLegacy(path: string): void {
    unlinkSync(path)
  }

  /**
   * Cuts the journal at `path` where it is damaged, after copying everything from the damage on
   * to `savedTo` (a new file), so the store opens without those writes. Undefined when the
   * journal is missing or has no damage. Only for a journal no process has open.
   */
  static cutAtDamage(path: string, layout: JournalLayout, savedTo: string): JournalCut | undefined {
    const fd = openExisting(path)
    if (fd === undefined) return undefined
    try {
      const bytes = readFileSync(fd)
      const { damagedAt } = decodeRecords(bytes, layout)
      if (damagedAt === undefined) return undefined
      const copy = openOwnFileSync(savedTo, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 'the cut-off journal tail', 0o600)
      try {
        writeAll(copy, bytes.subarray(damagedAt))
        fsyncSync(copy)
      } finally {
        closeSync(copy)
      }
      ftruncateSync(fd, damagedAt)
      fsyncSync(fd)
      return { path, offset: damagedAt, droppedBytes: bytes.length - damagedAt, savedTo }
    } finally {
      closeSync(fd)
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
      writeAll(this.#fd, record)
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

/** An existing journal file opened for reading and writing; undefined when there is none. */
function openExisting(path: string): number | undefined {
  try {
    return openOwnFileSync(path, constants.O_RDWR, 'the write journal')
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return undefined
    throw err
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let written = 0
  while (written < bytes.length) written += writeSync(fd, bytes, written)
}

/** The batches in the journal open at `fd`; CORRUPT_OBJECT naming the journal and the offset when it is damaged. */
function readChecked(fd: number, path: string, layout: JournalLayout): { batches: BatchOp[][]; validLength: number; length: number } {
  const bytes = readFileSync(fd)
  const { batches, validLength, damagedAt } = decodeRecords(bytes, layout)
  if (damagedAt !== undefined) {
    const droppedBytes = bytes.length - damagedAt
    throw new CkptError(
      'CORRUPT_OBJECT',
      `the write journal ${path} is damaged at byte ${damagedAt}: the ${droppedBytes} bytes from there on hold acknowledged writes that cannot be read. ` +
        '`ckpt fsck --repair --cut-journal` moves them aside and opens the store without them',
      { details: { path, offset: damagedAt, droppedBytes, journal: 'damaged' } },
    )
  }
  return { batches, validLength, length: bytes.length }
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
  out.writeUInt32LE(crc32(out.subarray(0, 8)), 8)
  return { record: out, written }
}

/**
 * The whole records in `bytes`, up to a torn last one. `damagedAt` is where a record that is not
 * a torn last one fails to check; nothing from there on can be trusted, nor skipped.
 */
function decodeRecords(bytes: Buffer, layout: JournalLayout): { batches: BatchOp[][]; validLength: number; damagedAt?: number } {
  const header = layout === 'current' ? HEADER : LEGACY_HEADER
  const batches: BatchOp[][] = []
  let at = 0
  while (at + header <= bytes.length) {
    // A format-1 header has no check of its own: a length past the end reads as a torn record there.
    if (layout === 'current' && crc32(bytes.subarray(at, at + 8)) !== bytes.readUInt32LE(at + 8)) return { batches, validLength: at, damagedAt: at }
    const end = at + header + bytes.readUInt32LE(at)
    // A whole header promising more than there is: the prefix of a record a killed append left.
    if (end > bytes.length) break
    const payload = bytes.subarray(at + header, end)
    const ops = crc32(payload) === bytes.readUInt32LE(at + 4) ? decodePayload(payload) : undefined
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
