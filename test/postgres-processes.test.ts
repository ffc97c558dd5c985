import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { initStoreOn, openPostgresBackend, openStoreOn } from '../src/index.js'
import { fixture, runFixture } from './support/processes.js'
import { failure } from './support/errors.js'
import { freshSchemaUrl, haltServer, privatePostgresServer, restartImmediately } from './support/postgres.js'
import { collect } from './support/temp.js'

const CLIENT = fixture('postgres-client.js')

describe('processes sharing only a PostgreSQL URL', () => {
  it('lose no compare-and-swap of one ref when two processes race on it', async () => {
    const url = freshSchemaUrl()
    await (await openPostgresBackend(url, { create: true })).close()
    const count = 100
    const writers = ['a', 'b'].map((tag) => runFixture(CLIENT, [url, 'swap', 'shared', String(count), tag]))
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0])
    const acknowledged = writers.flatMap((w) => w.lines.filter((l) => l.startsWith('ok ')).map((l) => l.slice(3)))
    expect(acknowledged.length).toBe(2 * count)
    const backend = await openPostgresBackend(url)
    try {
      const log = await backend.refs.readReflog('shared')
      // One entry per acknowledged swap, each exactly once, every one moving from the entry before it.
      expect(log.map((e) => e.new).sort()).toEqual([...acknowledged].sort())
      log.forEach((entry, i) => expect(entry.old).toBe(i === 0 ? null : log[i - 1]?.new))
      expect(await backend.refs.readRef('shared')).toBe(log[log.length - 1]?.new)
    } finally {
      await backend.close()
    }
  }, 60_000)

  it('lose no acknowledged checkpoint, and apply none twice, when the server restarts mid-run (pg_ctl restart -m immediate)', async () => {
    const server = privatePostgresServer()
    const url = freshSchemaUrl(server)
    await (await initStoreOn(await openPostgresBackend(url, { create: true }))).close()
    const count = 80
    const writers = [0, 1].map(() => runFixture(CLIENT, [url, 'commit', 'main', String(count)]))
    await Promise.all(writers.map((w) => w.waitForLine(() => w.lines.length >= 15)))
    restartImmediately(server.dir)
    await sleep(200)
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0])
    const acknowledged = writers.flatMap((w) => w.lines)
    expect(acknowledged.length).toBe(2 * count)
    const store = await openStoreOn(await openPostgresBackend(url))
    try {
      const history = (await collect(store.log('main'))).map((c) => c.id)
      expect(new Set(history).size).toBe(history.length)
      expect(history.length).toBe(2 * count)
      expect(new Set(history)).toEqual(new Set(acknowledged))
      expect((await store.fsck()).problems).toEqual([])
    } finally {
      await store.close()
    }
  }, 120_000)

  it('lose no acknowledged checkpoint while another process collects garbage with no grace window', async () => {
    const url = freshSchemaUrl()
    const setup = await initStoreOn(await openPostgresBackend(url, { create: true }))
    await setup.commit({ stage: 'seed', output: { seed: 1 } })
    for (const name of ['w0', 'w1']) await setup.timelines.create(name, 'main')
    await setup.close()
    const count = 60
    const writers = ['w0', 'w1'].map((timeline) => runFixture(CLIENT, [url, 'commit', timeline, String(count)]))
    const collector = runFixture(CLIENT, [url, 'gc', '8'])
    expect(await Promise.all([...writers, collector].map((w) => w.exited))).toEqual([0, 0, 0])
    expect(collector.lines).toContain('gc 8')
    const store = await openStoreOn(await openPostgresBackend(url))
    try {
      for (const [k, writer] of writers.entries()) {
        const history = new Set((await collect(store.log(`w${k}`))).map((c) => c.id))
        for (const id of writer.lines) expect(history.has(id)).toBe(true)
        for (const id of writer.lines) await store.getCheckpoint(id)
      }
      expect((await store.fsck()).problems).toEqual([])
    } finally {
      await store.close()
    }
  }, 120_000)

  it('fails a ref update with a retryable STORE_UNAVAILABLE naming host and port while the server stays down, having applied nothing', async () => {
    const server = privatePostgresServer()
    const url = freshSchemaUrl(server)
    const backend = await openPostgresBackend(url, { create: true, reconnectWindowMs: 1000 })
    try {
      await backend.refs.updateRefs([{ name: 'r', expected: null, value: 'a', log: { time: 1, reason: 'x' } }])
      haltServer(server.dir)
      // As a process started now finds it: its pool has no connection from before the halt.
      await sleep(200)
      const err = await failure(backend.refs.updateRefs([{ name: 'r', expected: 'a', value: 'b', log: { time: 2, reason: 'y' } }]))
      expect(err.code).toBe('STORE_UNAVAILABLE')
      expect(err.details).toMatchObject({ retryable: true, port: Number(new URL(url).port) })
      expect(err.message).toContain(`127.0.0.1:${new URL(url).port}`)
      expect(err.message).not.toContain(decodeURIComponent(new URL(url).password))
      restartImmediately(server.dir)
      expect(await backend.refs.readRef('r')).toBe('a')
      expect((await backend.refs.readReflog('r')).map((e) => e.reason)).toEqual(['x'])
    } finally {
      await backend.close()
    }
  }, 60_000)
})
