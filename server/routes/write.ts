import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pipeline as pipe } from 'node:stream/promises'
import multipart from '@fastify/multipart'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { CkptError, isPlainFileName, type CommitOptions } from '../../src/index.js'
import type { ServerContext } from '../context.js'
import { replayPipeline, resumeRun, type ReplayRequest } from '../run-pipeline.js'
import * as s from '../schemas.js'

/** Largest file part of a multipart commit unless the server says otherwise. */
const DEFAULT_UPLOAD_LIMIT = 256 * 1024 * 1024

/** A commit as the API takes it: `ckpt commit`'s flags as JSON; bytes come as multipart file parts. */
interface CommitBody {
  outputs?: Record<string, unknown>
  stage?: string
  message?: string
  timeline?: string
  runId?: string
  jobId?: string
  config?: unknown
  meta?: Record<string, unknown>
  expectedHead?: string | null
}

const commitBody = {
  type: 'object',
  properties: {
    outputs: { type: 'object', additionalProperties: true, description: 'Stage name → its new output (any JSON value)' },
    stage: { ...s.name, description: 'The stage that produced this checkpoint' },
    message: { type: 'string', maxLength: 65536 },
    timeline: s.name,
    runId: s.name,
    jobId: { type: 'string', maxLength: 1024 },
    config: {},
    meta: { type: 'object', additionalProperties: true },
    expectedHead: { type: ['string', 'null'], description: "The timeline's head the caller saw (null: it must have none); 409 when it moved" },
  },
  additionalProperties: false,
} as const

function commitOptions(body: CommitBody, bytes: Record<string, unknown> = {}, fileNames: Record<string, string> = {}): CommitOptions {
  return {
    outputs: { ...(body.outputs ?? {}), ...bytes },
    ...(body.stage !== undefined && { stage: body.stage }),
    ...(body.message !== undefined && { message: body.message }),
    ...(body.timeline !== undefined && { timeline: body.timeline }),
    ...(body.runId !== undefined && { run: body.runId }),
    ...(body.jobId !== undefined && { job: body.jobId }),
    ...(body.config !== undefined && { config: body.config }),
    ...(body.meta !== undefined && { meta: body.meta }),
    ...(body.expectedHead !== undefined && { expectedHead: body.expectedHead }),
    ...(Object.keys(fileNames).length > 0 && { fileNames }),
  }
}

/**
 * A multipart commit: a `meta` field with the JSON body, and one file part per bytes output,
 * named by its stage. Parts are spooled to a private temporary folder (removed afterwards) so
 * that they may come in any order and the commit still streams them in bounded memory.
 */
async function multipartCommit(request: FastifyRequest): Promise<CommitOptions & { cleanup: () => Promise<void> }> {
  const spool = await mkdtemp(path.join(os.tmpdir(), 'ckpt-serve-upload-'))
  const cleanup = () => rm(spool, { recursive: true, force: true })
  try {
    let body: CommitBody | undefined
    const files: Record<string, string> = {}
    const fileNames: Record<string, string> = {}
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        if (part.fieldname !== 'meta') throw new CkptError('INVALID_ARGUMENT', `multipart commit: unknown field ${JSON.stringify(part.fieldname)} (send meta and one file part per stage)`)
        body = parseMeta(String(part.value))
        continue
      }
      const stage = part.fieldname
      if (files[stage] !== undefined) throw new CkptError('INVALID_ARGUMENT', `multipart commit: stage ${JSON.stringify(stage)} is sent twice`)
      const spooled = path.join(spool, String(Object.keys(files).length))
      await pipe(part.file, createWriteStream(spooled, { flags: 'wx' }))
      files[stage] = spooled
      if (part.filename && isPlainFileName(part.filename)) fileNames[stage] = part.filename
    }
    if (body === undefined) body = {}
    const streams = Object.fromEntries(Object.entries(files).map(([stage, file]) => [stage, createReadStream(file)]))
    return { ...commitOptions(body, streams, fileNames), cleanup }
  } catch (err) {
    await cleanup()
    throw err
  }
}

function parseMeta(text: string): CommitBody {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new CkptError('INVALID_ARGUMENT', `multipart commit: the meta field is not JSON: ${JSON.stringify(text.slice(0, 80))}`)
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new CkptError('INVALID_ARGUMENT', 'multipart commit: the meta field must be a JSON object')
  const allowed = new Set(Object.keys(commitBody.properties))
  const unknown = Object.keys(value).filter((key) => !allowed.has(key))
  if (unknown.length > 0) throw new CkptError('INVALID_ARGUMENT', `multipart commit: unknown meta field ${JSON.stringify(unknown[0])}`)
  return value as CommitBody
}

const timelineParams = { type: 'object', properties: { name: s.name }, required: ['name'] } as const
const timelineInfo = { type: 'object', properties: { name: { type: 'string' }, head: { type: 'string' } }, required: ['name', 'head'] } as const
const security = [{ bearer: [] }]

