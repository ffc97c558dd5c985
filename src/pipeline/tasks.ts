import { randomBytes } from 'node:crypto'
import { BoundedMap } from '../bounded-map.js'
import { CkptError, isCkptError, quoted } from '../errors.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { findRunIdViolation, findStageNameViolation } from '../model/name-rules.js'
import { checkRefName, checkStageName, isValidRefName } from '../refs/names.js'
import { assertRunRecorded } from './runner.js'
import { heartbeatInterval, isAlive, thisProcess } from './runs.js'
import type { ConfigValue } from './types.js'

/*
 * A durable queue of pipeline work, kept in the store so that every process and machine serving
 * it sees one queue (store.index pointers, moved by compare-and-swap):
 *   tasks/<id>                   → the task's state node (below), moved at each change of state
 *   tasks-by-state/<state>/<id>  → the task's request node, moved with the state node
 * The request node (what to run, when) never changes; the state node says queued, running (with
 * its owner and heartbeat), or how it ended. Claiming is one swap from the queued node to a
 * running one, so of any number of workers racing for a task exactly one runs it.
 */

/** Re-run a pipeline from `stage` onto `timeline` (see `replay`), with config overrides. */
export interface ReplayTaskRequest {
  readonly action: 'replay'
  /** The pipeline's name, as the process executing tasks knows it. */
  readonly pipeline: string
  readonly stage: string
  /** The revision to replay from (checked to exist when the task is queued). */
  readonly from?: string
  /** Or: the recorded run to replay. */
  readonly run?: string
  readonly config?: Readonly<Record<string, Readonly<Record<string, ConfigValue>>>>
  /** The new timeline; when omitted, the executor picks one. */
  readonly timeline?: string
  readonly jobId?: string
}

/** Continue a recorded run (see `resume`). */
export interface ResumeTaskRequest {
  readonly action: 'resume'
  readonly pipeline: string
  readonly runId: string
}

/** What a task runs. */
export type TaskRequest = ReplayTaskRequest | ResumeTaskRequest

/**
 * Where a task stands. `interrupted`: it was claimed and its process is gone; it is not run
 * again by itself (it may have done part of its work): queue a new task to retry it.
 */
export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted'

/** What executing a task gave; a throwing execution is recorded as failed with code `INTERNAL` unless the error has a code. */
export interface TaskResult {
  readonly status: 'succeeded' | 'failed'
  /** The run the task started, or null when it started none. */
  readonly runId: string | null
  readonly counts: { readonly executed: number; readonly reused: number; readonly failed: number }
  readonly error?: { readonly code: string; readonly message: string }
}

/** A queued task, as {@link getTask} and {@link listTasks} show it. */
export interface Task {
  readonly id: string
  readonly state: TaskState
  readonly request: TaskRequest
  readonly created: Date
  /** Not run before this time. */
  readonly runAt: Date
  readonly started: Date | null
  readonly finished: Date | null
  /** The run it started (from its result); null until it finishes. */
  readonly runId: string | null
  readonly result: TaskResult | null
  /** The process that claimed it; null while queued or when cancelled. */
  readonly owner: { readonly host: string; readonly pid: number } | null
}

export interface EnqueueOptions {
  /** Run no sooner than this many milliseconds from now (default 0). */
  readonly delayMs?: number
  /** The task's id (one ref-name component, no `/`); generated when omitted. */
  readonly id?: string
}

export const TASK_STATES: readonly TaskState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted']

type StoredState = Exclude<TaskState, 'interrupted'>

interface RequestNode {
  readonly type: 'ckpt-task'
  readonly id: string
  readonly request: TaskRequest
  readonly created: number
  readonly runAt: number
}

interface StateNode {
  readonly type: 'ckpt-task-state'
  /** The request node's id. */
  readonly task: string
  readonly state: StoredState
  readonly started: number | null
  readonly finished: number | null
  readonly result: TaskResult | null
  readonly owner: { readonly host: string; readonly pid: number; readonly token: string } | null
  readonly heartbeat: number
  readonly heartbeatMs: number
}

