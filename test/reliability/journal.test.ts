import { execFileSync, spawnSync } from 'node:child_process'
import { appendFileSync, chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import zlib from 'node:zlib'
import { openStore } from '../../src/index.js'
import { CKPT, ckpt } from '../support/cli.js'
import { commitThenDie, killedWriter, killedWriterWithRecords } from '../support/killed-writer.js'
import { pseudoRandomBytes } from '../support/random.js'
import { collect, onCleanup, tempStore } from '../support/temp.js'

/*
 * In the default durability a commit is acknowledged once its batch is in the write journal;
 * LevelDB gets it a few milliseconds later (docs/durability.md). These tests kill a writer in
 * that window (test/support/killed-writer.ts) and check what the next process to open the store finds.
 */

const crc32 = (zlib as unknown as { crc32: (bytes: Uint8Array) => number }).crc32

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
    const { dir, journal, acknowledged } = await killedWriterWithRecords(1)
    // The last commits were still only in the journal: opening the store must replay them.
    await expectHistory(dir, acknowledged)
    expect(statSync(journal).size).toBe(0)
  })

  it('gives a process that opens the store in fsync mode every checkpoint a killed writer left in the journal, and empties it', async () => {
    const { dir, journal, acknowledged } = await killedWriterWithRecords(1)
    const store = await openStore(dir, { level: { durability: 'fsync' } })
    onCleanup(() => store.close())
    expect((await collect(store.log('main'))).map((c) => c.id).reverse()).toEqual(acknowledged)
    const durable = await store.commit({ stage: 'durable', output: 1 })
    await store.close()
    // Nothing is left to be replayed later over the fsync-mode commit.
    expect(statSync(journal).size).toBe(0)
    await expectHistory(dir, [...acknowledged, durable.id])
  })

  it('shows a reader of a read-only store every checkpoint a killed writer left in the journal, and changes nothing', async () => {
    const { dir, journal, acknowledged, bytes: before } = await killedWriterWithRecords(1)
    chmodSync(path.dirname(dir), 0o755)
    execFileSync('chmod', ['-R', 'a-w,a+rX', dir])
    onCleanup(() => void execFileSync('chmod', ['-R', 'u+w', dir]))
    // Root ignores permission bits: read as an unprivileged user, for whom the store is read-only.
    const result = spawnSync(process.execPath, [CKPT, '--store', dir, 'log', 'main', '--json'], { cwd: '/', uid: 65534, gid: 65534, env: { ...process.env, NO_COLOR: '1', HOME: '/tmp' } })
    expect({ code: result.status, stderr: result.stderr.toString() }).toEqual({ code: 0, stderr: '' })
    expect(result.stdout.toString().trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id).reverse()).toEqual(acknowledged)
    expect(readFileSync(journal).equals(before)).toBe(true)
  })

  it('opens past a torn last record, which no caller was told was written', async () => {
    const { dir, journal, acknowledged } = await killedWriter()
    await expectHistory(dir, acknowledged)
    // A record header promising 4 KiB, and only part of it: what a kill in mid-append leaves.
    const torn = Buffer.alloc(12 + 100, 7)
    torn.writeUInt32LE(4096, 0)
    torn.writeUInt32LE(crc32(torn.subarray(0, 8)), 8)
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
    // A kill just after a flush leaves an empty journal, with no record to damage.
    const { dir, journal, bytes } = await killedWriterWithRecords()
    bytes[12]! ^= 0xff
    writeFileSync(journal, bytes)
    const error = await openStore(dir).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'CORRUPT_OBJECT', details: { path: journal } })
    expect(readFileSync(journal)).toEqual(bytes)
  })

  it('refuses to open when a damaged length field would hide the acknowledged records after it, naming the journal and the offset', async () => {
    const { dir, journal, bytes, starts } = await killedWriterWithRecords()
    // The first record now claims to run past the end of the file, like a torn one would.
    bytes.writeUInt32LE(0x7fff_fff0, 0)
    writeFileSync(journal, bytes)
    const error = await openStore(dir).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'CORRUPT_OBJECT', details: { path: journal, offset: 0, droppedBytes: bytes.length } })
    expect(readFileSync(journal)).toEqual(bytes)
    expect(starts.length).toBeGreaterThan(1)
  })

  it('refuses to open when random bytes overwrite a record in the middle, naming the offset of that record', async () => {
    const { dir, journal, bytes, starts } = await killedWriterWithRecords()
    const middle = starts[Math.floor(starts.length / 2)]!
    bytes.set(pseudoRandomBytes(16, 18), middle)
    writeFileSync(journal, bytes)
    const error = await openStore(dir).catch((err: unknown) => err)
    expect(error).toMatchObject({ code: 'CORRUPT_OBJECT', details: { path: journal, offset: middle } })
    expect(readFileSync(journal)).toEqual(bytes)
  })

  it('fsck --repair reports a damaged journal and changes nothing; with --cut-journal it cuts there, keeps the cut bytes, and the store opens', async () => {
    const { dir, journal, bytes, starts, acknowledged } = await killedWriterWithRecords()
    const middle = starts[Math.floor(starts.length / 2)]!
    bytes.writeUInt32LE(0x7fff_fff0, middle)
    writeFileSync(journal, bytes)

    for (const args of [['log'], ['fsck'], ['fsck', '--repair']]) {
      expect(ckpt(dir, ['--store', dir, ...args]).code).toBe(8)
      expect(readFileSync(journal)).toEqual(bytes)
    }

    const cut = ckpt(dir, ['--store', dir, 'fsck', '--repair', '--cut-journal', '--json'])
    expect(cut.code).toBe(0)
    const report = JSON.parse(cut.stdout) as { ok: boolean; journalCut: Array<{ path: string; offset: number; droppedBytes: number; savedTo: string }> }
    expect(report.ok).toBe(true)
    expect(report.journalCut).toEqual([{ path: journal, offset: middle, droppedBytes: bytes.length - middle, savedTo: expect.any(String) }])
    expect(readFileSync(report.journalCut[0]!.savedTo)).toEqual(bytes.subarray(middle))
    expect(readdirSync(path.dirname(journal))).toContain(path.basename(report.journalCut[0]!.savedTo))

    // What the records before the damage hold is kept: the history is a prefix of what was acknowledged.
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const kept = (await collect(store.log('main'))).map((c) => c.id).reverse()
    expect(kept.length).toBeGreaterThan(0)
    expect(kept.length).toBeLessThan(acknowledged.length)
    expect(kept).toEqual(acknowledged.slice(0, kept.length))
    expect((await store.fsck()).problems).toEqual([])
  })

  it('fsck --cut-journal without --repair is a usage error', async () => {
    const { dir } = await tempStore()
    expect(ckpt(dir, ['--store', dir, 'fsck', '--cut-journal']).code).toBe(2)
  })
})
