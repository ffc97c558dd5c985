import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { initStore, openLevelBackend, openStore, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { collect, tempDir, tempStore } from './support/temp.js'

/** Everything observable about a store, to prove a failed call wrote nothing. */
async function snapshot(store: Store) {
  return {
    objects: (await collect(store.objects())).map((o) => o.id),
    timelines: await store.timelines.list(),
    reflog: await store.reflog('main'),
  }
}

class Point {
  constructor(readonly x: number) {}
}
const cyclic: Record<string, unknown> = { a: 1 }
cyclic.self = { back: cyclic }

describe('bad stage outputs', () => {
  it.each<[string, unknown, string]>([
    ['undefined inside an array', { xs: [1, undefined] }, '/xs/1'],
    ['undefined as the whole output', undefined, ''],
    ['NaN', { m: { loss: NaN } }, '/m/loss'],
    ['Infinity', [Infinity], '/0'],
    ['-Infinity', { v: -Infinity }, '/v'],
    ['a function', { f: () => 1 }, '/f'],
    ['a symbol', { s: Symbol('x') }, '/s'],
    ['a cycle', cyclic, '/self/back'],
    ['a BigInt beyond the safe range', { big: 2n ** 60n }, '/big'],
    ['an unsafe integer', { n: 2 ** 60 }, '/n'],
    ['a Date', { when: new Date(0) }, '/when'],
    ['a Map', { m: new Map() }, '/m'],
    ['a class instance', { p: new Point(1) }, '/p'],
    ['a typed array other than bytes', { f: new Float32Array(2) }, '/f'],
    ['the reserved "/" key', { link: { '/': 'bafy' } }, '/link/~1'],
    ['an unpaired surrogate', { s: 'a\uD800b' }, '/s'],
    ['a key path needing escapes', { 'a/b': { '~': NaN } }, '/a~1b/~0'],
  ])('rejects %s with INVALID_OUTPUT naming its path, writing nothing', async (_what, output, pointer) => {
    const { store } = await tempStore()
    await store.commit({ stage: 'ok', output: { fine: true } })
    const before = await snapshot(store)
    const err = await failure(store.commit({ stage: 'bad', output: { wrapper: true }, outputs: { other: output } }))
    expect(err.code).toBe('INVALID_OUTPUT')
    expect(err.details.path).toBe(pointer)
    expect(err.message).toContain('stage "other"')
    expect(await snapshot(store)).toEqual(before)
  })

  it('rejects nesting deeper than 1000 levels without overflowing the stack', async () => {
    const { store } = await tempStore()
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    const err = await failure(store.commit({ stage: 'deep', output: deep }))
    expect(err.code).toBe('INVALID_OUTPUT')
    expect(await collect(store.objects())).toEqual([])
  })

  it('accepts safe BigInts, -0 and undefined object members as JSON would', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 's', output: { b: 5n, z: -0, gone: undefined } })
    expect(await store.getOutput('HEAD:s')).toEqual({ b: 5, z: 0 })
  })

  it('stores a __proto__ key as data without touching prototypes', async () => {
    const { store } = await tempStore()
    const output = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as unknown
    await store.commit({ stage: 's', output })
    const back = (await store.getOutput('HEAD:s')) as Record<string, unknown>
    expect(Object.keys(back).sort()).toEqual(['__proto__', 'x'])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
  })

  it.each([
    ['an empty stage name', ''],
    ['a stage name with a slash', 'a/b'],
    ['the stage name ..', '..'],
    ['a stage name with NUL', 'a\u0000b'],
  ])('rejects %s with INVALID_ARGUMENT, writing nothing', async (_what, stage) => {
    const { store } = await tempStore()
    const err = await failure(store.commit({ stage, output: 1 }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(await collect(store.objects())).toEqual([])
  })

  it('rejects bad config and metadata with INVALID_ARGUMENT', async () => {
    const { store } = await tempStore()
    expect((await failure(store.commit({ stage: 's', output: 1, config: { lr: NaN } }))).details.path).toBe('/lr')
    expect((await failure(store.commit({ stage: 's', output: 1, meta: { blob: new Uint8Array(1) } }))).code).toBe('INVALID_ARGUMENT')
    expect(await collect(store.objects())).toEqual([])
  })

  it('rejects removing a stage the parent lacks, writing nothing', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    const before = await snapshot(store)
    expect((await failure(store.commit({ stage: 'b', output: 2, remove: ['nope'] }))).code).toBe('NOT_FOUND')
    expect(await snapshot(store)).toEqual(before)
  })
})