const taskPointer = (id: string) => `tasks/${id}`
const statePointer = (state: StoredState, id: string) => `tasks-by-state/${state}/${id}`
/** Request nodes never change: read each once. */
const requestNodes = new BoundedMap<string, RequestNode>(10_000)

/**
 * Queues `request` to run after `delayMs`. The request is checked first (INVALID_ARGUMENT, or the
 * error of the value at fault: a bad timeline is INVALID_REF_NAME, an unknown `from` NOT_FOUND, an
 * unknown resumed run RUN_NOT_FOUND) and nothing is written when it is refused. REF_CONFLICT when
 * a task with the given id exists.
 */
export async function enqueueTask(store: CheckpointStore, request: TaskRequest, options: EnqueueOptions = {}): Promise<Task> {
  const checked = await checkRequest(store, request)
  const created = Date.now()
  const runAt = created + checkDelay(options.delayMs)
  const id = options.id === undefined ? newTaskId(created) : checkTaskId(options.id)
  if ((await store.index.get(taskPointer(id))) !== undefined) throw new CkptError('REF_CONFLICT', `task ${quoted(id)} already exists`, { details: { id } })
  const requestNode: RequestNode = { type: 'ckpt-task', id, request: checked, created, runAt }
  const requestId = await store.putOutput(requestNode)
  const state: StateNode = { type: 'ckpt-task-state', task: requestId, state: 'queued', started: null, finished: null, result: null, owner: null, heartbeat: created, heartbeatMs: 0 }
  const stateId = await store.putOutput(state)
  try {
    await store.index.swapMany(
      [
        { name: taskPointer(id), expected: null, value: stateId },
        { name: statePointer('queued', id), expected: null, value: requestId },
      ],
      `task: queued ${id}`,
    )
  } catch (err) {
    if (isCkptError(err, 'REF_CONFLICT')) throw new CkptError('REF_CONFLICT', `task ${quoted(id)} already exists`, { details: { id } })
    throw err
  }
  return taskOf(requestNode, state, Date.now())
}

/** One task. NOT_FOUND when the store has no task `id`. */
export async function getTask(store: CheckpointStore, id: string): Promise<Task> {
  const found = await readTask(store, id)
  if (found === undefined) throw new CkptError('NOT_FOUND', `no task ${quoted(id)} in this store`, { details: { id } })
  return taskOf(found.request, found.state, Date.now())
}

/**
 * The store's tasks, newest first; with `state`, only those in it (read through the by-state
 * pointers, so a listing of queued tasks reads only queued ones).
 */
export async function listTasks(store: CheckpointStore, filter: { readonly state?: TaskState } = {}): Promise<Task[]> {
  const { state } = filter
  if (state !== undefined && !TASK_STATES.includes(state)) {
    throw new CkptError('INVALID_ARGUMENT', `unknown task state ${quoted(state)} (one of ${TASK_STATES.join(', ')})`, { details: { state } })
  }
  const prefix = state === undefined ? 'tasks/' : `tasks-by-state/${state === 'interrupted' ? 'running' : state}/`
  const ids = (await store.index.list(prefix)).map((e) => e.name.slice(prefix.length))
  const now = Date.now()
  const found = await Promise.all(ids.map((id) => readTask(store, id)))
  return found
    .filter((f): f is NonNullable<typeof f> => f !== undefined)
    .map((f) => taskOf(f.request, f.state, now))
    .filter((t) => state === undefined || t.state === state)
    .sort((a, b) => b.created.getTime() - a.created.getTime() || (a.id < b.id ? 1 : -1))
}

/** Cancels a queued task. NOT_FOUND for an unknown id; REF_CONFLICT once it has started or ended. */
export async function cancelTask(store: CheckpointStore, id: string): Promise<Task> {
  return transition(store, id, 'cancel', (node) => {
    if (node.state !== 'queued') throw notQueued(id, node, 'cancelled')
    return { ...node, state: 'cancelled', finished: Date.now() }
  })
}

