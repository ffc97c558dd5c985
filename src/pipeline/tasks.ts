import { randomBytes } from 'node:crypto'
import { BoundedMap } from '../bounded-map.js'
import { CkptError, isCkptError, quoted } from '../errors.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { isValidRefName } from '../refs/names.js'
import { heartbeatInterval, isAlive, thisProcess } from './runs.js'
import { checkRequest, type TaskRequest } from './task-request.js'

/*
 * A durable queue of pipeline work, kept in the store so that every process and machine serving
 * it sees one queue (store.index pointers, moved by compare-and-swap):
 *   tasks/<id>                   → the task's state node (below), moved at each change of state
 *   tasks-by-state/<state>/<id>  → the task's request node, moved with the state node
 * The request node (what to run, when) never changes; the state node says queued, running (with
 * its owner and heartbeat), or how it ended. Claiming is one swap from the queued node to a
 * running one, so of any number of workers racing for a task exactly one runs it.
 */

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
export async function beat(store: CheckpointStore, id: string): Promise<void> {
  await transition(store, id, 'heartbeat', (node) => (node.state === 'running' && node.owner?.token === thisProcess.token ? { ...node, heartbeat: Date.now() } : node))
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

export async function readRequest(store: CheckpointStore, nodeId: string): Promise<RequestNode> {
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

/** A result as stored: plain JSON, no undefined fields. */
function storedResult(result: TaskResult): TaskResult {
  const status = result.status === 'succeeded' ? 'succeeded' : 'failed'
  const counts = { executed: count(result.counts?.executed), reused: count(result.counts?.reused), failed: count(result.counts?.failed) }
  return { status, runId: typeof result.runId === 'string' ? result.runId : null, counts, ...(result.error !== undefined && { error: { code: String(result.error.code), message: String(result.error.message) } }) }
}

const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? n : 0)
