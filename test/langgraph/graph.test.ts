import { Annotation, Command, END, MemorySaver, START, StateGraph, interrupt, type BaseCheckpointSaver } from '@langchain/langgraph'
import { describe, expect, it } from 'vitest'
import { CkptSaver } from '../../src/langgraph/index.js'
import { openStore } from '../../src/index.js'
import { collect, tempStore } from '../support/temp.js'

const State = Annotation.Root({
  steps: Annotation<string[]>({ reducer: (a, b) => a.concat(b), default: () => [] }),
  approved: Annotation<boolean | undefined>(),
})

const workflow = new StateGraph(State)
  .addNode('plan', async () => ({ steps: ['plan'] }))
  .addNode('review', async () => {
    const approved = interrupt({ question: 'approve the plan?' }) as boolean
    return { approved, steps: [`review:${approved}`] }
  })
  .addNode('act', async (state) => ({ steps: [state.approved ? 'act' : 'skip'] }))
  .addEdge(START, 'plan')
  .addEdge('plan', 'review')
  .addEdge('review', 'act')
  .addEdge('act', END)

/** Interrupt, resume, then travel back to before the review and take the other answer. */
async function scenario(checkpointer: BaseCheckpointSaver) {
  const app = workflow.compile({ checkpointer })
  const config = { configurable: { thread_id: 'agent-1' } }
  await app.invoke({ steps: ['start'] }, config)
  const paused = await app.getState(config)
  await app.invoke(new Command({ resume: true }), config)
  const approved = await app.getState(config)
  const history = await collect(app.getStateHistory(config))
  const beforeReview = history.find((s) => s.next.includes('review') && s.tasks.length > 0 && !s.values.approved) as (typeof history)[number]
  const forked = await app.updateState(beforeReview.config, { steps: ['edited'] })
  await app.invoke(null, forked)
  await app.invoke(new Command({ resume: false }), forked)
  const rejected = await app.getState(config)
  return {
    pausedAt: paused.next,
    approved: approved.values,
    rejected: rejected.values,
    historyLength: (await collect(app.getStateHistory(config))).length,
  }
}

describe('a real LangGraph graph on ckpt', () => {
  it('interrupts, resumes and time-travels exactly as on MemorySaver', async () => {
    const { store, dir } = await tempStore()
    const onCkpt = await scenario(new CkptSaver(store))
    const onMemory = await scenario(new MemorySaver())
    expect(onCkpt).toEqual(onMemory)
    expect(onCkpt.pausedAt).toEqual(['review'])
    expect(onCkpt.approved.steps).toEqual(['start', 'plan', 'review:true', 'act'])
    expect(onCkpt.rejected.steps).toEqual(['start', 'plan', 'edited', 'review:false', 'skip'])

    // ckpt's own tools see the thread as a timeline of checkpoints with one stage per channel.
    await store.close()
    const reopened = await openStore(dir)
    try {
      const timelines = (await reopened.timelines.list()).map((t) => t.name)
      expect(timelines).toEqual(['langgraph/agent-1/%'])
      const head = await reopened.getCheckpoint('langgraph/agent-1/%')
      expect(Object.keys(head.stages)).toContain('steps')
      expect(new TextDecoder().decode(await reopened.getBlob('langgraph/agent-1/%:steps'))).toBe(JSON.stringify(onCkpt.rejected.steps))
      expect((await collect(reopened.log('langgraph/agent-1/%'))).length).toBeGreaterThan(4)
    } finally {
      await reopened.close()
    }
  })

  it('frees a deleted thread once its reflogs expire, and leaves other threads whole', async () => {
    const { store } = await tempStore()
    const saver = new CkptSaver(store)
    const app = workflow.compile({ checkpointer: saver })
    for (const thread_id of ['keep', 'drop']) {
      const config = { configurable: { thread_id } }
      await app.invoke({ steps: [`start ${thread_id}`] }, config)
      await app.invoke(new Command({ resume: true }), config)
    }
    const kept = (await app.getState({ configurable: { thread_id: 'keep' } })).values
    await saver.deleteThread('drop')
    // The reflogs still reach the deleted thread: a first gc frees only what nothing ever named.
    await store.gc({ prune: 'now' })
    expect((await store.gc({ prune: 'now', dryRun: true })).freed.objects).toBe(0)
    await store.expireReflogs({ before: Date.now() + 1000 })
    const { freed } = await store.gc({ prune: 'now' })
    expect(freed.objects).toBeGreaterThan(5)
    expect((await store.fsck()).problems).toEqual([])
    expect((await app.getState({ configurable: { thread_id: 'keep' } })).values).toEqual(kept)
    expect((await app.getState({ configurable: { thread_id: 'drop' } })).values).toEqual({})
  })
})

