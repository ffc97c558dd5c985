import { CkptError } from '../../errors.js'
import type { Sweep } from '../interface.js'
import { isConnectionLoss, storeError } from './errors.js'
import type { Client, Connection } from './connection.js'
import { LOCK, tableNames } from './schema.js'
import { fromColumn } from './text.js'
import type { ValueBytes } from './value-bytes.js'

/**
 * A sweep session on its own connection, whose session-level advisory locks are the whole
 * protocol (docs/backends.md, "PostgreSQL: sweeps"):
 * - `turn`, exclusive for the session: one sweep at a time, and while it is held every caller's
 *   `ckpt_enter` fails to take it shared and so records its touches in the `touches` table;
 * - `gate`, exclusive from `hold` to `end`: every caller takes it shared first in its
 *   transaction, so held callers wait, and taking it waits for the transactions under way.
 * If this process dies, the server drops the connection and with it both locks.
 */
export async function beginPostgresSweep(connection: Connection, values: ValueBytes, lockKey: number): Promise<Sweep> {
  const { location } = connection
  const t = tableNames(location.schema)
  let client: Client
  try {
    client = await connection.pool.connect()
  } catch (err) {
    throw storeError(err, location, 'starting a sweep')
  }
  const fail = (err: unknown, doing: string): never => {
    throw storeError(err, location, doing)
  }
  try {
    await client.query('SELECT pg_advisory_lock($1, $2)', [lockKey, LOCK.turn])
    // Touches from an earlier session (or from callers that ran while this one waited its turn) are not this session's.
    await client.query(`DELETE FROM ${t.touches}`)
  } catch (err) {
    client.release(true)
    fail(err, 'starting a sweep')
  }
  const inTurn = oneAtATime()
  let held = false
  let ended = false
  const live = () => {
    if (ended) throw new CkptError('STORE_CLOSED', 'this sweep has ended')
  }
  return {
    async drain() {
      live()
      const { rows } = await inTurn(() => client.query<{ key: Buffer | null; ref_value: string | null }>(`DELETE FROM ${t.touches} RETURNING key, ref_value`)).catch((err) => fail(err, 'draining a sweep'))
      const keys: Uint8Array[] = []
      const refValues: string[] = []
      for (const row of rows) {
        if (row.key !== null) keys.push(new Uint8Array(row.key.buffer, row.key.byteOffset, row.key.byteLength))
        if (row.ref_value !== null) refValues.push(fromColumn(row.ref_value))
      }
      return { keys, refValues }
    },
    async get(key) {
      live()
      return inTurn(() => values.read(client, key)).catch((err) => fail(err, 'reading an object for a sweep'))
    },
    async hold() {
      live()
      if (held) return
      await inTurn(() => client.query('SELECT pg_advisory_lock($1, $2)', [lockKey, LOCK.gate])).catch((err) => fail(err, 'holding the store for a sweep'))
      held = true
    },
    async delete(keys) {
      live()
      if (!held) throw new CkptError('INVALID_ARGUMENT', 'a sweep deletes only while it holds the store')
      if (keys.length === 0) return { deleted: 0, bytes: 0 }
      return inTurn(() => values.remove(client, keys)).catch((err) => fail(err, 'deleting objects'))
    },
    async end() {
      if (ended) return
      ended = true
      try {
        await inTurn(async () => {
          await client.query(`DELETE FROM ${t.touches}`)
          await client.query('SELECT pg_advisory_unlock_all()')
        })
        client.release()
      } catch (err) {
        // A lost connection has released the locks already; the next session clears the touches.
        client.release(true)
        if (!isConnectionLoss(err)) throw storeError(err, location, 'ending a sweep')
      }
    },
  }
}

/**
 * Runs tasks one after another. The sweep's calls share one connection (its locks are the
 * session's), and gc makes them concurrently; node-postgres takes one query at a time per client
 * (it warns about more, and pg@9 refuses them).
 */
function oneAtATime(): <T>(task: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve()
  return (task) => {
    const next = last.then(task, task)
    last = next.catch(() => undefined)
    return next
  }
}
