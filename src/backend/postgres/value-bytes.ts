import type { ObjectEntry } from '../interface.js'
import type { Client } from './connection.js'
import { tableNames } from './schema.js'

/**
 * Where object bytes live. Today a bytea column of the `objects` table, written in the same
 * transaction as everything else. docs/backends.md ("PostgreSQL: an object-storage bucket")
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
    const { rows } = await client.query<{ value: Buffer }>(`SELECT value FROM ${this.#objects} WHERE key = $1`, [buffer(key)])
    const value = rows[0]?.value
    return value === undefined ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  }

  async sizes(client: Client, keys: readonly Uint8Array[]): Promise<Map<string, number>> {
    const { rows } = await client.query<{ key: Buffer; size: number }>(`SELECT key, octet_length(value) AS size FROM ${this.#objects} WHERE key = ANY($1::bytea[])`, [keys.map(buffer)])
    return new Map(rows.map((r) => [r.key.toString('hex'), r.size]))
  }

  async remove(client: Client, keys: readonly Uint8Array[]): Promise<{ deleted: number; bytes: number }> {
    const { rows } = await client.query<{ size: number }>(`DELETE FROM ${this.#objects} WHERE key = ANY($1::bytea[]) RETURNING octet_length(value) AS size`, [keys.map(buffer)])
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
 * The keys as one bytea[] parameter and the values as an array of binary parameters (node-postgres
 * would send an array of buffers as hex text, twice their size), numbered from `first`.
 */
export function objectArguments(entries: readonly ObjectEntry[], first: number): { text: string; values: unknown[] } {
  const slots = entries.map((_, i) => `$${first + 1 + i}::bytea`).join(', ')
  return { text: `$${first}::bytea[], ARRAY[${slots}]::bytea[]`, values: [entries.map((e) => buffer(e.key)), ...entries.map((e) => buffer(e.value))] }
}

/** Entries with each key once (the last value wins; content addressing makes them equal). */
export function uniqueEntries(entries: readonly ObjectEntry[]): ObjectEntry[] {
  return [...new Map(entries.map((e) => [hexOf(e.key), e])).values()]
}

export { buffer as bufferOf }
