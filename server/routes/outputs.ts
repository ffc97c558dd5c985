import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import mime from 'mime'
import parseRange from 'range-parser'
import type { Readable } from 'node:stream'
import { CkptError, Directory, type OutputInfo } from '../../src/index.js'
import type { ServerContext } from '../context.js'
import { HttpError } from '../errors.js'
import * as s from '../schemas.js'

/*
 * Outputs over HTTP. Ids are content addresses, so an output's ETag is its id and a response
 * named by id never changes (cached as immutable). Bytes stream from the store in bounded
 * memory, with single `Range` requests; they are served under a sandboxing policy, so an HTML
 * or SVG output a pipeline wrote can never run script in the browser view's origin.
 */

const BYTES_POLICY = "default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; sandbox"

/** Sniffs the image and document types a browser shows inline, when no file name says. */
function sniffType(head: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b)
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'image/png'
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg'
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif'
  if (starts(0x52, 0x49, 0x46, 0x46) && head[8] === 0x57 && head[9] === 0x45 && head[10] === 0x42 && head[11] === 0x50) return 'image/webp'
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'application/pdf'
  return undefined
}

async function contentType(source: ByteSource, fileName: string | undefined): Promise<string> {
  const named = fileName === undefined ? null : mime.getType(fileName)
  if (named) return named.startsWith('text/') ? `${named}; charset=utf-8` : named
  if (source.size === 0) return 'application/octet-stream'
  return sniffType(await source.head()) ?? 'application/octet-stream'
}

function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v))
}

/** Bytes to send: their size, and a reader of any range of them. */
interface ByteSource {
  readonly size: number
  readonly head: () => Promise<Uint8Array>
  readonly read: (range?: { offset: number; length: number }) => Readable | Uint8Array
}

/** Answers for one output: 304 when the client has it, bytes (whole or a range), a folder's listing, or JSON. */
async function sendOutput(ctx: ServerContext, request: FastifyRequest, reply: FastifyReply, spec: string, info: OutputInfo, fileName: string | undefined, immutable: boolean): Promise<FastifyReply> {
  const etag = `"${info.id}"`
  if (notModified(request, reply, etag, immutable)) return reply.status(304).send()
  if (info.kind === 'json') return reply.type('application/json; charset=utf-8').send(jsonText(await ctx.store.getOutput(spec)))
  if (info.kind === 'tree') {
    const value = await ctx.store.getOutput(spec)
    const files = value instanceof Directory ? [...value.files].map(([path, bytes]) => ({ path, size: bytes.length })) : []
    return reply.type('application/json; charset=utf-8').send(jsonText({ files }))
  }
  const source: ByteSource = {
    size: info.size,
    head: () => ctx.store.getBlob(spec, { offset: 0, length: Math.min(info.size, 16) }),
    read: (range) => ctx.store.getBlobStream(spec, range),
  }
  return sendBytes(request, reply, source, fileName)
}

/** Sets the caching headers; true when the client's copy (If-None-Match) is current. */
function notModified(request: FastifyRequest, reply: FastifyReply, etag: string, immutable: boolean): boolean {
  reply.header('ETag', etag).header('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
  return request.headers['if-none-match']?.split(/\s*,\s*/).includes(etag) === true
}

/** Bytes with their type, whole or one `Range`, under the sandboxing policy. */
async function sendBytes(request: FastifyRequest, reply: FastifyReply, source: ByteSource, fileName: string | undefined): Promise<FastifyReply> {
  reply.header('Accept-Ranges', 'bytes').header('Content-Security-Policy', BYTES_POLICY)
  reply.type(await contentType(source, fileName))
  const range = request.headers.range
  const ranges = range === undefined ? undefined : parseRange(source.size, range, { combine: true })
  if (ranges === -1) {
    reply.header('Content-Range', `bytes */${source.size}`)
    throw new HttpError('RANGE_NOT_SATISFIABLE', `range ${range} is outside the output's ${source.size} bytes`)
  }
  if (Array.isArray(ranges) && ranges.type === 'bytes' && ranges.length === 1) {
    const [{ start, end }] = ranges as unknown as [{ start: number; end: number }]
    reply.status(206).header('Content-Range', `bytes ${start}-${end}/${source.size}`).header('Content-Length', end - start + 1)
    return reply.send(source.read({ offset: start, length: end - start + 1 }))
  }
  // No Range, a malformed one (-2) or several: the whole output, as HTTP allows.
  reply.header('Content-Length', source.size)
  return reply.send(source.read())
}

const outputResponses = { 200: { description: 'JSON for a JSON output, `{files: [{path, size}]}` for a folder, the bytes for bytes (with ETag, Range)' }, 206: { description: 'A byte range' }, 304: { description: 'Not modified (ETag)' }, ...s.errorResponses } as const

export async function outputRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  app.get<{ Params: { rev: string; stage: string } }>(
    '/api/checkpoints/:rev/outputs/:stage',
    {
      schema: {
        summary: "A stage's output at a checkpoint (ckpt cat REV:STAGE)",
        tags: ['read'],
        params: { type: 'object', properties: { rev: s.name, stage: s.name }, required: ['rev', 'stage'] },
        response: outputResponses,
      },
    },
    async (request, reply) => {
      const { rev, stage } = request.params
      const checkpoint = await ctx.store.getCheckpoint(rev)
      const spec = `${checkpoint.id}:${stage}`
      return sendOutput(ctx, request, reply, spec, await ctx.store.outputInfo(spec), checkpoint.files?.[stage], false)
    },
  )

  app.get<{ Params: { rev: string; stage: string; '*': string } }>(
    '/api/checkpoints/:rev/outputs/:stage/files/*',
    {
      schema: {
        summary: 'One file of a folder output (ckpt cat REV:STAGE/FILE)',
        tags: ['read'],
        params: { type: 'object', properties: { rev: s.name, stage: s.name, '*': s.filePath }, required: ['rev', 'stage', '*'] },
        response: outputResponses,
      },
    },
    async (request, reply) => {
      const { rev, stage } = request.params
      const file = request.params['*']
      const checkpoint = await ctx.store.getCheckpoint(rev)
      const folder = await ctx.store.outputInfo(`${checkpoint.id}:${stage}`)
      if (folder.kind !== 'tree') throw new CkptError('NOT_FOUND', `stage ${JSON.stringify(stage)} of ${rev} is a ${folder.kind} output, not a folder: it has no files`)
      // A folder's file is named by the folder's id and its path, both fixed for its content.
      if (notModified(request, reply, `"${folder.id}/${encodeURI(file)}"`, false)) return reply.status(304).send()
      const bytes = await ctx.store.getOutput(`${checkpoint.id}:${stage}/${file}`)
      if (!(bytes instanceof Uint8Array)) throw new CkptError('NOT_FOUND', `${file} is a folder inside ${stage}, not a file`)
      const source: ByteSource = {
        size: bytes.length,
        head: async () => bytes.subarray(0, 16),
        read: (range) => (range ? bytes.subarray(range.offset, range.offset + range.length) : bytes),
      }
      return sendBytes(request, reply, source, file.split('/').pop())
    },
  )

  app.get<{ Params: { id: string } }>(
    '/api/outputs/:id',
    {
      schema: {
        summary: 'An output by its content id: never changes, so cached as immutable',
        tags: ['read'],
        params: { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z2-7]{20,100}$' } }, required: ['id'] },
        response: outputResponses,
      },
    },
    async (request, reply) => sendOutput(ctx, request, reply, request.params.id, await ctx.store.outputInfo(request.params.id), undefined, true),
  )
}
