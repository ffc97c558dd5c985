import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { enqueueTask, loadPipelineModule, run } from '../src/index.js'
import { startServer } from '../server/index.js'
import { ckptIn } from './support/cli.js'
import { http, startServe } from './support/server.js'
import { onCleanup, tempDir, tempStore } from './support/temp.js'

interface TaskJson {
  id: string
  state: string
  runAt: string
  started: string | null
  runId: string | null
  result: { status: string; runId: string | null; counts: { executed: number; reused: number; failed: number }; error?: { code: string } } | null
}

/** A two-stage pipeline whose stages append "<stage> <run> ..." to `log` each time they execute. */
function writePipeline(dir: string, log: string): string {
  const file = path.join(dir, 'media.mjs')
  writeFileSync(
    file,
    `import { appendFileSync } from 'node:fs'
const LOG = ${JSON.stringify(log)}
export const pipeline = {
  name: 'media',
  inputs: ['video'],
  stages: [
    {
      name: 'detect', reads: ['video'], writes: ['detections'], version: '1',
      config: [
        { name: 'provider', type: 'str', default: 'a', options: ['a', 'b'] },
        { name: 'threshold', type: 'float', default: 0.5, min: 0, max: 1 },
      ],
      run: async (state, config, ctx) => {
        appendFileSync(LOG, 'detect ' + ctx.runId + ' ' + config.provider + ' ' + config.threshold + '\\n')
        return { detections: { video: state.video, provider: config.provider, threshold: config.threshold } }
      },
    },
    {
      name: 'report', reads: ['detections'], writes: ['report'], version: '1',
      run: async (state, _config, ctx) => {
        appendFileSync(LOG, 'report ' + ctx.runId + '\\n')
        return { report: { summary: state.detections.provider + '@' + state.detections.threshold } }
      },
    },
  ],
}
export const inputs = { video: 'v17.mp4' }
`,
  )
  return file
}

/** Stage executions the pipeline logged: "<stage> <run> …" lines. */
function executions(log: string): string[][] {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ')) : []
}

async function waitForState(url: string, id: string, state: string, timeoutMs = 20_000): Promise<TaskJson> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { body } = await http('GET', `${url}/api/tasks/${id}`)
    const task = body as TaskJson
    if (task.state === state) return task
    if (Date.now() > deadline) throw new Error(`task ${id} is ${task.state}, not ${state}, after ${timeoutMs} ms`)
    await sleep(50)
  }
}

/** A store in `dir` (found by the CLI from there) with one run of the media pipeline. */
function storeWithOneRun(): { dir: string; file: string; log: string } {
  const dir = tempDir()
  const log = path.join(dir, 'executions.log')
  const file = writePipeline(dir, log)
  const ckpt = ckptIn(dir)
  ckpt('init')
  ckpt('run', file)
  return { dir, file, log }
}

