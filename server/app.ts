import { createHash, timingSafeEqual } from 'node:crypto'
import cors from '@fastify/cors'
import swagger from '@fastify/swagger'
import Fastify, { type FastifyInstance } from 'fastify'
import { CkptError } from '../src/index.js'
import type { ServeOptions, ServerContext } from './context.js'
import { HttpError, sendError } from './errors.js'
import { EventHub, StoreWatcher } from './events.js'
import { eventRoutes } from './routes/events.js'
import { outputRoutes } from './routes/outputs.js'
import { readRoutes } from './routes/read.js'
import { taskRoutes } from './routes/tasks.js'
import { uiRoutes } from './routes/ui.js'
import { writeRoutes } from './routes/write.js'

const VERSION = '0.1.0'
const JSON_BODY_LIMIT = 1024 * 1024

/** The browser view's policy: its own scripts, styles and API only; images also from blobs it builds. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

const sha256 = (text: string) => createHash('sha256').update(text).digest()

/** Compares a presented token in constant time: both sides are hashed first, so even the length leaks nothing. */
function tokenMatches(expected: Buffer, header: string | undefined): boolean {
  const presented = header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : ''
  return timingSafeEqual(expected, sha256(presented))
}

/**
 * The Fastify application of `ckpt serve`, not yet listening: its routes, schemas,
 * OpenAPI document, auth and error handling. `close()` on it also stops its store watcher
 * (the store itself stays open: it belongs to the caller).
 */
export async function buildServer(options: ServeOptions): Promise<{ app: FastifyInstance; context: ServerContext }> {
  const app = Fastify({
    logger: options.log === true ? { level: 'info' } : false,
    bodyLimit: options.bodyLimit ?? JSON_BODY_LIMIT,
    // Revisions may be long (a full CID, `main~12^2`) but never this long.
    routerOptions: { maxParamLength: 1024 },
    // verbose: a validation error carries the offending value, which the error message names.
    ajv: { customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false, verbose: true } },
  })
  const events = new EventHub()
  const watcher = new StoreWatcher(options.store, events, options.pollMs ?? 200)
  const context: ServerContext = {
    store: options.store,
    location: options.location,
    pipelines: new Map((options.pipelines ?? []).map((mod) => [mod.pipeline.name, mod])),
    readOnly: options.readOnly === true,
    events,
    watcher,
  }
  app.setErrorHandler((err, request, reply) => sendError(err, request, reply))
  app.setNotFoundHandler((request, reply) => sendError(new HttpError('NOT_FOUND', `no such endpoint: ${request.method} ${request.url.split('?')[0]}`), request, reply))

  const expected = options.token === undefined ? undefined : sha256(options.token)
  app.addHook('onRequest', async (request) => {
    if (expected === undefined || request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return
    if (!tokenMatches(expected, request.headers.authorization)) throw new HttpError('UNAUTHORIZED', 'this server needs a token for writes: send Authorization: Bearer <token>')
  })
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('X-Content-Type-Options', 'nosniff')
    if (!reply.hasHeader('Content-Security-Policy')) reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    return payload
  })
  if (options.cors !== undefined) await app.register(cors, { origin: options.cors, methods: ['GET', 'POST', 'PUT', 'DELETE'], allowedHeaders: ['Authorization', 'Content-Type', 'If-None-Match', 'Range'] })

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'ckpt serve', version: VERSION, description: 'The HTTP API of a ckpt checkpoint store: read endpoints mirror the CLI read commands with --json; writes need a bearer token when the server has one (docs/server.md).' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  })
  await app.register(async (api) => {
    await readRoutes(api, context)
    await outputRoutes(api, context)
    await eventRoutes(api, context)
    await taskRoutes(api, context)
    if (!context.readOnly) await writeRoutes(api, context)
  })
  await app.register(async (ui) => uiRoutes(ui, context, options.webRoot))
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  app.addHook('onReady', async () => watcher.start())
  app.addHook('onClose', async () => watcher.stop())
  return { app, context }
}

/** True for addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** A running server: where it listens, and how to stop it. */
export interface RunningServer {
  readonly url: string
  readonly app: FastifyInstance
  close(): Promise<void>
}

/**
 * Starts `ckpt serve`: refuses a non-loopback address without a token (INVALID_ARGUMENT), then
 * listens. Port 0 picks a free port; `url` says which.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1'
  if (!isLoopback(host) && options.token === undefined) {
    throw new CkptError('INVALID_ARGUMENT', `refusing to listen on ${host} without a token: anyone who can reach it could write to the store; give --token or CKPT_TOKEN, or listen on 127.0.0.1`)
  }
  const { app } = await buildServer(options)
  const address = await app.listen({ host, port: options.port ?? 7433 })
  return { url: address, app, close: () => app.close() }
}
