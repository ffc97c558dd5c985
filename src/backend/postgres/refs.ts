import { randomUUID } from 'node:crypto'
import type { ObjectEntry, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry } from '../interface.js'
import { Rollback, type Client, type Connection } from './connection.js'
import { enterGate } from './gate.js'
import { tableNames } from './schema.js'
import { fromColumn, toColumn } from './text.js'
import { bufferOf, uniqueEntries, type ValueBytes } from './value-bytes.js'

const entryOf = (row: { old: string | null; new: string | null; time: string; reason: string }): ReflogEntry => ({
  old: fromColumn(row.old),
  new: fromColumn(row.new),
  time: Number(row.time),
  reason: fromColumn(row.reason),
})

export class PostgresRefs implements RefStore {
  readonly #t: ReturnType<typeof tableNames>

  constructor(
    private readonly connection: Connection,
    private readonly values: ValueBytes,
  ) {
    this.#t = tableNames(connection.location.schema)
  }

  async readRef(name: string): Promise<string | undefined> {
    const { rows } = await this.connection.run('reading a ref', (c) => c.query<{ value: string }>(`SELECT value FROM ${this.#t.refs} WHERE name = $1`, [name]))
    return fromColumn(rows[0]?.value ?? null) ?? undefined
  }

  async listRefs(prefix: string): Promise<RefEntry[]> {
    const { rows } = await this.connection.run('listing refs', (c) =>
      c.query<RefEntry>(`SELECT name, value FROM ${this.#t.refs} WHERE name >= $1 AND starts_with(name, $1) ORDER BY name`, [prefix]),
    )
    return rows.map((r) => ({ name: r.name, value: fromColumn(r.value) }))
  }

  /**
   * One transaction: the gate, the `requires` check, the objects, then each compare-and-swap as a
   * conditional statement whose row count says whether it applied, and its reflog row. Any
   * conflict rolls everything back. Every reflog row carries this call's `txn` id: when the
   * connection is lost around COMMIT, the retry first looks for that id and, if the transaction
   * did commit, reports success instead of applying it again.
   */
  updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    const txn = randomUUID()
    return this.connection.transaction(
      'moving refs',
      async (client) => {
        const unique = uniqueEntries(objects)
        await enterGate(client, this.connection.location.schema, [...unique.map((o) => o.key), ...requires.flat()], updates.map((u) => toColumn(u.value)))
        const missing = await this.#missingGroup(client, requires, unique)
        if (missing) throw new Rollback<RefUpdateResult>({ ok: false, missing })
        await this.values.write(client, unique)
        for (const update of updates) {
          if (!(await this.#swap(client, update))) {
            const { rows } = await client.query<{ value: string }>(`SELECT value FROM ${this.#t.refs} WHERE name = $1`, [update.name])
            throw new Rollback<RefUpdateResult>({ ok: false, name: update.name, actual: fromColumn(rows[0]?.value ?? null) })
          }
          await client.query(`INSERT INTO ${this.#t.reflog} (name, old, new, time, reason, txn) VALUES ($1, $2, $3, $4, $5, $6)`, [
            update.name, toColumn(update.expected), toColumn(update.value), Math.floor(update.log.time), toColumn(update.log.reason), txn,
          ])
        }
        return { ok: true } as RefUpdateResult
      },
      { beforeRetry: (client) => this.#committedAlready(client, updates, txn) },
    )
  }

  async #swap(client: Client, update: RefUpdate): Promise<boolean> {
    const { refs } = this.#t
    const [name, expected, value] = [update.name, toColumn(update.expected), toColumn(update.value)]
    if (expected === null && value === null) {
      const { rows } = await client.query(`SELECT 1 FROM ${refs} WHERE name = $1 FOR UPDATE`, [name])
      return rows.length === 0
    }
    const result =
      expected === null
        ? await client.query(`INSERT INTO ${refs} (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, value])
        : value === null
          ? await client.query(`DELETE FROM ${refs} WHERE name = $1 AND value = $2`, [name, expected])
          : await client.query(`UPDATE ${refs} SET value = $3 WHERE name = $1 AND value = $2`, [name, expected, value])
    return result.rowCount === 1
  }

  async #missingGroup(client: Client, requires: ReadonlyArray<readonly Uint8Array[]>, written: readonly ObjectEntry[]): Promise<readonly Uint8Array[] | undefined> {
    if (requires.length === 0) return undefined
    const { rows } = await client.query<{ key: Buffer }>(`SELECT key FROM ${this.#t.objects} WHERE key = ANY($1::bytea[]) FOR SHARE`, [requires.flat().map(bufferOf)])
    const stored = new Set([...rows.map((r) => r.key.toString('hex')), ...written.map((o) => bufferOf(o.key).toString('hex'))])
    return requires.find((group) => !group.some((key) => stored.has(bufferOf(key).toString('hex'))))
  }

  /** `{ ok: true }` when an earlier attempt of this call committed (its reflog row is there). */
  async #committedAlready(client: Client, updates: readonly RefUpdate[], txn: string): Promise<RefUpdateResult | undefined> {
    if (updates.length === 0) return undefined
    const { rows } = await client.query(`SELECT 1 FROM ${this.#t.reflog} WHERE name = $1 AND txn = $2`, [updates[0]?.name, txn])
    return rows.length > 0 ? { ok: true } : undefined
  }

  async readReflog(name: string, options: { readonly newestFirst?: boolean; readonly limit?: number } = {}): Promise<ReflogEntry[]> {
    const order = options.newestFirst ? 'DESC' : 'ASC'
    const limit = options.limit === undefined ? '' : `LIMIT ${Math.max(0, Math.floor(options.limit))}`
    const { rows } = await this.connection.run('reading a reflog', (c) =>
      c.query(`SELECT old, new, time, reason FROM ${this.#t.reflog} WHERE name = $1 ORDER BY id ${order} ${limit}`, [name]),
    )
    return rows.map(entryOf)
  }

  async listReflogs(prefix: string): Promise<string[]> {
    // A ref whose entries all expired keeps its (empty) log while it exists.
    const { rows } = await this.connection.run('listing reflogs', (c) =>
      c.query<{ name: string }>(
        `SELECT name FROM ${this.#t.reflog} WHERE name >= $1 AND starts_with(name, $1) UNION SELECT name FROM ${this.#t.refs} WHERE name >= $1 AND starts_with(name, $1) ORDER BY name`,
        [prefix],
      ),
    )
    return rows.map((r) => r.name)
  }

  async expireReflog(name: string, before: number, values: readonly string[] = []): Promise<number> {
    const { rowCount } = await this.connection.run('expiring a reflog', (c) =>
      c.query(`DELETE FROM ${this.#t.reflog} WHERE name = $1 AND (time < $2 OR new = ANY($3::text[]))`, [name, Math.floor(before), values.map((v) => toColumn(v))]),
    )
    return rowCount ?? 0
  }
}