/**
 * Takes a queued task for this process to run: one compare-and-swap from its queued state to
 * running, owned by this process, so of any number of claimants exactly one succeeds. The others
 * get REF_CONFLICT (as does a claim of a task that already started, ended or was cancelled).
 */
export async function claimTask(store: CheckpointStore, id: string): Promise<Task> {
  return transition(store, id, 'claim', (node) => {
    if (node.state !== 'queued') throw notQueued(id, node, 'claimed')
    const now = Date.now()
    return { ...node, state: 'running', started: now, owner: thisProcess, heartbeat: now, heartbeatMs: heartbeatInterval() }
  })
}

/** Records how a task this process claimed ended. REF_CONFLICT unless it is running here. */
export async function finishTask(store: CheckpointStore, id: string, result: TaskResult): Promise<Task> {
  const stored = storedResult(result)
  return transition(store, id, 'finish', (node) => {
    if (node.state !== 'running' || node.owner?.token !== thisProcess.token) {
      throw new CkptError('REF_CONFLICT', `task ${quoted(id)} is not running in this process (it is ${node.state})`, { details: { id, state: node.state } })
    }
    return { ...node, state: stored.status, finished: Date.now(), result: stored }
  })
}

/** Says that this process is still running task `id`, so that other processes do not see it as interrupted. */
async function beat(store: CheckpointStore, id: string): Promise<void> {
  await transition(store, id, 'heartbeat', (node) => (node.state === 'running' && node.owner?.token === thisProcess.token ? { ...node, heartbeat: Date.now() } : node))
}

/** Runs one task: what a {@link TaskWorker} calls for each task it claims. */
export type TaskExecutor = (task: Task) => Promise<TaskResult>

export interface TaskWorkerOptions {
  /** How often to look for queued tasks, in ms (default 1000). A task due sooner is timed to its `runAt`. */
  readonly pollMs?: number
  /** Which tasks this worker takes (default all): say, only those of the pipelines it knows. The others stay queued for another worker. */
  readonly accept?: (request: TaskRequest) => boolean
  /** How many tasks run at once (default 1). */
  readonly concurrency?: number
  /** Called after this worker moves a task (running, then succeeded or failed). */
  readonly onChange?: (task: Task) => void
  /** Called with a failure to read or write the queue (the worker keeps going). */
  readonly onError?: (err: unknown) => void
}

/** A running worker; see {@link startTaskWorker}. */
export interface TaskWorker {
  /** Looks at the queue now (say, after queuing a task due at once) rather than at the next poll. */
  poke(): void
  /** Stops taking tasks and waits for the ones running to finish. */
  stop(): Promise<void>
}

/**
 * Runs the store's queued tasks in this process as they come due: looks at the queue now and
 * every `pollMs`, waits for each task's `runAt`, claims it ({@link claimTask}), runs `execute`
 * and records its result ({@link finishTask}). Several workers, in any processes, may serve one
 * store: each task runs once. Resolves once the queue has been read the first time.
 */
export async function startTaskWorker(store: CheckpointStore, execute: TaskExecutor, options: TaskWorkerOptions = {}): Promise<TaskWorker> {
  const pollMs = positive(options.pollMs, 'pollMs', 1000)
  const concurrency = positive(options.concurrency, 'concurrency', 1)
  const worker = new Worker(store, execute, pollMs, concurrency, options)
  await worker.poll()
  return worker
}

class Worker implements TaskWorker {
  /** Tasks this worker has timed, made due, or is running: not taken up again by a poll. */
  readonly #known = new Set<string>()
  readonly #timers = new Map<string, NodeJS.Timeout>()
  readonly #due: string[] = []
  readonly #running = new Set<Promise<void>>()
  #pollTimer: NodeJS.Timeout | undefined
  #stopped = false
  #polling = false

