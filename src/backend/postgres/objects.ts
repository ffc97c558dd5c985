import type { KeyRange, ObjectEntry, ObjectStore, ReclaimResult, Sweep } from '../interface.js'
import type { Connection } from './connection.js'
import { ReadBatcher } from './read-batcher.js'
import { tableNames } from './schema.js'
import { beginPostgresSweep } from './sweep.js'
import { bufferOf, hexOf, statementBatches, uniqueEntries, unpackValue, type ValueBytes } from './value-bytes.js'

/** Keys per page when listing, so a listing never holds the whole table in memory. */
const PAGE = 1000

const bytesOf = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

export class PostgresObjects implements ObjectStore {
  readonly #objects: string
  readonly #t: ReturnType<typeof tableNames>
  /** Keys per call, and so at most this many values (chunks of up to 1 MiB) in one reply. */
  readonly #reads = new ReadBatcher<Uint8Array, Uint8Array>(32, hexOf, (keys) =>
    this.connection.run('reading objects', async (client) => {
      const { rows } = await client.query<{ k: Buffer; v: Buffer; n: number | null }>({ name: this.#t.get, text: `SELECT k, v, n FROM ${this.#t.get}($1::bytea[])`, values: [keys.map(bufferOf)] })
      return new Map(rows.map((r) => [r.k.toString('hex'), unpackValue(bytesOf(r.v), r.n)]))
    }),
  )

  constructor(
    private readonly connection: Connection,
    private readonly values: ValueBytes,
    private readonly lockKey: number,
  ) {
    this.#t = tableNames(connection.location.schema)
    this.#objects = this.#t.objects
  }

  /** Reads asked for in the same turn of the event loop go to the server as one call. */
  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.#reads.get(key)
  }

  has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    if (keys.length === 0) return Promise.resolve([])
    return this.connection.run('looking objects up', async (client) => {
      const { rows } = await client.query<{ key: Buffer }>({ name: this.#t.has, text: `SELECT k AS key FROM ${this.#t.has}($1::bytea[]) AS k`, values: [keys.map(bufferOf)] })
      const found = new Set(rows.map((r) => r.key.toString('hex')))
      return keys.map((key) => found.has(bufferOf(key).toString('hex')))
    })
  }

  // Every statement commits synchronously (PostgreSQL's own durability), so deferSync changes nothing.
  // What fits one statement is one call, its own transaction; more takes one transaction.
  async putMany(entries: readonly ObjectEntry[]): Promise<void> {
    if (entries.length === 0) return
    const unique = uniqueEntries(entries)
    if (statementBatches(unique).length === 1) await this.connection.run('storing objects', (client) => this.values.write(client, unique))
    else await this.connection.transaction('storing objects', (client) => this.values.write(client, unique))
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
