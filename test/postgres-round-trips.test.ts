import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint'
import { initStore, openPostgresBackend, openStore, type Backend } from '../src/index.js'
import { CkptSaver } from '../src/langgraph/index.js'
import { RoundTripCounter } from './support/pg-round-trips.js'
import { freshSchemaUrl, withSchema } from './support/postgres.js'

// The waits on the server set the speed of a PostgreSQL store (docs/benchmarks.md, "PostgreSQL"):
// these tests count them through a proxy.
let proxy: RoundTripCounter
beforeAll(async () => {
  proxy = await RoundTripCounter.start(freshSchemaUrl())
})
afterAll(() => proxy?.close())

const key = (i: number) => Uint8Array.of(0x6f, 1, i >> 8, i & 255)
const stageOutput = (i: number) => ({ step: i, text: 'x'.repeat(2000) })

describe('round trips to PostgreSQL', () => {
  it('a commit makes two: HEAD with the timeline it names, then its objects with the ref move and reflog', async () => {
    const store = await initStore(proxy.url, { author: 'test' })
    try {
      await store.commit({ stage: 'a', output: stageOutput(0) })
      proxy.take()
      await store.commit({ stage: 'a', output: stageOutput(1) })
      expect(proxy.take()).toBe(2)
      for await (const head of store.log('main')) {
        expect(head.stage).toBe('a')
        break
      }
    } finally {
      await store.close()
    }
  })

  it('an object write, probe and read make one each', async () => {
    const backend: Backend = await openPostgresBackend(withSchema(proxy.url, 'rt_objects_' + Date.now()), { create: true })
    try {
      proxy.take()
      await backend.objects.putMany([{ key: key(1), value: Uint8Array.of(1, 2, 3) }])
      expect(proxy.take()).toBe(1)
      expect(await backend.objects.has([key(1), key(2)])).toEqual([true, false])
      expect(proxy.take()).toBe(1)
      expect([...((await backend.objects.get(key(1))) ?? [])]).toEqual([1, 2, 3])
      expect(proxy.take()).toBe(1)
    } finally {
      await backend.close()
    }
  })

  it('reads made at once share one', async () => {
    const backend: Backend = await openPostgresBackend(withSchema(proxy.url, 'rt_reads_' + Date.now()), { create: true })
    try {
      await backend.objects.putMany(Array.from({ length: 20 }, (_, i) => ({ key: key(i), value: Uint8Array.of(i) })))
      proxy.take()
      const values = await Promise.all(Array.from({ length: 21 }, (_, i) => backend.objects.get(key(i))))
      expect(proxy.take()).toBe(1)
      expect(values.map((v) => v?.[0])).toEqual([...Array.from({ length: 20 }, (_, i) => i), undefined])
    } finally {
      await backend.close()
    }
  })

  it('a LangGraph put makes two: its parent checkpoint\'s id, then the commit', async () => {
    const saver = new CkptSaver(await initStore(withSchema(proxy.url, 'rt_put_' + Date.now()), { author: 'test' }))
    try {
      const versions: Record<string, number> = { a: 1, b: 1 }
      const put = async (step: number, config: Parameters<CkptSaver['put']>[0], changed: string[]) => {
        for (const c of changed) versions[c] = step + 1
        const values = Object.fromEntries(Object.keys(versions).map((c) => [c, `${c}${versions[c]}`.padEnd(2000, 'v')]))
        const checkpoint: Checkpoint = { v: 4, id: uuid6(step), ts: new Date().toISOString(), channel_values: values, channel_versions: { ...versions }, versions_seen: {} }
        return saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, Object.fromEntries(changed.map((c) => [c, versions[c] as number])))
      }
      let config = await put(0, { configurable: { thread_id: 't', checkpoint_ns: '' } }, ['a', 'b'])
      config = await put(1, config, ['a'])
      proxy.take()
      config = await put(2, config, ['b'])
      expect(proxy.take()).toBe(2)
      const listed = []
      for await (const tuple of saver.list({ configurable: { thread_id: 't' } })) listed.push(tuple.checkpoint.channel_values)
      expect(listed).toHaveLength(3)
      expect(listed[0]).toEqual({ a: 'a2'.padEnd(2000, 'v'), b: 'b3'.padEnd(2000, 'v') })
    } finally {
      await saver.store.close()
    }
  })

  it('a LangGraph getTuple of a checkpoint of 20 channels makes at most four, from a saver that has read nothing yet', async () => {
    const url = withSchema(proxy.url, 'rt_saver_' + Date.now())
    const writer = new CkptSaver(await initStore(url, { author: 'test' }))
    const values = Object.fromEntries(Array.from({ length: 20 }, (_, c) => [`ch${c}`, `${c}`.padEnd(2000, 'v')]))
    const versions = Object.fromEntries(Object.keys(values).map((c) => [c, 1]))
    const checkpoint: Checkpoint = { v: 4, id: uuid6(0), ts: new Date().toISOString(), channel_values: values, channel_versions: versions, versions_seen: {} }
    await writer.put({ configurable: { thread_id: 't', checkpoint_ns: '' } }, checkpoint, { source: 'loop', step: 0, parents: {} }, versions)
    await writer.store.close()
    const store = await openStore(url)
    try {
      const reader = new CkptSaver(store)
      proxy.take()
      const tuple = await reader.getTuple({ configurable: { thread_id: 't', checkpoint_ns: '', checkpoint_id: checkpoint.id } })
      expect(proxy.take()).toBeLessThanOrEqual(4)
      expect(tuple?.checkpoint.channel_values).toEqual(values)
    } finally {
      await store.close()
    }
  })
})

describe('a PostgreSQL store of schema version 1', () => {
  it('gains the functions of version 2 when opened, and keeps its checkpoints', async () => {
    const url = freshSchemaUrl()
    const schema = new URL(url).searchParams.get('schema') as string
    const store = await initStore(url, { author: 'test' })
    const first = await store.commit({ stage: 'a', output: stageOutput(0) })
    await store.close()
    const sql = new pg.Client({ connectionString: url.replace(/\?.*$/, '') })
    await sql.connect()
    try {
      // What version 1 held: the tables and ckpt_enter, none of the functions that batch a call.
      for (const fn of ['ckpt_get(bytea[])', 'ckpt_has(bytea[])', 'ckpt_put(bytea[], bytea[])', 'ckpt_store(bytea[], bytea[])', 'ckpt_update_refs(text[], text[], text[], bigint[], text[], uuid, bytea[], bytea[], bytea[], int[])']) {
        await sql.query(`DROP FUNCTION IF EXISTS "${schema}".${fn}`)
      }
      await sql.query(`UPDATE "${schema}".ckpt_meta SET value = '1' WHERE key = 'schema_version'`)
      const reopened = await openStore(url)
      try {
        const second = await reopened.commit({ stage: 'a', output: stageOutput(1) })
        expect(second.parents).toEqual([first.id])
        expect(await reopened.getOutput(`${first.id}:a`)).toEqual(stageOutput(0))
      } finally {
        await reopened.close()
      }
      expect((await sql.query(`SELECT value FROM "${schema}".ckpt_meta WHERE key = 'schema_version'`)).rows).toEqual([{ value: '3' }])
    } finally {
      await sql.end()
    }
  })
})