  constructor(
    private readonly store: CheckpointStore,
    private readonly execute: TaskExecutor,
    private readonly pollMs: number,
    private readonly concurrency: number,
    private readonly options: TaskWorkerOptions,
  ) {}

  poke(): void {
    if (this.#stopped || this.#polling) return
    clearTimeout(this.#pollTimer)
    void this.poll()
  }

  async poll(): Promise<void> {
    this.#polling = true
    try {
      const queued = await this.store.index.list('tasks-by-state/queued/')
      const now = Date.now()
      for (const { name, value } of queued) {
        const id = name.slice('tasks-by-state/queued/'.length)
        if (this.#stopped || this.#known.has(id)) continue
        const { runAt, request } = await readRequest(this.store, value)
        if (runAt <= now + this.pollMs && (this.options.accept?.(request) ?? true)) {
          this.#known.add(id)
          this.#schedule(id, runAt)
        }
      }
    } catch (err) {
      this.options.onError?.(err)
    }
    this.#polling = false
    if (!this.#stopped) this.#pollTimer = setTimeout(() => void this.poll(), this.pollMs)
  }

  /** Makes `id` due at `runAt`; a timer may fire a little early, so it checks the clock again. */
  #schedule(id: string, runAt: number): void {
    const wait = runAt - Date.now()
    if (wait <= 0) {
      this.#timers.delete(id)
      this.#due.push(id)
      this.#pump()
      return
    }
    this.#timers.set(id, setTimeout(() => this.#schedule(id, runAt), wait))
  }

  #pump(): void {
    while (!this.#stopped && this.#running.size < this.concurrency && this.#due.length > 0) {
      const id = this.#due.shift() as string
      const running: Promise<void> = this.#runOne(id).finally(() => {
        this.#running.delete(running)
        this.#known.delete(id)
        this.#pump()
      })
      this.#running.add(running)
    }
  }

