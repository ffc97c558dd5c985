import { deflateRawSync, inflateRawSync } from 'node:zlib'
import type { ObjectEntry } from '../interface.js'
import type { Client } from './connection.js'
import { tableNames } from './schema.js'

/**
 * Where object bytes live. Today a bytea column of the `objects` table, written in the same
 * transaction as everything else. Small values (checkpoint nodes, JSON outputs) are stored
 * deflated when that saves an eighth or more, with their length in `raw_size`; other values, and
 * every value of a store written before schema version 3, as given, `raw_size` NULL
 * (docs/format.md, "PostgreSQL"). docs/backends.md ("PostgreSQL: an object-storage bucket")
 * says how a bucket would take these four calls over; nothing outside this file touches the
 * `value` column.
 */
export interface ValueBytes {
  /** Stores the entries (keys unique), marking each written now; a key stored already takes the new bytes when they differ. */
  write(client: Client, entries: readonly ObjectEntry[]): Promise<void>
  read(client: Client, key: Uint8Array): Promise<Uint8Array | undefined>
  sizes(client: Client, keys: readonly Uint8Array[]): Promise<Map<string, number>>
  /** Removes the keys; returns how many were stored and their bytes. */
  remove(client: Client, keys: readonly Uint8Array[]): Promise<{ deleted: number; bytes: number }>
}

/** Rows per statement, and their bytes: each value goes as a binary parameter of its own. */
const ROWS_PER_STATEMENT = 200
const BYTES_PER_STATEMENT = 16 * 1024 * 1024

/** Values up to this size are tried compressed: chunks above it are random bytes as often as not. */
const PACK_AT_MOST = 64 * 1024
/** Below this, deflate's framing eats what it could save. */
const PACK_AT_LEAST = 64

/**
 * A value that fits a 4 KiB window (checkpoint nodes, small JSON outputs) is deflated with that
 * window and less memory: the same size, a third of the time (most of default deflate's cost is
 * setting up its 256 KiB of state). Inflating needs no option: a full window reads any smaller one.
 */
const SMALL_WINDOW = 4096
const SMALL_DEFLATE = { windowBits: 12, memLevel: 5 }

/** The bytes to store for `value`, and its length when they are compressed (null: stored as given). */
export function packValue(value: Uint8Array): { stored: Uint8Array; rawSize: number | null } {
  if (value.length < PACK_AT_LEAST || value.length > PACK_AT_MOST) return { stored: value, rawSize: null }
  const packed = deflateRawSync(value, value.length <= SMALL_WINDOW ? SMALL_DEFLATE : undefined)
  return packed.length <= value.length - value.length / 8 ? { stored: packed, rawSize: value.length } : { stored: value, rawSize: null }
}

/**
 * The value as written, from its stored bytes and `raw_size`. Stored bytes that do not inflate to
 * `raw_size` bytes (changed on the server) come back as they are: like a damaged row stored as
 * given, they no longer hash to their key, and the readers that check ids (fsck among them) call
 * the object corrupt.
 */
export function unpackValue(stored: Uint8Array, rawSize: number | null): Uint8Array {
  if (rawSize === null) return stored
  try {
    const value = inflateRawSync(stored, { maxOutputLength: Math.max(rawSize, 1) })
    if (value.length === rawSize) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  } catch {
    // Not a deflate stream of rawSize bytes: see above.
  }
  return stored
}

/** SQL for a value's length as written, over a row of `objects` named `alias`. */
export const rawSizeOf = (alias: string) => `coalesce(${alias}.raw_size, octet_length(${alias}.value))`

export const hexOf = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
const buffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export class TableValueBytes implements ValueBytes {
  readonly #objects: string
  readonly #put: string

  constructor(schema: string) {
    this.#objects = tableNames(schema).objects
    this.#put = tableNames(schema).put
  }

  async write(client: Client, entries: readonly ObjectEntry[]): Promise<void> {
    for (const batch of statementBatches(entries)) {
      const { text, values } = objectArguments(batch, 1)
      await client.query({ name: `${this.#put}/${batch.length}`, text: `SELECT ${this.#put}(${text})`, values })
    }
  }

  async read(client: Client, key: Uint8Array): Promise<Uint8Array | undefined> {
    const { rows } = await client.query<{ value: Buffer; raw_size: number | null }>(`SELECT value, raw_size FROM ${this.#objects} WHERE key = $1`, [buffer(key)])
    const row = rows[0]
    return row === undefined ? undefined : unpackValue(new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength), row.raw_size)
  }

  async sizes(client: Client, keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    const { rows } = await client.query<{ key: Buffer; size: number }>(`SELECT o.key, ${rawSizeOf('o')} AS size FROM ${this.#objects} o WHERE o.key = ANY($1::bytea[])`, [keys.map(buffer)])
    return new Map(rows.map((r) => [r.key.toString('hex'), r.size]))
  }

  async remove(client: Client, keys: readonly Uint8Array[]): Promise<{ deleted: number; bytes: number }> {
    const { rows } = await client.query<{ size: number }>(`DELETE FROM ${this.#objects} o WHERE o.key = ANY($1::bytea[]) RETURNING ${rawSizeOf('o')} AS size`, [keys.map(buffer)])
    return { deleted: rows.length, bytes: rows.reduce((sum, r) => sum + r.size, 0) }
  }
}

/**
 * The entries, sorted by key (so that two writers of the same keys lock them in the same order),
 * in groups small enough for one statement each.
 */
export function statementBatches(entries: readonly ObjectEntry[]): ObjectEntry[][] {
  const sorted = [...entries].sort((a, b) => Buffer.compare(buffer(a.key), buffer(b.key)))
  const batches: ObjectEntry[][] = []
  let batch: ObjectEntry[] = []
  let bytes = 0
  for (const entry of sorted) {
    if (batch.length > 0 && (batch.length >= ROWS_PER_STATEMENT || bytes + entry.value.length > BYTES_PER_STATEMENT)) {
      batches.push(batch)
      batch = []
      bytes = 0
    }
    batch.push(entry)
    bytes += entry.value.length
  }
  if (batch.length > 0) batches.push(batch)
  return batches
}

/**
 * The keys as one bytea[] parameter, the values (packed) as an array of binary parameters
 * (node-postgres would send an array of buffers as hex text, twice their size), then their
 * `raw_size`s as one int[]: the functions' `keys, vals, raw_sizes`, numbered from `first`.
 */
export function objectArguments(entries: readonly ObjectEntry[], first: number): { text: string; values: unknown[] } {
  const packed = entries.map((e) => packValue(e.value))
  const slots = entries.map((_, i) => `$${first + 2 + i}::bytea`).join(', ')
  return {
    text: `$${first}::bytea[], ARRAY[${slots}]::bytea[], $${first + 1}::int[]`,
    values: [entries.map((e) => buffer(e.key)), packed.map((p) => p.rawSize), ...packed.map((p) => buffer(p.stored))],
  }
}

/** Entries with each key once (the last value wins; content addressing makes them equal). */
export function uniqueEntries(entries: readonly ObjectEntry[]): ObjectEntry[] {
  return [...new Map(entries.map((e) => [hexOf(e.key), e])).values()]
}

export { buffer as bufferOf }