describe('CkptSaver listings', () => {
  it('gives every tuple its own values: changing one listed checkpoint changes no other', async () => {
    const { uuid6 } = await import('@langchain/langgraph-checkpoint')
    const { store } = await tempStore()
    const saver = new CkptSaver(store)
    let config = { configurable: { thread_id: 't', checkpoint_ns: '' } } as Parameters<CkptSaver['put']>[0]
    const shared = { bytes: Uint8Array.of(1, 2, 3), doc: { items: [1, 2] } }
    for (let step = 0; step < 3; step++) {
      const checkpoint = { v: 4, id: uuid6(step), ts: new Date(0).toISOString(), channel_values: { ...shared, step }, channel_versions: { bytes: 1, doc: 1, step: step + 1 }, versions_seen: {} }
      config = await saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, step === 0 ? { bytes: 1, doc: 1, step: 1 } : { step: step + 1 })
    }
    const tuples = await collect(saver.list({ configurable: { thread_id: 't' } }))
    expect(tuples).toHaveLength(3)
    const [first, second] = tuples.map((t) => t.checkpoint.channel_values as { bytes: Uint8Array; doc: { items: number[] } })
    // The unchanged channels are one stored blob each, read once per listing.
    first!.bytes[0] = 99
    first!.doc.items.push(3)
    expect([...second!.bytes]).toEqual([1, 2, 3])
    expect(second!.doc.items).toEqual([1, 2])
  })

  it('keeps what it stored whatever a caller does to a tuple it was given', async () => {
    const { uuid6 } = await import('@langchain/langgraph-checkpoint')
    const { store } = await tempStore()
    const saver = new CkptSaver(store)
    const base = { configurable: { thread_id: 't', checkpoint_ns: '' } } as Parameters<CkptSaver['put']>[0]
    const first = { v: 4, id: uuid6(0), ts: new Date(0).toISOString(), channel_values: { a: 'x', b: 'y' }, channel_versions: { a: 1, b: 1 }, versions_seen: { node: { a: 1 } } }
    const config = await saver.put(base, first, { source: 'loop', step: 0, parents: {} }, { a: 1, b: 1 })
    const given = (await saver.getTuple(config))!
    given.checkpoint.channel_versions.b = 7
    given.checkpoint.versions_seen.node!.a = 7
    expect((await saver.getTuple(config))!.checkpoint).toMatchObject({ channel_versions: { a: 1, b: 1 }, versions_seen: { node: { a: 1 } } })
    // The next step's put still finds b unchanged in its parent, and carries it over.
    const second = { ...first, id: uuid6(1), channel_values: { a: 'z', b: 'y' }, channel_versions: { a: 2, b: 1 } }
    const next = await saver.put(config, second, { source: 'loop', step: 1, parents: {} }, { a: 2 })
    expect((await saver.getTuple(next))!.checkpoint.channel_values).toEqual({ a: 'z', b: 'y' })
  })
})

