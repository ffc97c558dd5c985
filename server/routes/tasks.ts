import type { FastifyInstance } from 'fastify'
import { CkptError, cancelTask, enqueueTask, getTask, listTasks, startTaskWorker, TASK_STATES, type Task, type TaskRequest, type TaskResult, type TaskState, type TaskWorker, type ConfigValue } from '../../src/index.js'
import type { ServerContext } from '../context.js'
import { pipelineNamed, replayPipeline, resumeRun, type RunReport } from '../run-pipeline.js'
import * as s from '../schemas.js'

/** How often the server looks for tasks queued by other processes; a task it knows of is timed to its `runAt`. */
const TASK_POLL_MS = 500

/** How far along a state is: a task only moves forward through these. */
const STATE_ORDER: Readonly<Record<TaskState, number>> = { queued: 0, running: 1, interrupted: 2, succeeded: 3, failed: 3, cancelled: 3 }

const date = { type: 'string', format: 'date-time' } as const
const nullableDate = { type: ['string', 'null'], format: 'date-time' } as const
const counts = {
  type: 'object',
  properties: { executed: { type: 'integer' }, reused: { type: 'integer' }, failed: { type: 'integer' } },
  required: ['executed', 'reused', 'failed'],
} as const

const task = {
  type: 'object',
  description: 'A queued replay or resume and where it stands (docs/pipeline.md "Queued tasks").',
  properties: {
    id: { type: 'string' },
    state: { type: 'string', enum: [...TASK_STATES] },
    request: { type: 'object', additionalProperties: true, description: 'What it runs: {action: replay, pipeline, stage, ...} or {action: resume, pipeline, runId}' },
    created: date,
    runAt: { ...date, description: 'Not run before this time' },
    started: nullableDate,
    finished: nullableDate,
    runId: { type: ['string', 'null'], description: 'The run it started, once it has finished' },
    result: {
      type: ['object', 'null'],
      properties: {
        status: { type: 'string', enum: ['succeeded', 'failed'] },
        runId: { type: ['string', 'null'] },
        counts,
        error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } }, required: ['code', 'message'] },
      },
      required: ['status', 'runId', 'counts'],
    },
  },
  required: ['id', 'state', 'request', 'created', 'runAt', 'started', 'finished', 'runId', 'result'],
} as const

const taskBody = {
  type: 'object',
  properties: {
    action: { type: 'string', enum: ['replay', 'resume'] },
    pipeline: { ...s.name, description: 'A pipeline this server serves (--pipeline)' },
    stage: { ...s.name, description: 'replay: the first stage to run again' },
    from: { ...s.name, description: 'replay: the checkpoint whose history holds the earlier stages (default HEAD)' },
    run: { ...s.name, description: 'replay: or the run to replay' },
    config: s.configOverrides,
    timeline: { ...s.name, description: 'replay: the new timeline (default replay-STAGE-TIME)' },
    jobId: { type: 'string', maxLength: 1024 },
    runId: { ...s.name, description: 'resume: the run to resume' },
    delaySeconds: { type: 'number', minimum: 0, description: 'Run no sooner than this many seconds from now (default 0)' },
  },
  required: ['action', 'pipeline'],
  additionalProperties: false,
} as const

interface TaskBody {
  action: 'replay' | 'resume'
  pipeline: string
  stage?: string
  from?: string
  run?: string
  config?: Record<string, Record<string, ConfigValue>>
  timeline?: string
  jobId?: string
  runId?: string
  delaySeconds?: number
}

const idParams = { type: 'object', properties: { id: s.name }, required: ['id'] } as const
const security = [{ bearer: [] }]

/** A task as the API shows it: dates as ISO strings. */
function taskJson(t: Task): Record<string, unknown> {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString())
  return { id: t.id, state: t.state, request: t.request, created: iso(t.created), runAt: iso(t.runAt), started: iso(t.started), finished: iso(t.finished), runId: t.runId, result: t.result }
}

/** The library's task request from the API's body; a resume's fields and a replay's are checked by the library. */
function taskRequest(body: TaskBody): TaskRequest {
  const { delaySeconds: _delay, ...fields } = body
  return fields as unknown as TaskRequest
}

function taskResult(report: RunReport): TaskResult {
  const failed = report.stages.find((stage) => stage.status === 'failed')
  return {
    status: report.status,
    runId: report.runId,
    counts: report.counts,
    ...(report.status === 'failed' && { error: { code: 'RUN_FAILED', message: failed ? `stage ${failed.stage} failed${failed.error ? `: ${failed.error}` : ''}` : 'the run failed' } }),
  }
}

/** Runs one task with the server's pipelines, as the replay and resume endpoints do. */
async function executeTask(ctx: ServerContext, t: Task): Promise<TaskResult> {
  const request = t.request
  if (request.action === 'resume') return taskResult(await resumeRun(ctx, request.runId, request.pipeline))
  const { action: _action, pipeline, ...replay } = request
  return taskResult(await replayPipeline(ctx, pipeline, { ...replay, ...(replay.config !== undefined && { config: structuredClone(replay.config) as Record<string, Record<string, ConfigValue>> }) }))
}

