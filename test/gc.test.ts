import { readdirSync, statSync, truncateSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { openStore, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { runWriter } from './support/processes.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, onCleanup, tempStore } from './support/temp.js'

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  expect((await failure(promise)).code).toBe(code)
}

async function objectIds(store: Store): Promise<Set<string>> {
  return new Set((await collect(store.objects())).map((o) => o.id))
}

/** Makes a side timeline with `count` checkpoints, then deletes it and forgets its reflog: all of it is garbage. */
async function garbageTimeline(store: Store, name: string, count: number, output: (i: number) => unknown): Promise<string[]> {
  const ids: string[] = []
  await store.timelines.create(name, 'main')
  for (let i = 0; i < count; i++) ids.push((await store.commit({ timeline: name, stage: 'side', output: output(i) })).id)
  await store.timelines.delete(name)
  await store.expireReflogs({ refs: [name], before: Date.now() + 1000 })
  return ids
}

function packBytes(dir: string): number {
  const packs = path.join(dir, 'packs')
  return readdirSync(packs).reduce((sum, name) => sum + statSync(path.join(packs, name)).size, 0)
}

describe('gc', () => {
  it('removes exactly the unreachable objects older than the grace window', async () => {
    const { store } = await tempStore()
    const kept = await store.commit({ stage: 'a', output: { keep: 1, bytes: Uint8Array.of(1, 2, 3) } })
    const reachable = await objectIds(store)
    const old = await store.putBlob(Uint8Array.of(9, 9, 9))
    const oldCheckpoints = await garbageTimeline(store, 'old', 2, (i) => ({ old: i }))
    await sleep(1500)
    const young = await store.putBlob(Uint8Array.of(8, 8, 8))
    const youngCheckpoints = await garbageTimeline(store, 'young', 2, (i) => ({ young: i }))

    const before = await objectIds(store)
    const dry = await store.gc({ prune: 1000, dryRun: true })
    expect(await objectIds(store)).toEqual(before)
    const result = await store.gc({ prune: 1000 })
    expect(result.freed).toEqual(dry.freed)
    expect(result.freed.objects).toBe(5) // 2 checkpoints, 2 outputs, 1 blob
    expect(result.freed.bytes).toBeGreaterThan(0)

    const after = await objectIds(store)
    for (const id of reachable) expect(after.has(id)).toBe(true)
    for (const id of [old, ...oldCheckpoints]) expect(after.has(id)).toBe(false)
    for (const id of [young, ...youngCheckpoints]) expect(after.has(id)).toBe(true)
    expect(after.size).toBe(before.size - 5)
    await expectCode(store.getBlob(old), 'NOT_FOUND')
    expect((await store.getCheckpoint('main')).id).toBe(kept.id)
    expect((await store.fsck()).problems).toEqual([])
  })

  it('keeps everything a young object reaches, even objects older than the window', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    // Large enough that the writer asks before sending it, so storing it again does not refresh it.
    const bytes = pseudoRandomBytes(20 * 1024, 3)
    const oldBlob = await store.putBlob(bytes)
    const unrelated = await store.putBlob(pseudoRandomBytes(20 * 1024, 4))
    await sleep(1200)
    const [young] = await garbageTimeline(store, 'young', 1, () => ({ bytes }))
    const result = await store.gc({ prune: 1000 })
    expect(result.freed.objects).toBe(1)
    const after = await objectIds(store)
    expect(after.has(unrelated)).toBe(false)
    expect(after.has(oldBlob)).toBe(true)
    expect((await store.getOutput(`${young}:side`)) as { bytes: Uint8Array }).toEqual({ bytes })
  })

  it('reports what a dry run would free and frees the same in the real run, then nothing', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    await garbageTimeline(store, 'g', 4, (i) => ({ i, big: pseudoRandomBytes(3 * 1024 * 1024, i) }))
    const dry = await store.gc({ prune: 'now', dryRun: true })
    expect(dry.dryRun).toBe(true)
    expect(dry.freed.bytes).toBeGreaterThan(12 * 1024 * 1024)
    const real = await store.gc({ prune: 'now' })
    expect(real.freed).toEqual(dry.freed)
    expect((await store.gc({ prune: 'now', dryRun: true })).freed).toEqual({ objects: 0, bytes: 0 })
    expect((await store.fsck()).problems).toEqual([])
  })

  it('keeps reflog entries until they expire, and what only they reach', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    await store.timelines.create('t', 'main')
    const old = await store.commit({ timeline: 't', stage: 'a', output: 'reachable from the reflog only' })
    await store.timelines.delete('t')
    expect((await store.gc({ prune: 'now' })).freed.objects).toBe(0)
    await store.timelines.restore('t')
    expect(await store.timelines.get('t')).toBe(old.id)
    await store.timelines.delete('t')
    expect(await store.expireReflogs({ before: Date.now() + 1000, refs: ['t'] })).toEqual({ refs: 1, entries: 5 }) // created, commit, deleted, restored, deleted
    await expectCode(store.timelines.restore('t'), 'NOT_FOUND')
    expect((await store.gc({ prune: 'now' })).freed.objects).toBe(2)
    await expectCode(store.getCheckpoint(old.id), 'NOT_FOUND')
  })

  it('follows checkpoint ids that pipeline run records hold as text', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    const [side] = await garbageTimeline(store, 'side', 1, () => ({ run: 'base' }))
    const record = await store.putOutput({ base: side, note: 'a run record' })
    await store.index.swap('runs/r1', null, record)
    expect((await store.gc({ prune: 'now' })).freed.objects).toBe(0)
    expect((await store.getCheckpoint(side as string)).stage).toBe('side')
  })

  it('gives back pack space of dropped large outputs, and what stays reads back whole', async () => {
    const { store: creator, dir } = await tempStore()
    const kept = pseudoRandomBytes(3 * 1024 * 1024, 1)
    await creator.commit({ stage: 'keep', output: kept })
    await garbageTimeline(creator, 'big', 6, (i) => pseudoRandomBytes(4 * 1024 * 1024, 100 + i))
    await creator.close()
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const before = packBytes(dir)
    const result = await store.gc({ prune: 'now' })
    expect(result.reclaimed.files).toBeGreaterThan(0)
    const after = packBytes(dir)
    expect(before - after).toBeGreaterThan(20 * 1024 * 1024)
    expect(after).toBeLessThan(5 * 1024 * 1024)
    expect(Buffer.compare(Buffer.from(await store.getBlob('main:keep')), Buffer.from(kept))).toBe(0)
    expect((await store.fsck()).problems).toEqual([])
  })

  it('keeps the commits this process makes while it rewrites packs, and lets them through meanwhile', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'keep', output: pseudoRandomBytes(3 * 1024 * 1024, 1) })
    await garbageTimeline(creator, 'big', 6, (i) => pseudoRandomBytes(4 * 1024 * 1024, 100 + i))
    await creator.close()
    const store = await openStore(dir)
    onCleanup(() => store.close())
    let collecting = true
    const collected = store.gc({ prune: 'now' }).finally(() => (collecting = false))
    // Moving live records writes synced batches, which commits arriving meanwhile wait for.
    const timelines = ['w1', 'w2', 'w3', 'w4']
    for (const name of timelines) await store.timelines.create(name, 'main')
    const acknowledged = await Promise.all(
      timelines.map(async (timeline) => {
        const ids: string[] = []
        while (collecting) ids.push((await store.commit({ timeline, stage: 'beside', output: { n: ids.length } })).id)
        return ids
      }),
    )
    expect((await collected).reclaimed.files).toBeGreaterThan(0)
    for (const [i, timeline] of timelines.entries()) {
      expect((await collect(store.log(timeline))).map((c) => c.id).slice(0, -1).reverse().slice(-acknowledged[i]!.length)).toEqual(acknowledged[i])
    }
    expect((await store.fsck()).problems).toEqual([])
  })

  it('leaves a damaged pack in place for fsck to report, instead of failing or deleting it', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'seed', output: 1 })
    await garbageTimeline(creator, 'big', 4, (i) => pseudoRandomBytes(4 * 1024 * 1024, 100 + i))
    await creator.commit({ stage: 'keep', output: pseudoRandomBytes(3 * 1024 * 1024, 1) })
    await creator.close()
    const [pack] = readdirSync(path.join(dir, 'packs'))
    // The kept blob's chunks are at the end of the pack: cut the pack before them, leaving it
    // long enough that its live share still looks small and reclaim tries to move them.
    truncateSync(path.join(dir, 'packs', pack!), 12 * 1024 * 1024)
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const result = await store.gc({ prune: 'now' })
    expect(result.freed.objects).toBeGreaterThan(0)
    expect(result.reclaimed.files).toBe(0)
    expect(readdirSync(path.join(dir, 'packs'))).toContain(pack)
    expect((await store.fsck()).ok).toBe(false)
  })

  it('loses no acknowledged checkpoint of a writer in another process while gc --prune=now runs again and again', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'seed', output: 0 })
    await garbageTimeline(store, 'old', 20, (i) => ({ old: i, bytes: pseudoRandomBytes(20 * 1024, 7000 + (i % 4)) }))
    const writer = runWriter([dir, 'churn', 'main', '120'])
    let runs = 0
    let freed = 0
    while (writer.process.exitCode === null) {
      freed += (await store.gc({ prune: 'now' })).freed.objects
      runs++
    }
    expect(await writer.exited).toBe(0)
    expect(runs).toBeGreaterThan(2)
    expect(freed).toBeGreaterThan(20)
    await assertAcknowledgedIntact(store, writer.lines)
  })

  it('loses nothing when gc runs in a second process beside the writer that holds the store', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'seed', output: 0 })
    await garbageTimeline(creator, 'old', 10, (i) => ({ old: i }))
    await creator.close()
    // Paced as a pipeline's stages are: unpaced, the writer grows the history faster than a
    // collector reading it through the writer's process can mark it, and each gc runs longer.
    const writer = runWriter([dir, 'churn', 'main', '100000'], { WRITER_PACE_MS: '2' })
    await writer.waitForLine(() => writer.lines.length >= 5)
    const collector = runWriter([dir, 'gc', '4'])
    expect(await collector.exited).toBe(0)
    expect(collector.lines).toContain('gc 4')
    // The writer still holds the store; stop it the hard way, then check what it acknowledged.
    writer.process.kill('SIGKILL')
    await writer.exited
    const store = await openStore(dir)
    onCleanup(() => store.close())
    await assertAcknowledgedIntact(store, writer.lines)
  })

  it('leaves a store that opens and passes fsck when killed at random points, and the next gc finishes the job', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'keep', output: pseudoRandomBytes(2 * 1024 * 1024, 5) })
    const history = (await collect(creator.log('main'))).map((c) => c.id)
    await creator.close()
    // Each round makes fresh garbage (small objects and packed chunks), so every kill lands in real work.
    const delays = [60, 150, 250, 350, 500, 800]
    for (const [round, delay] of delays.entries()) {
      const writer = await openStore(dir)
      await garbageTimeline(writer, `g${round}`, 12, (i) => (i % 4 === 0 ? pseudoRandomBytes(1536 * 1024, round * 100 + i) : { round, i }))
      await writer.close()
      const collector = runWriter([dir, 'gc'])
      await sleep(delay)
      collector.process.kill('SIGKILL')
      await collector.exited
      const store = await openStore(dir)
      try {
        expect((await store.fsck()).problems).toEqual([])
        expect((await collect(store.log('main'))).map((c) => c.id)).toEqual(history)
        expect((await store.getBlob('main:keep')).length).toBe(2 * 1024 * 1024)
      } finally {
        await store.close()
      }
    }
    const store = await openStore(dir)
    onCleanup(() => store.close())
    await store.gc({ prune: 'now' })
    expect((await store.gc({ prune: 'now', dryRun: true })).freed.objects).toBe(0)
    expect((await store.fsck()).problems).toEqual([])
  })
})

/** Every acknowledged checkpoint is in main's history, reads back with every output, and fsck is clean. */
async function assertAcknowledgedIntact(store: Store, acknowledged: readonly string[]): Promise<void> {
  expect(acknowledged.length).toBeGreaterThan(0)
  // Each acknowledged checkpoint by itself first, so a failure names what was lost.
  const unreadable: string[] = []
  for (const id of acknowledged) await store.getCheckpoint(id).catch(() => unreadable.push(id))
  expect(unreadable).toEqual([])
  const history = new Set((await collect(store.log('main'))).map((c) => c.id))
  for (const id of acknowledged) {
    expect(history.has(id)).toBe(true)
    const checkpoint = await store.getCheckpoint(id)
    for (const stage of Object.keys(checkpoint.stages)) await store.getOutput(`${id}:${stage}`)
  }
  expect((await store.fsck()).problems).toEqual([])
}
