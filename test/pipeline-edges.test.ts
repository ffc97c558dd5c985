import { describe, expect, it } from 'vitest'
import {
  CkptError,
  createMemoryBackend,
  plan,
  readAudit,
  replay,
  resume,
  run,
  type Backend,
  type CheckpointStore,
  type Pipeline,
  type PipelineEvent,
  type StageDefinition,
} from '../src/index.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { failure } from './support/errors.js'
import { collect, memoryStore } from './support/temp.js'

/** Everything a store holds that a run could change: refs, reflogs and object keys. */
async function contents(backend: Backend): Promise<{ refs: string[]; reflog: number; objects: string[] }> {
  const refs = await backend.refs.listRefs('')
  const logs = await Promise.all(refs.map((r) => backend.refs.readReflog(r.name)))
  const objects = (await collect(backend.objects.keys())).map((k) => Buffer.from(k).toString('hex')).sort()
  return { refs: refs.map((r) => `${r.name}=${r.value}`), reflog: logs.flat().length, objects }
}

describe('observers never break a run', () => {
  for (const failingAt of ['run-started', 'stage-started', 'checkpoint-written', 'run-finished'] as const) {
    it(`finishes every stage when the onEvent handler throws at ${failingAt}, and reports the handler's failure`, async () => {
      const store = await memoryStore()
      const knobs = freshKnobs()
      const seen: PipelineEvent[] = []
      const result = await run({
        store,
        pipeline: countingPipeline(knobs),
        inputs: { seed: 1 },
        onEvent: (event) => {
          seen.push(event)
          if (event.type === failingAt) throw new Error(`dashboard down at ${failingAt}`)
        },
      })
      expect(result.status).toBe('succeeded')
      expect(result.stages.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded'])
      expect(result.observerErrors[0]).toContain(`dashboard down at ${failingAt}`)
      if (failingAt !== 'run-finished') expect(seen.some((e) => e.type === 'observer-error')).toBe(true)
      expect((await collect(store.log('main'))).map((c) => c.stage).reverse()).toEqual(['a', 'b', 'c', 'd', 'e'])
    })
  }

  it('reports a handler whose promise rejects, without failing the run', async () => {
    const store = await memoryStore()
    const onEvent = async (event: PipelineEvent) => {
      if (event.type === 'stage-started') throw new Error('async observer broke')
    }
    const result = await run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 1 }, onEvent })
    expect(result.status).toBe('succeeded')
    expect(result.observerErrors).toHaveLength(5)
  })

  it('fails the run with RUN_FAILED on a handler failure only when strict', async () => {
    const store = await memoryStore()
    const onEvent = (event: PipelineEvent) => {
      if (event.type === 'stage-started') throw new Error('observer broke')
    }
    const err = await failure(run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 1 }, onEvent, strict: true }))
    expect(err.code).toBe('RUN_FAILED')
  })
})

describe('typed errors before a run starts', () => {
  it('names a missing store or pipeline for run, resume, replay and plan', async () => {
    const pipeline = countingPipeline(freshKnobs())
    const store = await memoryStore()
    const calls = [
      () => run({ pipeline } as never),
      () => resume({ pipeline, runId: 'r1' } as never),
      () => replay({ pipeline, startStage: 'b', timeline: 't' } as never),
      () => plan({ kind: 'run', pipeline } as never),
      () => run({ store } as never),
      () => resume({ store, runId: 'r1' } as never),
    ]
    const errors = await Promise.all(calls.map((call) => failure(call())))
    expect(errors.map((e) => e.code)).toEqual(Array(6).fill('INVALID_ARGUMENT'))
    expect(errors.map((e) => e.details.missing)).toEqual(['store', 'store', 'store', 'store', 'pipeline', 'pipeline'])
  })

  it('gives a store that fails from the first write a coded error', async () => {
    const inner = createMemoryBackend()
    const store = await memoryStore(inner)
    // The disk fills up after init: every write fails with what a file system says.
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 })
    inner.objects.putMany = () => Promise.reject(full)
    const err = await failure(run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 1 } }))
    expect(err).toBeInstanceOf(CkptError)
    expect(err.code).toBe('IO_ERROR')
    expect(err.message).toContain('no space left')
  })
})