describe('opening stores', () => {
  it('reports NOT_A_STORE with the path', async () => {
    const dir = tempDir()
    const err = await failure(openStore(dir))
    expect(err.code).toBe('NOT_A_STORE')
    expect(err.details.path).toBe(dir)
  })

  it('refuses to init over an existing store', async () => {
    const { store, dir } = await tempStore()
    await store.close()
    expect((await failure(initStore(dir))).code).toBe('STORE_EXISTS')
  })

  it('refuses a store marked with a newer format and changes nothing', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    await store.close()
    const marker = path.join(dir, 'ckpt-store.json')
    const newer = JSON.stringify({ format: 3, backend: 'level' })
    writeFileSync(marker, newer)
    expect((await failure(openStore(dir))).code).toBe('UNSUPPORTED_FORMAT')
    expect(readFileSync(marker, 'utf8')).toBe(newer)
  })

  it('refuses a store whose database records a newer format', async () => {
    const { store, dir } = await tempStore()
    const head = (await store.commit({ stage: 'a', output: 1 })).id
    await store.close()
    const backend = await openLevelBackend(path.join(dir, 'db'))
    await backend.refs.updateRefs([{ name: 'meta/format', expected: '2', value: '3', log: { time: 0, reason: 'test' } }])
    await backend.close()
    expect((await failure(openStore(dir))).code).toBe('UNSUPPORTED_FORMAT')
    const after = await openLevelBackend(path.join(dir, 'db'))
    expect(await after.refs.readRef('timelines/main')).toBe(head)
    await after.close()
  })

  it('refuses to read a checkpoint node of a newer schema', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    const id = await store.putOutput({ type: 'checkpoint', v: 2, parents: [], stages: {}, message: '', author: '', time: 0, meta: {} })
    await store.close()
    const reopened = await openStore(dir)
    try {
      expect((await failure(reopened.getCheckpoint(id))).code).toBe('UNSUPPORTED_FORMAT')
    } finally {
      await reopened.close()
    }
  })
})

describe('integrity', () => {
  it('detects a stored object whose bytes no longer match its id', async () => {
    const { store, dir } = await tempStore()
    const c = await store.commit({ stage: 'detect', output: { score: 0.71 } })
    await store.close()
    const backend = await openLevelBackend(path.join(dir, 'db'))
    const outputKey = CID.parse(c.stages.detect!).bytes
    await backend.objects.putMany([{ key: outputKey, value: new TextEncoder().encode('{"score":0.99}') }])
    const checkpointKey = CID.parse(c.id).bytes
    const original = (await backend.objects.get(checkpointKey)) as Uint8Array
    const flipped = Uint8Array.from(original)
    flipped[10] = flipped[10]! ^ 1
    await backend.objects.putMany([{ key: checkpointKey, value: flipped }])
    await backend.close()

    const reopened = await openStore(dir)
    try {
      const outputErr = await failure(reopened.getOutput(c.stages.detect!))
      expect(outputErr.code).toBe('CORRUPT_OBJECT')
      expect(outputErr.details.id).toBe(c.stages.detect)
      const checkpointErr = await failure(reopened.getCheckpoint('main'))
      expect(checkpointErr.code).toBe('CORRUPT_OBJECT')
      expect(checkpointErr.message).toContain(c.id)
    } finally {
      await reopened.close()
    }
  })
})
