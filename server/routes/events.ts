import type { FastifyInstance } from 'fastify'
import type { ServerContext } from '../context.js'

/** A comment line every so often keeps proxies and browsers from closing a quiet stream. */
const KEEPALIVE_MS = 15_000

export async function eventRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  // Open streams never end on their own: closing the server ends them, or it would wait forever.
  const open = new Set<() => void>()
  app.addHook('preClose', async () => {
    for (const end of open) end()
  })
  app.get(
    '/api/events',
    {
      schema: {
        summary: 'Server-Sent Events: checkpoint, ref, run and task events, including changes other processes make to the store',
        tags: ['events'],
        produces: ['text/event-stream'],
        response: { 200: { description: 'text/event-stream: `event: checkpoint|ref|run|task`, `data: JSON`', type: 'string' } },
      },
    },
    (request, reply) => {
      reply.hijack()
      const raw = reply.raw
      raw.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
        'X-Content-Type-Options': 'nosniff',
      })
      raw.write('retry: 1000\n: connected\n\n')
      let sequence = 0
      const unsubscribe = ctx.events.subscribe((event) => {
        raw.write(`id: ${++sequence}\nevent: ${event.type}\ndata: ${JSON.stringify(event.data)}\n\n`)
      })
      const keepalive = setInterval(() => raw.write(': keepalive\n\n'), KEEPALIVE_MS)
      const close = () => {
        clearInterval(keepalive)
        unsubscribe()
        open.delete(end)
      }
      const end = () => {
        close()
        raw.end()
      }
      open.add(end)
      request.raw.on('close', close)
      raw.on('error', close)
    },
  )
}
