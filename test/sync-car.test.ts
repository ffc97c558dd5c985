import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { CarReader } from '@ipld/car'
import { describe, expect, it } from 'vitest'
import type { Store } from '../src/index.js'
import { ckpt } from './support/cli.js'
import { failure } from './support/errors.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, tempDir, tempStore } from './support/temp.js'
import { blake3 } from '../src/model/hash.js'

async function carBytes(store: Store, revisions: string | string[]): Promise<Buffer> {
  return Buffer.concat(await collect(store.exportCar(revisions)))
}

async function objectIds(store: Store): Promise<string[]> {
  return (await collect(store.objects())).map((o) => o.id).sort()
}

/** main: three JSON checkpoints, a tag, then a 3 MiB blob (stored as chunks) and a folder-free JSON with bytes. */
async function sourceStore() {
  const { store } = await tempStore()
  await store.commit({ stage: 'detect', output: { n: 1 } })
  await store.commit({ stage: 'detect', output: { n: 2, thumb: Uint8Array.of(1, 2, 3) } })
  await store.tags.create('v1')
  await store.commit({ stage: 'video', output: pseudoRandomBytes(3 * 1024 * 1024, 9) })
  await store.commit({ stage: 'detect', output: { n: 3 } })
  return store
}

describe('CAR export and import', () => {
  it('round-trips into an empty store with identical ids and identical history', async () => {
    const source = await sourceStore()
    const car = await carBytes(source, ['main', 'v1'])
    const { store: target } = await tempStore()
    const result = await target.importCar(Readable.from([car]))
    expect(result.refs).toEqual([
      { ref: 'tags/v1', action: 'created' },
      { ref: 'timelines/main', action: 'created' },
    ])
    expect(await objectIds(target)).toEqual(await objectIds(source))
    expect(await collect(target.log('main'))).toEqual(await collect(source.log('main')))
    expect(Buffer.compare(Buffer.from(await target.getBlob('main:video')), Buffer.from(await source.getBlob('main:video')))).toBe(0)
    expect((await target.fsck()).problems).toEqual([])
  })

  it('writes standard raw and dag-json blocks with BLAKE3 ids that other IPLD tools can read', async () => {
    const source = await sourceStore()
    const reader = await CarReader.fromBytes(await carBytes(source, 'main'))
    expect((await reader.getRoots())[0]?.toString()).toBe(await source.timelines.get('main'))
    let blocks = 0
    for await (const { cid, bytes } of reader.blocks()) {
      expect([0x55, 0x0129]).toContain(cid.code)
      expect(cid.multihash.code).toBe(0x1e)
      expect(Buffer.compare(Buffer.from(blake3(bytes)), Buffer.from(cid.multihash.digest))).toBe(0)
      blocks++
    }
    expect(blocks).toBeGreaterThan(10)
  })

  it('exports A..B as only what B has that A lacks, and imports it on top of A', async () => {
    const source = await sourceStore()
    const base = await carBytes(source, 'v1')
    const increment = await carBytes(source, 'v1..main')
    const { store: target } = await tempStore()
    await target.importCar(Readable.from([base]))
    const before = new Set(await objectIds(target))
    const counts = { blocks: 0, bytes: 0 }
    await collect(source.exportCar('v1..main', counts))
    // Nothing v1 already has travels again: every block but the refs block is new to the target.
    const reader = await CarReader.fromBytes(increment)
    let blocks = 0
    for await (const { cid } of reader.blocks()) {
      blocks++
      expect(before.has(cid.toString())).toBe(false)
    }
    expect(blocks).toBe(counts.blocks + 1)
    await target.importCar(Readable.from([increment]))
    expect(await collect(target.log('main'))).toEqual(await collect(source.log('main')))
    // On its own, the increment is incomplete: refused, and no ref is created.
    const { store: empty } = await tempStore()
    expect((await failure(empty.importCar(Readable.from([increment])))).code).toBe('NOT_FOUND')
    expect(await empty.timelines.list()).toEqual([])
  })

  it('rejects a corrupted block, a truncated file and random bytes, moving no ref', async () => {
    const source = await sourceStore()
    const car = await carBytes(source, 'main')
    const flipped = Buffer.from(car)
    flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0xff
    for (const bad of [flipped, car.subarray(0, car.length - 5000), pseudoRandomBytes(50_000, 3)]) {
      const { store: target } = await tempStore()
      const err = await failure(target.importCar(Readable.from([Buffer.from(bad)])))
      expect(['CORRUPT_OBJECT', 'NOT_FOUND']).toContain(err.code)
      expect(await target.timelines.list()).toEqual([])
      expect((await target.fsck()).problems).toEqual([])
    }
  })

  it('refuses a non-fast-forward unless forced, keeping the old head in the reflog', async () => {
    const source = await sourceStore()
    const { store: target } = await tempStore()
    const mine = await target.commit({ stage: 'other', output: 'diverged' })
    const car = await carBytes(source, 'main')
    expect((await failure(target.importCar(Readable.from([car])))).code).toBe('REF_CONFLICT')
    expect(await target.timelines.get('main')).toBe(mine.id)
    const result = await target.importCar(Readable.from([car]), { force: true })
    expect(result.refs).toEqual([{ ref: 'timelines/main', action: 'forced' }])
    expect((await target.reflog('main'))[0]?.old).toBe(mine.id)
  })

  it('moves checkpoints between stores with the ckpt command', () => {
    const a = tempDir()
    const b = tempDir()
    const run = (cwd: string, ...args: string[]) => {
      const r = ckpt(cwd, args)
      if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    }
    run(a, 'init')
    run(a, 'commit', '-s', 'x', '--json', '{"a":1}')
    run(a, 'commit', '-s', 'x', '--json', '{"a":2}')
    const file = path.join(tempDir(), 'main.car')
    expect(run(a, 'export', 'main', '-o', file)).toMatch(/^wrote \d+ blocks/)
    run(b, 'init')
    expect(run(b, 'import', file)).toMatch(/timelines\/main: created/)
    expect(run(b, 'log', '--oneline')).toBe(run(a, 'log', '--oneline'))
    writeFileSync(file, readFileSync(file).subarray(0, 40))
    expect(ckpt(b, ['import', file]).code).toBe(8)
  })
})