  async #runOne(id: string): Promise<void> {
    let task: Task
    try {
      task = await claimTask(this.store, id)
    } catch (err) {
      // Another worker took it, or it was cancelled: not this worker's to run.
      if (!isCkptError(err, 'REF_CONFLICT') && !isCkptError(err, 'NOT_FOUND')) this.options.onError?.(err)
      return
    }
    this.options.onChange?.(task)
    const heartbeat = setInterval(() => void beat(this.store, id).catch((err: unknown) => this.options.onError?.(err)), heartbeatInterval())
    heartbeat.unref()
    let result: TaskResult
    try {
      result = await this.execute(task)
    } catch (err) {
      result = { status: 'failed', runId: null, counts: { executed: 0, reused: 0, failed: 0 }, error: errorOf(err) }
    } finally {
      clearInterval(heartbeat)
    }
    try {
      // Not inside `onChange?.(…)`: without a listener that call would skip its argument.
      const finished = await finishTask(this.store, id, result)
      this.options.onChange?.(finished)
    } catch (err) {
      this.options.onError?.(err)
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#pollTimer)
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#due.length = 0
    await Promise.all([...this.#running])
  }
}

/** Moves task `id`'s state node by `change` (returning the node unchanged moves nothing), retrying when another process moved it first. */
async function transition(store: CheckpointStore, id: string, what: string, change: (node: StateNode) => StateNode): Promise<Task> {
  for (let attempt = 1; ; attempt++) {
    const current = await store.index.get(taskPointer(checkTaskId(id)))
    if (current === undefined) throw new CkptError('NOT_FOUND', `no task ${quoted(id)} in this store`, { details: { id } })
    const before = (await store.getOutput(current)) as unknown as StateNode
    const after = change(before)
    const request = await readRequest(store, before.task)
    if (after === before) return taskOf(request, before, Date.now())
    const moves: Array<{ name: string; expected: string | null; value: string | null }> = [{ name: taskPointer(id), expected: current, value: await store.putOutput(after) }]
    if (after.state !== before.state) {
      moves.push({ name: statePointer(before.state, id), expected: before.task, value: null })
      moves.push({ name: statePointer(after.state, id), expected: null, value: before.task })
    }
    try {
      await store.index.swapMany(moves, `task: ${what} ${id}`)
      return taskOf(request, after, Date.now())
    } catch (err) {
      // Moved by another process meanwhile (a claim, a heartbeat): look again, a bounded number of times.
      if (!isCkptError(err, 'REF_CONFLICT') || attempt >= 20) throw err
    }
  }
}

async function readTask(store: CheckpointStore, id: string): Promise<{ request: RequestNode; state: StateNode } | undefined> {
  const current = await store.index.get(taskPointer(checkTaskId(id)))
  if (current === undefined) return undefined
  const state = (await store.getOutput(current)) as unknown as StateNode
  return { request: await readRequest(store, state.task), state }
}

async function readRequest(store: CheckpointStore, nodeId: string): Promise<RequestNode> {
  const cached = requestNodes.get(nodeId)
  if (cached !== undefined) return cached
  const node = (await store.getOutput(nodeId)) as unknown as RequestNode
  requestNodes.set(nodeId, node)
  return node
}

function taskOf(request: RequestNode, node: StateNode, now: number): Task {
  const state: TaskState = node.state === 'running' && node.owner !== null && !isAlive({ owner: node.owner, heartbeat: node.heartbeat, heartbeatMs: node.heartbeatMs }, now) ? 'interrupted' : node.state
  return {
    id: request.id,
    state,
    request: request.request,
    created: new Date(request.created),
    runAt: new Date(request.runAt),
    started: node.started === null ? null : new Date(node.started),
    finished: node.finished === null ? null : new Date(node.finished),
    runId: node.result?.runId ?? null,
    result: node.result,
    owner: node.owner === null ? null : { host: node.owner.host, pid: node.owner.pid },
  }
}

function notQueued(id: string, node: StateNode, verb: string): CkptError {
  return new CkptError('REF_CONFLICT', `task ${quoted(id)} cannot be ${verb}: it is ${node.state === 'running' ? 'running or was interrupted' : node.state}, no longer queued`, { details: { id, state: node.state } })
}

function newTaskId(now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:.]/g, '')
  return `t-${stamp}-${randomBytes(3).toString('hex')}`
}

/** A task id is one pointer-name component: a valid ref name without `/`. */
function checkTaskId(id: string): string {
  if (typeof id !== 'string' || id.includes('/') || !isValidRefName(id)) {
    throw new CkptError('INVALID_ARGUMENT', `invalid task id ${quoted(id)}: it must be a non-empty ref-name component (no "/", "..", spaces or control characters)`, { details: { id } })
  }
  return id
}

function checkDelay(delayMs: number | undefined): number {
  if (delayMs === undefined) return 0
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0 || Number.isNaN(new Date(Date.now() + delayMs).getTime())) {
    throw new CkptError('INVALID_ARGUMENT', `invalid task delay ${String(delayMs)}: give a number of milliseconds, 0 or more`, { details: { delayMs } })
  }
  return Math.round(delayMs)
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) throw new CkptError('INVALID_ARGUMENT', `invalid ${name} ${String(value)}: give a number above 0`, { details: { [name]: value } })
  return value
}

const REQUEST_FIELDS = { replay: ['action', 'pipeline', 'stage', 'from', 'run', 'config', 'timeline', 'jobId'], resume: ['action', 'pipeline', 'runId'] } as const

