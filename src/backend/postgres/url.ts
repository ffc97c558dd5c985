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

/**
 * The query parameters a store's URL may hold: ckpt's `schema`, and those node-postgres reads
 * from a URL and ckpt works with. Any other is refused, so that a misspelt one (`?shema=`) is not
 * silently ignored and the store put in the default schema. Left out on purpose: `binary`,
 * `client_encoding` and `replication` change what queries return; `connect_timeout` and
 * `database` are not read from a URL by node-postgres.
 */
const PARAMETERS: ReadonlySet<string> = new Set([
  'schema',
  'host',
  'port',
  'user',
  'password',
  'options',
  'application_name',
  'fallback_application_name',
  'ssl',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'sslnegotiation',
  'uselibpqcompat',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'query_timeout',
])

/** True when `location` names a PostgreSQL store. */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location)
}

export function parsePostgresUrl(location: string): PostgresLocation {
  let url: URL
  try {
    url = new URL(withHostForSocket(location))
  } catch {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(redactUrlText(location))} is not a PostgreSQL URL (postgres://user@host:port/database?schema=name)`)
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CkptError('INVALID_ARGUMENT', `${quoted(redactUrlText(location))} is not a PostgreSQL URL (postgres://user@host:port/database?schema=name)`)
  }
  const shown = new URL(url.href)
  shown.password = ''
  if (shown.searchParams.has('password')) shown.searchParams.delete('password')
  const description = shown.href
  checkParameters(url.searchParams, description)
  const schema = url.searchParams.get('schema') ?? DEFAULT_SCHEMA
  if (!SCHEMA_NAME.test(schema)) {
    throw new CkptError('INVALID_ARGUMENT', `the schema ${quoted(schema)} in a PostgreSQL URL must be a lower-case identifier (letters, digits, _; at most 63)`)
  }
  if (schema.startsWith('pg_')) {
    throw new CkptError('INVALID_ARGUMENT', `the schema ${quoted(schema)} in a PostgreSQL URL is reserved by PostgreSQL (names starting with pg_); name another with ?schema=`)
  }
  // node-postgres takes user, password, host (a unix socket's folder) and port from the query
  // over the URL's own parts, and so do the messages that name them.
  const query = (name: string) => url.searchParams.get(name) ?? undefined
  const rawPassword = query('password') ?? (url.password === '' ? undefined : decodeURIComponent(url.password))
  const password = rawPassword === '' ? undefined : rawPassword
  const rawUser = query('user') ?? (url.username === '' ? undefined : decodeURIComponent(url.username))
  const user = rawUser === '' ? undefined : rawUser
  const host = query('host') || (url.hostname === '' ? 'localhost' : url.hostname)
  const portText = query('port') || url.port
  const port = portText === '' ? 5432 : Number(portText)
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new CkptError('INVALID_ARGUMENT', `the port ${quoted(portText)} in ${description} is not a TCP port (1 to 65535)`, { details: { parameter: 'port' } })
  }
  const database = url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : undefined
  const forPg = new URL(url.href)
  forPg.searchParams.delete('schema')
  return { host, port, user, password, database, schema, connectionString: forPg.href, description }
}

/**
 * `postgres://user@/db?host=/run/postgresql`: libpq and node-postgres take a user with no host,
 * the socket folder being in `host=`; a WHATWG URL refuses credentials without a host, so a
 * placeholder host is put in (node-postgres takes `host=` over it, as it does over any host).
 */
function withHostForSocket(location: string): string {
  return /^postgres(ql)?:\/\/[^/?#]*@\//i.test(location) && /[?&]host=/.test(location) ? location.replace('@/', '@localhost/') : location
}

/** Refuses a parameter ckpt does not take, or one given twice (which of the two would count is unclear). */
function checkParameters(params: URLSearchParams, description: string): void {
  const seen = new Set<string>()
  for (const name of params.keys()) {
    if (!PARAMETERS.has(name)) {
      throw new CkptError('INVALID_ARGUMENT', `the parameter ${quoted(name)} in ${description} is not one ckpt takes (${[...PARAMETERS].join(', ')})`, {
        details: { parameter: name },
      })
    }
    if (seen.has(name)) {
      throw new CkptError('INVALID_ARGUMENT', `the parameter ${quoted(name)} is given twice in ${description}; give it once`, { details: { parameter: name } })
    }
    seen.add(name)
  }
}

/** A URL-like text with any `user:password@` cut to `user@` and any `password=` parameter cut out, for messages about unparsable input. */
export function redactUrlText(text: string): string {
  // To the last @: a password that breaks the URL may itself hold @ or /.
  return text.replace(/\/\/([^/@:]*):.*@/s, '//$1@').replace(/([?&])password=[^&#]*(&)?/gi, (_, separator: string, next?: string) => (next ? separator : ''))
}
