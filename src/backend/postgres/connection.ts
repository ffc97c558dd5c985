import type pg from 'pg'
import { isConnectionLoss, isRetryableConflict, storeError } from './errors.js'
import type { PostgresLocation } from './url.js'

export type Client = pg.PoolClient

/** node-postgres, imported on first use so that a command on a LevelDB store never loads it (~80 ms). */
export async function loadDriver(): Promise<typeof pg> {
  return (await import('pg')).default
}

/** Thrown inside a transaction to roll it back and return `result` (a lost compare-and-swap). */
export class Rollback<T> {
  constructor(readonly result: T) {}
}

export interface RetryOptions<T> {
  /** Whether a lost connection or a serialization failure runs the task again. Default true. */
  readonly retry?: boolean
  /**
   * Run before each retry: a result ends the call with it (an earlier attempt turned out to have
   * committed), undefined runs the task again.
   */
  readonly beforeRetry?: (client: Client) => Promise<T | undefined>
}

/** How long a call keeps retrying, by default, while the server restarts or the connection is re-made. */
export const RECONNECT_WINDOW_MS = 30_000
const RETRY_DELAY_MS = 100

/**
 * The backend's pool of connections. Every call goes through {@link Connection.run} or
 * {@link Connection.transaction}, which retry what is safe to retry and turn driver errors into
 * CkptErrors that name host and port, never the password.
 */
export class Connection {
  readonly pool: pg.Pool

  /** `driver`: node-postgres, loaded by {@link loadDriver} only when a PostgreSQL store is opened. */
  constructor(
    driver: typeof pg,
    readonly location: PostgresLocation,
    poolSize: number,
    private readonly reconnectWindowMs = RECONNECT_WINDOW_MS,
  ) {
    this.pool = new driver.Pool({ connectionString: location.connectionString, max: poolSize, connectionTimeoutMillis: 10_000 })
    // An idle connection dropped by a server restart must not crash the process; the pool replaces it.
    this.pool.on('error', () => undefined)
    // Nor may one in use: the call using it sees the failure as its query's rejection.
    this.pool.on('connect', (client) => client.on('error', () => undefined))
  }

  /**
   * Runs `task` on a pooled connection, again on a fresh one when the connection was lost or
   * PostgreSQL asks for a retry (for the reconnect window). Only for tasks that are safe
   * to run twice: reads, and writes that are idempotent or that check whether they already applied.
   */
  async run<T>(doing: string, task: (client: Client) => Promise<T>, { retry = true, beforeRetry }: RetryOptions<T> = {}): Promise<T> {
    const deadline = Date.now() + this.reconnectWindowMs
    for (let attempt = 0; ; attempt++) {
      let client: Client | undefined
      try {
        client = await this.pool.connect()
        const settled = attempt > 0 && beforeRetry ? await beforeRetry(client) : undefined
        const result = settled !== undefined ? settled : await task(client)
        client.release()
        return result
      } catch (err) {
        client?.release(isConnectionLoss(err) ? true : undefined)
        const transient = isConnectionLoss(err) || isRetryableConflict(err)
        if (!retry || !transient || Date.now() > deadline) throw storeError(err, this.location, doing)
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS))
      }
    }
  }

  /** Runs `task` inside BEGIN … COMMIT on one connection, rolling back when it throws. */
  async transaction<T>(doing: string, task: (client: Client) => Promise<T>, options: RetryOptions<T> = {}): Promise<T> {
    return this.run(
      doing,
      async (client) => {
        await client.query('BEGIN')
        try {
          const result = await task(client)
          await client.query('COMMIT')
          return result
        } catch (err) {
          if (!isConnectionLoss(err)) await client.query('ROLLBACK').catch(() => undefined)
          if (err instanceof Rollback) return err.result as T
          throw err
        }
      },
      options,
    )
  }

  async close(): Promise<void> {
    if (!this.pool.ended && !this.pool.ending) await this.pool.end()
  }
}
