import { describe, expect, it } from 'vitest'
import type { Backend } from '../../src/index.js'

/** The optional capabilities a backend under test declares it has; each one declared is checked too. */
export interface DeclaredCapabilities {
  /** `Backend.scratch`, the per-machine mutable space. */
  readonly scratch?: boolean
}

/**
 * The contract every backend must meet (src/backend/interface.ts). One call per backend:
 * `backendConformance('name', () => makeFreshBackend(), { scratch: true })`.
 */
export function backendConformance(name: string, open: () => Promise<Backend>, capabilities: DeclaredCapabilities = {}): void {
  const bytes = (...values: number[]) => Uint8Array.from(values)
  const withBackend = (test: (b: Backend) => Promise<void>) => async () => {
    const backend = await open()
    try {
      await test(backend)
    } finally {
      await backend.close()
    }
  }
  const collect = async (keys: AsyncIterable<Uint8Array>) => {
    const out: number[][] = []
    for await (const key of keys) out.push([...key])
    return out
  }
  const log = (reason: string) => ({ time: 1000, reason })

  describe(`backend conformance: ${name}`, () => {
    it('returns undefined for a missing object', withBackend(async (b) => {
      expect(await b.objects.get(bytes(1, 2))).toBeUndefined()
      expect(await b.objects.has([bytes(1, 2)])).toEqual([false])
    }))

    it('stores objects and reads them back byte for byte', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(9, 9) }, { key: bytes(2), value: new Uint8Array(0) }])
      expect([...((await b.objects.get(bytes(1))) ?? [])]).toEqual([9, 9])
      expect([...((await b.objects.get(bytes(2))) ?? [7])]).toEqual([])
      expect(await b.objects.has([bytes(1), bytes(3), bytes(2)])).toEqual([true, false, true])
    }))

    it('does not let a caller mutate stored bytes through its own buffer', withBackend(async (b) => {
      const value = bytes(1, 2, 3)
      await b.objects.putMany([{ key: bytes(5), value }])
      value[0] = 42
      expect([...((await b.objects.get(bytes(5))) ?? [])]).toEqual([1, 2, 3])
    }))

    it('stores and returns a value of several MiB intact', withBackend(async (b) => {
      const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7919) & 0xff)
      await b.objects.putMany([{ key: bytes(7), value: big }])
      const back = await b.objects.get(bytes(7))
      expect(back?.length).toBe(big.length)
      expect(Buffer.compare(Buffer.from(back as Uint8Array), Buffer.from(big))).toBe(0)
    }))

    it('lists keys in unsigned byte order within a half-open range', withBackend(async (b) => {
      const keys = [bytes(0x80), bytes(1, 0), bytes(1), bytes(0xff, 1), bytes(2)]
      await b.objects.putMany(keys.map((key) => ({ key, value: bytes(0) })))
      expect(await collect(b.objects.keys())).toEqual([[1], [1, 0], [2], [0x80], [0xff, 1]])
      expect(await collect(b.objects.keys({ gte: bytes(1, 0), lt: bytes(0x80) }))).toEqual([[1, 0], [2]])
      expect(await collect(b.objects.keys({ gte: bytes(0x81) }))).toEqual([[0xff, 1]])
    }))

    it('lists, finds and reads small and large values alike, in one key order', withBackend(async (b) => {
      const large = (seed: number) => new Uint8Array(300 * 1024).map((_, i) => (i * seed) & 0xff)
      await b.objects.putMany([
        { key: bytes(3), value: large(3) },
        { key: bytes(1), value: bytes(1) },
        { key: bytes(4), value: bytes(4) },
        { key: bytes(2), value: large(5) },
      ])
      await b.refs.updateRefs([{ name: 'timelines/big', expected: null, value: 'x', log: log('big') }], [{ key: bytes(5), value: large(7) }])
      expect(await collect(b.objects.keys())).toEqual([[1], [2], [3], [4], [5]])
      expect(await collect(b.objects.keys({ gte: bytes(2), lt: bytes(4) }))).toEqual([[2], [3]])
      expect(await b.objects.has([bytes(5), bytes(6), bytes(2), bytes(1)])).toEqual([true, false, true, true])
      for (const [key, seed] of [[2, 5], [3, 3], [5, 7]] as const) {
        expect(Buffer.compare(Buffer.from((await b.objects.get(bytes(key))) as Uint8Array), Buffer.from(large(seed)))).toBe(0)
      }
    }))

    it('stores entries written with deferred durability like any others', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(8), value: new Uint8Array(100 * 1024).fill(8) }, { key: bytes(9), value: bytes(9) }], { deferSync: true })
      await b.objects.putMany([{ key: bytes(10), value: bytes(10) }])
      expect((await b.objects.get(bytes(8)))?.length).toBe(100 * 1024)
      expect(await b.objects.has([bytes(8), bytes(9), bytes(10)])).toEqual([true, true, true])
    }))

    it('lists more keys than one page', withBackend(async (b) => {
      const keys = Array.from({ length: 2500 }, (_, i) => bytes(i >> 8, i & 0xff))
      await b.objects.putMany(keys.map((key) => ({ key, value: bytes(1) })))
      const listed = await collect(b.objects.keys())
      expect(listed.length).toBe(2500)
      expect(listed[2499]).toEqual([9, 195])
    }))

    it('creates, moves and deletes refs by compare-and-swap', withBackend(async (b) => {
      expect(await b.refs.readRef('timelines/main')).toBeUndefined()
      expect(await b.refs.updateRefs([{ name: 'timelines/main', expected: null, value: 'a', log: log('create') }])).toEqual({ ok: true })
      expect(await b.refs.updateRefs([{ name: 'timelines/main', expected: 'a', value: 'b', log: log('move') }])).toEqual({ ok: true })
      expect(await b.refs.readRef('timelines/main')).toBe('b')
      expect(await b.refs.updateRefs([{ name: 'timelines/main', expected: 'b', value: null, log: log('delete') }])).toEqual({ ok: true })
      expect(await b.refs.readRef('timelines/main')).toBeUndefined()
    }))

    it('rejects an update whose expected value moved, writing nothing', withBackend(async (b) => {
      await b.refs.updateRefs([{ name: 'r/a', expected: null, value: '1', log: log('x') }])
      const result = await b.refs.updateRefs([
        { name: 'r/b', expected: null, value: '2', log: log('x') },
        { name: 'r/a', expected: 'stale', value: '3', log: log('x') },
      ])
      expect(result).toEqual({ ok: false, name: 'r/a', actual: '1' })
      expect(await b.refs.readRef('r/b')).toBeUndefined()
      expect(await b.refs.readReflog('r/b')).toEqual([])
      expect(await b.refs.updateRefs([{ name: 'r/a', expected: null, value: '9', log: log('x') }])).toEqual({ ok: false, name: 'r/a', actual: '1' })
    }))

    it('stores objects given with a ref update before the ref names them', withBackend(async (b) => {
      const result = await b.refs.updateRefs([{ name: 'with-objects', expected: null, value: 'k', log: log('x') }], [{ key: bytes(42), value: bytes(1, 2) }])
      expect(result).toEqual({ ok: true })
      expect([...((await b.objects.get(bytes(42))) ?? [])]).toEqual([1, 2])
      expect(await b.refs.readRef('with-objects')).toBe('k')
    }))

    it('applies concurrent swaps of one ref one at a time', withBackend(async (b) => {
      await b.refs.updateRefs([{ name: 'c', expected: null, value: '0', log: log('x') }])
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => b.refs.updateRefs([{ name: 'c', expected: '0', value: String(i + 1), log: log('x') }])))
      expect(results.filter((r) => r.ok).length).toBe(1)
    }))

    it('logs every move with old, new, time and reason, and keeps the log after deletion', withBackend(async (b) => {
      await b.refs.updateRefs([{ name: 't/x', expected: null, value: 'a', log: { time: 1, reason: 'one' } }])
      await b.refs.updateRefs([{ name: 't/x', expected: 'a', value: 'b', log: { time: 2, reason: 'two' } }])
      await b.refs.updateRefs([{ name: 't/x', expected: 'b', value: null, log: { time: 3, reason: 'three' } }])
      await b.refs.updateRefs([{ name: 't/x/y', expected: null, value: 'z', log: { time: 4, reason: 'other' } }])
      expect(await b.refs.readReflog('t/x')).toEqual([
        { old: null, new: 'a', time: 1, reason: 'one' },
        { old: 'a', new: 'b', time: 2, reason: 'two' },
        { old: 'b', new: null, time: 3, reason: 'three' },
      ])
      expect((await b.refs.readReflog('t/x', { newestFirst: true, limit: 2 })).map((e) => e.reason)).toEqual(['three', 'two'])
      expect(await b.refs.listReflogs('t/')).toEqual(['t/x', 't/x/y'])
    }))

    it('lists refs by prefix, sorted by name', withBackend(async (b) => {
      for (const name of ['timelines/b', 'tags/v1', 'timelines/a', 'timelines/a/b']) {
        await b.refs.updateRefs([{ name, expected: null, value: name.toUpperCase(), log: log('x') }])
      }
      expect(await b.refs.listRefs('timelines/')).toEqual([
        { name: 'timelines/a', value: 'TIMELINES/A' },
        { name: 'timelines/a/b', value: 'TIMELINES/A/B' },
        { name: 'timelines/b', value: 'TIMELINES/B' },
      ])
      expect(await b.refs.listRefs('nothing/')).toEqual([])
    }))

    it('moves refs only when every group of required keys has a stored key', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: new Uint8Array(70 * 1024) }])
      const missing = await b.refs.updateRefs([{ name: 'r', expected: null, value: 'a', log: log('x') }], [{ key: bytes(5), value: bytes(5) }], [[bytes(9), bytes(1)], [bytes(3), bytes(4)]])
      expect(missing.ok).toBe(false)
      expect('missing' in missing && missing.missing.map((k) => [...k])).toEqual([[3], [4]])
      expect(await b.refs.readRef('r')).toBeUndefined()
      expect(await b.refs.readReflog('r')).toEqual([])
      const ok = await b.refs.updateRefs([{ name: 'r', expected: null, value: 'a', log: log('x') }], [{ key: bytes(5), value: bytes(5) }], [[bytes(2)], [bytes(5)], [bytes(8), bytes(1)]])
      expect(ok).toEqual({ ok: true })
      expect(await b.refs.readRef('r')).toBe('a')
    }))

    it('reports stored value sizes, undefined where nothing is stored', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(1, 2, 3) }, { key: bytes(2), value: new Uint8Array(100 * 1024) }])
      expect(await b.objects.sizes([bytes(2), bytes(3), bytes(1)])).toEqual([100 * 1024, undefined, 3])
    }))

    it('tells which keys were written, or written again, since a time, and forgets old records on request', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
      await new Promise((resolve) => setTimeout(resolve, 5))
      const since = Date.now()
      await b.objects.putMany([{ key: bytes(3), value: bytes(3) }, { key: bytes(1), value: bytes(1) }])
      await b.refs.updateRefs([{ name: 'r', expected: null, value: 'x', log: log('x') }], [{ key: bytes(4), value: new Uint8Array(70 * 1024) }])
      const young = new Set((await collect(b.objects.writtenSince(since))).map((k) => k.join(',')))
      expect([...young].sort()).toEqual(['1', '3', '4'])
      await b.objects.forgetWritesBefore(Date.now() + 1000)
      expect(await collect(b.objects.writtenSince(0))).toEqual([])
      expect(await b.objects.has([bytes(1), bytes(2), bytes(3), bytes(4)])).toEqual([true, true, true, true])
    }))

    it('tells a sweep what others touched and the ref values they set, but not its own reads', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
      const sweep = await b.objects.beginSweep()
      try {
        expect([...((await sweep.get(bytes(1))) ?? [])]).toEqual([1])
        await b.objects.get(bytes(2))
        await b.objects.has([bytes(5)])
        await b.objects.putMany([{ key: bytes(6), value: bytes(6) }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(7), value: bytes(7) }])
        const drained = await sweep.drain()
        expect(drained.keys.map((k) => k.join(',')).sort()).toEqual(['2', '5', '6', '7'])
        expect(drained.refValues).toEqual(['v'])
        expect(await sweep.drain()).toEqual({ keys: [], refValues: [] })
      } finally {
        await sweep.end()
      }
    }))

    it('deletes only while a sweep holds the store, and holds other callers until it ends', withBackend(async (b) => {
      await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(2), value: new Uint8Array(80 * 1024) }, { key: bytes(3), value: bytes(3) }])
      const sweep = await b.objects.beginSweep()
      await expect(sweep.delete([bytes(1)])).rejects.toThrow()
      await sweep.hold()
      let putDone = false
      const put = b.objects.putMany([{ key: bytes(9), value: bytes(9) }]).then(() => (putDone = true))
      let refDone = false
      const ref = b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }]).then(() => (refDone = true))
      expect(await sweep.delete([bytes(1), bytes(2), bytes(4)])).toEqual({ deleted: 2, bytes: 2 + 80 * 1024 })
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect([putDone, refDone]).toEqual([false, false])
      await sweep.end()
      await Promise.all([put, ref])
      expect(await b.objects.has([bytes(1), bytes(2), bytes(3), bytes(9)])).toEqual([false, false, true, true])
      expect(await collect(b.objects.keys())).toEqual([[3], [9]])
    }))

    it('runs one sweep at a time', withBackend(async (b) => {
      const first = await b.objects.beginSweep()
      let secondStarted = false
      const second = b.objects.beginSweep().then((s) => {
        secondStarted = true
        return s
      })
      await new Promise((resolve) => setTimeout(resolve, 20))
      expect(secondStarted).toBe(false)
      await first.end()
      await (await second).end()
      expect(secondStarted).toBe(true)
    }))

    it('keeps every value readable while reclaiming the space of deleted ones', withBackend(async (b) => {
      const big = (seed: number) => new Uint8Array(200 * 1024).map((_, i) => (i * seed) & 0xff)
      await b.objects.putMany([1, 2, 3, 4].map((k) => ({ key: bytes(k), value: big(k) })))
      const sweep = await b.objects.beginSweep()
      await sweep.hold()
      await sweep.delete([bytes(1), bytes(2), bytes(3)])
      await sweep.end()
      const result = await b.objects.reclaim()
      expect(result.files).toBeGreaterThanOrEqual(0)
      expect(Buffer.compare(Buffer.from((await b.objects.get(bytes(4))) ?? []), Buffer.from(big(4)))).toBe(0)
      expect(await b.objects.get(bytes(1))).toBeUndefined()
      expect(await b.objects.checkStorage()).toEqual([])
    }))

    it('expires reflog entries older than a time, and forgets the log of a deleted ref with none left', withBackend(async (b) => {
      await b.refs.updateRefs([{ name: 'a', expected: null, value: '1', log: { time: 100, reason: 'x' } }])
      await b.refs.updateRefs([{ name: 'a', expected: '1', value: '2', log: { time: 200, reason: 'y' } }])
      await b.refs.updateRefs([{ name: 'b', expected: null, value: '1', log: { time: 100, reason: 'x' } }])
      await b.refs.updateRefs([{ name: 'b', expected: '1', value: null, log: { time: 150, reason: 'deleted' } }])
      expect(await b.refs.expireReflog('a', 150)).toBe(1)
      expect((await b.refs.readReflog('a')).map((e) => e.reason)).toEqual(['y'])
      expect(await b.refs.expireReflog('b', 1000)).toBe(2)
      expect(await b.refs.listReflogs('')).toEqual(['a'])
      await b.refs.updateRefs([{ name: 'a', expected: '2', value: '3', log: { time: 300, reason: 'z' } }])
      await b.refs.updateRefs([{ name: 'a', expected: '3', value: '4', log: { time: 400, reason: 'w' } }])
      expect(await b.refs.expireReflog('a', 0, ['3', 'nothing'])).toBe(1)
      expect((await b.refs.readReflog('a')).map((e) => e.reason)).toEqual(['y', 'w'])
    }))
  })

  if (capabilities.scratch) {
    describe(`backend conformance: ${name}, scratch space`, () => {
      const scratchOf = (b: Backend) => {
        expect(b.scratch).toBeDefined()
        return b.scratch!
      }

      it('stores, replaces and deletes values under a key, and absence is undefined', withBackend(async (b) => {
        const scratch = scratchOf(b)
        expect(await scratch.get(bytes(1))).toBeUndefined()
        const value = bytes(1, 2, 3)
        await scratch.put(bytes(1), value)
        value[0] = 42
        expect([...((await scratch.get(bytes(1))) ?? [])]).toEqual([1, 2, 3])
        await scratch.put(bytes(1), bytes(4))
        expect([...((await scratch.get(bytes(1))) ?? [])]).toEqual([4])
        await scratch.delete(bytes(1))
        await scratch.delete(bytes(2))
        expect(await scratch.get(bytes(1))).toBeUndefined()
      }))

      it('is apart from the objects: its keys are never listed, found, recorded as written or reported to a sweep', withBackend(async (b) => {
        const scratch = scratchOf(b)
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
        await scratch.put(bytes(1), bytes(9))
        await scratch.put(bytes(2), bytes(9))
        expect([...((await b.objects.get(bytes(1))) ?? [])]).toEqual([1])
        expect(await b.objects.has([bytes(2)])).toEqual([false])
        expect(await collect(b.objects.keys())).toEqual([[1]])
        expect(await collect(b.objects.writtenSince(0))).toEqual([[1]])
        const sweep = await b.objects.beginSweep()
        try {
          await scratch.put(bytes(3), bytes(9))
          expect([...((await scratch.get(bytes(2))) ?? [])]).toEqual([9])
          await sweep.hold()
          await sweep.delete([bytes(1), bytes(2)])
          expect(await sweep.drain()).toEqual({ keys: [], refValues: [] })
        } finally {
          await sweep.end()
        }
        expect([...((await scratch.get(bytes(2))) ?? [])]).toEqual([9])
        expect([...((await scratch.get(bytes(3))) ?? [])]).toEqual([9])
        expect(await b.objects.get(bytes(1))).toBeUndefined()
      }))
    })
  }
}
