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

/** Milliseconds by the server's clock, so that machines with skewed clocks agree. */
export const SERVER_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`
/**
 * A rewritten key keeps its stored bytes when they are equal (assigning the old value keeps its
 * TOAST pointer, so a re-sent chunk is not written again), and takes the new ones otherwise, as
 * LevelDB does (the stat cache rewrites its keys).
 */
const KEEP_OR_OVERWRITE = `value = CASE WHEN octet_length(objects.value) = octet_length(EXCLUDED.value) AND objects.value = EXCLUDED.value THEN objects.value ELSE EXCLUDED.value END`
/** Rows per INSERT statement, and their bytes: buffers go as binary parameters. */
const ROWS_PER_STATEMENT = 200
const BYTES_PER_STATEMENT = 16 * 1024 * 1024

export const hexOf = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('hex')
const buffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export class TableValueBytes implements ValueBytes {
  readonly #objects: string

  constructor(schema: string) {
    this.#objects = tableNames(schema).objects
  }

  async write(client: Client, entries: readonly ObjectEntry[]): Promise<void> {
    let batch: ObjectEntry[] = []
    let bytes = 0
    const flush = async () => {
      if (batch.length === 0) return
      const rows = batch.map((_, i) => `($${2 * i + 1}, $${2 * i + 2}, ${SERVER_MS})`).join(', ')
      await client.query(
        `INSERT INTO ${this.#objects} (key, value, written_at) VALUES ${rows} ON CONFLICT (key) DO UPDATE SET written_at = EXCLUDED.written_at, ${KEEP_OR_OVERWRITE}`,
        batch.flatMap((e) => [buffer(e.key), buffer(e.value)]),
      )
      batch = []
      bytes = 0
    }
    for (const entry of entries) {
      if (batch.length >= ROWS_PER_STATEMENT || bytes + entry.value.length > BYTES_PER_STATEMENT) await flush()
      batch.push(entry)
      bytes += entry.value.length
    }
    await flush()
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

/** Entries with each key once (the last value wins; content addressing makes them equal). */
export function uniqueEntries(entries: readonly ObjectEntry[]): ObjectEntry[] {
  return [...new Map(entries.map((e) => [hexOf(e.key), e])).values()]
}

export { buffer as bufferOf }
