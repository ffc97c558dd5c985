import path from 'node:path'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  CkptError,
  StageRegistry,
  createMemoryBackend,
  eventStream,
  openStore,
  plan,
  readAudit,
  replay,
  resume,
  run,
  type Backend,
  type PipelineEvent,
  type RunResult,
  type StageDefinition,
} from '../src/index.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { failure } from './support/errors.js'
import { collect, memoryStore, onCleanup, tempStore } from './support/temp.js'

const statuses = (r: RunResult) => Object.fromEntries(r.stages.map((s) => [s.stage, s.status]))
const counts = (m: Map<string, number>) => Object.fromEntries([...m].sort())

describe('pipeline validation', () => {
  const s = (name: string, reads: string[], writes: string[], extra: Partial<StageDefinition> = {}): StageDefinition => ({
    name,
    reads,
    writes,
    version: '1',
    run: async () => ({}),
    ...extra,
  })

  it('reports every graph problem at once, naming stage and key', async () => {
    const store = await memoryStore()
    const pipeline = {
      name: 'broken',
      inputs: ['in'],
      stages: [
        s('a', ['in', 'nowhere'], ['k']),
        s('b', ['in'], ['k']),
        s('c', ['d_out'], ['c_out']),
        s('d', ['c_out'], ['d_out']),
        s('e', [], ['e_out'], { after: ['ghost'] }),
      ],
    }
    const err = await failure(run({ store, pipeline, inputs: { in: 1 } }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details.problems).toEqual([
      'stage "a" reads "nowhere", which no pipeline input or upstream stage writes',
      'stage "e" runs after "ghost", which is not a stage of this pipeline',
      'stages "c", "d" form a cycle (each waits for another)',
    ])
    const unordered = { name: 'w', inputs: ['in'], stages: [s('a', ['in'], ['k']), s('b', ['in'], ['k'])] }
    expect((await failure(run({ store, pipeline: unordered, inputs: { in: 1 } }))).details.problems).toEqual([
      'stages "a" and "b" both write "k" but neither runs after the other',
    ])
    const ordered = { name: 'o', inputs: ['in'], stages: [s('a', ['in'], ['k']), s('b', ['in'], ['k'], { after: ['a'] })] }
    expect((await run({ store, pipeline: ordered, inputs: { in: 1 } })).status).toBe('succeeded')
    expect(await collect(store.log('main'))).toHaveLength(2)
  })

  it('validates config values and names before running anything', async () => {
    const store = await memoryStore()
    const pipeline = countingPipeline(freshKnobs())
    const bad = [
      [{ b: { factor: 0 } }, 'stage "b" config "factor": 0 is below the minimum 1'],
      [{ b: { factor: 2.5 } }, 'stage "b" config "factor": 2.5 is not an integer'],
      [{ b: { speed: 1 } }, 'stage "b" has no config field "speed" (fields: factor)'],
      [{ nope: {} }, 'config names stage "nope", which is not in the pipeline (stages: a, b, c, d, e)'],
    ] as const
    for (const [config, problem] of bad) {
      const err = await failure(run({ store, pipeline, inputs: { seed: 1 }, config }))
      expect(err.details.problems).toEqual([problem])
    }
    expect(await collect(store.objects())).toEqual([])
  })

  it('requires the declared inputs', async () => {
    const store = await memoryStore()
    const err = await failure(run({ store, pipeline: countingPipeline(freshKnobs()), inputs: {} }))
    expect(err.message).toContain('"seed"')
  })

  it('lists stages by category and names the registered ones for an unknown name', () => {
    const registry = new StageRegistry().register(...countingPipeline(freshKnobs()).stages)
    expect([...registry.palette()].map(([category, stages]) => [category, stages.map((x) => x.name)])).toEqual([
      ['early', ['a', 'b']],
      ['late', ['c', 'd', 'e']],
    ])
    const err = (() => {
      try {
        registry.get('f')
      } catch (e) {
        return e as CkptError
      }
    })()
    expect(err?.code).toBe('NOT_FOUND')
    expect(err?.details.registered).toEqual(['a', 'b', 'c', 'd', 'e'])
  })
})

describe('running a pipeline', () => {
  it('records one checkpoint per successful stage, chained, with run id, config and input key, and one audit entry each', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const result = await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 5 }, runId: 'r1', jobId: 'j1' })
    expect(result.status).toBe('succeeded')
    expect(counts(knobs.executions)).toEqual({ a: 1, b: 1, c: 1, d: 1, e: 1 })
    const history = (await collect(store.log('main'))).reverse()
    expect(history.map((c) => c.stage)).toEqual(['a', 'b', 'c', 'd', 'e'])
    for (const [i, c] of history.entries()) {
      expect(c.run).toBe('r1')
      expect(c.job).toBe('j1')
      expect(c.parents).toEqual(i === 0 ? [] : [history[i - 1]?.id])
      expect(typeof c.meta.inputKey).toBe('string')
    }
    expect(history[1]?.config).toEqual({ factor: 3 })
    expect(result.state.report).toEqual({ done: true, w: { combined: [30, 'x=10'] } })
    expect(await store.getOutput('main:a')).toEqual({ x: { value: 10, blob: new Uint8Array([5]) } })
    const audit = await readAudit(store, 'r1')
    expect(audit.map((e) => [e.stage, e.status])).toEqual(['a', 'b', 'c', 'd', 'e'].map((s) => [s, 'succeeded']))
    expect(audit[3]?.inputs).toEqual({ y: expect.stringMatching(/^bagu/), z: expect.stringMatching(/^bagu/) })
    expect(audit[3]?.checkpoint).toBe(history[3]?.id)
  })

  it('leaves only an audit entry for a failed stage and nothing for the stages it skips', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    knobs.failNext.add('b')
    const result = await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 5 }, runId: 'r1' })
    expect(result.status).toBe('failed')
    expect(statuses(result)).toEqual({ a: 'succeeded', b: 'failed', c: 'succeeded', d: 'skipped', e: 'skipped' })
    expect((await collect(store.log('main'))).map((c) => c.stage)).toEqual(['c', 'a'])
    const audit = await readAudit(store, 'r1')
    expect(audit.map((e) => `${e.stage}:${e.status}`)).toEqual(['a:succeeded', 'b:failed', 'c:succeeded'])
    expect(audit[1]?.error?.message).toBe('b broke')
    expect(audit[1]?.error?.stack).toContain('b broke')
    expect(audit[1]?.inputs).toEqual({ x: expect.stringMatching(/^bagu/) })
  })

  it('fails a stage whose output cannot be stored, or that writes undeclared keys', async () => {
    const store = await memoryStore()
    const pipeline = {
      name: 'bad-outputs',
      stages: [
        { name: 'nan', writes: ['n'], version: '1', run: async () => ({ n: NaN }) },
        { name: 'extra', writes: ['e'], version: '1', run: async () => ({ e: 1, sneaky: 2 }) },
      ],
    }
    const result = await run({ store, pipeline, runId: 'bad' })
    expect(statuses(result)).toEqual({ nan: 'failed', extra: 'failed' })
    const audit = await readAudit(store, 'bad')
    expect(audit.map((e) => e.error?.message)).toEqual([
      'output of stage "nan": NaN at /n cannot be stored (dag-json holds only JSON data and bytes)',
      'stage "extra" returned "sneaky", which it does not declare in writes',
    ])
    // No checkpoint was recorded: the timeline was never created.
    expect((await failure(collect(store.log('main')))).code).toBe('NOT_FOUND')
  })

  it('records nothing for a stage whose condition is false', async () => {
    const store = await memoryStore()
    const result = await run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 5, skip_e: true }, runId: 'r1' })
    expect(statuses(result).e).toBe('skipped')
    expect((await collect(store.log('main'))).map((c) => c.stage)).not.toContain('e')
    expect((await readAudit(store, 'r1')).map((e) => e.stage)).not.toContain('e')
  })

  it('emits events to a handler and as an async iterator', async () => {
    const store = await memoryStore()
    const seen: string[] = []
    const { events, result } = eventStream((onEvent) => run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 1 }, onEvent }))
    for await (const event of events) seen.push(`${event.type}${'stage' in event ? ':' + event.stage : ''}`)
    expect((await result).status).toBe('succeeded')
    expect(seen[0]).toBe('run-started')
    expect(seen.at(-1)).toBe('run-finished')
    expect(seen.filter((e) => e.startsWith('checkpoint-written'))).toEqual(['a', 'b', 'c', 'd', 'e'].map((s) => `checkpoint-written:${s}`))
    expect(seen.indexOf('stage-started:b')).toBeGreaterThan(seen.indexOf('checkpoint-written:a'))
  })

  it('runs independent stages concurrently and records them in the same order', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    knobs.delays.set('b', 60).set('c', 20)
    await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 2 }, concurrency: 2 })
    expect(knobs.maxRunning).toBe(2)
    expect((await collect(store.log('main'))).map((c) => c.stage).reverse()).toEqual(['a', 'b', 'c', 'd', 'e'])
  })

  it('reuses outputs by input key across runs and timelines, unless told not to', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const pipeline = countingPipeline(knobs)
    const first = await run({ store, pipeline, inputs: { seed: 5 } })
    const second = await run({ store, pipeline, inputs: { seed: 5 }, timeline: 'other' })
    expect(counts(knobs.executions)).toEqual({ a: 1, b: 1, c: 1, d: 1, e: 1 })
    expect(Object.values(statuses(second))).toEqual(['reused', 'reused', 'reused', 'reused', 'reused'])
    const reusedHead = await store.getCheckpoint('other')
    expect(reusedHead.meta.reusedFrom).toBe(first.stages.find((s) => s.stage === 'e')?.checkpoint)
    expect(reusedHead.stages.e).toBe((await store.getCheckpoint('main')).stages.e)
    await run({ store, pipeline, inputs: { seed: 5 }, timeline: 'third', reuse: false })
    expect(counts(knobs.executions)).toEqual({ a: 2, b: 2, c: 2, d: 2, e: 2 })
  })

  it('reports checkpoint writes that fail, and fails the run on them when strict', async () => {
    const inner = createMemoryBackend()
    let breakWrites = false
    const flaky: Backend = {
      ...inner,
      objects: {
        ...inner.objects,
        get: (k) => inner.objects.get(k),
        has: (k) => inner.objects.has(k),
        keys: (r) => inner.objects.keys(r),
        putMany: (entries) => (breakWrites ? Promise.reject(new CkptError('IO_ERROR', 'disk full')) : inner.objects.putMany(entries)),
      },
    }
    const store = await memoryStore(flaky)
    // The disk fills up once the first checkpoint is written.
    const events: PipelineEvent[] = []
    const fillDiskAfterA = (e: PipelineEvent) => {
      events.push(e)
      if (e.type === 'checkpoint-written' && e.stage === 'a') breakWrites = true
    }
    const lenient = await run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 1 }, onEvent: fillDiskAfterA })
    expect(lenient.status).toBe('succeeded')
    expect(lenient.state.report).toEqual({ done: true, w: { combined: [6, 'x=2'] } })
    // a's audit entry, then b to e's checkpoints, could not be written.
    expect(lenient.persistenceErrors).toHaveLength(5)
    expect(lenient.persistenceErrors[0]).toBe('stage "a": disk full')
    expect(events.filter((e) => e.type === 'persistence-error').map((e) => ('stage' in e ? e.stage : ''))).toEqual(['a', 'b', 'c', 'd', 'e'])
    breakWrites = false
    const strict = await failure(run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 2 }, strict: true, onEvent: fillDiskAfterA }))
    expect(strict.code).toBe('RUN_FAILED')
  })
})

