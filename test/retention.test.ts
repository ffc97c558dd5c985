import { describe, expect, it } from 'vitest'
import type { Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { collect, steppingClock, tempStore } from './support/temp.js'

const HOUR = 3_600_000

/** `count` checkpoints on main, one hour apart by the store's clock; returns their ids oldest first. */
async function hourlyHistory(store: Store, count: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < count; i++) ids.push((await store.commit({ stage: `s${i % 3}`, output: { i }, time: Date.UTC(2026, 0, 1) + i * HOUR })).id)
  return ids
}

async function present(store: Store, id: string): Promise<boolean> {
  return store.getCheckpoint(id).then(
    () => true,
    (err: { code?: string }) => {
      if (err.code === 'NOT_FOUND') return false
      throw err
    },
  )
}

describe('retention', () => {
  it('keeps the last N, tagged and pinned checkpoints with their history, and drops the rest', async () => {
    const { store } = await tempStore()
    const ids = await hourlyHistory(store, 10)
    await store.tags.create('baseline', ids[2]!)
    await store.pins.add(ids[5]!)
    await store.retention.set('main', { keepLast: 2 })
    const result = await store.gc({ prune: 'now' })
    // Kept: the newest two, the pin and its ancestors (the tag among them). Dropped: 6, 7.
    expect(result.retention).toEqual([{ timeline: 'main', kept: 8, dropped: 2, cuts: [ids[8]] }])
    for (const [i, id] of ids.entries()) expect(await present(store, id)).toBe(i !== 6 && i !== 7)
    expect((await store.fsck()).problems).toEqual([])
    expect((await collect(store.log(`tags/baseline`))).map((c) => c.id)).toEqual(ids.slice(0, 3).reverse())
  })

  it('shows a cut in the log and still reads and diffs the checkpoints after it', async () => {
    const { store } = await tempStore()
    const ids = await hourlyHistory(store, 6)
    await store.retention.set('main', { keepLast: 3 })
    await store.gc({ prune: 'now' })
    const log = await collect(store.log('main'))
    expect(log.map((c) => c.id)).toEqual(ids.slice(3).reverse())
    expect(log.map((c) => c.historyCut ?? false)).toEqual([false, false, true])
    expect(log[2]!.parents).toEqual([ids[2]])
    expect(await store.getOutput(`${ids[3]}:s0`)).toEqual({ i: 3 })
    const diff = await store.diff(ids[3]!, ids[5]!)
    expect(Object.fromEntries(diff.stages.map((s) => [s.stage, s.status]))).toEqual({ s0: 'unchanged', s1: 'changed', s2: 'changed' })
    expect((await failure(store.getCheckpoint('main~3'))).code).toBe('NOT_FOUND')
  })

  it('keeps checkpoints younger than the window, by the store clock', async () => {
    const clock = steppingClock(Date.UTC(2026, 0, 1) + 9 * HOUR)
    const { store } = await tempStore({ clock })
    const ids = await hourlyHistory(store, 10)
    await store.retention.set('main', { keepWithinMs: 3 * HOUR + 30 * 60_000 })
    await store.gc({ prune: 'now' })
    // The clock reads 9h plus a few seconds: checkpoints at 6h, 7h, 8h and 9h are within 3.5 hours.
    expect((await collect(store.log('main'))).map((c) => c.id)).toEqual(ids.slice(6).reverse())
  })

  it('never cuts history another timeline shares', async () => {
    const { store } = await tempStore()
    const ids = await hourlyHistory(store, 8)
    await store.timelines.create('exp', ids[3]!)
    await store.retention.set('main', { keepLast: 1 })
    await store.gc({ prune: 'now' })
    expect((await collect(store.log('exp'))).map((c) => c.id)).toEqual(ids.slice(0, 4).reverse())
    expect((await store.fsck()).problems).toEqual([])
    for (const id of ids.slice(4, 7)) expect(await present(store, id)).toBe(false)
  })

  it('refuses a bad policy and a missing timeline, writing nothing', async () => {
    const { store } = await tempStore()
    await hourlyHistory(store, 1)
    expect((await failure(store.retention.set('main', {}))).code).toBe('INVALID_ARGUMENT')
    expect((await failure(store.retention.set('main', { keepLast: 0 }))).code).toBe('INVALID_ARGUMENT')
    expect((await failure(store.retention.set('main', { keepWithinMs: -1 }))).code).toBe('INVALID_ARGUMENT')
    expect((await failure(store.retention.set('nope', { keepLast: 3 }))).code).toBe('NOT_FOUND')
    expect(await store.retention.list()).toEqual([])
    await store.retention.set('main', { keepLast: 3 })
    expect(await store.retention.get('main')).toEqual({ keepLast: 3 })
    await store.retention.clear('main')
    expect(await store.retention.get('main')).toBeUndefined()
  })
})

describe('pins', () => {
  it('pins once, lists, and refuses to unpin what is not pinned', async () => {
    const { store } = await tempStore()
    const [a] = await hourlyHistory(store, 2)
    expect(await store.pins.add(a!)).toBe(a)
    expect(await store.pins.add(a!)).toBe(a)
    expect(await store.pins.list()).toEqual([a])
    expect(await store.pins.remove(a!)).toBe(a)
    expect((await failure(store.pins.remove(a!))).code).toBe('NOT_FOUND')
    expect(await store.pins.list()).toEqual([])
  })
})

describe('deleting and restoring a timeline', () => {
  it('brings back the identical history, and gc keeps it meanwhile', async () => {
    const { store } = await tempStore()
    await hourlyHistory(store, 2)
    await store.timelines.create('exp', 'main')
    for (let i = 0; i < 3; i++) await store.commit({ timeline: 'exp', stage: 'e', output: { i } })
    const before = await collect(store.log('exp'))
    await store.timelines.delete('exp')
    await store.gc({ prune: 'now' })
    await store.timelines.restore('exp')
    expect(await collect(store.log('exp'))).toEqual(before)
    expect((await store.fsck()).problems).toEqual([])
  })
})
