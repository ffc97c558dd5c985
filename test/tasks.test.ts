import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { cancelTask, claimTask, enqueueTask, finishTask, getTask, initStore, listTasks, openStore, run, startTaskWorker, type ReplayTaskRequest, type Store, type Task, type TaskRequest } from '../src/index.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { failure } from './support/errors.js'
import { freshSchemaUrl } from './support/postgres.js'
import { fixture, runFixture, type Child } from './support/processes.js'
import { onCleanup, tempDir, tempStore } from './support/temp.js'

const replayRequest: ReplayTaskRequest = { action: 'replay', pipeline: 'media', stage: 'detect', timeline: 'retry-1', config: { detect: { provider: 'b', threshold: 0.4 } }, jobId: 'video 17' }
const done = { status: 'succeeded', runId: 'run-x', counts: { executed: 2, reused: 1, failed: 0 } } as const

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(25)
  }
}

/** Lines the task-worker fixtures appended to `log`: one per execution, "<task> <pid> <time>". */
function executions(log: string): Array<{ task: string; pid: number; time: number }> {
  if (!existsSync(log)) return []
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [task = '', pid, time] = line.split(' ')
      return { task, pid: Number(pid), time: Number(time) }
    })
}

function startWorker(location: string, log: string, mode = '0', pollMs = 50): Child {
  return runFixture(fixture('task-worker.js'), [location, log, String(pollMs), mode])
}

async function stopWorker(child: Child): Promise<void> {
  child.process.kill('SIGTERM')
  await child.exited
}

const allFinished = (store: Store, count: number) => async () => {
  const finished = await listTasks(store, { state: 'succeeded' })
  return finished.length === count ? finished : undefined
}

