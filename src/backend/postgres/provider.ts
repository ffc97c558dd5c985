import { CkptError } from '../../errors.js'
import type { BackendProvider } from '../registry.js'
import { MIN_POOL_SIZE, openPostgresBackend } from './index.js'
import { parsePostgresUrl } from './url.js'

/** Options of a store on PostgreSQL: `openStore(url, { postgres: { poolSize: 4 } })`. */
export interface PostgresStoreOptions {
  /** Connections in this process's pool. Default 10, at least 2. */
  readonly poolSize?: number
  /** How long a call keeps trying while the server is unreachable (a restart) before STORE_UNAVAILABLE. Default 30000 ms. */
  readonly reconnectWindowMs?: number
}

/**
 * Stores at `postgres://…` and `postgresql://…`. The store's format is its `meta/format` ref,
 * written with HEAD in one transaction by the store's init: tables made by a crashed init hold
 * no store, and init may run again over them.
 */
export const postgresProvider: BackendProvider<PostgresStoreOptions> = {
  name: 'postgres',
  schemes: ['postgres', 'postgresql'],
  optionNames: ['poolSize', 'reconnectWindowMs'],
  canonical: recordableUrl,
  async create(location, options) {
    return { backend: await openPostgresBackend(location, { ...checked(options), create: true }) }
  },
  async open(location, options) {
    return { backend: await openPostgresBackend(location, checked(options)) }
  },
}

/**
 * A remote's location is recorded in the store (and listed by `remote list`): a password in it
 * would be kept in plain text, so a URL holding one is refused; the password is read from
 * PGPASSWORD or ~/.pgpass instead, as node-postgres does when the URL has none.
 */
function recordableUrl(location: string): string {
  const parsed = parsePostgresUrl(location)
  if (parsed.password !== undefined) {
    throw new CkptError('INVALID_ARGUMENT', `${parsed.description} would be recorded with its password; give the URL without it and the password in PGPASSWORD or ~/.pgpass`, {
      details: { location: parsed.description },
    })
  }
  return location
}

function checked(options: PostgresStoreOptions): PostgresStoreOptions {
  const { poolSize, reconnectWindowMs } = options
  if (poolSize !== undefined && !(Number.isInteger(poolSize) && poolSize >= MIN_POOL_SIZE)) {
    throw new CkptError('INVALID_ARGUMENT', `postgres.poolSize must be a whole number of connections, at least ${MIN_POOL_SIZE} (gc's sweep holds one while it reads with another), not ${JSON.stringify(poolSize)}`, {
      details: { option: 'postgres.poolSize' },
    })
  }
  if (reconnectWindowMs !== undefined && !(Number.isFinite(reconnectWindowMs) && reconnectWindowMs >= 0)) {
    throw new CkptError('INVALID_ARGUMENT', `postgres.reconnectWindowMs must be a number of milliseconds, 0 or more, not ${JSON.stringify(reconnectWindowMs)}`, {
      details: { option: 'postgres.reconnectWindowMs' },
    })
  }
  return { ...(poolSize !== undefined && { poolSize }), ...(reconnectWindowMs !== undefined && { reconnectWindowMs }) }
}