describe('resume, replay and plan', () => {
  it('resumes a failed run executing exactly the unfinished stages, ending with the same outputs as an uninterrupted run', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    knobs.failNext.add('d')
    const pipeline = countingPipeline(knobs)
    const failed = await run({ store, pipeline, inputs: { seed: 5 }, runId: 'crashy', reuse: false })
    expect(failed.status).toBe('failed')
    knobs.executions.clear()
    const resumed = await resume({ store, pipeline, runId: 'crashy', reuse: false })
    expect(resumed.status).toBe('succeeded')
    expect(counts(knobs.executions)).toEqual({ d: 1, e: 1 })
    expect((await readAudit(store, 'crashy')).map((e) => `${e.stage}:${e.status}`)).toEqual(['a:succeeded', 'b:succeeded', 'c:succeeded', 'd:failed', 'd:succeeded', 'e:succeeded'])

    const clean = await memoryStore()
    await run({ store: clean, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 5 } })
    expect((await store.getCheckpoint('main')).stages).toEqual((await clean.getCheckpoint('main')).stages)

    knobs.executions.clear()
    const again = await resume({ store, pipeline, runId: 'crashy' })
    expect(counts(knobs.executions)).toEqual({})
    expect(again.state.report).toEqual(resumed.state.report)
    expect((await failure(resume({ store, pipeline, runId: 'nope' }))).code).toBe('RUN_NOT_FOUND')
  })

  it('replays from a stage with changed config, rerunning only it and what depends on it', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const pipeline = countingPipeline(knobs)
    const original = await run({ store, pipeline, inputs: { seed: 5 }, runId: 'orig' })
    const mainHead = await store.timelines.get('main')
    knobs.executions.clear()
    const replayed = await replay({ store, pipeline, runId: 'orig', startStage: 'b', config: { b: { factor: 4 } }, timeline: 'factor4' })
    expect(counts(knobs.executions)).toEqual({ b: 1, d: 1, e: 1 })
    expect(statuses(replayed)).toEqual({ a: 'completed-earlier', b: 'succeeded', c: 'reused', d: 'succeeded', e: 'succeeded' })
    expect(await store.timelines.get('main')).toBe(mainHead)
    const diff = await store.diff('main', 'factor4')
    expect(diff.stages.filter((s) => s.status === 'changed').map((s) => s.stage)).toEqual(['b', 'd', 'e'])
    expect(original.runId).toBe('orig')
  })

  it('a job id that commit would refuse (a control character) fails the run before anything runs or is recorded', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const pipeline = countingPipeline(knobs)
    expect((await failure(run({ store, pipeline, inputs: { seed: 5 }, runId: 'r1', jobId: 'job\u0007' }))).code).toBe('INVALID_ARGUMENT')
    expect(knobs.executions.size).toBe(0)
    expect(await store.index.get('runs/r1')).toBeUndefined()
  })

  it('a run from a checkpoint whose run id no pipeline could have (given to commit, or imported) has no recorded inputs, rather than failing on the id', async () => {
    const store = await memoryStore()
    const pipeline = countingPipeline(freshKnobs())
    await run({ store, pipeline, inputs: { seed: 5 } })
    await store.commit({ stage: 'note', output: 1, run: 'nightly run 1' })
    expect((await failure(run({ store, pipeline, from: 'main' }))).code).toBe('INVALID_ARGUMENT') // needs inputs "seed"
    expect((await run({ store, pipeline, from: 'main', inputs: { seed: 5 } })).status).toBe('succeeded')
  })

  it('continues from HEAD after a checkout, on the timeline HEAD is on', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    const pipeline = countingPipeline(knobs)
    await run({ store, pipeline, inputs: { seed: 5 } })
    const afterB = (await collect(store.log('main'))).find((c) => c.stage === 'b') as { id: string }
    await store.timelines.create('retry', afterB.id)
    await store.setHead('retry')
    knobs.executions.clear()
    const continued = await run({ store, pipeline, from: 'HEAD', reuse: false })
    expect(counts(knobs.executions)).toEqual({ c: 1, d: 1, e: 1 })
    expect(continued.timeline).toBe('retry')
    expect((await store.getCheckpoint('retry')).parents.length).toBe(1)
    // Continuing onto a timeline that has moved on elsewhere would fork it silently: refused.
    const err = await failure(run({ store, pipeline, from: afterB.id, timeline: 'main' }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain('timeline "main" is at')
  })

  it('plans each stage with its action and reason', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    knobs.failNext.add('d')
    const pipeline = countingPipeline(knobs)
    await run({ store, pipeline, inputs: { seed: 5 }, runId: 'p' })
    const resumePlan = await plan({ kind: 'resume', store, pipeline, runId: 'p' })
    expect(resumePlan.map((p) => [p.stage, p.action, p.reason.replace(/[0-9a-f]{10}/, 'ID')])).toEqual([
      ['a', 'skip', 'completed in this run (checkpoint ID)'],
      ['b', 'skip', 'completed in this run (checkpoint ID)'],
      ['c', 'skip', 'completed in this run (checkpoint ID)'],
      ['d', 'run', 'failed last time'],
      ['e', 'run', 'upstream changed (d runs)'],
    ])
    const runPlan = await plan({ kind: 'run', store, pipeline, inputs: { seed: 5 }, config: { b: { factor: 9 } } })
    expect(runPlan.map((p) => [p.stage, p.action, p.reason.replace(/[0-9a-f]{10}/, 'ID')])).toEqual([
      ['a', 'reuse', 'input key matched checkpoint ID'],
      ['b', 'run', 'config changed'],
      ['c', 'reuse', 'input key matched checkpoint ID'],
      ['d', 'run', 'upstream changed (b runs)'],
      ['e', 'run', 'upstream changed (d runs)'],
    ])
    // Planning wrote nothing.
    expect(await store.index.list('runs/')).toHaveLength(1)
  })
})

describe('a pipeline process killed mid-stage', () => {
  it('is resumed by another process, rerunning only the interrupted stage and what follows', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.close()
    const worker = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/test/fixtures/pipeline-worker.js')
    const child = spawn(process.execPath, [worker, dir, 'killed', 'd'], { stdio: ['ignore', 'pipe', 'inherit'] })
    onCleanup(() => void child.kill('SIGKILL'))
    const lines: string[] = []
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        lines.push(...text.trim().split('\n'))
        if (lines.includes('started d')) resolve()
      })
      child.on('exit', () => reject(new Error(`worker exited early: ${lines.join(', ')}`)))
    })
    child.kill('SIGKILL')
    await new Promise((resolve) => child.on('close', resolve))
    expect(lines.filter((l) => l.startsWith('recorded'))).toEqual(['recorded a', 'recorded b', 'recorded c'])

    const store = await openStore(dir)
    onCleanup(() => store.close())
    const knobs = freshKnobs()
    const resumed = await resume({ store, pipeline: countingPipeline(knobs), runId: 'killed', reuse: false })
    expect(counts(knobs.executions)).toEqual({ d: 1, e: 1 })
    expect(resumed.state.report).toEqual({ done: true, w: { combined: [30, 'x=10'] } })
  })
})
