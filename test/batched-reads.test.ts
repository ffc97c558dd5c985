import { describe, expect, it } from 'vitest'
import { openStore } from '../src/index.js'
import { CkptSaver } from '../src/langgraph/index.js'
import { replaceObject } from './support/plant.js'
import { failure } from './support/errors.js'
import { tempStore } from './support/temp.js'

const text = (s: string) => new TextEncoder().encode(s)
const expectCode = async (promise: Promise<unknown>, code: string) => expect((await failure(promise)).code).toBe(code)

/** A store with `count` checkpoints on main, each with a changing JSON stage and a changing bytes stage; returns their ids, oldest first. */
async function history(count: number): Promise<{ dir: string; ids: string[]; shortIds: string[] }> {
  const { store, dir } = await tempStore()
  const written = []
  for (let i = 0; i < count; i++) written.push(await store.commit({ outputs: { json: { step: i }, bytes: text(`step ${i}`) }, message: `step ${i}` }))
  await store.close()
  return { dir, ids: written.map((c) => c.id), shortIds: written.map((c) => c.shortId) }
}

describe('store.getCheckpoints', () => {
  it('gives what getCheckpoint gives for each revision, in order, from a store just opened', async () => {
    const { dir, ids, shortIds } = await history(40)
    const revisions = [...ids.slice(0, 30).reverse(), 'HEAD', 'main~3', shortIds[5]!, ids[7]!]
    let store = await openStore(dir)
    const one = []
    for (const revision of revisions) one.push(await store.getCheckpoint(revision))
    await store.close()
    store = await openStore(dir)
    const many = await store.getCheckpoints(revisions)
    expect(many).toEqual(one)
    expect(many.map((c) => c.message).slice(0, 3)).toEqual(['step 29', 'step 28', 'step 27'])
    await store.close()
  })

  it('refuses what getCheckpoint refuses: an output id, an unknown id, a damaged checkpoint', async () => {
    const { dir, ids } = await history(5)
    let store = await openStore(dir)
    const output = (await store.getCheckpoint('HEAD')).stages.json!
    await expectCode(store.getCheckpoints([ids[0]!, output]), 'NOT_FOUND')
    await expectCode(store.getCheckpoints([ids[0]!, ids[1]!.replace(/.$/, (c) => (c === 'a' ? 'b' : 'a'))]), 'NOT_FOUND')
    await store.close()
    await replaceObject(dir, ids[2]!, text('{"not":"it"}'))
    store = await openStore(dir)
    await expectCode(store.getCheckpoints([ids[0]!, ids[2]!, ids[3]!]), 'CORRUPT_OBJECT')
    expect((await store.getCheckpoints([ids[0]!, ids[3]!])).map((c) => c.message)).toEqual(['step 0', 'step 3'])
    await store.close()
  })
})

describe('store.getBlobs', () => {
  it('gives what getBlob gives for each, small or chunked, repeated or not', async () => {
    const { store } = await tempStore()
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7919) % 251)
    const c = await store.commit({ outputs: { a: text('alpha'), b: text('beta'), big } })
    const ids = [c.stages.a!, c.stages.big!, c.stages.b!, c.stages.a!, 'HEAD:b']
    const many = await store.getBlobs(ids)
    for (const [i, id] of ids.entries()) expect(Buffer.compare(Buffer.from(many[i]!), Buffer.from(await store.getBlob(id)))).toBe(0)
    expect(many[1]!.length).toBe(big.length)
    await store.close()
  })

  it('refuses a JSON output, an unknown blob and damaged bytes, as getBlob does', async () => {
    const { store, dir } = await tempStore()
    const c = await store.commit({ outputs: { a: text('alpha'), b: text('beta'), json: { x: 1 } } })
    await expectCode(store.getBlobs([c.stages.a!, c.stages.json!]), 'INVALID_ARGUMENT')
    await expectCode(store.getBlobs([c.stages.a!, 'HEAD:missing']), 'NOT_FOUND')
    await store.close()
    await replaceObject(dir, c.stages.b!, text('bets'))
    const reopened = await openStore(dir)
    await expectCode(reopened.getBlobs([c.stages.a!, c.stages.b!]), 'CORRUPT_OBJECT')
    await reopened.close()
  })
})

describe('CkptSaver.list on a store just opened (checkpoints and values read ahead in windows)', () => {
  it('lists what the saver that wrote them lists, with limit, before and filter', async () => {
    const { store, dir } = await tempStore()
    const writer = new CkptSaver(store)
    let config = { configurable: { thread_id: 't', checkpoint_ns: '' } } as Parameters<CkptSaver['put']>[0]
    const ids: string[] = []
    for (let step = 0; step < 150; step++) {
      const id = `1ef00000-0000-6000-8000-${String(step).padStart(12, '0')}`
      const values = { counter: step, log: `entry ${step % 7}`, fixed: 'same' }
      config = await writer.put(config, { v: 4, id, ts: new Date(step).toISOString(), channel_values: values, channel_versions: { counter: step + 1, log: step + 1, fixed: 1 }, versions_seen: {} }, { source: 'loop', step, parents: {} }, step === 0 ? { counter: 1, log: 1, fixed: 1 } : { counter: step + 1, log: step + 1 })
      ids.push(id)
    }
    const collect = async (saver: CkptSaver, options: Parameters<CkptSaver['list']>[1] = {}) => {
      const out = []
      for await (const tuple of saver.list({ configurable: { thread_id: 't' } }, options)) out.push(tuple)
      return out
    }
    const cases: Array<Parameters<CkptSaver['list']>[1]> = [{}, { limit: 70 }, { before: { configurable: { checkpoint_id: ids[100] } } }, { filter: { step: 3 } }]
    const expected = []
    for (const options of cases) expected.push(await collect(writer, options))
    await store.close()
    const reopened = await openStore(dir)
    const reader = new CkptSaver(reopened)
    for (const [i, options] of cases.entries()) expect(await collect(reader, options)).toEqual(expected[i])
    expect(expected[0]!.length).toBe(150)
    expect(expected[0]![0]!.checkpoint.channel_values).toEqual({ counter: 149, log: 'entry 2', fixed: 'same' })
    expect(expected[1]!.length).toBe(70)
    expect(expected[2]!.length).toBe(100)
    expect(expected[3]!.map((t) => t.metadata?.step)).toEqual([3])
    await reopened.close()
  })
})
