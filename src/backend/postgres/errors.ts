import { CkptError, quoted } from '../../errors.js'
import type { PostgresLocation } from './url.js'

/** Errors that mean the connection or the server went away: the call may be run again. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT'])
/** SQLSTATEs after which the transaction can be run again from the start. */
const RETRY_STATES = new Set(['40001', '40P01'])
/** `read_only_sql_transaction`: a write on a hot standby or in a read-only session. */
const READ_ONLY_TRANSACTION = '25006'

const codeOf = (err: unknown): string | undefined => (typeof err === 'object' && err !== null ? (err as { code?: unknown }).code as string | undefined : undefined)

/** `insufficient_privilege`: the role lacks a right (CREATE on the database, INSERT on a table, …). */
const NO_PRIVILEGE = '42501'
/** Statements cancelled by a limit (statement_timeout, lock_timeout, idle_in_transaction_session_timeout) or by hand. */
const CANCELLED_STATES = new Set(['57014', '55P03', '25P03'])

/** A file the URL names (sslrootcert, sslcert, sslkey) that node-postgres could not read. */
function unreadableFile(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined
  const { syscall, path } = err as { syscall?: unknown; path?: unknown }
  return (syscall === 'open' || syscall === 'read') && typeof path === 'string' ? path : undefined
}

/** The role the connection logs in as: the URL's user, else node-postgres's default. */
function roleOf(location: PostgresLocation): string {
  return location.user ?? process.env.PGUSER ?? process.env.USER ?? 'the default user'
}

/** The connection dropped, the server is shutting down, starting up or unreachable. */
export function isConnectionLoss(err: unknown): boolean {
  if (unreadableFile(err) !== undefined) return false
  const code = codeOf(err)
  if (code !== undefined && (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03')) return true
  const message = err instanceof Error ? err.message : ''
  return /Connection terminated|connection timeout|Client has encountered a connection error|Connection ended/i.test(message)
}

/** A serialization failure or deadlock: PostgreSQL rolled the transaction back; run it again. */
export function isRetryableConflict(err: unknown): boolean {
  const code = codeOf(err)
  return code !== undefined && RETRY_STATES.has(code)
}

/** `text` with the URL's password cut out wherever it appears. */
export function withoutPassword(text: string, location: PostgresLocation): string {
  const { password } = location
  if (!password) return text
  let out = text.split(password).join('***')
  const encoded = encodeURIComponent(password)
  if (encoded !== password) out = out.split(encoded).join('***')
  return out
}

/** Turns a driver error into a CkptError that names the server but never the password. */
export function storeError(err: unknown, location: PostgresLocation, doing: string): CkptError {
  if (err instanceof CkptError) return err
  const detail = withoutPassword(err instanceof Error ? err.message : String(err), location)
  const where = `${location.host}:${location.port}`
  const file = unreadableFile(err)
  if (file !== undefined) {
    return new CkptError('INVALID_ARGUMENT', `cannot read ${quoted(file)}, a file named in ${location.description}: ${detail}`, { details: { path: file } })
  }
  const role = roleOf(location)
  if (/password must be a (non-empty )?string/i.test(detail)) {
    // node-postgres's words when the server asks for a password and none was found.
    return new CkptError('STORE_UNAVAILABLE', `PostgreSQL at ${where} asks for the password of user ${quoted(role)} (${location.description}) and none was given: set PGPASSWORD, add a line to ~/.pgpass, or give it in the URL`, {
      details: { host: location.host, port: location.port, user: role },
    })
  }
  // node-postgres's and Node's TLS errors carry no SQLSTATE (five characters), unlike the server's.
  const sqlState = codeOf(err)
  if (!(typeof sqlState === 'string' && /^[0-9A-Z]{5}$/.test(sqlState)) && /does not support SSL|certificate|ERR_TLS|SSL routines/i.test(`${detail} ${sqlState ?? ''}`)) {
    return new CkptError('STORE_UNAVAILABLE', `PostgreSQL at ${where} (${location.description}) could not be reached over SSL as the URL asks (ssl, sslmode): ${detail}`, {
      details: { host: location.host, port: location.port },
    })
  }
  if (isConnectionLoss(err)) {
    return new CkptError('STORE_UNAVAILABLE', `cannot reach PostgreSQL at ${where} (${location.description}) while ${doing}: ${detail}; run it again once the server answers`, {
      details: { host: location.host, port: location.port, retryable: true },
    })
  }
  const state = codeOf(err)
  if (state !== undefined && (state.startsWith('28') || state === '3D000')) {
    // Refused login, or no such database: the store cannot be reached with these credentials.
    return new CkptError('STORE_UNAVAILABLE', `PostgreSQL at ${where} (${location.description}) refused the connection: ${detail}`, {
      details: { host: location.host, port: location.port, sqlState: state },
    })
  }
  if (state === READ_ONLY_TRANSACTION) {
    // A hot standby, or default_transaction_read_only: like a LevelDB store on a read-only mount.
    return new CkptError('STORE_UNAVAILABLE', `the store at ${location.description} is read-only here: it can be read but not written (PostgreSQL at ${where} refused ${doing}: ${detail})`, {
      details: { host: location.host, port: location.port, sqlState: state, readOnly: true },
    })
  }
  if (state === NO_PRIVILEGE) {
    return new CkptError('STORE_UNAVAILABLE', `the role ${quoted(role)} may not do this on the store at ${location.description} (PostgreSQL at ${where} refused ${doing}: ${detail}); init needs CREATE on the database (or on a schema made for the store beforehand), and a store's users need USAGE on its schema and SELECT, INSERT, UPDATE, DELETE on its tables`, {
      details: { host: location.host, port: location.port, sqlState: state, user: role },
    })
  }
  if ((state !== undefined && CANCELLED_STATES.has(state)) || /Query read timeout/i.test(detail)) {
    return new CkptError('STORE_UNAVAILABLE', `PostgreSQL at ${where} (${location.description}) cancelled ${doing}: ${detail}; a statement_timeout, lock_timeout or query_timeout (in the URL, or set on the role or database) is shorter than this needs: run it again, or raise the limit`, {
      details: { host: location.host, port: location.port, sqlState: state, retryable: true },
    })
  }
  return new CkptError('IO_ERROR', `PostgreSQL at ${where} (${location.description}) failed while ${doing}: ${detail}`, {
    details: { host: location.host, port: location.port, sqlState: codeOf(err) },
  })
}
