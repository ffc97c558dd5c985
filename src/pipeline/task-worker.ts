import { CkptError, isCkptError } from '../errors.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { heartbeatInterval } from './runs.js'
import type { TaskRequest } from './task-request.js'
import { beat, claimTask, finishTask, readRequest, type Task, type TaskResult } from './tasks.js'

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

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) throw new CkptError('INVALID_ARGUMENT', `invalid ${name} ${String(value)}: give a number above 0`, { details: { [name]: value } })
  return value
}

function errorOf(err: unknown): { code: string; message: string } {
  const code = (err as { code?: unknown } | null)?.code
  return { code: typeof code === 'string' ? code : 'INTERNAL', message: err instanceof Error ? err.message : String(err) }
}
