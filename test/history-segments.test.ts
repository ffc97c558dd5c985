import path from 'node:path'
import { hash } from 'blake3-jit'
import { describe, expect, it } from 'vitest'
import { openLevelBackend, openStoreOn, type Backend, type CheckpointSummary, type LogOptions, type Store } from '../src/index.js'
import { ckpt } from './support/cli.js'
import { collect, onCleanup, tempStore } from './support/temp.js'

/** Checkpoints per history segment (docs/format.md). */
const SPAN = 256
const T0 = Date.UTC(2026, 0, 2)
const SEGMENT_KEYS = { gte: Uint8Array.of(0x03), lt: Uint8Array.of(0x04) }

/** What history and log share, as plain data. */
function header(c: CheckpointSummary) {
  return {
    id: c.id,
    shortId: c.shortId,
    parents: c.parents,
    seq: c.seq,
    stage: c.stage,
    run: c.run,
    job: c.job,
    message: c.message,
    author: c.author,
    time: c.time.getTime(),
    historyCut: c.historyCut,
  }
}

async function expectSameAsLog(store: Store, revisions: string | string[], options: LogOptions = {}): Promise<CheckpointSummary[]> {
  const history = await collect(store.history(revisions, options))
  const log = await collect(store.log(revisions, options))
  expect(history.map(header)).toEqual(log.map(header))
  return history
}

/** A store of `count` checkpoints on main, one per second, with runs, jobs and non-ASCII messages. */
async function longHistory(count: number): Promise<string> {
  const { store, dir } = await tempStore({ author: 'Zoë' })
  for (let i = 1; i <= count; i++) {
    await store.commit({ stage: `s${i % 3}`, output: { i }, run: `r${i % 5}`, job: `j${i % 2}`, message: `step ${i} ✓\nbody`, meta: { i: String(i % 7) }, time: T0 + i * 1000 })
  }
  await store.close()
  return dir
}

/** The store at `dir` on its LevelDB backend, seen through `get`, which may count or change what is read. */
async function storeWithReads(dir: string, get: (key: Uint8Array, value: Uint8Array | undefined) => Uint8Array | undefined): Promise<{ store: Store; backend: Backend }> {
  const inner = await openLevelBackend(path.join(dir, 'db'), { packDir: path.join(dir, 'packs') })
  const objects = { ...inner.objects, get: async (key: Uint8Array) => get(key, await inner.objects.get(key)) }
  const backend: Backend = {
    description: inner.description,
    supports: inner.supports,
    objects,
    refs: inner.refs,
    ...(inner.scratch && { scratch: inner.scratch }),
    close: () => inner.close(),
  }
  const store = await openStoreOn(backend)
  onCleanup(() => store.close())
  return { store, backend }
}

async function segmentCount(backend: Backend): Promise<number> {
  return (await collect(backend.objects.keys(SEGMENT_KEYS))).length
}

