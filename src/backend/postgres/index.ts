import { CkptError } from '../../errors.js'
import { NO_CAPABILITIES, type Backend, type BackendSupports } from '../interface.js'
import { Connection, loadDriver } from './connection.js'
import { storeError } from './errors.js'
import { PostgresObjects } from './objects.js'
import { PostgresRefs } from './refs.js'
import { prepareSchema } from './schema.js'
import { parsePostgresUrl } from './url.js'
import { TableValueBytes } from './value-bytes.js'

export { isPostgresUrl } from './url.js'

export interface PostgresBackendOptions {
  /** Creates the store's tables when the schema holds none (the store's init). Default false. */
  readonly create?: boolean
  /** Connections in this process's pool. Default 10, at least {@link MIN_POOL_SIZE}. */
  readonly poolSize?: number
  /**
   * How long a call keeps trying while the connection is lost (a server restart) before it fails
   * with STORE_UNAVAILABLE. Default 30000 ms.
   */
  readonly reconnectWindowMs?: number
}

/**
 * Opens the store at `url` (`postgres://user:password@host:port/database?schema=name`, also
 * `postgresql://`; the schema defaults to `ckpt`). NOT_A_STORE when the schema holds no store (or
 * another application's tables), UNSUPPORTED_FORMAT when a newer ckpt made it, STORE_UNAVAILABLE
 * naming host and port when the server cannot be reached. Nothing is written on any of these.
 */
/**
 * VACUUM gives deleted rows' space back; write times are a column that can be cleared. PostgreSQL
 * checks its own pages (ckpt keeps no structure beside them to check), every commit is durable
 * (nothing to defer), no process serves others, and the store is shared by machines, so it keeps
 * no per-machine scratch space.
 */
const POSTGRES_SUPPORTS: BackendSupports = Object.freeze({ ...NO_CAPABILITIES, reclaim: true, forgetWrites: true })

/** gc's sweep holds one connection for its whole run while it reads refs and objects with another. */
export const MIN_POOL_SIZE = 2

export async function openPostgresBackend(url: string, options: PostgresBackendOptions = {}): Promise<Backend> {
  const location = parsePostgresUrl(url)
  if (options.poolSize !== undefined && !(Number.isInteger(options.poolSize) && options.poolSize >= MIN_POOL_SIZE)) {
    throw new CkptError('INVALID_ARGUMENT', `poolSize must be a whole number of connections, at least ${MIN_POOL_SIZE}, not ${JSON.stringify(options.poolSize)}`, { details: { option: 'poolSize' } })
  }
  const connection = new Connection(await loadDriver(), location, options.poolSize ?? 10, options.reconnectWindowMs)
  let lockKey: number
  try {
    lockKey = await prepareSchema(connection, options.create ?? false)
  } catch (err) {
    await connection.close().catch(() => undefined)
    throw storeError(err, location, 'opening the store')
  }
  const values = new TableValueBytes(location.schema)
  return {
    description: location.description,
    supports: POSTGRES_SUPPORTS,
    objects: new PostgresObjects(connection, values, lockKey),
    refs: new PostgresRefs(connection, values),
    close: () => connection.close(),
  }
}
