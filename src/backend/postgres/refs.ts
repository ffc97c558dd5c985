import { randomUUID } from 'node:crypto'
import { setTimeout } from 'node:timers/promises'
import { CkptError } from '../../errors.js'
import type { ObjectEntry, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry } from '../interface.js'
import { Rollback, type Client, type Connection } from './connection.js'
import { enterGate } from './gate.js'
import { tableNames } from './schema.js'
import { fromColumn, toColumn } from './text.js'
import { bufferOf, uniqueEntries, type ValueBytes } from './value-bytes.js'

/** How long a retry waits for its earlier attempt's transaction to end, once its server process is told to stop. */
const SETTLE_TIMEOUT_MS = 10_000
const SETTLE_POLL_MS = 20

/**
 * Whether transaction `xid` committed, once it is certainly over: while it is still in progress
 * (its connection lost on the client's side but not yet on the server's), its server process is
 * terminated, and its status read again until it is over. A process terminated while committing
 * finishes the commit first, so either way the answer is final (PostgreSQL 13 or later).
 * `unknown` when the server no longer knows the id.
 */
async function settledAttempt(client: Client, xid: string): Promise<'committed' | 'aborted' | 'unknown'> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS
  for (;;) {
    let status: string | null
    try {
      status = (await client.query<{ status: string | null }>('SELECT pg_xact_status($1::xid8) AS status', [xid])).rows[0]?.status ?? null
    } catch (err) {
      // "transaction ID … is in the future": a crash lost the attempt before anything of it reached the log.
      if ((err as { code?: unknown }).code === '22023') return 'aborted'
      throw err
    }
    if (status === 'committed' || status === 'aborted') return status
    if (status === null) return 'unknown'
    if (Date.now() > deadline) {
      throw new CkptError('STORE_UNAVAILABLE', `an earlier attempt of this ref update (PostgreSQL transaction ${xid}) is still in progress on the server; look at the timeline before running it again`, {
        details: { retryable: false, transaction: xid },
      })
    }
    await client
      .query(`SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'transactionid' AND transactionid = $1::xid8::xid AND mode = 'ExclusiveLock' AND granted`, [xid])
      // Not allowed to stop it (another role): it is waited for all the same.
      .catch((err: { code?: unknown }) => (err.code === '42501' ? undefined : Promise.reject(err)))
    await setTimeout(SETTLE_POLL_MS)
  }
}

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
   * conflict rolls everything back. When the connection is lost once COMMIT may have been sent,
   * the retry first settles that attempt (see {@link settledAttempt}) and, if it committed,
   * reports success instead of applying it again.
   */
  updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    const txn = randomUUID()
    // The attempt's transaction id, set once its statements are done and COMMIT is sent.
    let xid: string | undefined
    const updating = this.connection.transaction(
      'moving refs',
      async (client) => {
        xid = undefined
        let attemptXid: string | undefined
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
          const { rows } = await client.query<{ xid: string }>(
            `INSERT INTO ${this.#t.reflog} (name, old, new, time, reason, txn) VALUES ($1, $2, $3, $4, $5, $6) RETURNING pg_current_xact_id()::text AS xid`,
            [update.name, toColumn(update.expected), toColumn(update.value), Math.floor(update.log.time), toColumn(update.log.reason), txn],
          )
          attemptXid ??= rows[0]?.xid
        }
        xid = attemptXid
        return { ok: true } as RefUpdateResult
      },
      { beforeRetry: (client) => this.#committedAlready(client, updates, txn, xid) },
    )
    return updating.catch((err: unknown) => {
      // The server stayed out of reach after a COMMIT was sent and before anyone could learn its
      // outcome: running the update again could apply it twice, so the error must not say retry.
      if (xid === undefined || !(err instanceof CkptError) || err.code !== 'STORE_UNAVAILABLE') throw err
      const { host, port, description } = this.connection.location
      throw new CkptError('STORE_UNAVAILABLE', `lost PostgreSQL at ${host}:${port} (${description}) as a ref update's COMMIT was sent, and it did not answer again in time to tell whether that committed: look at the timeline before running it again`, {
        details: { ...err.details, retryable: false, outcomeUnknown: true },
      })
    })
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

  /**
   * `{ ok: true }` when the earlier attempt of this call committed. An attempt cut off before its
   * statements were done (`xid` unknown) never sent COMMIT. One cut off after is settled first:
   * its COMMIT may still be on its way to the server, and the server may commit it after this
   * retry has looked (then the retry would lose its compare-and-swap to its own earlier attempt,
   * and a caller retrying conflicts would apply the commit twice).
   */
  async #committedAlready(client: Client, updates: readonly RefUpdate[], txn: string, xid: string | undefined): Promise<RefUpdateResult | undefined> {
    if (updates.length === 0 || xid === undefined) return undefined
    const status = await settledAttempt(client, xid)
    if (status === 'committed') return { ok: true }
    if (status === 'aborted') return undefined
    // Too old for the server to say (not after a lost connection's few seconds): its reflog row tells.
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
