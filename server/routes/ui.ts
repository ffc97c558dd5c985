import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'

/** The built browser view: dist/web, beside dist/server where this module runs from. */
const DEFAULT_WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web')

/** Serves the browser view at `/` (its pages route on the client: `/#/checkpoint/ID`, `/#/diff/A/B`, …). */
export async function uiRoutes(app: FastifyInstance, _ctx: ServerContext, webRoot = DEFAULT_WEB_ROOT): Promise<void> {
  if (!existsSync(path.join(webRoot, 'index.html'))) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/plain; charset=utf-8').send(`ckpt serve: the browser view is not built (no ${webRoot}/index.html); run npm run build. The API is at /api/ and /openapi.json.`))
    return
  }
  await app.register(fastifyStatic, { root: webRoot, prefix: '/', index: ['index.html'], wildcard: false, cacheControl: true, maxAge: 0 })
}
