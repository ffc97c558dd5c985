import { randomUUID } from 'node:crypto'
import type { ObjectEntry, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry } from '../interface.js'
import { Rollback, type Client, type Connection } from './connection.js'
import { ReadBatcher } from './read-batcher.js'
import { tableNames } from './schema.js'
import { bufferOf, objectArguments, statementBatches, uniqueEntries, type ValueBytes } from './value-bytes.js'

/** The result a conflict or a missing object raised in `ckpt_update_refs` stands for. */
function refusal(err: unknown, requires: ReadonlyArray<readonly Uint8Array[]>): RefUpdateResult | undefined {
  const { code, detail } = (typeof err === 'object' && err !== null ? err : {}) as { code?: string; detail?: string }
  if (code === 'CK001' && detail !== undefined) {
    const { name, actual } = JSON.parse(detail) as { name: string; actual: string | null }
    return { ok: false, name, actual }
  }
  if (code === 'CK002' && detail !== undefined) return { ok: false, missing: requires[Number(detail) - 1] ?? [] }
  return undefined
}

const entryOf = (row: { old: string | null; new: string | null; time: string; reason: string }): ReflogEntry => ({ old: row.old, new: row.new, time: Number(row.time), reason: row.reason })

export class PostgresRefs implements RefStore {
  readonly #t: ReturnType<typeof tableNames>
  readonly #reads = new ReadBatcher<string, string>(100, (name) => name, (names) =>
    this.connection.run('reading refs', async (client) => {
      const { rows } = await client.query<RefEntry>({ name: `${this.#t.refs}/read`, text: `SELECT name, value FROM ${this.#t.refs} WHERE name = ANY($1::text[])`, values: [names] })
      return new Map(rows.map((r) => [r.name, r.value]))
    }),
  )

  constructor(
    private readonly connection: Connection,
    private readonly values: ValueBytes,
  ) {
    this.#t = tableNames(connection.location.schema)
  }

  /** Refs read at once (HEAD and the timeline it names, when a commit reads both) are one query. */
  readRef(name: string): Promise<string | undefined> {
    return this.#reads.get(name)
  }

  async listRefs(prefix: string): Promise<RefEntry[]> {
    const { rows } = await this.connection.run('listing refs', (c) =>
      c.query<RefEntry>(`SELECT name, value FROM ${this.#t.refs} WHERE name >= $1 AND starts_with(name, $1) ORDER BY name`, [prefix]),
    )
    return rows.map((r) => ({ name: r.name, value: r.value }))
  }

  /**
   * One call of `ckpt_update_refs` (functions.ts), its own transaction: the gate, the `requires`
   * check, the objects, then each compare-and-swap and its reflog row; a conflict raises, which
   * rolls everything back. Objects too many for one statement go first, in the same transaction.
   * Every reflog row carries this call's `txn` id: when the connection is lost around the commit,
   * the retry first looks for that id and, if the call did commit, reports success instead of
   * applying it again.
   */
  updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    const txn = randomUUID()
    const batches = statementBatches(uniqueEntries(objects))
    const last = batches.pop() ?? []
    const call = async (client: Client): Promise<RefUpdateResult> => {
      for (const batch of batches) await this.values.write(client, batch)
      const objectArgs = objectArguments(last, 9)
      const text = `SELECT ${this.#t.updateRefs}($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::uuid, ${objectArgs.text}, $7::bytea[], $8::int[])`
      await client.query({
        name: `${this.#t.updateRefs}/${last.length}`,
        text,
        values: [
          updates.map((u) => u.name), updates.map((u) => u.expected), updates.map((u) => u.value), updates.map((u) => Math.floor(u.log.time)),
          updates.map((u) => u.log.reason), txn, requires.flat().map(bufferOf), requires.map((group) => group.length), ...objectArgs.values,
        ],
      })
      return { ok: true }
    }
    const attempt = async (client: Client): Promise<RefUpdateResult> => {
      try {
        return await call(client)
      } catch (err) {
        const refused = refusal(err, requires)
        if (refused && batches.length > 0) throw new Rollback(refused)
        if (refused) return refused
        throw err
      }
    }
    const options = { beforeRetry: (client: Client) => this.#committedAlready(client, updates, txn) }
    return batches.length > 0 ? this.connection.transaction('moving refs', attempt, options) : this.connection.run('moving refs', attempt, options)
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
      c.query(`DELETE FROM ${this.#t.reflog} WHERE name = $1 AND (time < $2 OR new = ANY($3::text[]))`, [name, Math.floor(before), [...values]]),
    )
    return rowCount ?? 0
  }
}
