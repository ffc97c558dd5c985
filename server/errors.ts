import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { isCkptError, type ErrorCode } from '../src/index.js'

/** Codes the server adds to the library's for what only HTTP can go wrong with. */
export type ServerErrorCode = 'UNAUTHORIZED' | 'TOO_LARGE' | 'RANGE_NOT_SATISFIABLE' | 'INTERNAL'

/**
 * The one table from error code to HTTP status (docs/server.md lists it). Typed over every
 * library code, so a code added to the library cannot reach a client unmapped.
 */
export const HTTP_STATUS: Readonly<Record<ErrorCode | ServerErrorCode, number>> = {
  NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  INVALID_ARGUMENT: 400,
  INVALID_REF_NAME: 400,
  INVALID_REVISION: 400,
  INVALID_OUTPUT: 400,
  AMBIGUOUS_REF: 400,
  UNAUTHORIZED: 401,
  REF_CONFLICT: 409,
  MERGE_CONFLICT: 409,
  WOULD_OVERWRITE: 409,
  STORE_EXISTS: 409,
  TOO_LARGE: 413,
  RANGE_NOT_SATISFIABLE: 416,
  RUN_FAILED: 500,
  CORRUPT_OBJECT: 500,
  IO_ERROR: 500,
  NOT_A_STORE: 500,
  UNSUPPORTED_FORMAT: 500,
  INTERNAL: 500,
  STORE_UNAVAILABLE: 503,
  STORE_CLOSED: 503,
}

/** An error the server raises itself, carried to {@link sendError} with its code. */
export class HttpError extends Error {
  constructor(
    readonly code: ServerErrorCode | ErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** Fastify's own failures, in our codes: a schema mismatch is bad input, an oversize body is TOO_LARGE. */
function fastifyCode(err: FastifyError): ErrorCode | ServerErrorCode | undefined {
  if (err.validation) return 'INVALID_ARGUMENT'
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.code === 'FST_REQ_FILE_TOO_LARGE' || err.code === 'FST_FILES_LIMIT' || err.code === 'FST_PARTS_LIMIT' || err.code === 'FST_FIELDS_LIMIT') return 'TOO_LARGE'
  if (err.statusCode === 413) return 'TOO_LARGE'
  if (err.statusCode === 404) return 'NOT_FOUND'
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return 'INVALID_ARGUMENT'
  return undefined
}

interface ValidationProblem {
  readonly instancePath: string
  readonly keyword: string
  readonly message?: string
  readonly data?: unknown
  readonly params: Record<string, unknown>
}

/** A schema mismatch in the caller's words: which parameter, the value given, what it must be. */
function validationMessage(err: FastifyError): string {
  const [problem] = (err.validation ?? []) as unknown as ValidationProblem[]
  if (!problem) return err.message
  const where = `${err.validationContext ?? 'request'}${problem.instancePath.replaceAll('/', '.')}`
  if (problem.keyword === 'required') return `${where}: ${String(problem.params.missingProperty)} is required`
  if (problem.keyword === 'additionalProperties') return `${where}: unknown field ${JSON.stringify(problem.params.additionalProperty)}`
  const value = JSON.stringify(problem.data)
  const shown = value !== undefined && value.length > 80 ? `${value.slice(0, 80)}…` : value
  const rule = problem.keyword === 'pattern' ? 'is not allowed here (no "/", "\\", "..", or control characters)' : (problem.message ?? 'is not valid')
  return `${where}: ${shown ?? 'the value'} ${rule}`
}

/** Every error leaves as `{code, message}` with the table's status; no stack, no internals of a 500. */
export function sendError(err: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  let code: ErrorCode | ServerErrorCode
  let message: string
  if (isCkptError(err) || err instanceof HttpError) {
    code = err.code
    message = err.message
  } else {
    const fromFastify = fastifyCode(err as FastifyError)
    code = fromFastify ?? 'INTERNAL'
    message = (err as FastifyError).validation ? validationMessage(err as FastifyError) : fromFastify ? (err as Error).message : 'internal error; the server log has the details'
  }
  const status = HTTP_STATUS[code]
  if (status >= 500) request.log.error({ err }, 'request failed')
  return reply.status(status).type('application/json; charset=utf-8').send({ code, message })
}
