import { CkptError } from '../../errors.js'
import type { PostgresLocation } from './url.js'

/** Errors that mean the connection or the server went away: the call may be run again. */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT'])
/** SQLSTATEs after which the transaction can be run again from the start. */
const RETRY_STATES = new Set(['40001', '40P01'])
/** `read_only_sql_transaction`: a write on a hot standby or in a read-only session. */
const READ_ONLY_TRANSACTION = '25006'

const codeOf = (err: unknown): string | undefined => (typeof err === 'object' && err !== null ? (err as { code?: unknown }).code as string | undefined : undefined)

/** The connection dropped, the server is shutting down, starting up or unreachable. */
export function isConnectionLoss(err: unknown): boolean {
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
  return new CkptError('IO_ERROR', `PostgreSQL at ${where} (${location.description}) failed while ${doing}: ${detail}`, {
    details: { host: location.host, port: location.port, sqlState: codeOf(err) },
  })
}