/** The request with only its known fields, each checked; throws naming the first bad value. */
async function checkRequest(store: CheckpointStore, request: unknown): Promise<TaskRequest> {
  if (!isPlainObject(request)) throw invalid('a task request must be an object with an action', { request: String(request) })
  const { action } = request
  if (action !== 'replay' && action !== 'resume') throw invalid(`unknown task action ${quoted(action)} (one of replay, resume)`, { action })
  const fields: readonly string[] = REQUEST_FIELDS[action]
  for (const key of Object.keys(request)) {
    if (!fields.includes(key) && request[key] !== undefined) throw invalid(`unknown field ${quoted(key)} in a ${action} task (fields: ${fields.join(', ')})`, { field: key })
  }
  const pipeline = request.pipeline
  const pipelineViolation = findStageNameViolation(pipeline)
  if (pipelineViolation) throw invalid(`invalid pipeline name ${quoted(pipeline)}: ${pipelineViolation.reason}`, { pipeline })
  if (action === 'resume') {
    const runId = request.runId
    if (typeof runId !== 'string') throw invalid(`invalid run id ${quoted(runId)}: it must be a string`, { runId })
    await assertRunRecorded(store, runId)
    return { action, pipeline: pipeline as string, runId }
  }
  const { stage, timeline, from, run, config, jobId } = request
  checkStageName(stage as string)
  if (timeline !== undefined) checkRefName(timeline as string, 'timeline name')
  if (from !== undefined && run !== undefined) throw invalid('a replay task takes `from` (a revision) or `run` (a recorded run), not both', { from, run })
  if (from !== undefined) {
    if (typeof from !== 'string' || from === '') throw invalid(`invalid revision ${quoted(from)} to replay from`, { from })
    await store.getCheckpoint(from)
  }
  if (run !== undefined) {
    if (typeof run !== 'string') throw invalid(`invalid run id ${quoted(run)}: it must be a string`, { run })
    await assertRunRecorded(store, run)
  }
  if (jobId !== undefined) {
    const violation = findRunIdViolation(jobId)
    if (violation) throw invalid(`invalid job id ${quoted(jobId)}: ${violation.reason}`, { jobId })
  }
  return {
    action,
    pipeline: pipeline as string,
    stage: stage as string,
    ...(timeline !== undefined && { timeline: timeline as string }),
    ...(from !== undefined && { from: from as string }),
    ...(run !== undefined && { run: run as string }),
    ...(config !== undefined && { config: checkConfig(config) }),
    ...(jobId !== undefined && { jobId: jobId as string }),
  }
}

function checkConfig(config: unknown): Record<string, Record<string, ConfigValue>> {
  if (!isPlainObject(config)) throw invalid('config must be an object of stage name → {field: value}', { config: String(config) })
  const out: Record<string, Record<string, ConfigValue>> = {}
  for (const [stage, fields] of Object.entries(config)) {
    checkStageName(stage)
    if (!isPlainObject(fields)) throw invalid(`config of stage ${quoted(stage)} must be an object of field → value`, { stage })
    out[stage] = {}
    for (const [field, value] of Object.entries(fields)) {
      if (!isConfigValue(value)) throw invalid(`config ${stage}.${field} ${quoted(JSON.stringify(value) ?? String(value))} must be a finite number, a string, a boolean or a list of strings`, { stage, field })
      out[stage][field] = value
    }
  }
  return out
}

function isConfigValue(value: unknown): value is ConfigValue {
  return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'string' || typeof value === 'boolean' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

function invalid(message: string, details: Record<string, unknown>): CkptError {
  return new CkptError('INVALID_ARGUMENT', message, { details })
}

/** A result as stored: plain JSON, no undefined fields. */
function storedResult(result: TaskResult): TaskResult {
  const status = result.status === 'succeeded' ? 'succeeded' : 'failed'
  const counts = { executed: count(result.counts?.executed), reused: count(result.counts?.reused), failed: count(result.counts?.failed) }
  return { status, runId: typeof result.runId === 'string' ? result.runId : null, counts, ...(result.error !== undefined && { error: { code: String(result.error.code), message: String(result.error.message) } }) }
}

const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n : 0)

function errorOf(err: unknown): { code: string; message: string } {
  const code = (err as { code?: unknown } | null)?.code
  return { code: typeof code === 'string' ? code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) }
}
