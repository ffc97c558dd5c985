import { describe, expect, it } from 'vitest'
import { initStoreOn, openPostgresBackend, openStoreOn, type Backend, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { closedPort, freshSchemaUrl, sql } from './support/postgres.js'
import { collect, onCleanup } from './support/temp.js'


const schemaOf = (url: string) => new URL(url).searchParams.get('schema') as string
const passwordOf = (url: string) => decodeURIComponent(new URL(url).password)

async function tablesIn(schema: string): Promise<string[]> {
  const { rows } = await sql(`SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [schema])
  return rows.map((r: { tablename: string }) => r.tablename)
}

async function opened(url: string, create = false): Promise<Backend> {
  const backend = await openPostgresBackend(url, { create })
  onCleanup(() => backend.close())
  return backend
}

describe('a store on PostgreSQL', () => {
  it('writes history segments with the commits that top them, walks them, keeps them through gc and checks them', async () => {
    const backend = await opened(freshSchemaUrl(), true)
    const store = await initStoreOn(backend)
    for (let i = 1; i <= 520; i++) await store.commit({ stage: `s${i % 3}`, output: { i }, message: `step ${i}` })
    const segments = () => collect(backend.objects.keys({ gte: Uint8Array.of(0x03), lt: Uint8Array.of(0x04) }))
    expect(await segments()).toHaveLength(2)
    const history = await collect(store.history('main'))
    expect(history.map((c) => [c.id, c.seq, c.message])).toEqual((await collect(store.log('main'))).map((c) => [c.id, c.seq, c.message]))
    expect((await store.gc({ prune: 0 })).historySegmentsWritten).toBe(0)
    expect(await segments()).toHaveLength(2)
    expect((await store.fsck()).problems).toEqual([])
  })

  it('commits, logs, diffs, collects garbage and checks itself on a PostgreSQL-backed store', async () => {
    const url = freshSchemaUrl()
    const store: Store = await initStoreOn(await openPostgresBackend(url, { create: true }))
    const first = await store.commit({ stage: 'load', output: { rows: 1, note: 'a' } })
    const second = await store.commit({ stage: 'load', output: { rows: 2, note: 'a' } })
    await store.timelines.create('side', 'main')
    const garbage = await store.commit({ timeline: 'side', stage: 'tmp', output: { junk: 'x'.repeat(5000) } })
    await store.timelines.delete('side')
    await store.expireReflogs({ refs: ['side'], before: Date.now() + 1000 })
    expect((await collect(store.log('main'))).map((c) => c.id)).toEqual([second.id, first.id])
    const diff = await store.diff(first.id, second.id)
    expect(diff.stages.map((s) => s.stage)).toEqual(['load'])
    const gc = await store.gc({ prune: 0 })
    expect(gc.freed.objects).toBeGreaterThan(0)
    await expect(store.getCheckpoint(garbage.id)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    expect((await store.fsck()).problems).toEqual([])
    await store.close()

    const again = await openStoreOn(await openPostgresBackend(url))
    expect((await again.getCheckpoint('main')).id).toBe(second.id)
    expect((await again.reflog('main')).length).toBe(2)
    await again.close()
  })

  it('keeps stores in different schemas of one database apart', async () => {
    const [a, b] = [freshSchemaUrl(), freshSchemaUrl()]
    const storeA = await initStoreOn(await openPostgresBackend(a, { create: true }))
    const storeB = await initStoreOn(await openPostgresBackend(b, { create: true }))
    await storeA.commit({ stage: 's', output: { in: 'a' } })
    expect(await storeB.timelines.list()).toEqual([])
    await storeA.close()
    await storeB.close()
  })

  it('refuses a schema of a newer version without writing to it', async () => {
    const url = freshSchemaUrl()
    await (await openPostgresBackend(url, { create: true })).close()
    const schema = schemaOf(url)
    await sql(`UPDATE "${schema}".ckpt_meta SET value = '99' WHERE key = 'schema_version'`)
    const before = await sql(`SELECT (SELECT count(*) FROM "${schema}".objects) AS o, (SELECT count(*) FROM "${schema}".refs) AS r`)
    expect((await failure(openPostgresBackend(url))).code).toBe('UNSUPPORTED_FORMAT')
    expect((await failure(openPostgresBackend(url, { create: true }))).code).toBe('UNSUPPORTED_FORMAT')
    expect((await sql(`SELECT (SELECT count(*) FROM "${schema}".objects) AS o, (SELECT count(*) FROM "${schema}".refs) AS r`)).rows).toEqual(before.rows)
    expect((await sql(`SELECT value FROM "${schema}".ckpt_meta WHERE key = 'schema_version'`)).rows).toEqual([{ value: '99' }])
  })

  it("refuses a schema holding another application's tables, creating nothing in it", async () => {
    const url = freshSchemaUrl()
    const schema = schemaOf(url)
    await sql(`CREATE SCHEMA "${schema}"`)
    await sql(`CREATE TABLE "${schema}".users (id int primary key)`)
    const err = await failure(openPostgresBackend(url, { create: true }))
    expect(err.code).toBe('NOT_A_STORE')
    expect(await tablesIn(schema)).toEqual(['users'])
  })

  it('refuses to open a schema that holds no store unless asked to create one, and creates nothing', async () => {
    const url = freshSchemaUrl()
    expect((await failure(openPostgresBackend(url))).code).toBe('NOT_A_STORE')
    expect((await sql(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schemaOf(url)])).rows).toEqual([])
    const backend = await opened(url, true)
    expect((await failure(openStoreOn(backend))).code).toBe('NOT_A_STORE')
  })

  it('names host and port, but never the password, when the server cannot be reached', async () => {
    const port = await closedPort()
    const password = 'hunter2-Secret'
    const err = await failure(openPostgresBackend(`postgres://ckpt:${password}@127.0.0.1:${port}/ckpt?schema=s`))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toContain(`127.0.0.1:${port}`)
    expect(JSON.stringify({ message: err.message, details: err.details, stack: err.stack, cause: String(err.cause) })).not.toContain(password)
  })

  it('never shows the password of a URL: not in the description, nor when it is wrong', async () => {
    const url = freshSchemaUrl()
    const password = passwordOf(url)
    expect(password.length).toBeGreaterThan(0)
    const backend = await opened(url, true)
    expect(backend.description).not.toContain(password)
    expect(backend.description).toContain(schemaOf(url))
    const wrong = new URL(url)
    wrong.password = 'Wrong-Pass-123'
    const err = await failure(openPostgresBackend(wrong.href))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(`${err.message} ${JSON.stringify(err.details)} ${err.stack}`).not.toContain('Wrong-Pass-123')
    const bad = await failure(openPostgresBackend(`postgres://ckpt:${password}@127.0.0.1:5/ckpt?schema=Bad-Name`))
    expect(bad.code).toBe('INVALID_ARGUMENT')
    expect(bad.message).not.toContain(password)
  })
})
