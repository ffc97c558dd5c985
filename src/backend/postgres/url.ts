import { CkptError, quoted } from '../../errors.js'

/** Where a PostgreSQL-backed store lives, parsed from `postgres://user:pass@host:port/db?schema=name`. */
export interface PostgresLocation {
  readonly host: string
  readonly port: number
  readonly user?: string
  /** Never printed: {@link PostgresLocation.description} and every message leave it out. */
  readonly password?: string
  readonly database?: string
  /** The schema holding the store's tables: several stores share one database by schema. */
  readonly schema: string
  /** The URL as `pg` takes it, without ckpt's own `schema` parameter. */
  readonly connectionString: string
  /** The URL without its password, for messages: `postgres://user@host:port/db?schema=name`. */
  readonly description: string
}

export const DEFAULT_SCHEMA = 'ckpt'
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/

/** True when `location` names a PostgreSQL store. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

export function parsePostgresUrl(location: string): PostgresLocation {
  let url: URL
  try {
    url = new URL(location)
  } catch {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(redactUrlText(location))} is not a PostgreSQL URL (postgres://user@host:port/database?schema=name)`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(redactUrlText(location))} is not a PostgreSQL URL (postgres://user@host:port/database?schema=name)`)
  }
  const schema = url.searchParams.get('schema') ?? DEFAULT_SCHEMA
  if (!SCHEMA_NAME.test(schema)) {
    throw new CkptError('INVALID_ARGUMENT', `the schema ${quoted(schema)} in a PostgreSQL URL must be a lower-case identifier (letters, digits, _; at most 63)`)
  }
  const password = url.password === '' ? undefined : decodeURIComponent(url.password)
  const user = url.username === '' ? undefined : decodeURIComponent(url.username)
  // A unix socket is given as ?host=/path, as libpq and pg accept it.
  const socket = url.searchParams.get('host')
  const host = socket ?? (url.hostname === '' ? 'localhost' : url.hostname)
  const port = url.port === '' ? 5432 : Number(url.port)
  const database = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined
  const forPg = new URL(url.href)
  forPg.searchParams.delete('schema')
  const shown = new URL(url.href)
  shown.password = ''
  return { host, port, user, password, database, schema, connectionString: forPg.href, description: shown.href }
}

/** A URL-like text with any `user:password@` cut to `user@`, for messages about unparsable input. */
export function redactUrlText(text: string): string {
  return text.replace(/\/\/([^/@:]*):[^@/]*@/, '//$1@')
}
