import type { KeyRange, ObjectEntry, ObjectStore, ReclaimResult, Sweep } from '../interface.js'
import type { Connection } from './connection.js'
import { enterGate } from './gate.js'
import { tableNames } from './schema.js'
import { beginPostgresSweep } from './sweep.js'
import { bufferOf, uniqueEntries, type ValueBytes } from './value-bytes.js'

/** Keys per page when listing, so a listing never holds the whole table in memory. */
const PAGE = 1000

const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

export class PostgresObjects implements ObjectStore {
  readonly #objects: string

  constructor(
    private readonly connection: Connection,
    private readonly values: ValueBytes,
    private readonly lockKey: number,
  ) {
    this.#objects = tableNames(connection.location.schema).objects
  }

  get #schema(): string {
    return this.connection.location.schema
  }

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.connection.transaction('reading an object', async (client) => {
      await enterGate(client, this.#schema, [key])
      return this.values.read(client, key)
    })
  }

  has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    if (keys.length === 0) return Promise.resolve([])
    return this.connection.transaction('looking objects up', async (client) => {
      await enterGate(client, this.#schema, keys)
      const { rows } = await client.query<{ key: Buffer }>(`SELECT key FROM ${this.#objects} WHERE key = ANY($1::bytea[])`, [keys.map(bufferOf)])
      const found = new Set(rows.map((r) => r.key.toString('hex')))
      return keys.map((key) => found.has(bufferOf(key).toString('hex')))
    })
  }

  // Every transaction commits synchronously (PostgreSQL's own durability), so deferSync changes nothing.
  async putMany(entries: readonly ObjectEntry[]): Promise<void> {
    if (entries.length === 0) return
    const unique = uniqueEntries(entries)
    await this.connection.transaction('storing objects', async (client) => {
      await enterGate(client, this.#schema, unique.map((e) => e.key))
      await this.values.write(client, unique)
    })
  }

  async *keys(range: KeyRange = {}): AsyncIterable<Uint8Array> {
    yield* this.#pages('listing objects', 'TRUE', [], range)
  }

  async sizes(keys: readonly Uint8Array[]): Promise<Array<number | undefined>> {
    if (keys.length === 0) return []
    const sizes = await this.connection.run('reading object sizes', (client) => this.values.sizes(client, keys))
    return keys.map((key) => sizes.get(bufferOf(key).toString('hex')))
  }

  async *writtenSince(since: number): AsyncIterable<Uint8Array> {
    yield* this.#pages('listing recent writes', 'written_at >= $1', [Math.floor(since)], {})
  }

  async forgetWritesBefore(before: number): Promise<void> {
    await this.connection.run('forgetting old write times', (client) => client.query(`UPDATE ${this.#objects} SET written_at = NULL WHERE written_at < $1`, [Math.floor(before)]))
  }

  beginSweep(): Promise<Sweep> {
    return beginPostgresSweep(this.connection, this.values, this.lockKey)
  }

  /** Lets PostgreSQL reuse the space of deleted rows (plain VACUUM: no lock that stops writers). */
  async reclaim(): Promise<ReclaimResult> {
    return this.connection.run('vacuuming the objects table', async (client) => {
      const size = async () => Number((await client.query<{ size: string }>(`SELECT pg_total_relation_size('${this.#objects}') AS size`)).rows[0]?.size ?? 0)
      const before = await size()
      await client.query(`VACUUM ${this.#objects}`)
      return { files: 0, bytes: Math.max(0, before - (await size())) }
    })
  }

  /** Keys matching `where` (with `params`) inside `range`, ascending, one page per query. */
  async *#pages(doing: string, where: string, params: unknown[], range: KeyRange): AsyncIterable<Uint8Array> {
    let after: Buffer | undefined
    for (;;) {
      const conditions = [where]
      const values = [...params]
      if (after !== undefined) conditions.push(`key > $${values.push(after)}`)
      else if (range.gte !== undefined) conditions.push(`key >= $${values.push(bufferOf(range.gte))}`)
      if (range.lt !== undefined) conditions.push(`key < $${values.push(bufferOf(range.lt))}`)
      const { rows } = await this.connection.run(doing, (client) =>
        client.query<{ key: Buffer }>(`SELECT key FROM ${this.#objects} WHERE ${conditions.join(' AND ')} ORDER BY key LIMIT ${PAGE}`, values),
      )
      for (const row of rows) yield bytesOf(row.key)
      if (rows.length < PAGE) return
      after = rows[rows.length - 1]?.key
    }
  }
}
