import { createReadStream, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore, type Store } from '../src/index.js'
import { foreignKeysInStore } from './support/object-keys.js'
import { fixture, runFixture, runWriter } from './support/processes.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, onCleanup, tempDir, tempStore } from './support/temp.js'

describe('several processes on one store', () => {
  it('lets another process commit its own timeline while this one holds the store', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ timeline: 'a', stage: 'seed', output: 0 })
    const child = runWriter([dir, 'commit', 'b', '60'])
    const mine = []
    for (let i = 0; i < 60; i++) mine.push((await store.commit({ timeline: 'a', stage: 'x', output: i })).id)
    expect(await child.exited).toBe(0)
    const theirs = child.lines
    expect(theirs.length).toBe(60)
    expect((await collect(store.log('b'))).map((c) => c.id)).toEqual([...theirs].reverse())
    expect((await collect(store.log('a'))).length).toBe(61)
    expect(await store.timelines.get('a')).toBe(mine.at(-1))
  })

  it('loses no checkpoint when processes race on one timeline with retry', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ timeline: 'shared', stage: 'seed', output: 0 })
    const children = [runWriter([dir, 'commit', 'shared', '40', 'retry']), runWriter([dir, 'commit', 'shared', '40', 'retry'])]
    for (let i = 0; i < 40; i++) await store.commit({ timeline: 'shared', stage: 'parent', output: i, retry: 1000 })
    expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0])
    const history = new Set((await collect(store.log('shared'))).map((c) => c.id))
    expect(history.size).toBe(121)
    for (const child of children) for (const id of child.lines) expect(history.has(id)).toBe(true)
  })

  it('keeps working when the process holding the database is killed', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ stage: 'seed', output: 0 })
    await creator.close()
    const holder = runWriter([dir, 'hold'])
    await holder.waitForLine((l) => l === 'ready')
    const reader = await openStore(dir)
    onCleanup(() => reader.close())
    expect((await reader.getCheckpoint('main')).stage).toBe('seed')
    holder.process.kill('SIGKILL')
    await holder.exited
    // The next calls find the leader gone, take the database over and carry on.
    const c = await reader.commit({ stage: 'after', output: 1 })
    expect((await collect(reader.log())).map((x) => x.stage)).toEqual(['after', 'seed'])
    expect(c.parents.length).toBe(1)
  })

  /** A writer run on a new store and killed (SIGKILL) once it has acknowledged `count` checkpoints; the store reopened. */
  async function killWriterAfter(mode: 'commit' | 'commit-large', count: number): Promise<{ store: Store; acknowledged: string[] }> {
    const { store: creator, dir } = await tempStore()
    await creator.close()
    const writer = runWriter([dir, mode, 'main', '100000'])
    await writer.waitForLine(() => writer.lines.length >= count)
    writer.process.kill('SIGKILL')
    await writer.exited
    const store = await openStore(dir)
    onCleanup(() => store.close())
    return { store, acknowledged: [...writer.lines] }
  }

  it('keeps every acknowledged checkpoint of a writer killed mid-commit', async () => {
    const { store, acknowledged } = await killWriterAfter('commit', 150)
    const history = (await collect(store.log('main'))).map((c) => c.id)
    const inHistory = new Set(history)
    for (const id of acknowledged) expect(inHistory.has(id)).toBe(true)
    // The head is the last acknowledged checkpoint or the one in flight when the kill landed.
    expect(history.length - acknowledged.length).toBeLessThanOrEqual(1)
    for (const id of acknowledged.slice(-5)) expect((await store.getOutput(`${id}:step0`)) !== undefined).toBe(true)
  })

  it('keeps every acknowledged large output of a writer killed while streaming chunks into pack files', async () => {
    const { store, acknowledged } = await killWriterAfter('commit-large', 4)
    const inHistory = new Set((await collect(store.log('main'))).map((c) => c.id))
    for (const id of acknowledged) expect(inHistory.has(id)).toBe(true)
    // Every acknowledged blob reads back whole and verified, and nothing reachable is damaged.
    for (const id of acknowledged) {
      const checkpoint = await store.getCheckpoint(id)
      const stage = checkpoint.stage as string
      expect((await store.getBlob(checkpoint.stages[stage] as string)).length).toBe(10 * 1024 * 1024)
    }
    expect((await store.fsck()).problems).toEqual([])
  })

  it('shares the stat cache with a follower process: what one process stored, the other recognises without reading it', async () => {
    const { store, dir } = await tempStore()
    const file = path.join(tempDir(), 'weights.bin')
    const bytes = pseudoRandomBytes(3 * 1024 * 1024, 41)
    writeFileSync(file, bytes)
    const commitInChild = async () => {
      const child = runFixture(fixture('commit-file.js'), [dir, 'weights', file])
      expect(await child.exited).toBe(0)
      return JSON.parse(child.lines[0]!) as { id: string; bytesRead: number }
    }
    // The child follows this process, which holds the database: its cache entry goes over the socket.
    const first = await commitInChild()
    expect(first.bytesRead).toBe(bytes.length)
    const here = createReadStream(file)
    const mine = await store.commit({ stage: 'weights', output: here })
    expect(here.bytesRead).toBe(0)
    expect(mine.stages.weights).toBe(first.id)
    // And a follower reads the entry this process keeps.
    writeFileSync(file, bytes.subarray(0, bytes.length - 1))
    const here2 = createReadStream(file)
    const shorter = await store.commit({ stage: 'weights', output: here2 })
    expect(here2.bytesRead).toBe(bytes.length - 1)
    const second = await commitInChild()
    expect(second).toEqual({ id: shorter.stages.weights, bytesRead: 0 })
    expect(await foreignKeysInStore(dir)).toEqual([])
  })
})
