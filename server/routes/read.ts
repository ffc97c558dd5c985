import type { FastifyInstance } from 'fastify'
import { checkpointReport, CkptError, plan, readAudit, statusReport, timelineReport, type Checkpoint, type ConfigValue, type LogOptions, type RunStatus } from '../../src/index.js'
import type { ServerContext } from '../context.js'
import { pipelineNamed } from '../run-pipeline.js'
import * as s from '../schemas.js'

const JSON_TYPE = 'application/json; charset=utf-8'

const list = (items: object) => ({ type: 'array', items }) as const

interface LogQuery {
  rev?: string[]
  all?: boolean
  limit?: number
  cursor?: string
  run?: string
  job?: string
  stage?: string
  author?: string
  since?: string
  until?: string
  firstParent?: boolean
}

/** Where a log page left off: the walk's resolved starting points and how many it already gave. */
interface LogCursor {
  readonly starts: string[]
  readonly skip: number
}

function encodeCursor(cursor: LogCursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url')
}

function decodeCursor(text: string): LogCursor {
  try {
    const cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as LogCursor
    if (Array.isArray(cursor.starts) && cursor.starts.every((x) => typeof x === 'string') && Number.isInteger(cursor.skip) && cursor.skip >= 0) return cursor
  } catch {
    // reported below
  }
  throw new CkptError('INVALID_ARGUMENT', `cursor ${JSON.stringify(text.slice(0, 40))} is not one this server gave out`)
}

function dateParam(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined
  const date = new Date(/^\d+$/.test(text) ? Number(text) : text)
  if (Number.isNaN(date.getTime())) throw new CkptError('INVALID_ARGUMENT', `${name}: ${JSON.stringify(text)} is not a date (ISO 8601 or milliseconds since 1970)`)
  return date
}

function parseConfig(text: string | undefined): Record<string, Record<string, ConfigValue>> | undefined {
  if (text === undefined) return undefined
  try {
    const value = JSON.parse(text) as unknown
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, Record<string, ConfigValue>>
  } catch {
    // reported below
  }
  throw new CkptError('INVALID_ARGUMENT', `config: ${JSON.stringify(text.slice(0, 80))} is not a JSON object {"stage": {"field": value}}`)
}