describe('durable tasks', () => {
  it('enqueues, gets, lists by state and cancels a task, and a cancelled task stays cancelled', async () => {
    const { store } = await tempStore()
    const before = Date.now()
    const task = await enqueueTask(store, replayRequest, { delayMs: 60_000 })
    expect(task.id).toMatch(/^t-/)
    expect(task.state).toBe('queued')
    expect(task.request).toEqual(replayRequest)
    expect(task.runAt.getTime() - task.created.getTime()).toBe(60_000)
    expect(task.created.getTime()).toBeGreaterThanOrEqual(before)
    expect([task.started, task.finished, task.runId, task.result]).toEqual([null, null, null, null])
    const named = await enqueueTask(store, { action: 'replay', pipeline: 'media', stage: 'detect', timeline: 'retry-2' }, { id: 'nightly-retry' })
    expect(named.runAt.getTime()).toBe(named.created.getTime())

    expect(await getTask(store, task.id)).toEqual(task)
    expect((await listTasks(store)).map((t) => t.id).sort()).toEqual([task.id, 'nightly-retry'].sort())
    expect((await listTasks(store, { state: 'queued' })).length).toBe(2)

    const cancelled = await cancelTask(store, task.id)
    expect(cancelled.state).toBe('cancelled')
    expect(cancelled.finished).not.toBeNull()
    expect((await getTask(store, task.id)).state).toBe('cancelled')
    expect((await listTasks(store, { state: 'queued' })).map((t) => t.id)).toEqual(['nightly-retry'])
    expect((await listTasks(store, { state: 'cancelled' })).map((t) => t.id)).toEqual([task.id])
    expect((await failure(cancelTask(store, task.id))).code).toBe('REF_CONFLICT')
    expect((await failure(claimTask(store, task.id))).code).toBe('REF_CONFLICT')
    expect((await failure(getTask(store, 'no-such-task'))).code).toBe('NOT_FOUND')
    expect((await failure(cancelTask(store, 'no-such-task'))).code).toBe('NOT_FOUND')
    expect((await failure(enqueueTask(store, replayRequest, { id: 'nightly-retry' }))).code).toBe('REF_CONFLICT')
  })

  it('refuses a bad request, delay or id with an error naming it, and writes nothing', async () => {
    const { store, dir } = await tempStore()
    const pipeline = countingPipeline(freshKnobs())
    await run({ store, pipeline, inputs: { seed: 1 }, runId: 'r1' })
    const pointersBefore = await store.index.list()
    const bad: Array<[unknown, { delayMs?: number; id?: string }, string]> = [
      [{ action: 'rerun', pipeline: 'p', runId: 'r1' }, {}, 'INVALID_ARGUMENT'],
      [{ action: 'resume', pipeline: '', runId: 'r1' }, {}, 'INVALID_ARGUMENT'],
      [{ action: 'resume', pipeline: 'p', runId: 'no-such-run' }, {}, 'RUN_NOT_FOUND'],
      [{ action: 'resume', pipeline: 'p', runId: 'r1', stage: 'b' }, {}, 'INVALID_ARGUMENT'],
      [{ ...replayRequest, stage: '../up' }, {}, 'INVALID_ARGUMENT'],
      [{ ...replayRequest, timeline: 'a..b' }, {}, 'INVALID_REF_NAME'],
      [{ ...replayRequest, from: 'no-such-timeline' }, {}, 'NOT_FOUND'],
      [{ ...replayRequest, run: 'no-such-run' }, {}, 'RUN_NOT_FOUND'],
      [{ ...replayRequest, run: 'r1', from: 'main' }, {}, 'INVALID_ARGUMENT'],
      [{ ...replayRequest, config: { detect: { threshold: Number.NaN } } }, {}, 'INVALID_ARGUMENT'],
      [{ ...replayRequest, config: { detect: 'b' } }, {}, 'INVALID_ARGUMENT'],
      [{ ...replayRequest, jobId: 'a\u0000b' }, {}, 'INVALID_ARGUMENT'],
      [null, {}, 'INVALID_ARGUMENT'],
      [replayRequest, { delayMs: -1 }, 'INVALID_ARGUMENT'],
      [replayRequest, { delayMs: Number.POSITIVE_INFINITY }, 'INVALID_ARGUMENT'],
      [replayRequest, { id: 'a/b' }, 'INVALID_ARGUMENT'],
      [replayRequest, { id: '..' }, 'INVALID_ARGUMENT'],
      [replayRequest, { id: '' }, 'INVALID_ARGUMENT'],
    ]
    for (const [request, options, code] of bad) {
      const err = await failure(enqueueTask(store, request as TaskRequest, options))
      expect({ request, options, code: err.code }).toEqual({ request, options, code })
    }
    expect(await store.index.list()).toEqual(pointersBefore)
    expect(await listTasks(store)).toEqual([])
    await store.close()
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    // A good resume request of a recorded run, and a replay from a revision that exists, are taken.
    expect((await enqueueTask(reopened, { action: 'resume', pipeline: 'counting', runId: 'r1' })).state).toBe('queued')
    expect((await enqueueTask(reopened, { ...replayRequest, from: 'main' })).state).toBe('queued')
    expect((await enqueueTask(reopened, { action: 'replay', pipeline: 'counting', stage: 'c', run: 'r1' })).request).toEqual({ action: 'replay', pipeline: 'counting', stage: 'c', run: 'r1' })
  })

  it('runs a delayed task once, after its delay and not before, and records its result', async () => {
    const { store } = await tempStore()
    const started: Array<{ id: string; at: number }> = []
    const changes: string[] = []
    const worker = await startTaskWorker(
      store,
      async (task) => {
        started.push({ id: task.id, at: Date.now() })
        expect(task.state).toBe('running')
        return done
      },
      { pollMs: 40, onChange: (task) => changes.push(`${task.id} ${task.state}`) },
    )
    onCleanup(() => worker.stop())
    const task = await enqueueTask(store, replayRequest, { delayMs: 600 })
    await sleep(300)
    expect(started).toEqual([])
    expect((await getTask(store, task.id)).state).toBe('queued')
    const finished = await until('the task to finish', async () => {
      const t = await getTask(store, task.id)
      return t.state === 'succeeded' ? t : undefined
    })
    expect(started.map((s) => s.id)).toEqual([task.id])
    expect(started[0]!.at).toBeGreaterThanOrEqual(task.runAt.getTime())
    expect(finished.result).toEqual(done)
    expect(finished.runId).toBe('run-x')
    expect(finished.started!.getTime()).toBeGreaterThanOrEqual(task.runAt.getTime())
    expect(finished.finished!.getTime()).toBeGreaterThanOrEqual(finished.started!.getTime())
    expect(changes).toEqual([`${task.id} running`, `${task.id} succeeded`])
    await sleep(200)
    expect(started).toHaveLength(1)
  })

  it('records a failed execution, and one that throws, as failed with its error', async () => {
    const { store } = await tempStore()
    const worker = await startTaskWorker(
      store,
      async (task) => {
        if (task.request.action === 'resume') throw Object.assign(new Error('stage b broke'), { code: 'RUN_FAILED' })
        return { status: 'failed', runId: 'run-y', counts: { executed: 1, reused: 0, failed: 1 }, error: { code: 'RUN_FAILED', message: 'detect failed' } }
      },
      { pollMs: 30 },
    )
    onCleanup(() => worker.stop())
    const pipeline = countingPipeline(freshKnobs())
    await run({ store, pipeline, inputs: { seed: 1 }, runId: 'r1' })
    const replayTask = await enqueueTask(store, replayRequest)
    const resumeTask = await enqueueTask(store, { action: 'resume', pipeline: 'counting', runId: 'r1' })
    const [a, b] = await until('both tasks to fail', async () => {
      const failed = await listTasks(store, { state: 'failed' })
      return failed.length === 2 ? [await getTask(store, replayTask.id), await getTask(store, resumeTask.id)] : undefined
    })
    expect(a!.result).toEqual({ status: 'failed', runId: 'run-y', counts: { executed: 1, reused: 0, failed: 1 }, error: { code: 'RUN_FAILED', message: 'detect failed' } })
    expect(b!.result).toEqual({ status: 'failed', runId: null, counts: { executed: 0, reused: 0, failed: 0 }, error: { code: 'RUN_FAILED', message: 'stage b broke' } })
  })

  it('refuses to cancel a running or finished task (REF_CONFLICT), and lets only the claiming process finish it', async () => {
    const { store } = await tempStore()
    const task = await enqueueTask(store, replayRequest)
    const claimed = await claimTask(store, task.id)
    expect(claimed.state).toBe('running')
    expect(claimed.started).not.toBeNull()
    expect((await failure(claimTask(store, task.id))).code).toBe('REF_CONFLICT')
    expect((await failure(cancelTask(store, task.id))).code).toBe('REF_CONFLICT')
    expect((await getTask(store, task.id)).state).toBe('running')
    const finished = await finishTask(store, task.id, done)
    expect(finished.state).toBe('succeeded')
    expect((await failure(finishTask(store, task.id, done))).code).toBe('REF_CONFLICT')
    expect((await failure(cancelTask(store, task.id))).code).toBe('REF_CONFLICT')
  })

  it('lets exactly one of many simultaneous claims of a task win', async () => {
    const { store } = await tempStore()
    const task = await enqueueTask(store, replayRequest)
    const claims = await Promise.allSettled(Array.from({ length: 12 }, () => claimTask(store, task.id)))
    expect(claims.filter((c) => c.status === 'fulfilled')).toHaveLength(1)
    expect(claims.filter((c) => c.status === 'rejected').map((c) => (c as PromiseRejectedResult).reason.code)).toEqual(Array(11).fill('REF_CONFLICT'))
  })

  it('leaves queued the tasks a worker does not accept (a pipeline it does not serve) for another worker', async () => {
    const { store } = await tempStore()
    const ran: string[] = []
    const worker = await startTaskWorker(
      store,
      async (task) => {
        ran.push(task.request.pipeline)
        return done
      },
      { pollMs: 30, accept: (request) => request.pipeline === 'media' },
    )
    onCleanup(() => worker.stop())
    const other = await enqueueTask(store, { ...replayRequest, pipeline: 'other' })
    const mine = await enqueueTask(store, replayRequest)
    await until('the accepted task to finish', async () => ((await getTask(store, mine.id)).state === 'succeeded' ? true : undefined))
    await sleep(150)
    expect(ran).toEqual(['media'])
    expect((await getTask(store, other.id)).state).toBe('queued')
  })

  it('runs a delayed task exactly once when its worker process is killed before the delay and a new process starts a worker', async () => {
    const { store, dir } = await tempStore()
    const log = path.join(tempDir(), 'executions.log')
    const task = await enqueueTask(store, replayRequest, { delayMs: 1000 })
    const first = startWorker(dir, log)
    await first.waitForLine((l) => l === 'ready')
    first.process.kill('SIGKILL')
    await first.exited
    expect(Date.now()).toBeLessThan(task.runAt.getTime())
    expect(executions(log)).toEqual([])
    const second = startWorker(dir, log)
    await until('the task to succeed', async () => ((await getTask(store, task.id)).state === 'succeeded' ? true : undefined))
    await sleep(200)
    await stopWorker(second)
    const ran = executions(log)
    expect(ran.map((r) => `${r.task} ${r.pid}`)).toEqual([`${task.id} ${second.process.pid}`])
    expect(ran[0]!.time).toBeGreaterThanOrEqual(task.runAt.getTime())
  })

  it('shows a running task whose process died as interrupted, and does not run it again', async () => {
    const { store, dir } = await tempStore()
    const log = path.join(tempDir(), 'executions.log')
    const task = await enqueueTask(store, replayRequest)
    const hung = startWorker(dir, log, 'hang')
    await hung.waitForLine((l) => l === `executing ${task.id}`)
    expect((await getTask(store, task.id)).state).toBe('running')
    hung.process.kill('SIGKILL')
    await hung.exited
    expect((await getTask(store, task.id)).state).toBe('interrupted')
    expect((await listTasks(store, { state: 'interrupted' })).map((t) => t.id)).toEqual([task.id])
    expect(await listTasks(store, { state: 'running' })).toEqual([])
    expect((await failure(cancelTask(store, task.id))).code).toBe('REF_CONFLICT')
    const next = startWorker(dir, log)
    await next.waitForLine((l) => l === 'ready')
    await sleep(300)
    await stopWorker(next)
    expect(executions(log).map((r) => r.task)).toEqual([task.id])
    expect((await getTask(store, task.id)).state).toBe('interrupted')
  })

  async function twentyTasksTwoWorkers(store: Store, location: string): Promise<void> {
    const log = path.join(tempDir(), 'executions.log')
    const workers = [startWorker(location, log, '5', 20), startWorker(location, log, '5', 20)]
    await Promise.all(workers.map((w) => w.waitForLine((l) => l === 'ready')))
    const tasks: Task[] = []
    for (let i = 0; i < 20; i++) tasks.push(await enqueueTask(store, { ...replayRequest, timeline: `retry-${i}` }, { delayMs: (i % 4) * 100 }))
    await until('all 20 tasks to succeed', allFinished(store, 20), 60_000)
    await sleep(200)
    await Promise.all(workers.map(stopWorker))
    const ran = executions(log)
    expect(ran.map((r) => r.task).sort()).toEqual(tasks.map((t) => t.id).sort())
    for (const t of await listTasks(store)) expect(t.result?.runId).toBe(`run-of-${t.id}`)
  }

  it('executes each of 20 tasks exactly once with two worker processes on one LevelDB store', async () => {
    const { store, dir } = await tempStore()
    await twentyTasksTwoWorkers(store, dir)
  })

  it('executes each of 20 tasks exactly once with two worker processes on one PostgreSQL store', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url)
    onCleanup(() => store.close())
    await twentyTasksTwoWorkers(store, url)
  })
})
