import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { createMemoryBackend, jobTimeline, resume, run } from '../src/index.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { CKPT, ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { memoryStore, onCleanup, tempDir } from './support/temp.js'

describe('store.runs', () => {
  it('lists runs newest first, by job, timeline and status, with their stage counts, and follows a resumed run', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const pipeline = countingPipeline(knobs)
    await run({ store, pipeline, inputs: { seed: 1 }, runId: 'r1', jobId: 'video 17' })
    knobs.failNext.add('d')
    await run({ store, pipeline, inputs: { seed: 2 }, runId: 'r2', jobId: 'video 17', timeline: 'tuning' })
    await run({ store, pipeline, inputs: { seed: 3 }, runId: 'r3', jobId: 'video-18' })

    expect((await store.runs()).map((r) => r.runId)).toEqual(['r3', 'r2', 'r1'])
    const ofJob = await store.runs({ job: 'video 17' })
    expect(ofJob.map((r) => `${r.runId} ${r.timeline} ${r.status}`)).toEqual(['r2 tuning failed', 'r1 main succeeded'])
    expect(ofJob[0]?.stages).toEqual({ succeeded: 3, reused: 0, failed: 1, skipped: 1 })
    expect(await jobTimeline(store, 'video 17')).toBe('tuning')
    expect(await jobTimeline(store, 'no such job')).toBeUndefined()
    expect((await store.runs({ timeline: 'main' })).map((r) => r.runId)).toEqual(['r3', 'r1'])
    expect((await store.runs({ status: 'failed' })).map((r) => r.runId)).toEqual(['r2'])
    expect(await store.runs({ since: Date.now() + 60_000 })).toEqual([])

    await resume({ store, pipeline, runId: 'r2' })
    expect(await store.runs({ status: 'failed' })).toEqual([])
    const [resumed] = await store.runs({ job: 'video 17', status: 'succeeded', timeline: 'tuning' })
    expect(resumed?.runId).toBe('r2')
    expect(resumed?.stages).toEqual({ succeeded: 2, reused: 0, failed: 0, skipped: 0 })
    expect((await failure(store.runs({ status: 'stuck' as never }))).code).toBe('INVALID_ARGUMENT')
  })

  it("reads only the matching runs' objects when filtered by job or status, however many other runs there are", async () => {
    const backend = createMemoryBackend()
    const store = await memoryStore(backend)
    const pipeline = countingPipeline(freshKnobs())
    for (let i = 0; i < 40; i++) await run({ store, pipeline, inputs: { seed: i }, runId: `bulk-${i}`, jobId: 'bulk', reuse: false })
    const knobs = freshKnobs()
    knobs.failNext.add('b')
    await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 99 }, runId: 'odd-one', jobId: 'rare' })
    let reads = 0
    const get = backend.objects.get.bind(backend.objects)
    backend.objects.get = (key) => {
      reads++
      return get(key)
    }
    expect((await store.runs({ job: 'rare' })).map((r) => r.runId)).toEqual(['odd-one'])
    expect((await store.runs({ status: 'failed' })).map((r) => r.runId)).toEqual(['odd-one'])
    expect(reads).toBeLessThanOrEqual(8)
    reads = 0
    expect(await store.runs()).toHaveLength(41)
    expect(reads).toBeGreaterThanOrEqual(41)
  })
})

