import type { Client } from './connection.js'
import { tableNames } from './schema.js'
import { bufferOf } from './value-bytes.js'

/**
 * The first statement of every object read, probe and write and every ref update: waits while a
 * sweep holds the store and, while one runs, records the keys and ref values as touched, in the
 * caller's own transaction (schema.ts, `ckpt_enter`; docs/backends.md, "PostgreSQL: sweeps").
 */
export async function enterGate(client: Client, schema: string, keys: readonly Uint8Array[], refValues: readonly (string | null)[] = []): Promise<void> {
  await client.query(`SELECT ${tableNames(schema).enter}($1::bytea[], $2::text[])`, [keys.map(bufferOf), refValues.filter((v) => v !== null)])
}