export async function readRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { store } = ctx

  app.get('/api/status', { schema: { summary: 'Where HEAD is and the stages its checkpoint holds (ckpt status --json)', tags: ['read'], response: { 200: s.status, ...s.errorResponses } } }, () => statusReport(store, ctx.location))

  app.get('/api/timelines', { schema: { summary: 'Timelines with their heads (ckpt timeline --json)', tags: ['read'], response: { 200: list(s.timeline) } } }, async () =>
    (await timelineReport(store)).map(({ checkpoint: _head, ...t }) => t),
  )

  app.get('/api/tags', { schema: { summary: 'Tags (ckpt tag --json)', tags: ['read'], response: { 200: list(s.tag) } } }, () => store.tags.list())

  app.get<{ Querystring: LogQuery }>(
    '/api/log',
    {
      schema: {
        summary: 'History, newest first, a page at a time (ckpt log --json)',
        tags: ['read'],
        querystring: {
          type: 'object',
          properties: {
            rev: { type: 'array', items: s.name, description: 'Revisions to start from (default HEAD); repeat for several' },
            all: { type: 'boolean', description: 'Start from every timeline and tag' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
            cursor: { type: 'string', maxLength: 8192, description: 'The `next` of the previous page' },
            run: s.name,
            job: { type: 'string', maxLength: 1024 },
            stage: s.name,
            author: { type: 'string', maxLength: 1024 },
            since: { type: 'string', description: 'ISO date or milliseconds' },
            until: { type: 'string', description: 'ISO date or milliseconds' },
            firstParent: { type: 'boolean' },
          },
          additionalProperties: false,
        },
        response: { 200: { type: 'object', properties: { checkpoints: list(s.checkpoint), next: { type: ['string', 'null'] } }, required: ['checkpoints', 'next'] }, ...s.errorResponses },
      },
    },
    async (request, reply) => {
      const q = request.query
      const limit = q.limit ?? 50
      const cursor = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
      const starts = cursor?.starts ?? (await logStarts(ctx, q))
      if (starts.length === 0) return { checkpoints: [], next: null }
      const since = dateParam('since', q.since)
      const until = dateParam('until', q.until)
      const options: LogOptions = {
        ...(q.firstParent && { firstParent: true }),
        ...(q.run !== undefined && { run: q.run }),
        ...(q.job !== undefined && { job: q.job }),
        ...(q.stage !== undefined && { stage: q.stage }),
        ...(q.author !== undefined && { author: q.author }),
        ...(since && { since }),
        ...(until && { until }),
      }
      const skip = cursor?.skip ?? 0
      // A walk from resolved ids is immutable history: the same page for the same request.
      const key = JSON.stringify(['log', starts, options, skip, limit])
      const page = await ctx.cache.json(key, async () => {
        const checkpoints: Checkpoint[] = []
        let seen = 0
        let more = false
        for await (const checkpoint of store.log(starts, options)) {
          if (seen++ < skip) continue
          if (checkpoints.length === limit) {
            more = true
            break
          }
          checkpoints.push(checkpoint)
        }
        return { checkpoints, next: more ? encodeCursor({ starts, skip: skip + checkpoints.length }) : null }
      })
      return reply.type(JSON_TYPE).send(page)
    },
  )

  app.get<{ Querystring: { limit?: number } }>(
    '/api/graph',
    {
      schema: {
        summary: 'Every timeline and tag with their history, for drawing (ckpt log --graph --all)',
        tags: ['read'],
        querystring: { type: 'object', properties: { limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 } }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: {
              head: { type: 'object', properties: { timeline: { type: ['string', 'null'] }, detached: { type: 'boolean' }, checkpoint: { type: ['string', 'null'] } } },
              timelines: list({ type: 'object', properties: { name: { type: 'string' }, head: { type: 'string' } } }),
              tags: list({ type: 'object', properties: { name: { type: 'string' }, target: { type: 'string' } } }),
              checkpoints: list(s.checkpoint),
              truncated: { type: 'boolean' },
            },
          },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? 500
      const [head, timelines, tags] = await Promise.all([store.head(), store.timelines.list(), store.tags.list()])
      const starts = [...timelines.map((t) => `timelines/${t.name}`), ...tags.map((t) => `tags/${t.name}`)]
      if (head.detached && head.checkpoint) starts.push(head.checkpoint)
      const checkpoints: Checkpoint[] = []
      let truncated = false
      if (starts.length > 0) {
        for await (const checkpoint of store.log(starts)) {
          if (checkpoints.length === limit) {
            truncated = true
            break
          }
          checkpoints.push(checkpoint)
        }
      }
      return {
        head: { timeline: head.timeline ?? null, detached: head.detached, checkpoint: head.checkpoint ?? null },
        timelines: timelines.map((t) => ({ name: t.name, head: t.head })),
        tags: tags.map((t) => ({ name: t.name, target: t.target })),
        checkpoints,
        truncated,
      }
    },
  )

  app.get<{ Params: { rev: string } }>(
    '/api/checkpoints/:rev',
    { schema: { summary: 'One checkpoint with its outputs (ckpt show REV --json)', tags: ['read'], params: { type: 'object', properties: { rev: s.name }, required: ['rev'] }, response: { 200: s.checkpointDetail, ...s.errorResponses } } },
    async (request, reply) => {
      const id = await store.resolve(request.params.rev)
      return reply.type(JSON_TYPE).send(await ctx.cache.json(`checkpoint ${id}`, () => checkpointReport(store, id)))
    },
  )

  app.get<{ Querystring: { from: string; to: string; stage?: string[]; paths?: boolean } }>(
    '/api/diff',
    {
      schema: {
        summary: "Two checkpoints' outputs compared: stages, JSON paths, text lines (ckpt diff A B --json)",
        tags: ['read'],
        querystring: {
          type: 'object',
          properties: { from: s.name, to: s.name, stage: { type: 'array', items: s.name }, paths: { type: 'boolean', default: true } },
          required: ['from', 'to'],
          additionalProperties: false,
        },
        response: { 200: { type: 'object', additionalProperties: true, properties: { from: { type: 'string' }, to: { type: 'string' } } }, ...s.errorResponses },
      },
    },
    (request) => {
      const q = request.query
      return store.diff(q.from, q.to, { ...(q.stage?.length && { stages: q.stage }), ...(q.paths === false && { paths: false }) })
    },
  )

  app.get<{ Querystring: { job?: string; status?: RunStatus; timeline?: string; limit?: number } }>(
    '/api/runs',
    {
      schema: {
        summary: 'Pipeline runs, newest first (ckpt runs --json)',
        tags: ['read'],
        querystring: {
          type: 'object',
          properties: { job: { type: 'string', maxLength: 1024 }, status: { type: 'string', enum: ['running', 'succeeded', 'failed', 'interrupted'] }, timeline: s.name, limit: { type: 'integer', minimum: 1, maximum: 10000 } },
          additionalProperties: false,
        },
        response: { 200: list(s.run), ...s.errorResponses },
      },
    },
    async (request) => {
      const q = request.query
      const runs = await store.runs({ ...(q.job !== undefined && { job: q.job }), ...(q.status !== undefined && { status: q.status }), ...(q.timeline !== undefined && { timeline: q.timeline }) })
      return q.limit === undefined ? runs : runs.slice(0, q.limit)
    },
  )

  app.get<{ Params: { run: string } }>(
    '/api/runs/:run/audit',
    {
      schema: {
        summary: "A run's audit: every stage execution with status, timing, attempt and error (ckpt audit RUN --json, without stack traces)",
        tags: ['read'],
        params: { type: 'object', properties: { run: s.name }, required: ['run'] },
        response: { 200: list({ type: 'object', additionalProperties: true }), ...s.errorResponses },
      },
    },
    async (request) => (await readAudit(store, request.params.run)).map(({ error, ...entry }) => ({ ...entry, ...(error && { error: { message: error.message } }) })),
  )

  app.get<{ Querystring: { ref: string; limit?: number } }>(
    '/api/reflog',
    {
      schema: {
        summary: "Where a ref has been, newest first (ckpt reflog REF --json)",
        tags: ['read'],
        querystring: { type: 'object', properties: { ref: { type: 'string', minLength: 1, maxLength: 256, default: 'HEAD' }, limit: { type: 'integer', minimum: 1 } }, additionalProperties: false },
        response: {
          200: list({
            type: 'object',
            properties: { index: { type: 'integer' }, old: { type: ['string', 'null'] }, new: { type: ['string', 'null'] }, checkpoint: { type: ['string', 'null'] }, time: { type: 'string', format: 'date-time' }, reason: { type: 'string' } },
          }),
          ...s.errorResponses,
        },
      },
    },
    (request) => store.reflog(request.query.ref, request.query.limit === undefined ? {} : { limit: request.query.limit }),
  )

  app.get(
    '/api/pipelines',
    {
      schema: {
        summary: 'The pipelines this server can run, with each stage and its config fields (for replay forms)',
        tags: ['pipelines'],
        response: { 200: list({ type: 'object', additionalProperties: true, properties: { name: { type: 'string' }, inputs: list({ type: 'string' }), stages: list({ type: 'object', additionalProperties: true }) } }) },
      },
    },
    async () =>
      [...ctx.pipelines.values()].map(({ pipeline }) => ({
        name: pipeline.name,
        inputs: pipeline.inputs ?? [],
        stages: pipeline.stages.map((stage) => ({
          name: stage.name,
          ...(stage.label !== undefined && { label: stage.label }),
          ...(stage.description !== undefined && { description: stage.description }),
          ...(stage.category !== undefined && { category: stage.category }),
          reads: stage.reads ?? [],
          writes: stage.writes,
          config: stage.config ?? [],
        })),
      })),
  )

  app.get<{ Params: { name: string }; Querystring: { stage?: string; from?: string; run?: string; config?: string } }>(
    '/api/pipelines/:name/plan',
    {
      schema: {
        summary: 'What a run, resume (run=) or replay (stage=) would do per stage, writing nothing (ckpt plan --json)',
        tags: ['pipelines'],
        params: { type: 'object', properties: { name: s.name }, required: ['name'] },
        querystring: { type: 'object', properties: { stage: s.name, from: s.name, run: s.name, config: { type: 'string', maxLength: 65536, description: 'Config overrides as JSON' } }, additionalProperties: false },
        response: { 200: list({ type: 'object', additionalProperties: true, properties: { stage: { type: 'string' }, action: { type: 'string' }, reason: { type: 'string' } } }), ...s.errorResponses },
      },
    },
    async (request) => {
      const { pipeline, inputs } = pipelineNamed(ctx, request.params.name)
      const q = request.query
      const config = parseConfig(q.config)
      const base = { store, pipeline }
      if (q.stage !== undefined) return plan({ kind: 'replay', ...base, startStage: q.stage, ...(q.run !== undefined ? { runId: q.run } : { from: q.from ?? 'HEAD' }), ...(config && { config }) })
      if (q.run !== undefined) return plan({ kind: 'resume', ...base, runId: q.run })
      return plan({ kind: 'run', ...base, ...(inputs && { inputs }), ...(config && { config }) })
    },
  )
}

/** The log's starting points as ids, so that later pages walk the same history even after timelines move. */
async function logStarts(ctx: ServerContext, q: LogQuery): Promise<string[]> {
  const { store } = ctx
  if (q.all) {
    const [timelines, tags, head] = await Promise.all([store.timelines.list(), store.tags.list(), store.head()])
    const ids = [...timelines.map((t) => t.head), ...tags.map((t) => t.target), ...(head.detached && head.checkpoint ? [head.checkpoint] : [])]
    return [...new Set(ids)]
  }
  const revisions = q.rev?.length ? q.rev : ['HEAD']
  if (!q.rev?.length && (await store.head()).checkpoint === undefined) return []
  return Promise.all(revisions.map((rev) => store.resolve(rev)))
}