describe('history segments', () => {
  it('history shows what log shows, reading one segment per 256 checkpoints instead of each checkpoint', async () => {
    const dir = await longHistory(700)
    let reads = 0
    const { store, backend } = await storeWithReads(dir, (_key, value) => {
      reads++
      return value
    })
    // Checkpoints 256 and 512 top a segment each.
    expect(await segmentCount(backend)).toBe(2)
    const history = await collect(store.history('main'))
    // 700 down to 513 one by one, then the segments of 512 and 256.
    expect(reads).toBe(700 - 2 * SPAN + 2)
    expect(history).toHaveLength(700)
    expect(history.map((c) => c.seq)).toEqual(Array.from({ length: 700 }, (_, i) => 700 - i))
    await expectSameAsLog(store, 'main')
  })

  it('filters, limits and ranges agree with log across segment boundaries', async () => {
    const dir = await longHistory(600)
    const { store } = await storeWithReads(dir, (_key, value) => value)
    for (const options of [
      { limit: 300 },
      { stage: 's1' },
      { run: 'r2', job: 'j0' },
      { author: 'zo' },
      { since: T0 + 100_000, until: T0 + 400_000 },
      { meta: { i: '3' } },
      { changed: ['s2'] },
      { firstParent: true, limit: 1 },
    ] satisfies LogOptions[]) {
      await expectSameAsLog(store, 'main', options)
    }
    expect((await expectSameAsLog(store, 'main~100')).at(0)?.seq).toBe(500)
    expect(await collect(store.history('main', { limit: 0 }))).toEqual([])
  })

  it('branches and merges walk in the same order as log, with each checkpoint once', async () => {
    const { store } = await tempStore()
    let time = T0
    for (let i = 0; i < 300; i++) await store.commit({ stage: 'a', output: { i }, time: (time += 1000) })
    await store.timelines.create('side', 'main#200')
    for (let i = 0; i < 330; i++) {
      await store.commit({ timeline: i % 3 === 0 ? 'main' : 'side', stage: i % 3 === 0 ? 'a' : 'b', output: { side: i }, time: (time += 1000) })
    }
    await store.merge('side', { timeline: 'main' })
    // Past main#512, whose segment then holds the merge and its second parent's id.
    for (let i = 0; i < 110; i++) await store.commit({ stage: 'a', output: { after: i }, time: (time += 1000) })
    expect((await store.getCheckpoint('main')).seq).toBeGreaterThan(512)

    const all = await expectSameAsLog(store, 'main')
    expect(new Set(all.map((c) => c.id)).size).toBe(all.length)
    expect(all.some((c) => c.parents.length === 2)).toBe(true)
    await expectSameAsLog(store, 'main', { firstParent: true })
    await expectSameAsLog(store, ['side', 'main'])
    await expectSameAsLog(store, 'side', { limit: 250 })
  })

  it('a damaged segment is passed over: history reads the checkpoints and stays right, fsck names it', async () => {
    const dir = await longHistory(600)
    const { store } = await storeWithReads(dir, (key, value) => {
      if (key[0] !== 0x03 || value === undefined) return value
      const damaged = Uint8Array.from(value)
      damaged[damaged.length - 10] = damaged.at(-10)! ^ 0x20
      return damaged
    })
    await expectSameAsLog(store, 'main')
    const report = await store.fsck()
    expect(report.problems.map((p) => p.message)).toEqual([expect.stringMatching(/history segment is damaged/), expect.stringMatching(/history segment is damaged/)])
    expect(report.problems.map((p) => p.id).sort()).toEqual((await Promise.all([store.resolve('main#256'), store.resolve('main#512')])).sort())
  })

  it("a sound segment stored under another checkpoint's key is not used, and fsck says it does not match", async () => {
    const dir = await longHistory(600)
    const inner = await openLevelBackend(path.join(dir, 'db'), { packDir: path.join(dir, 'packs') })
    const [low, high] = await collect(inner.objects.keys(SEGMENT_KEYS))
    const swapped = new Map([
      [Buffer.from(low!).toString('hex'), (await inner.objects.get(high!))!],
      [Buffer.from(high!).toString('hex'), (await inner.objects.get(low!))!],
    ])
    await inner.close()
    const { store } = await storeWithReads(dir, (key, value) => swapped.get(Buffer.from(key).toString('hex')) ?? value)
    await expectSameAsLog(store, 'main')
    const report = await store.fsck()
    expect(report.problems).toHaveLength(2)
    for (const problem of report.problems) expect(problem.message).toMatch(/history segment does not match/)
  })

  it('fsck compares every header a sound segment lists with its checkpoint, as the walk reads it', async () => {
    const dir = await longHistory(300)
    // The documented layout (docs/format.md), rewritten with one message changed and a valid digest.
    const edit = (value: Uint8Array) => {
      const body = JSON.parse(Buffer.from(value.subarray(32)).toString('latin1')) as { v: number; entries: unknown[][] }
      body.entries[100]![6] = 'not what the checkpoint says'
      const ascii = JSON.stringify(body).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      const json = Buffer.from(ascii, 'latin1')
      return Uint8Array.from(Buffer.concat([hash(json), json]))
    }
    const { store } = await storeWithReads(dir, (key, value) => (key[0] === 0x03 && value !== undefined ? edit(value) : value))
    const history = await collect(store.history('main'))
    // log trusts a segment whose digest holds: what fsck is there to catch.
    expect(history.find((c) => c.seq === 156)?.message).toBe('not what the checkpoint says')
    const report = await store.fsck()
    expect(report.problems).toEqual([expect.objectContaining({ id: await store.resolve('main#256'), kind: 'corrupt', message: expect.stringMatching(/does not match/) })])
  })

  it('gc keeps the segments of kept checkpoints and deletes those of checkpoints retention dropped', async () => {
    const dir = await longHistory(600)
    const { store, backend } = await storeWithReads(dir, (_key, value) => value)
    await store.gc({ prune: 'now' })
    expect(await segmentCount(backend)).toBe(2)
    expect((await store.fsck()).problems).toEqual([])

    await store.retention.set('main', { keepLast: 300 })
    await store.gc({ prune: 'now' })
    // Checkpoint 256 is gone with its segment; 512 stays, its segment listing some that are gone.
    expect(await segmentCount(backend)).toBe(1)
    const history = await expectSameAsLog(store, 'main')
    expect(history).toHaveLength(300)
    expect(history.at(-1)?.historyCut).toBe(true)
    expect((await store.fsck()).problems).toEqual([])
  })

  it('an imported history arrives without segments, and gc writes them', async () => {
    const { store: source } = await storeWithReads(await longHistory(600), (_key, value) => value)
    const car = Buffer.concat(await collect(source.exportCar('main')))
    const { store: target, dir } = await tempStore()
    await target.importCar(
      (async function* () {
        yield car
      })(),
    )
    await target.close()
    let reads = 0
    const { store, backend } = await storeWithReads(dir, (_key, value) => {
      reads++
      return value
    })
    expect(await segmentCount(backend)).toBe(0)
    await expectSameAsLog(store, 'main')
    const result = await store.gc({ prune: 'now' })
    expect(result.historySegmentsWritten).toBe(2)
    expect(await segmentCount(backend)).toBe(2)
    expect((await store.gc({ prune: 'now' })).historySegmentsWritten).toBe(0)
    expect((await store.fsck()).problems).toEqual([])
    reads = 0
    expect(await collect(store.history('main'))).toHaveLength(600)
    expect(reads).toBe(600 - 2 * SPAN + 2)
  })

  it('ckpt log prints the same history as the library, from segments', async () => {
    const dir = await longHistory(520)
    const { store } = await storeWithReads(dir, (_key, value) => value)
    const ids = (await collect(store.log('main'))).map((c) => c.id)
    await store.close()
    const printed = ckpt(dir, ['--store', dir, 'log', '--format=%H %N %s'])
    expect(printed.code).toBe(0)
    expect(printed.stdout.trim().split('\n')).toEqual(ids.map((id, i) => `${id} ${520 - i} step ${520 - i} ✓`))
    const graph = ckpt(dir, ['--store', dir, 'log', '--graph', '--all', '--oneline'])
    expect(graph.stdout.trim().split('\n')).toHaveLength(520)
  })
})