describe('ckpt runs', () => {
  const slowPipeline = (dir: string) => {
    const file = path.join(dir, 'slow.mjs')
    writeFileSync(
      file,
      `import { writeFileSync } from 'node:fs'
import { setTimeout } from 'node:timers/promises'
export default { name: 'slow', stages: [
  { name: 'wait', writes: ['done'], version: '1', async run() { writeFileSync(${JSON.stringify(path.join(dir, 'started'))}, 'x'); await setTimeout(60_000); return { done: true } } },
] }
`,
    )
    return file
  }

  it('shows a run as running while its process works, and as interrupted once the process is killed', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const file = slowPipeline(dir)
    const child = spawn(process.execPath, [CKPT, 'run', file, '--run', 'long-one', '--job', 'nightly'], { cwd: dir, stdio: 'ignore' })
    onCleanup(() => void child.kill('SIGKILL'))
    const deadline = Date.now() + 20_000
    let listed: Array<Record<string, unknown>> = []
    while (Date.now() < deadline) {
      const out = ckpt(dir, ['runs', '--json'])
      listed = out.stdout.trim() === '' ? [] : jsonLines(out.stdout)
      if (listed.length > 0) break
      await sleep(100)
    }
    expect(listed).toMatchObject([{ runId: 'long-one', jobId: 'nightly', status: 'running', timeline: 'main', finished: null }])
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    expect(jsonLines(ckpt(dir, ['runs', '--json']).stdout)).toMatchObject([{ runId: 'long-one', status: 'interrupted' }])
    expect(jsonLines(ckpt(dir, ['runs', '--status', 'interrupted', '--json']).stdout).map((r) => r.runId)).toEqual(['long-one'])
    expect(ckpt(dir, ['runs', '--status', 'running']).stdout).toBe('')
  })

  it('filters by job, status, timeline and age, prints columns, and refuses a status or age it does not know', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    const file = path.join(dir, 'p.mjs')
    writeFileSync(
      file,
      `export default { name: 'p', inputs: ['fail'], stages: [
  { name: 'one', reads: ['fail'], writes: ['x'], version: '1', async run(s) { if (s.fail) throw new Error('asked to fail'); return { x: 1 } } },
] }
`,
    )
    expect(ckpt(dir, ['run', file, '--inputs', '{"fail": false}', '--run', 'a1', '--job', 'job-a']).code).toBe(0)
    expect(ckpt(dir, ['run', file, '--inputs', '{"fail": true}', '--run', 'b1', '--job', 'job-b', '-t', 'side']).code).toBe(10)
    expect(jsonLines(ckpt(dir, ['runs', '--job', 'job-b', '--json']).stdout)).toMatchObject([{ runId: 'b1', timeline: 'side', status: 'failed', stages: { failed: 1 } }])
    expect(ckpt(dir, ['runs', '--status', 'succeeded']).stdout).toMatch(/^a1 +succeeded +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} +main +job job-a +1 ran, 0 reused, 0 failed, 0 skipped\n$/)
    expect(ckpt(dir, ['runs', '-t', 'side', '--json']).stdout).toContain('"b1"')
    expect(ckpt(dir, ['runs', '--since', '1h']).stdout.trim().split('\n')).toHaveLength(2)
    expect(ckpt(dir, ['runs', '-n', '1', '--json']).stdout.trim().split('\n')).toHaveLength(1)
    expect(ckpt(dir, ['runs', '--status', 'stuck']).code).toBe(2)
    expect(ckpt(dir, ['runs', '--since', 'yesterdayish']).code).toBe(2)
  })
})

describe('ckpt log filters', () => {
  it('keeps only checkpoints of a job, or with the given meta values', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    ckpt(dir, ['commit', '-s', 'a', '--json', '1', '--job', 'j1', '--meta', 'source=cam1'])
    ckpt(dir, ['commit', '-s', 'b', '--json', '2', '--job', 'j2', '--meta', 'source=cam2'])
    ckpt(dir, ['commit', '-s', 'c', '--json', '3', '--job', 'j1', '--meta', 'source=cam2'])
    const stages = (...args: string[]) => jsonLines(ckpt(dir, ['log', ...args, '--json']).stdout).map((c) => c.stage)
    expect(stages('--job', 'j1')).toEqual(['c', 'a'])
    expect(stages('--meta', 'source=cam2')).toEqual(['c', 'b'])
    expect(stages('--job', 'j1', '--meta', 'source=cam2')).toEqual(['c'])
    expect(ckpt(dir, ['log', '--meta', 'source']).code).toBe(2)
  })
})