describe('ckpt serve: queued tasks', () => {
  it('queues a delayed retry (202 with its id), shows it queued then succeeded, and the new run report is readable', async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const log = path.join(dir, 'executions.log')
    const media = await loadPipelineModule(writePipeline(dir, log))
    await run({ store, pipeline: media.pipeline, inputs: media.inputs ?? {} })
    const server = await startServer({ store, location: 'test', pipelines: [media], port: 0 })
    onCleanup(() => server.close())
    const events = await fetch(`${server.url}/api/events`)
    const reader = events.body!.getReader()
    onCleanup(() => reader.cancel())

    const posted = await http('POST', `${server.url}/api/tasks`, { action: 'replay', pipeline: 'media', stage: 'detect', config: { detect: { provider: 'b' } }, timeline: 'retry-b', jobId: 'video 17', delaySeconds: 0.6 })
    expect(posted.status).toBe(202)
    const queued = posted.body as TaskJson
    expect(queued.id).toMatch(/^t-/)
    expect(queued.state).toBe('queued')
    expect((await http('GET', `${server.url}/api/tasks/${queued.id}`)).body).toMatchObject({ id: queued.id, state: 'queued', request: { action: 'replay', stage: 'detect' } })
    expect(((await http('GET', `${server.url}/api/tasks?state=queued`)).body as TaskJson[]).map((t) => t.id)).toEqual([queued.id])
    expect(executions(log)).toHaveLength(2)

    const done = await waitForState(server.url, queued.id, 'succeeded')
    expect(Date.parse(done.started!)).toBeGreaterThanOrEqual(Date.parse(queued.runAt))
    expect(done.result).toMatchObject({ status: 'succeeded', counts: { executed: 2, reused: 0, failed: 0 } })
    expect(done.runId).toBe(done.result!.runId)
    expect(executions(log).slice(2).map((e) => `${e[0]} ${e[1]}`)).toEqual([`detect ${done.runId}`, `report ${done.runId}`])
    const report = await http('GET', `${server.url}/api/checkpoints/retry-b/outputs/report`)
    expect(report.status).toBe(200)
    expect(JSON.stringify(report.body)).toContain('b@0.5')
    const runs = (await http('GET', `${server.url}/api/runs?job=video%2017`)).body as Array<{ runId: string; timeline: string }>
    expect(runs.map((r) => `${r.runId} ${r.timeline}`)).toEqual([`${done.runId} retry-b`])

    let seen = ''
    const decoder = new TextDecoder()
    while (!/event: task\ndata: .*"state":"succeeded"/.test(seen)) seen += decoder.decode((await reader.read()).value)
    expect(seen).toMatch(new RegExp(`event: task\\ndata: \\{"task":\\{"id":"${queued.id}","state":"queued"`))
    expect(seen).toMatch(new RegExp(`event: task\\ndata: \\{"task":\\{"id":"${queued.id}","state":"running"`))
  })

  it('answers 400 for a bad task, 404 for an unknown pipeline or task, and cancels only a queued task (409 after)', async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const media = await loadPipelineModule(writePipeline(dir, path.join(dir, 'executions.log')))
    await run({ store, pipeline: media.pipeline, inputs: media.inputs ?? {} })
    const server = await startServer({ store, location: 'test', pipelines: [media], port: 0 })
    onCleanup(() => server.close())
    const post = (body: unknown) => http('POST', `${server.url}/api/tasks`, body)

    expect((await post({ action: 'replay', pipeline: 'media', stage: 'nope' })).body).toMatchObject({ code: 'INVALID_ARGUMENT' })
    expect((await post({ action: 'replay', pipeline: 'media', stage: 'detect', delaySeconds: -1 })).status).toBe(400)
    expect((await post({ action: 'retry', pipeline: 'media', stage: 'detect' })).status).toBe(400)
    expect((await post({ action: 'resume', pipeline: 'media', stage: 'detect', runId: 'x' })).status).toBe(400)
    expect((await post({ action: 'replay', pipeline: 'media', stage: 'detect', timeline: 'a..b' })).status).toBe(400)
    expect((await post({ action: 'replay', pipeline: 'media', stage: 'detect', from: 'no-such-rev' })).body).toMatchObject({ code: 'NOT_FOUND' })
    expect(await post({ action: 'resume', pipeline: 'media', runId: 'no-such-run' })).toMatchObject({ status: 404, body: { code: 'RUN_NOT_FOUND' } })
    expect(await post({ action: 'replay', pipeline: 'other', stage: 'detect' })).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } })
    expect((await http('GET', `${server.url}/api/tasks`)).body).toEqual([])
    expect(await http('GET', `${server.url}/api/tasks/t-none`)).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } })
    expect((await http('GET', `${server.url}/api/tasks/a%2Fb`)).status).toBe(400)

    const later = (await post({ action: 'replay', pipeline: 'media', stage: 'report', timeline: 'later', delaySeconds: 3600 })).body as TaskJson
    const cancelled = await http('DELETE', `${server.url}/api/tasks/${later.id}`)
    expect(cancelled).toMatchObject({ status: 200, body: { id: later.id, state: 'cancelled' } })
    expect(await http('DELETE', `${server.url}/api/tasks/${later.id}`)).toMatchObject({ status: 409, body: { code: 'REF_CONFLICT' } })
    const now = (await post({ action: 'replay', pipeline: 'media', stage: 'detect', config: { detect: { threshold: 0.9 } }, timeline: 'now' })).body as TaskJson
    await waitForState(server.url, now.id, 'succeeded')
    expect(await http('DELETE', `${server.url}/api/tasks/${now.id}`)).toMatchObject({ status: 409, body: { code: 'REF_CONFLICT' } })
  })

  it("streams a task event for a task another server queued and ran on the same store", async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const media = await loadPipelineModule(writePipeline(dir, path.join(dir, 'executions.log')))
    await run({ store, pipeline: media.pipeline, inputs: media.inputs ?? {} })
    const watching = await startServer({ store, location: 'test', port: 0, readOnly: true })
    onCleanup(() => watching.close())
    const events = await fetch(`${watching.url}/api/events`)
    const reader = events.body!.getReader()
    onCleanup(() => reader.cancel())
    const other = await startServer({ store, location: 'test', pipelines: [media], port: 0 })
    onCleanup(() => other.close())
    const queued = (await http('POST', `${other.url}/api/tasks`, { action: 'replay', pipeline: 'media', stage: 'detect', config: { detect: { provider: 'b' } }, timeline: 'retry-b' })).body as TaskJson
    let seen = ''
    const decoder = new TextDecoder()
    const deadline = Date.now() + 10_000
    while (!seen.includes(`{"task":{"id":"${queued.id}","state":"succeeded"`) && Date.now() < deadline) seen += decoder.decode((await reader.read()).value)
    expect(seen).toContain(`event: task\ndata: {"task":{"id":"${queued.id}","state":"succeeded"`)
  })

  it('shows tasks under --read-only, but takes none and runs none', async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const media = await loadPipelineModule(writePipeline(dir, path.join(dir, 'executions.log')))
    await run({ store, pipeline: media.pipeline, inputs: media.inputs ?? {} })
    const queued = await enqueueTask(store, { action: 'replay', pipeline: 'media', stage: 'detect', timeline: 'retry' })
    const server = await startServer({ store, location: 'test', pipelines: [media], port: 0, readOnly: true })
    onCleanup(() => server.close())
    expect((await http('POST', `${server.url}/api/tasks`, { action: 'replay', pipeline: 'media', stage: 'detect' })).status).toBe(404)
    expect((await http('DELETE', `${server.url}/api/tasks/${queued.id}`)).status).toBe(404)
    await sleep(800)
    expect(await http('GET', `${server.url}/api/tasks/${queued.id}`)).toMatchObject({ status: 200, body: { id: queued.id, state: 'queued' } })
  })

  it('runs a delayed retry once when its ckpt serve is killed before the delay and started again', async () => {
    const { dir, file, log } = storeWithOneRun()
    const first = await startServe(dir, ['--pipeline', file])
    const queued = (await http('POST', `${first.url}/api/tasks`, { action: 'replay', pipeline: 'media', stage: 'detect', config: { detect: { provider: 'b' } }, timeline: 'retry-b', delaySeconds: 1.5 })).body as TaskJson
    expect(queued.state).toBe('queued')
    first.process.kill('SIGKILL')
    await first.stop()
    expect(Date.now()).toBeLessThan(Date.parse(queued.runAt))
    const second = await startServe(dir, ['--pipeline', file])
    const done = await waitForState(second.url, queued.id, 'succeeded')
    await sleep(700)
    const replayed = executions(log).filter((e) => e[1] === done.runId)
    expect(replayed.map((e) => e[0])).toEqual(['detect', 'report'])
    expect(executions(log).filter((e) => e[0] === 'detect' && e[2] === 'b')).toHaveLength(1)
    expect(JSON.stringify((await http('GET', `${second.url}/api/checkpoints/retry-b/outputs/report`)).body)).toContain('b@0.5')
  })

  it('runs each task once when two ckpt serve processes serve one store', async () => {
    const { dir, file, log } = storeWithOneRun()
    const servers = [await startServe(dir, ['--pipeline', file]), await startServe(dir, ['--pipeline', file])]
    const ids: string[] = []
    for (let i = 0; i < 6; i++) {
      const via = servers[i % 2]!
      const body = { action: 'replay', pipeline: 'media', stage: 'detect', config: { detect: { threshold: 0.05 + i / 10 } }, timeline: `retry-${i}`, delaySeconds: 0.8 }
      ids.push(((await http('POST', `${via.url}/api/tasks`, body)).body as TaskJson).id)
    }
    const done = await Promise.all(ids.map((id, i) => waitForState(servers[(i + 1) % 2]!.url, id, 'succeeded')))
    await sleep(1000)
    const runIds = done.map((t) => t.runId)
    expect(new Set(runIds).size).toBe(6)
    const replays = executions(log).filter((e) => e[0] === 'detect').slice(1)
    expect(replays.map((e) => e[1]).sort()).toEqual([...runIds].sort())
  })
})