/**
 * Finds tasks other processes queued or moved: every TASK_POLL_MS, one listing of the task
 * pointers, and a read of only those that moved since the last look (the first look only learns
 * where they stand).
 */
function watchTasks(ctx: ServerContext, publish: (t: Task) => void, published: Map<string, TaskState>): { start(): Promise<void>; stop(): void } {
  const seen = new Map<string, string>()
  let timer: NodeJS.Timeout | undefined
  let looking = false
  const look = async (announce: boolean) => {
    if (looking) return // a slow look is still going: skip this turn
    looking = true
    try {
      for (const { name, value } of await ctx.store.index.list('tasks/')) {
        if (seen.get(name) === value) continue
        seen.set(name, value)
        const t = await getTask(ctx.store, name.slice('tasks/'.length))
        if (announce) publish(t)
        else published.set(t.id, t.state)
      }
    } finally {
      looking = false
    }
  }
  return {
    async start() {
      await look(false)
      timer = setInterval(() => void look(true).catch(() => undefined), TASK_POLL_MS)
      timer.unref()
    },
    stop: () => clearInterval(timer),
  }
}

/**
 * The durable task queue over HTTP: queue a replay or resume (optionally delayed), read tasks,
 * cancel a queued one. Unless read-only, the server also runs a task worker: of all the servers
 * and processes sharing the store, exactly one runs each task.
 */
export async function taskRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { store } = ctx
  const published = new Map<string, TaskState>()
  /** Publishes a task's new state once, whether this server moved it or the watcher below found it moved. */
  const publish = (t: Task) => {
    const last = published.get(t.id)
    // A task never goes back: a read that straddled a move must not announce an older state.
    if (last === t.state || (last !== undefined && STATE_ORDER[t.state] < STATE_ORDER[last])) return
    published.set(t.id, t.state)
    ctx.events.publish({ type: 'task', data: { task: taskJson(t) } })
  }
  const watcher = watchTasks(ctx, publish, published)
  app.addHook('onReady', async () => watcher.start())
  app.addHook('onClose', async () => watcher.stop())

  app.get<{ Querystring: { state?: TaskState } }>(
    '/api/tasks',
    {
      schema: {
        summary: 'Lists queued, running and finished tasks, newest first',
        tags: ['tasks'],
        querystring: { type: 'object', properties: { state: { type: 'string', enum: [...TASK_STATES] } }, additionalProperties: false },
        response: { 200: { type: 'array', items: task }, ...s.errorResponses },
      },
    },
    async (request) => (await listTasks(store, request.query.state === undefined ? {} : { state: request.query.state })).map(taskJson),
  )

  app.get<{ Params: { id: string } }>(
    '/api/tasks/:id',
    { schema: { summary: 'One task and where it stands', tags: ['tasks'], params: idParams, response: { 200: task, ...s.errorResponses } } },
    async (request) => taskJson(await getTask(store, request.params.id)),
  )

  if (ctx.readOnly) return
  let worker: TaskWorker | undefined

  app.post<{ Body: TaskBody }>(
    '/api/tasks',
    {
      schema: {
        summary: 'Queues a replay or a resume to run once, after an optional delay; answers 202 with the task',
        tags: ['tasks'],
        security,
        body: taskBody,
        response: { 202: task, ...s.errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body
      const served = pipelineNamed(ctx, body.pipeline)
      if (body.action === 'replay' && body.stage !== undefined && !served.pipeline.stages.some((stage) => stage.name === body.stage)) {
        throw new CkptError('INVALID_ARGUMENT', `pipeline ${JSON.stringify(body.pipeline)} has no stage ${JSON.stringify(body.stage)} (stages: ${served.pipeline.stages.map((stage) => stage.name).join(', ')})`)
      }
      const queued = await enqueueTask(store, taskRequest(body), { delayMs: (body.delaySeconds ?? 0) * 1000 })
      publish(queued)
      worker?.poke()
      return reply.status(202).send(taskJson(queued))
    },
  )

  app.delete<{ Params: { id: string } }>(
    '/api/tasks/:id',
    {
      schema: {
        summary: 'Cancels a queued task; 409 once it has started or ended',
        tags: ['tasks'],
        security,
        params: idParams,
        response: { 200: task, ...s.errorResponses },
      },
    },
    async (request) => {
      const cancelled = await cancelTask(store, request.params.id)
      publish(cancelled)
      return taskJson(cancelled)
    },
  )

  app.addHook('onReady', async () => {
    worker = await startTaskWorker(store, (t) => executeTask(ctx, t), {
      pollMs: TASK_POLL_MS,
      accept: (request) => ctx.pipelines.has(request.pipeline),
      onChange: publish,
      onError: (err) => app.log.error({ err }, 'task queue'),
    })
  })
  app.addHook('onClose', async () => {
    await worker?.stop()
  })
}
