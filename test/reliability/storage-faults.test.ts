import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { ClassicLevel } from 'classic-level'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { initStore, openStore } from '../../src/index.js'
import { ckpt } from '../support/cli.js'
import { failure } from '../support/errors.js'
import { pseudoRandomBytes } from '../support/random.js'
import { collect, onCleanup, tempDir, tempStore } from '../support/temp.js'

/** A small tmpfs of its own (the test runs as root, as CI does), unmounted after the test. */
function smallDisk(mib: number): string {
  const dir = tempDir('ckpt-disk-')
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir])
  onCleanup(() => void execFileSync('umount', ['-l', dir]))
  return dir
}

const remount = (dir: string, options: string) => execFileSync('mount', ['-o', `remount,${options}`, dir])

describe('storage faults: a clear error, no further damage, and repair', () => {
  it('reports a full disk as IO_ERROR and loses no acknowledged checkpoint', async () => {
    const disk = smallDisk(24)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    const acknowledged: string[] = []
    let err
    for (let i = 0; i < 40 && !err; i++) {
      try {
        acknowledged.push((await store.commit({ stage: `s${i % 3}`, output: pseudoRandomBytes(2 * 1024 * 1024, i) })).id)
      } catch (e) {
        err = e as { code?: string; message: string }
      }
    }
    expect(err?.code).toBe('IO_ERROR')
    expect(err?.message).toMatch(/ENOSPC|no space/i)
    expect(acknowledged.length).toBeGreaterThan(2)
    await store.close().catch(() => undefined)
    remount(disk, 'size=256m')
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    const history = (await collect(reopened.log('main'))).map((c) => c.id)
    for (const id of acknowledged) expect(history).toContain(id)
    expect((await reopened.fsck()).problems).toEqual([])
    await reopened.commit({ stage: 'after', output: 'room again' })
  })

  it('reads a store on a read-only file system, refuses writes clearly, and changes nothing', async () => {
    const disk = smallDisk(16)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    const head = (await store.commit({ stage: 'a', output: 1 })).id
    await store.close()
    remount(disk, 'ro')
    const readOnly = await openStore(dir)
    expect(await readOnly.timelines.get('main')).toBe(head)
    const err = await failure(readOnly.commit({ stage: 'b', output: 2 }))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toMatch(/read-only/i)
    await readOnly.close()
    expect(ckpt(disk, ['--store', dir, 'log']).code).toBe(0)
    const cli = ckpt(disk, ['--store', dir, 'commit', '-s', 'b', '--json', '2'])
    expect(cli.code).toBe(3)
    expect(cli.stderr.trim().split('\n')).toHaveLength(1)
    remount(disk, 'rw')
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect(await reopened.timelines.get('main')).toBe(head)
    expect((await reopened.fsck()).problems).toEqual([])
  })

  it('names a lost LevelDB table file, and fsck --repair rebuilds the database from what remains', async () => {
    const { store, dir } = await tempStore()
    for (let i = 0; i < 1500; i++) await store.commit({ stage: `s${i % 5}`, output: { i, pad: 'y'.repeat(400) } })
    await store.close()
    // Reopening turns the log into a table file; losing the oldest table loses the oldest data.
    await (await openStore(dir)).close()
    const tables = readdirSync(path.join(dir, 'db')).filter((f) => f.endsWith('.ldb')).sort()
    expect(tables.length).toBeGreaterThan(0)
    rmSync(path.join(dir, 'db', tables[0]!))

    const refused = ckpt(dir, ['--store', dir, 'log', '-n', '1'])
    expect(refused.code).toBe(8)
    expect(refused.stderr).toContain(tables[0])
    expect(refused.stderr).toContain('fsck --repair')
    const repaired = ckpt(dir, ['--store', dir, 'fsck', '--repair'])
    expect(repaired.stdout).toContain('rebuilt the damaged database')
    // The store opens again; what survived reads, and fsck lists exactly what was lost.
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    const report = await reopened.fsck()
    expect(report.problems.every((p) => p.kind === 'missing' || p.kind === 'bad-ref')).toBe(true)
    expect(repaired.code).toBe(report.ok ? 0 : 1)
    // Every timeline that survived logs as far as its history survived.
    for (const { name } of await reopened.timelines.list()) {
      const head = await reopened.getCheckpoint(name)
      expect(head.id).toMatch(/^baguqehra/)
    }
  })

  for (const lost of ['CURRENT', 'MANIFEST']) {
    it(`refuses a store whose LevelDB ${lost} file is gone with CORRUPT_OBJECT, and fsck --repair recovers every checkpoint`, async () => {
      const dir = tempDir('ckpt-lost-')
      expect(ckpt(dir, ['--store', dir, 'init']).code).toBe(0)
      const ids: string[] = []
      for (let i = 0; i < 4; i++) {
        expect(ckpt(dir, ['--store', dir, 'commit', '-s', `s${i % 2}`, '-'], { input: JSON.stringify({ i }) }).code).toBe(0)
        ids.push(ckpt(dir, ['--store', dir, 'rev-parse', 'main']).stdout.trim())
      }
      const db = path.join(dir, 'db')
      for (const f of readdirSync(db)) if (f === lost || f.startsWith(`${lost}-`)) rmSync(path.join(db, f))

      const refused = ckpt(dir, ['--store', dir, 'log'])
      expect(refused.code).toBe(8)
      expect(refused.stderr).toContain('fsck --repair')
      const repaired = ckpt(dir, ['--store', dir, 'fsck', '--repair'])
      expect(repaired.code).toBe(0)
      const reopened = await openStore(dir)
      onCleanup(() => reopened.close())
      expect((await collect(reopened.log('main'))).map((c) => c.id)).toEqual([...ids].reverse())
      expect((await reopened.fsck()).problems).toEqual([])
    })
  }

  it('keeps a timeline whose old history was lost, cutting its history where it breaks', async () => {
    const { store, dir } = await tempStore()
    const ids: string[] = []
    // One stage, rewritten each time: the newest checkpoints need nothing older than their parent.
    for (let i = 0; i < 8; i++) ids.push((await store.commit({ stage: 'only', output: { i } })).id)
    await store.close()
    const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    await db.del(Uint8Array.from([0x6f, ...CID.parse(ids[2]!).bytes]))
    await db.close()
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect((await reopened.fsck()).ok).toBe(false)
    const result = await reopened.repair()
    expect(result.restored).toEqual([])
    expect(result.cut).toEqual([{ ref: 'timelines/main', at: [ids[3]] }])
    // Only the reflog still names the lost checkpoint: repair moves names, it never hides damage.
    expect((await reopened.fsck()).problems.map((p) => [p.id, p.ref])).toEqual([[ids[2], 'timelines/main (reflog)']])
    const log = await collect(reopened.log('main'))
    expect(log.map((c) => c.id)).toEqual(ids.slice(3).reverse())
    expect(log.at(-1)?.historyCut).toBe(true)
  })

  it('keeps an intact head when only an old pack is damaged, cutting the damaged history and saying so first', async () => {
    const { store, dir } = await tempStore()
    const old = await store.commit({ stage: 'video', output: pseudoRandomBytes(3 * 1024 * 1024, 1) })
    await store.close()
    const oldPacks = readdirSync(path.join(dir, 'packs'))
    const again = await openStore(dir)
    const ids = [old.id]
    ids.push((await again.commit({ stage: 'video', output: pseudoRandomBytes(3 * 1024 * 1024, 2) })).id)
    for (let i = 0; i < 3; i++) ids.push((await again.commit({ stage: 'note', output: { i } })).id)
    await again.tags.create('first', old.id)
    await again.close()
    expect(oldPacks).toHaveLength(1)
    const pack = path.join(dir, 'packs', oldPacks[0]!)
    writeFileSync(pack, readFileSync(pack).subarray(0, 1024 * 1024))

    const check = ckpt(dir, ['--store', dir, 'fsck', '--json'])
    expect(check.code).toBe(1)
    const planned = JSON.parse(check.stdout) as { plan: { cut: Array<{ ref: string; at: string[] }> } }
    expect(planned.plan.cut).toContainEqual({ ref: 'timelines/main', at: [ids[1]] })
    const repaired = ckpt(dir, ['--store', dir, 'fsck', '--repair', '--json'])
    const result = JSON.parse(repaired.stdout) as { repaired: { restored: unknown[]; cut: Array<{ ref: string; at: string[] }> } }
    expect(result.repaired.restored).toEqual([])
    expect(result.repaired.cut).toContainEqual({ ref: 'timelines/main', at: [ids[1]] })
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect(await reopened.timelines.get('main')).toBe(ids.at(-1))
    expect((await collect(reopened.log('main'))).map((c) => c.id).slice(0, 4)).toEqual(ids.slice(1).reverse())
    expect((await reopened.getBlob('main:video')).length).toBe(3 * 1024 * 1024)
    // The tag on the damaged checkpoint has nothing intact to move to: it is left and reported.
    expect((await reopened.tags.list()).find((t) => t.name === 'first')?.target).toBe(old.id)
  })

  it('moves a timeline back before a blob whose pack file was deleted', async () => {
    const { store, dir } = await tempStore()
    const safe = await store.commit({ stage: 'a', output: { small: true } })
    await store.commit({ stage: 'video', output: pseudoRandomBytes(3 * 1024 * 1024, 3) })
    await store.close()
    for (const pack of readdirSync(path.join(dir, 'packs'))) rmSync(path.join(dir, 'packs', pack))
    mkdirSync(path.join(dir, 'packs'), { recursive: true })
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect((await failure(reopened.getBlob('main:video'))).code).toBe('CORRUPT_OBJECT')
    const result = await reopened.repair()
    expect(result.restored).toEqual([{ ref: 'timelines/main', from: expect.any(String), to: safe.id }])
    expect(await reopened.timelines.get('main')).toBe(safe.id)
  })
})