describe('CkptSaver threads', () => {
  const checkpointOf = (id: string, value: string) => ({ v: 4, id, ts: new Date(0).toISOString(), channel_values: { a: value }, channel_versions: { a: value }, versions_seen: {} })
  const at = (id?: string) => ({ configurable: { thread_id: 't', checkpoint_ns: '', ...(id !== undefined && { checkpoint_id: id }) } })

  it('gives the newest id as the latest checkpoint, also after a put with an older id, to this saver and a fresh one', async () => {
    const { store, dir } = await tempStore()
    const saver = new CkptSaver(store)
    await saver.put(at(), checkpointOf('cp-2', 'two'), { source: 'input', step: 0, parents: {} }, { a: 'two' })
    await saver.put(at('cp-2'), checkpointOf('cp-1', 'one'), { source: 'loop', step: 1, parents: {} }, { a: 'one' })
    expect((await saver.getTuple(at()))!.checkpoint.id).toBe('cp-2')
    // Metadata written as text is kept in the node: the only stage is the channel.
    expect(Object.keys((await store.getCheckpoint(await store.timelines.get('langgraph/t/%'))).stages)).toEqual(['a'])
    await store.close()
    const reopened = await openStore(dir)
    const fresh = new CkptSaver(reopened)
    expect((await fresh.getTuple(at()))!.checkpoint.id).toBe('cp-2')
    await fresh.put(at('cp-1'), checkpointOf('cp-0', 'zero'), { source: 'loop', step: 2, parents: {} }, { a: 'zero' })
    expect((await fresh.getTuple(at()))!.checkpoint.id).toBe('cp-2')
    await fresh.put(at('cp-0'), checkpointOf('cp-3', 'three'), { source: 'loop', step: 3, parents: {} }, { a: 'three' })
    expect((await fresh.getTuple(at()))!.checkpoint.channel_values).toEqual({ a: 'three' })
    expect((await collect(fresh.list(at()))).map((t) => t.checkpoint.id)).toEqual(['cp-3', 'cp-2', 'cp-1', 'cp-0'])
    await reopened.close()
  })

  it('commits on the thread as another saver left it, not as this one last saw it', async () => {
    const { store } = await tempStore()
    const first = new CkptSaver(store)
    const second = new CkptSaver(store)
    await first.put(at(), checkpointOf('cp-1', 'one'), { source: 'input', step: 0, parents: {} }, { a: 'one' })
    await second.put(at('cp-1'), checkpointOf('cp-2', 'two'), { source: 'loop', step: 1, parents: {} }, { a: 'two' })
    // `first` still takes cp-1 for the head: its commit conflicts, and it commits again on cp-2.
    await first.put(at('cp-1'), checkpointOf('cp-3', 'three'), { source: 'loop', step: 1, parents: {} }, { a: 'three' })
    expect((await second.getTuple(at()))!.checkpoint.id).toBe('cp-3')
    expect((await second.getTuple(at('cp-3')))!.parentConfig?.configurable?.checkpoint_id).toBe('cp-1')
    expect((await collect(second.list(at()))).map((t) => t.checkpoint.id)).toEqual(['cp-3', 'cp-2', 'cp-1'])
    expect(await store.timelines.get('langgraph/t/%')).toBe((await store.index.get('lg/t/%/cp-3'))!)
  })

  it('keeps threads and namespaces of any characters apart, under readable timeline names', async () => {
    const { store } = await tempStore()
    const saver = new CkptSaver(store)
    const places = [
      { thread_id: 'agent-1', checkpoint_ns: '' },
      { thread_id: 'team/ä b', checkpoint_ns: 'sub:1' },
      { thread_id: 'team%2Fä b', checkpoint_ns: '' },
    ]
    for (const [i, place] of places.entries()) {
      await saver.put({ configurable: place }, checkpointOf(`cp-${i}`, `value-${i}`), { source: 'input', step: i, parents: {} }, { a: `value-${i}` })
    }
    for (const [i, place] of places.entries()) {
      const listed = await collect(saver.list({ configurable: place }))
      expect(listed.map((t) => [t.config.configurable, t.checkpoint.channel_values])).toEqual([[{ ...place, checkpoint_id: `cp-${i}` }, { a: `value-${i}` }]])
    }
    expect((await store.timelines.list()).map((t) => t.name).sort()).toEqual(['langgraph/agent-1/%', 'langgraph/team%252F%C3%A4%20b/%', 'langgraph/team%2F%C3%A4%20b/sub%3A1'])
  })

  it('keeps metadata the serializer does not write as text in a stage of its own', async () => {
    const { JsonPlusSerializer } = await import('@langchain/langgraph-checkpoint')
    const json = new JsonPlusSerializer()
    // Bytes that are not UTF-8: a 0xff prefix to the JSON.
    const prefixed = {
      async dumpsTyped(value: unknown): Promise<[string, Uint8Array]> {
        const [, bytes] = await json.dumpsTyped(value)
        return ['prefixed', Uint8Array.from([0xff, ...bytes])]
      },
      async loadsTyped(_type: string, data: Uint8Array | string): Promise<unknown> {
        return json.loadsTyped('json', (data as Uint8Array).subarray(1))
      },
    }
    const { store } = await tempStore()
    const saver = new CkptSaver(store, prefixed)
    const metadata = { source: 'input' as const, step: -1, parents: {}, note: 'kept' }
    const config = await saver.put(at(), checkpointOf('cp-1', 'one'), metadata, { a: 'one' })
    expect((await saver.getTuple(config))!.metadata).toEqual(metadata)
    expect(Object.keys((await store.getCheckpoint(await store.timelines.get('langgraph/t/%'))).stages).sort()).toEqual(['__metadata__', 'a'])
  })
})
