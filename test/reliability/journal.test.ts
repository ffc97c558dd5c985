import { appendFileSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openStore } from '../../src/index.js'
import { runWriter } from '../support/processes.js'
import { collect, onCleanup, tempStore } from '../support/temp.js'

/*
 * In the default durability a commit is acknowledged once its batch is in the write journal;
 * LevelDB gets it a few milliseconds later (docs/durability.md). These tests kill a writer in
 * that window and check what the next process to open the store finds.
 */

const COMMITS = 200

/** A store whose writer died right after acknowledging COMMITS checkpoints on main. */
async function killedWriter(): Promise<{ dir: string; journal: string; acknowledged: string[] }> {
  const { store, dir } = await tempStore()
  const seed = await store.commit({ stage: 'seed', output: 0 })
  await store.close()
  return { dir, journal: path.join(dir, 'db', 'ckpt-journal'), acknowledged: [seed.id, ...(await commitThenDie(dir))] }
}

/** Runs a writer that commits `count` checkpoints on main and is killed the moment the last is acknowledged. */
async function commitThenDie(dir: string, count = COMMITS): Promise<string[]> {
  const writer = runWriter([dir, 'commit-then-die', 'main', String(count)])
  expect(await writer.exited).toBe('SIGKILL')
  expect(writer.lines).toHaveLength(count)
  return writer.lines
}

async function expectHistory(dir: string, acknowledged: readonly string[]): Promise<void> {
  const store = await openStore(dir)
  onCleanup(() => store.close())
  expect((await collect(store.log('main'))).map((c) => c.id).reverse()).toEqual(acknowledged)
  for (const id of acknowledged.slice(-5)) expect(Object.keys((await store.getCheckpoint(id)).stages).length).toBeGreaterThan(0)
  expect((await store.fsck()).problems).toEqual([])
  await store.close()
}

describe('the write journal', () => {
  it('gives the next process every checkpoint a killed writer acknowledged before LevelDB had it', async () => {
    const { dir, journal, acknowledged } = await killedWriter()
    // The last commits were still only in the journal: opening the store must replay them.
    expect(statSync(journal).size).toBeGreaterThan(0)
    await expectHistory(dir, acknowledged)
    expect(statSync(journal).size).toBe(0)
  })

  it('opens past a torn last record, which no caller was told was written', async () => {
    const { dir, journal, acknowledged } = await killedWriter()
    await expectHistory(dir, acknowledged)
    // A record header promising 4 KiB, and only part of it: what a kill in mid-append leaves.
    const torn = Buffer.alloc(8 + 100, 7)
    torn.writeUInt32LE(4096, 0)
    appendFileSync(journal, torn)
    // The next writer cuts the torn record before appending, or a replay would stop at it. One
    // commit, so that the writer dies before it would empty the journal.
    const next = await commitThenDie(dir, 1)
    expect(statSync(journal).size).toBeGreaterThan(0)
    await expectHistory(dir, [...acknowledged, ...next])
  })

  it('stores the bytes as they were when the commit returned, whatever the caller does with its buffer afterwards', async () => {
    const { store, dir } = await tempStore()
    const bytes = new Uint8Array(1000).fill(1)
    const checkpoint = await store.commit({ stage: 'raw', output: bytes })
    bytes.fill(9)
    await store.close()
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect([...new Set(await reopened.getBlob(`${checkpoint.id}:raw`))]).toEqual([1])
  })

  it('refuses to open over a damaged record with CORRUPT_OBJECT naming the journal, rather than drop writes', async () => {
    const { dir, journal } = await killedWriter()
    const bytes = readFileSync(journal)
    bytes[12]! ^= 0xff
    writeFileSync(journal, bytes)
    const error = await openStore(dir).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'CORRUPT_OBJECT', details: { path: journal } })
    expect(readFileSync(journal)).toEqual(bytes)
  })
})