export async function writeRoutes(app: FastifyInstance, ctx: ServerContext, uploadLimit = DEFAULT_UPLOAD_LIMIT): Promise<void> {
  const { store } = ctx
  await app.register(multipart, { limits: { fileSize: uploadLimit, files: 64, fields: 4, parts: 68, fieldSize: 1024 * 1024 } })

  app.post<{ Params: { name: string }; Body: ReplayRequest }>(
    '/api/pipelines/:name/replay',
    {
      schema: {
        summary: 'Replays a pipeline from a stage with config overrides onto a new or named timeline, and waits for it (ckpt replay)',
        tags: ['pipelines'],
        security,
        params: { type: 'object', properties: { name: s.name }, required: ['name'] },
        body: {
          type: 'object',
          properties: {
            stage: { ...s.name, description: 'The first stage to run again' },
            from: { ...s.name, description: 'The checkpoint whose history holds the earlier stages (default HEAD)' },
            run: { ...s.name, description: 'Or: the run to replay' },
            config: s.configOverrides,
            timeline: { ...s.name, description: 'The new timeline (default replay-STAGE-TIME)' },
            jobId: { type: 'string', maxLength: 1024 },
          },
          required: ['stage'],
          additionalProperties: false,
        },
        response: { 200: s.runReport, ...s.errorResponses },
      },
    },
    (request) => replayPipeline(ctx, request.params.name, request.body),
  )

  app.post<{ Params: { run: string }; Body: { pipeline?: string } | undefined }>(
    '/api/runs/:run/resume',
    {
      schema: {
        summary: 'Resumes a failed or interrupted run: only the stages it did not complete run (ckpt resume)',
        tags: ['pipelines'],
        security,
        params: { type: 'object', properties: { run: s.name }, required: ['run'] },
        body: { type: 'object', properties: { pipeline: { ...s.name, description: "Default: the run's own pipeline" } }, additionalProperties: false },
        response: { 200: s.runReport, ...s.errorResponses },
      },
    },
    (request) => resumeRun(ctx, request.params.run, request.body?.pipeline),
  )

  app.post<{ Body: CommitBody }>(
    '/api/commit',
    {
      schema: {
        summary: 'Records a checkpoint (ckpt commit): JSON, or multipart with a meta field and one file part per bytes output',
        tags: ['write'],
        security,
        body: {
          content: {
            'application/json': { schema: commitBody },
            'multipart/form-data': { schema: { description: 'A `meta` field holding the JSON body above, then one file part per bytes output, named by its stage' } },
          },
        },
        response: { 201: s.checkpoint, ...s.errorResponses },
      },
    },
    async (request, reply) => {
      if (request.isMultipart()) {
        const { cleanup, ...options } = await multipartCommit(request)
        try {
          const checkpoint = await store.commit(options)
          ctx.watcher.poke()
          return reply.status(201).send(checkpoint)
        } finally {
          await cleanup()
        }
      }
      const body = (request.body ?? {}) as CommitBody
      const checkpoint = await store.commit(commitOptions(body))
      ctx.watcher.poke()
      return reply.status(201).send(checkpoint)
    },
  )

  app.post<{ Body: { name: string; at?: string } }>(
    '/api/timelines',
    {
      schema: {
        summary: 'Creates a timeline at a checkpoint (ckpt timeline NAME REV); 409 when the name exists',
        tags: ['write'],
        security,
        body: { type: 'object', properties: { name: s.name, at: { ...s.name, description: 'Default HEAD' } }, required: ['name'], additionalProperties: false },
        response: { 201: timelineInfo, ...s.errorResponses },
      },
    },
    async (request, reply) => {
      const info = await store.timelines.create(request.body.name, request.body.at ?? 'HEAD')
      ctx.watcher.poke()
      return reply.status(201).send({ name: info.name, head: info.head })
    },
  )

  app.put<{ Params: { name: string }; Body: { to: string; expected: string; force?: boolean } }>(
    '/api/timelines/:name',
    {
      schema: {
        summary: 'Moves a timeline, if it is still at `expected` (409 when it moved); only forward unless `force`',
        tags: ['write'],
        security,
        params: timelineParams,
        body: { type: 'object', properties: { to: s.name, expected: s.name, force: { type: 'boolean' } }, required: ['to', 'expected'], additionalProperties: false },
        response: { 200: timelineInfo, ...s.errorResponses },
      },
    },
    async (request) => {
      const { to, expected, force } = request.body
      const info = await store.timelines.move(request.params.name, to, { expected, ...(force && { force }) })
      ctx.watcher.poke()
      return { name: info.name, head: info.head }
    },
  )

  app.delete<{ Params: { name: string }; Querystring: { expected: string } }>(
    '/api/timelines/:name',
    {
      schema: {
        summary: 'Deletes a timeline, if it is still at `expected` (409 when it moved); its reflog stays',
        tags: ['write'],
        security,
        params: timelineParams,
        querystring: { type: 'object', properties: { expected: s.name }, required: ['expected'], additionalProperties: false },
        response: { 204: { description: 'Deleted', type: 'null' }, ...s.errorResponses },
      },
    },
    async (request, reply) => {
      await store.timelines.delete(request.params.name, { expected: request.query.expected })
      ctx.watcher.poke()
      return reply.status(204).send()
    },
  )
}