describe('replays and audit entries', () => {
  it('keeps the job id of the run it replays, unless given another', async () => {
    const store = await memoryStore()
    const pipeline = countingPipeline(freshKnobs())
    await run({ store, pipeline, inputs: { seed: 3 }, runId: 'nightly', jobId: 'job-42' })
    const kept = await replay({ store, pipeline, runId: 'nightly', startStage: 'b', timeline: 'again', config: { b: { factor: 5 } } })
    expect((await store.getCheckpoint(kept.head as string)).job).toBe('job-42')
    const other = await replay({ store, pipeline, runId: 'nightly', startStage: 'b', timeline: 'other', config: { b: { factor: 6 } }, jobId: 'job-7' })
    expect((await store.getCheckpoint(other.head as string)).job).toBe('job-7')
  })

  it('names only ids in audit entries that the store can read back as the values the stage read', async () => {
    const store = await memoryStore()
    const knobs = freshKnobs()
    knobs.failNext.add('d')
    await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 4 }, runId: 'audited' })
    const audit = await readAudit(store, 'audited')
    const ids = audit.flatMap((e) => Object.values(e.inputs))
    expect(ids.length).toBeGreaterThan(4)
    for (const id of ids) await store.getOutput(id)
    const d = audit.find((e) => e.stage === 'd' && e.status === 'failed')
    expect(await store.getOutput(d?.inputs.y as string)).toEqual({ scaled: 24 })
  })
})

describe('stage serializers', () => {
  it('get the run context and the store, and may be async', async () => {
    const store = await memoryStore()
    const seen: string[] = []
    const stage: StageDefinition = {
      name: 'frames',
      writes: ['frames'],
      version: '1',
      run: async () => ({ frames: ['f1', 'f2'] }),
      serialize: async (output, ctx) => {
        seen.push(`serialize ${ctx.runId} ${ctx.jobId} ${ctx.stage}`)
        // Upload each frame as its own blob, keep references.
        const refs = await Promise.all((output.frames as string[]).map((f) => ctx.store.putOutput(new TextEncoder().encode(f))))
        return { refs }
      },
      deserialize: async (data, ctx) => {
        seen.push(`deserialize ${ctx.runId} ${ctx.stage}`)
        const refs = (data as { refs: string[] }).refs
        return { frames: await Promise.all(refs.map(async (id) => new TextDecoder().decode(await ctx.store.getBlob(id)))) }
      },
    }
    const count: StageDefinition = { name: 'count', reads: ['frames'], writes: ['n'], version: '1', run: async (state) => ({ n: (state.frames as string[]).length }) }
    const pipeline: Pipeline = { name: 'frames', stages: [stage, count] }
    const knobs = { failCount: true }
    const flaky: Pipeline = { ...pipeline, stages: [stage, { ...count, run: async (s, c, x) => { if (knobs.failCount) throw new Error('not yet'); return count.run(s, c, x) } }] }
    const first = await run({ store, pipeline: flaky, runId: 'r1', jobId: 'j1' })
    expect(first.status).toBe('failed')
    knobs.failCount = false
    const resumed = await resume({ store, pipeline: flaky, runId: 'r1' })
    expect(resumed.state.n).toBe(2)
    expect(resumed.state.frames).toEqual(['f1', 'f2'])
    expect(seen).toEqual(['serialize r1 j1 frames', 'deserialize r1 frames'])
  })
})

describe('runs that record nothing', () => {
  it('runs every stage with checkpoint: false and leaves the store exactly as it was', async () => {
    const backend = createMemoryBackend()
    const store = await memoryStore(backend)
    const pipeline = countingPipeline(freshKnobs())
    await run({ store, pipeline, inputs: { seed: 1 }, runId: 'earlier' })
    const before = await contents(backend)
    const knobs = freshKnobs()
    const events: string[] = []
    const result = await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 9 }, timeline: 'dry', checkpoint: false, onEvent: (e) => void events.push(e.type) })
    expect(result.status).toBe('succeeded')
    expect(result.state.report).toEqual({ done: true, w: { combined: [54, 'x=18'] } })
    expect(result.stages.every((s) => s.checkpoint === undefined)).toBe(true)
    expect([...knobs.executions.keys()].sort()).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(events).not.toContain('checkpoint-written')
    expect(await contents(backend)).toEqual(before)
  })

  it('writes nothing for a failed stage either', async () => {
    const backend = createMemoryBackend()
    const store: CheckpointStore = await memoryStore(backend)
    const before = await contents(backend)
    const knobs = freshKnobs()
    knobs.failNext.add('c')
    const result = await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 2 }, checkpoint: false })
    expect(result.status).toBe('failed')
    expect(await contents(backend)).toEqual(before)
  })
})
