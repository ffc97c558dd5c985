import { CkptError } from '../../errors.js'
import type { Client, Connection } from './connection.js'
import { FUNCTIONS_BEFORE_V3, functionStatements } from './functions.js'
import { LOCK, tableNames } from './schema-names.js'

/** The version of the tables below (docs/format.md, "PostgreSQL"). A newer one is refused. */
export const SCHEMA_VERSION = 3

/** Every table a store's schema holds. A schema holding any other table is not ours. */
export const TABLES = ['ckpt_meta', 'objects', 'refs', 'reflog', 'touches'] as const

export { LOCK, tableNames } from './schema-names.js'

function createStatements(schema: string, lockKey: number): string[] {
  const t = tableNames(schema)
  return [
    `CREATE TABLE ${t.meta} (key text PRIMARY KEY, value text NOT NULL)`,
    // written_at: ms by the server's clock; NULL once forgotten (forgetWritesBefore). raw_size:
    // the length of the value as written when `value` holds it deflated, else NULL (value-bytes.ts).
    `CREATE TABLE ${t.objects} (key bytea PRIMARY KEY, value bytea NOT NULL, written_at bigint, raw_size int)`,
    `CREATE INDEX objects_written_at ON ${t.objects} (written_at) WHERE written_at IS NOT NULL`,
    `CREATE TABLE ${t.refs} (name text COLLATE "C" PRIMARY KEY, value text NOT NULL)`,
    // No index on id alone: every reflog query goes by name (docs/postgres-explain.md); ids come from the sequence.
    `CREATE TABLE ${t.reflog} (id bigserial NOT NULL, name text COLLATE "C" NOT NULL, old text, new text, time bigint NOT NULL, reason text NOT NULL, txn uuid NOT NULL)`,
    `CREATE INDEX reflog_name ON ${t.reflog} (name, id)`,
    `CREATE TABLE ${t.touches} (id bigserial PRIMARY KEY, key bytea, ref_value text)`,
    ...functionStatements(schema, lockKey),
    `INSERT INTO ${t.meta} (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}'), ('application', 'ckpt')`,
  ]
}

/** The 32-bit key of the schema's advisory locks. */
export async function lockKeyOf(client: Client, schema: string): Promise<number> {
  const { rows } = await client.query<{ key: number }>('SELECT hashtext($1) AS key', [`ckpt:${schema}`])
  return rows[0]?.key ?? 0
}

/**
 * Checks that the schema holds a ckpt store this build reads, creating it first when `create`
 * and the schema holds no table. Refuses, writing nothing, a schema with tables that are not
 * ckpt's (NOT_A_STORE) or of a newer version (UNSUPPORTED_FORMAT).
 */
export async function prepareSchema(connection: Connection, create: boolean): Promise<number> {
  const { schema, description } = connection.location
  return connection.run('opening the store', async (client) => {
    const lockKey = await lockKeyOf(client, schema)
    const tables = await tablesIn(client, schema)
    if (tables.length === 0) {
      if (!create) throw new CkptError('NOT_A_STORE', `${description} holds no ckpt store (schema "${schema}" has no ckpt tables); create one with init`, { details: { path: description } })
      await createSchema(client, schema, lockKey, description)
    } else if ((await checkSchema(client, schema, tables, description)) < SCHEMA_VERSION) {
      await upgradeSchema(client, schema, lockKey)
    }
    return lockKey
  }, { retry: false })
}

async function tablesIn(client: Client, schema: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1`,
    [schema],
  )
  return rows.map((r) => r.name)
}

async function createSchema(client: Client, schema: string, lockKey: number, description: string): Promise<void> {
  await client.query('BEGIN')
  try {
    // Two processes creating one store at once: the second finds the tables and checks them.
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [lockKey, LOCK.init])
    const tables = await tablesIn(client, schema)
    if (tables.length === 0) {
      // Only when missing: CREATE SCHEMA IF NOT EXISTS needs CREATE on the whole database even
      // when the schema is there, and a role an administrator gave its own schema has not.
      const { rowCount } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
      if (rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`)
      for (const statement of createStatements(schema, lockKey)) await client.query(statement)
    }
    await client.query('COMMIT')
    if (tables.length > 0) await checkSchema(client, schema, tables, description)
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}

/** The store's schema version, once checked to be one this build reads. */
async function checkSchema(client: Client, schema: string, tables: string[], description: string): Promise<number> {
  const foreign = tables.filter((name) => !(TABLES as readonly string[]).includes(name))
  if (foreign.length > 0 || !tables.includes('ckpt_meta')) {
    throw new CkptError('NOT_A_STORE', `${description} is not a ckpt store: schema "${schema}" holds tables that are not ckpt's (${(foreign.length > 0 ? foreign : tables).slice(0, 5).join(', ')}); name another schema with ?schema=`, {
      details: { path: description, tables: foreign },
    })
  }
  const { rows } = await client.query<{ key: string; value: string }>(`SELECT key, value FROM ${tableNames(schema).meta}`)
  const meta = new Map(rows.map((r) => [r.key, r.value]))
  const version = Number(meta.get('schema_version'))
  if (meta.get('application') !== 'ckpt' || !Number.isInteger(version)) {
    throw new CkptError('NOT_A_STORE', `${description} is not a ckpt store: its ckpt_meta table is not ckpt's`, { details: { path: description } })
  }
  if (version > SCHEMA_VERSION || tables.length !== TABLES.length) {
    throw new CkptError('UNSUPPORTED_FORMAT', `${description} holds a ckpt store of PostgreSQL schema version ${version}; this ckpt reads version ${SCHEMA_VERSION}`, {
      details: { path: description, format: version },
    })
  }
  return version
}

/**
 * Version 1 sent each statement of a call on its own; version 2 adds the functions that make each
 * call one round trip (functions.ts); version 3 adds `objects.raw_size` (small values stored
 * deflated) and passes it through the functions, and drops the reflog's unused index on id.
 * Stored rows stay as they are: a NULL raw_size reads as the bytes given, which is what every
 * earlier row holds.
 */
async function upgradeSchema(client: Client, schema: string, lockKey: number): Promise<void> {
  const t = tableNames(schema)
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [lockKey, LOCK.init])
    // A new column with no default changes only the catalog: no row is rewritten.
    await client.query(`ALTER TABLE ${t.objects} ADD COLUMN IF NOT EXISTS raw_size int`)
    await client.query(`ALTER TABLE ${t.reflog} DROP CONSTRAINT IF EXISTS reflog_pkey`)
    for (const fn of FUNCTIONS_BEFORE_V3) await client.query(`DROP FUNCTION IF EXISTS "${schema}".${fn}`)
    for (const statement of functionStatements(schema, lockKey)) await client.query(statement)
    await client.query(`UPDATE ${t.meta} SET value = $1 WHERE key = 'schema_version' AND value::int < $1::int`, [String(SCHEMA_VERSION)])
    await client.query('COMMIT')
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw err
  }
}
