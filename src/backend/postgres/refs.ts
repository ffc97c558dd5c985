import { randomUUID } from 'node:crypto'
import { setTimeout } from 'node:timers/promises'
import { CkptError } from '../../errors.js'
import type { ObjectEntry, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry } from '../interface.js'
import { Rollback, type Client, type Connection } from './connection.js'
import { isConnectionLoss } from './errors.js'
import { ReadBatcher } from './read-batcher.js'
import { tableNames } from './schema.js'
import { fromColumn, toColumn } from './text.js'
import { bufferOf, objectArguments, statementBatches, uniqueEntries, type ValueBytes } from './value-bytes.js'

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

/** The result a conflict or a missing object raised in `ckpt_update_refs` stands for. */
function refusal(err: unknown, requires: ReadonlyArray<readonly Uint8Array[]>): RefUpdateResult | undefined {
  const { code, detail } = (typeof err === 'object' && err !== null ? err : {}) as { code?: string; detail?: string }
  if (code === 'CK001' && detail !== undefined) {
    const { name, actual } = JSON.parse(detail) as { name: string; actual: string | null }
    return { ok: false, name, actual: fromColumn(actual) }
  }
  if (code === 'CK002' && detail !== undefined) return { ok: false, missing: requires[Number(detail) - 1] ?? [] }
  return undefined
}

const entryOf = (row: { old: string | null; new: string | null; time: string; reason: string }): ReflogEntry => ({
  old: fromColumn(row.old),
  new: fromColumn(row.new),
  time: Number(row.time),
  reason: fromColumn(row.reason),
})

export class PostgresRefs implements RefStore {
  readonly #t: ReturnType<typeof tableNames>
  readonly #reads = new ReadBatcher<string, string>(100, (name) => name, (names) =>
    this.connection.run('reading refs', async (client) => {
      const { rows } = await client.query<RefEntry>({ name: `${this.#t.refs}/read`, text: `SELECT name, value FROM ${this.#t.refs} WHERE name = ANY($1::text[])`, values: [names] })
      return new Map(rows.map((r) => [r.name, fromColumn(r.value)]))
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
    return rows.map((r) => ({ name: r.name, value: fromColumn(r.value) }))
  }

  /**
   * One call of `ckpt_update_refs` (functions.ts), its own transaction: the gate, the `requires`
   * check, the objects, then each compare-and-swap and its reflog row; a conflict raises, which
   * rolls everything back. Objects too many for one statement go first, in one transaction with
   * the call.
   *
   * Every reflog row carries this call's `txn` id, so that a call retried after its connection
   * was lost is never applied twice:
   * - before a retry, an earlier attempt that committed (its `txn` row is there) ends the call as
   *   applied; one in a transaction whose COMMIT may still be on its way is first settled (see
   *   {@link settledAttempt});
   * - an earlier attempt still running on the server when the retry looked holds the refs' rows,
   *   so the retry waits for it and then loses its compare-and-swap to it: a conflict met by a
   *   retry is reported as applied when the `txn` row is there after all;
   * - once a call went unanswered (its connection lost after it was sent), it may still apply on
   *   the server at any time, so a call that then ends in any error (the server out of reach, a
   *   retry cancelled by a lock timeout) says its outcome is unknown instead of inviting a retry.
   */
  async updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    const txn = randomUUID()
    const batches = statementBatches(uniqueEntries(objects))
    const last = batches.pop() ?? []
    const inTransaction = batches.length > 0
    let attempts = 0
    // Whether an attempt's call, its own transaction, went unanswered: it may still apply.
    let unanswered = false
    // In an explicit transaction, the latest attempt's id once only its COMMIT is left to send
    // (a retry settles it; without one, whether it committed is unknown).
    let xid: string | undefined
    const call = async (client: Client): Promise<RefUpdateResult> => {
      attempts++
      xid = undefined
      for (const batch of batches) await this.values.write(client, batch)
      const objectArgs = objectArguments(last, 9)
      const text = `SELECT ${this.#t.updateRefs}($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::uuid, ${objectArgs.text}, $7::bytea[], $8::int[])`
      try {
        await client.query({
          name: `${this.#t.updateRefs}/${last.length}`,
          text,
          values: [
            updates.map((u) => u.name), updates.map((u) => toColumn(u.expected)), updates.map((u) => toColumn(u.value)), updates.map((u) => Math.floor(u.log.time)),
            updates.map((u) => toColumn(u.log.reason)), txn, requires.flat().map(bufferOf), requires.map((group) => group.length), ...objectArgs.values,
          ],
        })
      } catch (err) {
        // Its own transaction, the call may still commit on the server; in BEGIN it cannot without our COMMIT.
        if (!inTransaction && isConnectionLoss(err)) unanswered = true
        throw err
      }
      if (inTransaction) xid = (await client.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid')).rows[0]?.xid
      return { ok: true }
    }
    const attempt = async (client: Client): Promise<RefUpdateResult> => {
      try {
        return await call(client)
      } catch (err) {
        const refused = refusal(err, requires)
        if (refused && inTransaction) throw new Rollback(refused)
        if (refused) return refused
        throw err
      }
    }
    const options = { beforeRetry: (client: Client) => this.#committedAlready(client, updates, txn, xid) }
    try {
      const result = inTransaction ? await this.connection.transaction('moving refs', attempt, options) : await this.connection.run('moving refs', attempt, options)
      if (!result.ok && 'name' in result && attempts > 1 && (await this.connection.run('moving refs', (c) => this.#applied(c, updates, txn)))) return { ok: true }
      return result
    } catch (err) {
      if (!(unanswered || xid !== undefined) || !(err instanceof CkptError)) throw err
      const { host, port, description } = this.connection.location
      throw new CkptError('STORE_UNAVAILABLE', `PostgreSQL at ${host}:${port} (${description}) did not answer a ref update that was sent, which may still apply, and the update then failed (${err.message}): look at the timeline before running it again`, {
        details: { ...err.details, retryable: false, outcomeUnknown: true },
      })
    }
  }

  /** Whether a call's reflog rows are there: an attempt of it committed. */
  async #applied(client: Client, updates: readonly RefUpdate[], txn: string): Promise<boolean> {
    if (updates.length === 0) return false
    const { rows } = await client.query(`SELECT 1 FROM ${this.#t.reflog} WHERE name = $1 AND txn = $2`, [updates[0]?.name, txn])
    return rows.length > 0
  }

  /**
   * `{ ok: true }` when the earlier attempt of this call committed. One cut off in a transaction
   * after its call (`xid` known) is settled first: its COMMIT may still be on its way to the
   * server, and the server may commit it after this retry has looked.
   */
  async #committedAlready(client: Client, updates: readonly RefUpdate[], txn: string, xid: string | undefined): Promise<RefUpdateResult | undefined> {
    if (updates.length === 0) return undefined
    if (xid !== undefined) {
      const status = await settledAttempt(client, xid)
      if (status === 'committed') return { ok: true }
      if (status === 'aborted') return undefined
    }
    return (await this.#applied(client, updates, txn)) ? { ok: true } : undefined
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
