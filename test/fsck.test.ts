import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { ClassicLevel } from 'classic-level'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { Directory, openLevelBackend, openStore, outputIdOf, type Store } from '../src/index.js'
import { CKPT } from './support/cli.js'
import { collect, onCleanup, tempStore } from './support/temp.js'


/** A store with JSON, bytes inside JSON, a file output, a folder, a fork, a tag and a deleted timeline. */
async function busyStore() {
  const { store, dir } = await tempStore()
  const a = await store.commit({ stage: 'frames', output: new Directory({ 'f1.png': Uint8Array.of(1), 'sub/f2.png': Uint8Array.of(2) }) })
  const b = await store.commit({ stage: 'detect', output: { score: 0.5, thumb: Uint8Array.of(9, 9) } })
  const c = await store.commit({ stage: 'video', output: Uint8Array.of(7, 7, 7) })
  await store.timelines.create('gone', a.id)
  await store.commit({ timeline: 'gone', stage: 'x', output: 1 })
  await store.timelines.delete('gone')
  await store.tags.create('v1', b.id)
  await store.index.swap('runs/demo', null, c.id)
  return { store, dir, a, b, c }
}

/** Rewrites (or deletes) one object's stored bytes behind the store's back. */
async function tamper(store: Store, dir: string, id: string, change: (bytes: Uint8Array) => Uint8Array | undefined): Promise<Store> {
  await store.close()
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path.join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  const key = new Uint8Array([0x6f, ...CID.parse(id).bytes])
  const next = change((await db.get(key)) as Uint8Array)
  if (next === undefined) await db.del(key)
  else await db.put(key, next)
  await db.close()
  const reopened = await openStore(dir)
  onCleanup(() => reopened.close())
  return reopened
}

const flipFirstByte = (bytes: Uint8Array) => Uint8Array.from(bytes, (x, i) => (i === 0 ? x ^ 1 : x))

describe('fsck', () => {
  it('finds nothing wrong in an intact store, having checked everything reachable', async () => {
    const { store } = await busyStore()
    const report = await store.fsck()
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    // 3 checkpoints on main + 1 on the deleted timeline (its reflog keeps it).
    expect(report.checked.checkpoints).toBe(4)
    expect(report.checked.objects).toBe((await collect(store.objects())).length)
  })

  it('detects a flipped byte in a blob, which --quick does not re-hash', async () => {
    const { store, dir } = await busyStore()
    // The thumbnail inside the detect output is its own blob.
    const blobId = outputIdOf(Uint8Array.of(9, 9))
    const damaged = await tamper(store, dir, blobId, flipFirstByte)
    const report = await damaged.fsck()
    expect(report.problems).toEqual([{ id: blobId, kind: 'corrupt', message: expect.stringContaining(blobId), ref: expect.stringMatching(/^(timelines\/main|tags\/v1)/) }])
    expect((await damaged.fsck({ quick: true })).ok).toBe(true)
  })

  it('detects a missing object and names a ref that reaches it', async () => {
    const { store, dir, a } = await busyStore()
    const damaged = await tamper(store, dir, a.stages.frames!, () => undefined)
    const report = await damaged.fsck()
    expect(report.problems.map((p) => [p.kind, p.id])).toEqual([['missing', a.stages.frames]])
  })

  it('detects a ref to a missing checkpoint', async () => {
    const { store, dir } = await busyStore()
    await store.close()
    const backend = await openLevelBackend(path.join(dir, 'db'))
    const ghost = 'baguqehrakd4bnmy6jrjbxz5g2i5dbrqi3i2ok6pdpbcn3e5qfbxhnhwsr26a'
    const current = (await backend.refs.readRef('tags/v1')) as string
    await backend.refs.updateRefs([{ name: 'tags/v1', expected: current, value: ghost, log: { time: 0, reason: 'test' } }])
    await backend.close()
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    const report = await reopened.fsck()
    expect(report.problems).toEqual([{ id: ghost, kind: 'missing', message: `object ${ghost} is missing`, ref: 'tags/v1' }])
  })

  it('repairs a timeline by moving it back to its newest intact reflog entry, deleting nothing', async () => {
    const { store, dir, b, c } = await busyStore()
    const damaged = await tamper(store, dir, c.id, flipFirstByte)
    expect((await damaged.fsck()).ok).toBe(false)
    const objectsBefore = (await collect(damaged.objects())).length
    const result = await damaged.repair()
    expect(result).toEqual({ restored: [{ ref: 'timelines/main', from: c.id, to: b.id }], cut: [], unrecoverable: [] })
    expect(await damaged.timelines.get('main')).toBe(b.id)
    expect((await damaged.reflog('main'))[0]?.reason).toBe('fsck --repair: restored from reflog')
    expect((await collect(damaged.objects())).length).toBe(objectsBefore)
    // The damaged checkpoint is still reachable from the reflog, so fsck still reports it.
    expect((await damaged.fsck()).problems.map((p) => p.ref)).toEqual(['timelines/main (reflog)'])
  })
})

describe('ckpt fsck', () => {
  it('exits 0 when intact, 1 with the problems listed, and repairs on request', async () => {
    const { store, dir, c } = await busyStore()
    const run = (...args: string[]) => spawnSync(process.execPath, [CKPT, '--store', dir, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
    await store.close()
    const clean = run('fsck')
    expect(clean.status).toBe(0)
    expect(clean.stdout).toMatch(/checked \d+ refs, 4 checkpoints, \d+ objects: no problems/)
    const reopened = await openStore(dir)
    const damaged = await tamper(reopened, dir, c.id, flipFirstByte)
    await damaged.close()
    const bad = run('fsck')
    expect(bad.status).toBe(1)
    expect(bad.stdout).toContain(`corrupt  object ${c.id} is corrupt`)
    const json = JSON.parse(run('fsck', '--json').stdout) as { ok: boolean; problems: unknown[] }
    expect(json.ok).toBe(false)
    const repaired = run('fsck', '--repair')
    expect(repaired.stdout).toContain('restored timelines/main')
    expect(repaired.status).toBe(1) // the reflog still reaches the damaged checkpoint
  })
})
