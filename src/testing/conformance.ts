import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Backend, BackendSupports, Capability } from '../backend/interface.js'
import type { PeerReply, PeerRequest } from './peer.js'

/**
 * The contract every backend must meet (src/backend/interface.ts, docs/backends.md), as a list of
 * named cases a third party runs on its own backend with any test runner: each case opens what it
 * needs, throws on failure and closes what it opened.
 *
 *     const cases = await backendConformance({ open: () => openMyBackend() })
 *     for (const c of cases) test(c.name, c.run)
 *
 * Cases for a capability run only on a backend that declares it; the cases across processes only
 * when `shared` says how another process opens the same store.
 */
export interface ConformanceCase {
  readonly name: string
  /** Set on the cases that test an optional capability. */
  readonly capability?: Capability
  readonly run: () => Promise<void>
}

export interface ConformanceTarget {
  /** Opens a fresh, empty store on the backend; each case opens its own and closes it. */
  open(): Promise<Backend>
  /**
   * For the cases where a sweep in this process meets calls from another. `create` makes a fresh
   * empty store and returns its location; `module` (a file path) exports, under `exportName`, a
   * function `(location: string) => Promise<Backend>` that opens it, which this process and a
   * child process both call. Omit for a backend whose store lives in one process's memory.
   */
  readonly shared?: { create(): Promise<string>; readonly module: string; readonly exportName: string }
}

/** The conformance cases `target`'s backend must pass, for the capabilities it declares. */
export async function backendConformance(target: ConformanceTarget): Promise<ConformanceCase[]> {
  const probe = await target.open()
  const supports = { ...probe.supports }
  await probe.close()
  return conformanceCases(target).filter((c) => c.capability === undefined || supports[c.capability])
}

/**
 * Every case, those of every capability included (each marked with its `capability`), for a
 * runner that must list its tests before it can open a backend; it runs a marked case only on a
 * backend declaring that capability.
 */
export function conformanceCases(target: ConformanceTarget): ConformanceCase[] {
  return [...requiredCases(target.open), ...capabilityCases(target.open), ...(target.shared ? crossProcessCases(target.shared) : [])]
}

const bytes = (...values: number[]) => Uint8Array.from(values)
const log = (reason: string) => ({ time: 1000, reason })
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function collect(keys: AsyncIterable<Uint8Array>): Promise<number[][]> {
  const out: number[][] = []
  for await (const key of keys) out.push([...key])
  return out
}

function opener(open: () => Promise<Backend>) {
  return (test: (b: Backend) => Promise<void>) => async () => {
    const backend = await open()
    try {
      await test(backend)
    } finally {
      await backend.close()
    }
  }
}

const CAPABILITY_METHODS: Record<Exclude<Capability, 'deferredSync'>, (b: Backend) => unknown> = {
  reclaim: (b) => b.objects.reclaim,
  storageCheck: (b) => b.objects.checkStorage,
  forgetWrites: (b) => b.objects.forgetWritesBefore,
  blockingWorkHandoff: (b) => b.prepareForBlockingWork,
  scratch: (b) => b.scratch?.get,
  batchedReads: (b) => b.objects.getMany,
  readsInto: (b) => b.objects.getInto,
}

function requiredCases(open: () => Promise<Backend>): ConformanceCase[] {
  const withBackend = opener(open)
  return [
    {
      name: 'declares each capability, and has its method exactly when it declares it',
      run: withBackend(async (b) => {
        const declared: BackendSupports = b.supports
        for (const [capability, method] of Object.entries(CAPABILITY_METHODS)) {
          assert.equal(typeof declared[capability as Capability], 'boolean', `supports.${capability} is not a boolean`)
          assert.equal(typeof method(b) === 'function', declared[capability as Capability], `supports.${capability} is ${declared[capability as Capability]} but its method is ${method(b) ? 'present' : 'absent'}`)
        }
        assert.equal(typeof declared.deferredSync, 'boolean', 'supports.deferredSync is not a boolean')
      }),
    },
    {
      name: 'returns undefined for a missing object',
      run: withBackend(async (b) => {
        assert.strictEqual(await b.objects.get(bytes(1, 2)), undefined)
        assert.deepStrictEqual(await b.objects.has([bytes(1, 2)]), [false])
      }),
    },
    {
      name: 'stores objects and reads them back byte for byte',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(9, 9) }, { key: bytes(2), value: new Uint8Array(0) }])
        assert.deepStrictEqual([...((await b.objects.get(bytes(1))) ?? [])], [9, 9])
        assert.deepStrictEqual([...((await b.objects.get(bytes(2))) ?? [7])], [])
        assert.deepStrictEqual(await b.objects.has([bytes(1), bytes(3), bytes(2)]), [true, false, true])
      }),
    },
    {
      name: 'does not let a caller mutate stored bytes through its own buffer',
      run: withBackend(async (b) => {
        const value = bytes(1, 2, 3)
        await b.objects.putMany([{ key: bytes(5), value }])
        value[0] = 42
        assert.deepStrictEqual([...((await b.objects.get(bytes(5))) ?? [])], [1, 2, 3])
      }),
    },
    {
      name: 'stores and returns a value of several MiB intact',
      run: withBackend(async (b) => {
        const big = new Uint8Array(6 * 1024 * 1024).map((_, i) => (i * 7919) & 0xff)
        await b.objects.putMany([{ key: bytes(7), value: big }])
        const back = await b.objects.get(bytes(7))
        assert.strictEqual(back?.length, big.length)
        assert.strictEqual(Buffer.compare(Buffer.from(back as Uint8Array), Buffer.from(big)), 0)
      }),
    },
    {
      name: 'lists keys in unsigned byte order within a half-open range',
      run: withBackend(async (b) => {
        const keys = [bytes(0x80), bytes(1, 0), bytes(1), bytes(0xff, 1), bytes(2)]
        await b.objects.putMany(keys.map((key) => ({ key, value: bytes(0) })))
        assert.deepStrictEqual(await collect(b.objects.keys()), [[1], [1, 0], [2], [0x80], [0xff, 1]])
        assert.deepStrictEqual(await collect(b.objects.keys({ gte: bytes(1, 0), lt: bytes(0x80) })), [[1, 0], [2]])
        assert.deepStrictEqual(await collect(b.objects.keys({ gte: bytes(0x81) })), [[0xff, 1]])
      }),
    },
    {
      name: 'lists, finds and reads small and large values alike, in one key order',
      run: withBackend(async (b) => {
        const large = (seed: number) => new Uint8Array(300 * 1024).map((_, i) => (i * seed) & 0xff)
        await b.objects.putMany([
          { key: bytes(3), value: large(3) },
          { key: bytes(1), value: bytes(1) },
          { key: bytes(4), value: bytes(4) },
          { key: bytes(2), value: large(5) },
        ])
        await b.refs.updateRefs([{ name: 'timelines/big', expected: null, value: 'x', log: log('big') }], [{ key: bytes(5), value: large(7) }])
        assert.deepStrictEqual(await collect(b.objects.keys()), [[1], [2], [3], [4], [5]])
        assert.deepStrictEqual(await collect(b.objects.keys({ gte: bytes(2), lt: bytes(4) })), [[2], [3]])
        assert.deepStrictEqual(await b.objects.has([bytes(5), bytes(6), bytes(2), bytes(1)]), [true, false, true, true])
        for (const [key, seed] of [[2, 5], [3, 3], [5, 7]] as const) {
          assert.strictEqual(Buffer.compare(Buffer.from((await b.objects.get(bytes(key))) as Uint8Array), Buffer.from(large(seed))), 0)
        }
      }),
    },
    {
      name: 'lists more keys than one page',
      run: withBackend(async (b) => {
        const keys = Array.from({ length: 2500 }, (_, i) => bytes(i >> 8, i & 0xff))
        await b.objects.putMany(keys.map((key) => ({ key, value: bytes(1) })))
        const listed = await collect(b.objects.keys())
        assert.strictEqual(listed.length, 2500)
        assert.deepStrictEqual(listed[2499], [9, 195])
      }),
    },
    {
      name: 'creates, moves and deletes refs by compare-and-swap',
      run: withBackend(async (b) => {
        assert.strictEqual(await b.refs.readRef('timelines/main'), undefined)
        assert.deepStrictEqual(await b.refs.updateRefs([{ name: 'timelines/main', expected: null, value: 'a', log: log('create') }]), { ok: true })
        assert.deepStrictEqual(await b.refs.updateRefs([{ name: 'timelines/main', expected: 'a', value: 'b', log: log('move') }]), { ok: true })
        assert.strictEqual(await b.refs.readRef('timelines/main'), 'b')
        assert.deepStrictEqual(await b.refs.updateRefs([{ name: 'timelines/main', expected: 'b', value: null, log: log('delete') }]), { ok: true })
        assert.strictEqual(await b.refs.readRef('timelines/main'), undefined)
      }),
    },
    {
      name: 'rejects an update whose expected value moved, writing nothing',
      run: withBackend(async (b) => {
        await b.refs.updateRefs([{ name: 'r/a', expected: null, value: '1', log: log('x') }])
        const result = await b.refs.updateRefs([
          { name: 'r/b', expected: null, value: '2', log: log('x') },
          { name: 'r/a', expected: 'stale', value: '3', log: log('x') },
        ])
        assert.deepStrictEqual(result, { ok: false, name: 'r/a', actual: '1' })
        assert.strictEqual(await b.refs.readRef('r/b'), undefined)
        assert.deepStrictEqual(await b.refs.readReflog('r/b'), [])
        assert.deepStrictEqual(await b.refs.updateRefs([{ name: 'r/a', expected: null, value: '9', log: log('x') }]), { ok: false, name: 'r/a', actual: '1' })
      }),
    },
    {
      name: 'stores objects given with a ref update before the ref names them',
      run: withBackend(async (b) => {
        const result = await b.refs.updateRefs([{ name: 'with-objects', expected: null, value: 'k', log: log('x') }], [{ key: bytes(42), value: bytes(1, 2) }])
        assert.deepStrictEqual(result, { ok: true })
        assert.deepStrictEqual([...((await b.objects.get(bytes(42))) ?? [])], [1, 2])
        assert.strictEqual(await b.refs.readRef('with-objects'), 'k')
      }),
    },
    {
      name: 'applies concurrent swaps of one ref one at a time',
      run: withBackend(async (b) => {
        await b.refs.updateRefs([{ name: 'c', expected: null, value: '0', log: log('x') }])
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => b.refs.updateRefs([{ name: 'c', expected: '0', value: String(i + 1), log: log('x') }])))
        assert.strictEqual(results.filter((r) => r.ok).length, 1)
      }),
    },
    {
      name: 'logs every move with old, new, time and reason, and keeps the log after deletion',
      run: withBackend(async (b) => {
        await b.refs.updateRefs([{ name: 't/x', expected: null, value: 'a', log: { time: 1, reason: 'one' } }])
        await b.refs.updateRefs([{ name: 't/x', expected: 'a', value: 'b', log: { time: 2, reason: 'two' } }])
        await b.refs.updateRefs([{ name: 't/x', expected: 'b', value: null, log: { time: 3, reason: 'three' } }])
        await b.refs.updateRefs([{ name: 't/x/y', expected: null, value: 'z', log: { time: 4, reason: 'other' } }])
        assert.deepStrictEqual(await b.refs.readReflog('t/x'), [
          { old: null, new: 'a', time: 1, reason: 'one' },
          { old: 'a', new: 'b', time: 2, reason: 'two' },
          { old: 'b', new: null, time: 3, reason: 'three' },
        ])
        assert.deepStrictEqual((await b.refs.readReflog('t/x', { newestFirst: true, limit: 2 })).map((e) => e.reason), ['three', 'two'])
        assert.deepStrictEqual(await b.refs.listReflogs('t/'), ['t/x', 't/x/y'])
      }),
    },
    {
      name: 'lists refs by prefix, sorted by name',
      run: withBackend(async (b) => {
        for (const name of ['timelines/b', 'tags/v1', 'timelines/a', 'timelines/a/b']) {
          await b.refs.updateRefs([{ name, expected: null, value: name.toUpperCase(), log: log('x') }])
        }
        assert.deepStrictEqual(await b.refs.listRefs('timelines/'), [
          { name: 'timelines/a', value: 'TIMELINES/A' },
          { name: 'timelines/a/b', value: 'TIMELINES/A/B' },
          { name: 'timelines/b', value: 'TIMELINES/B' },
        ])
        assert.deepStrictEqual(await b.refs.listRefs('nothing/'), [])
      }),
    },
    {
      name: 'moves refs only when every group of required keys has a stored key',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: new Uint8Array(70 * 1024) }])
        const missing = await b.refs.updateRefs([{ name: 'r', expected: null, value: 'a', log: log('x') }], [{ key: bytes(5), value: bytes(5) }], [[bytes(9), bytes(1)], [bytes(3), bytes(4)]])
        assert.strictEqual(missing.ok, false)
        assert.deepStrictEqual('missing' in missing && missing.missing.map((k) => [...k]), [[3], [4]])
        assert.strictEqual(await b.refs.readRef('r'), undefined)
        assert.deepStrictEqual(await b.refs.readReflog('r'), [])
        const ok = await b.refs.updateRefs([{ name: 'r', expected: null, value: 'a', log: log('x') }], [{ key: bytes(5), value: bytes(5) }], [[bytes(2)], [bytes(5)], [bytes(8), bytes(1)]])
        assert.deepStrictEqual(ok, { ok: true })
        assert.strictEqual(await b.refs.readRef('r'), 'a')
      }),
    },
    {
      name: 'reports stored value sizes, undefined where nothing is stored',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 2, 3) }, { key: bytes(2), value: new Uint8Array(100 * 1024) }])
        assert.deepStrictEqual(await b.objects.sizes([bytes(2), bytes(3), bytes(1)]), [100 * 1024, undefined, 3])
      }),
    },
    {
      name: 'tells which keys were written, or written again, since a time',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
        await new Promise((resolve) => setTimeout(resolve, 5))
        const since = Date.now()
        await b.objects.putMany([{ key: bytes(3), value: bytes(3) }, { key: bytes(1), value: bytes(1) }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'x', log: log('x') }], [{ key: bytes(4), value: new Uint8Array(70 * 1024) }])
        const young = new Set((await collect(b.objects.writtenSince(since))).map((k) => k.join(',')))
        assert.deepStrictEqual([...young].sort(), ['1', '3', '4'])
      }),
    },
    {
      name: 'tells a sweep what others touched and the ref values they set, but not its own reads',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
        const sweep = await b.objects.beginSweep()
        try {
          assert.deepStrictEqual([...((await sweep.get(bytes(1))) ?? [])], [1])
          await b.objects.get(bytes(2))
          await b.objects.has([bytes(5)])
          await b.objects.putMany([{ key: bytes(6), value: bytes(6) }])
          await b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(7), value: bytes(7) }])
          const drained = await sweep.drain()
          assert.deepStrictEqual(drained.keys.map((k) => k.join(',')).sort(), ['2', '5', '6', '7'])
          assert.deepStrictEqual(drained.refValues, ['v'])
          assert.deepStrictEqual(await sweep.drain(), { keys: [], refValues: [] })
        } finally {
          await sweep.end()
        }
      }),
    },
    {
      name: 'tells a sweep what a call still under way when it began touched: a ref update queued behind a large one',
      run: withBackend(async (b) => {
        // Large, so that where ref updates run one after another the next one still waits when the sweep begins.
        const large = b.refs.updateRefs([{ name: 'large', expected: null, value: 'l', log: log('x') }], [{ key: bytes(8), value: new Uint8Array(24 << 20) }])
        let settled = false
        const queued = b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(7), value: bytes(7) }]).then((result) => {
          settled = true
          return result
        })
        const sweep = await b.objects.beginSweep()
        const settledBeforeSweep = settled
        try {
          assert.deepEqual(await Promise.all([large, queued]), [{ ok: true }, { ok: true }])
          const drained = await sweep.drain()
          // One that settled before the session began is what the collector's reads find instead.
          if (!settledBeforeSweep) {
            assert.ok(drained.keys.some((k) => k.join(',') === '7'), 'the key of a ref update under way as the sweep began was not reported')
            assert.ok(drained.refValues.includes('v'), 'the value a ref update under way as the sweep began set was not reported')
          }
        } finally {
          await sweep.end()
        }
      }),
    },
    {
      name: 'deletes only while a sweep holds the store, and holds other callers until it ends',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(2), value: new Uint8Array(80 * 1024) }, { key: bytes(3), value: bytes(3) }])
        const sweep = await b.objects.beginSweep()
        await assert.rejects(sweep.delete([bytes(1)]))
        await sweep.hold()
        let putDone = false
        const put = b.objects.putMany([{ key: bytes(9), value: bytes(9) }]).then(() => (putDone = true))
        let refDone = false
        const ref = b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }]).then(() => (refDone = true))
        assert.deepStrictEqual(await sweep.delete([bytes(1), bytes(2), bytes(4)]), { deleted: 2, bytes: 2 + 80 * 1024 })
        await new Promise((resolve) => setTimeout(resolve, 20))
        assert.deepStrictEqual([putDone, refDone], [false, false])
        await sweep.end()
        await Promise.all([put, ref])
        assert.deepStrictEqual(await b.objects.has([bytes(1), bytes(2), bytes(3), bytes(9)]), [false, false, true, true])
        assert.deepStrictEqual(await collect(b.objects.keys()), [[3], [9]])
      }),
    },
    {
      name: 'runs one sweep at a time',
      run: withBackend(async (b) => {
        const first = await b.objects.beginSweep()
        let secondStarted = false
        const second = b.objects.beginSweep().then((s) => {
          secondStarted = true
          return s
        })
        await new Promise((resolve) => setTimeout(resolve, 20))
        assert.strictEqual(secondStarted, false)
        await first.end()
        await (await second).end()
        assert.strictEqual(secondStarted, true)
      }),
    },
    {
      name: 'expires reflog entries older than a time, and forgets the log of a deleted ref with none left',
      run: withBackend(async (b) => {
        await b.refs.updateRefs([{ name: 'a', expected: null, value: '1', log: { time: 100, reason: 'x' } }])
        await b.refs.updateRefs([{ name: 'a', expected: '1', value: '2', log: { time: 200, reason: 'y' } }])
        await b.refs.updateRefs([{ name: 'b', expected: null, value: '1', log: { time: 100, reason: 'x' } }])
        await b.refs.updateRefs([{ name: 'b', expected: '1', value: null, log: { time: 150, reason: 'deleted' } }])
        assert.strictEqual(await b.refs.expireReflog('a', 150), 1)
        assert.deepStrictEqual((await b.refs.readReflog('a')).map((e) => e.reason), ['y'])
        assert.strictEqual(await b.refs.expireReflog('b', 1000), 2)
        assert.deepStrictEqual(await b.refs.listReflogs(''), ['a'])
        await b.refs.updateRefs([{ name: 'a', expected: '2', value: '3', log: { time: 300, reason: 'z' } }])
        await b.refs.updateRefs([{ name: 'a', expected: '3', value: '4', log: { time: 400, reason: 'w' } }])
        assert.strictEqual(await b.refs.expireReflog('a', 0, ['3', 'nothing']), 1)
        assert.deepStrictEqual((await b.refs.readReflog('a')).map((e) => e.reason), ['y', 'w'])
      }),
    },
    {
      name: 'keeps a key stored and readable, once, when the same value is written again',
      run: withBackend(async (b) => {
        const large = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 0xff)
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(2), value: large }])
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(2), value: large }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(2), value: large }, { key: bytes(1), value: bytes(1, 1) }])
        assert.deepEqual([...((await b.objects.get(bytes(1))) ?? [])], [1, 1])
        assert.equal(Buffer.compare(Buffer.from((await b.objects.get(bytes(2))) ?? []), Buffer.from(large)), 0)
        assert.deepEqual(await b.objects.sizes([bytes(1), bytes(2)]), [2, large.length])
        assert.deepEqual(await collect(b.objects.keys()), [[1], [2]])
      }),
    },
    {
      name: 'never shows a key being written again as absent, to readers at the same time',
      run: withBackend(async (b) => {
        const values = [bytes(7, 7), new Uint8Array(200 * 1024).fill(7)]
        await b.objects.putMany(values.map((value, i) => ({ key: bytes(i), value })))
        let writing = true
        const rewrites = (async () => {
          for (let round = 0; round < 20; round++) await b.objects.putMany(values.map((value, i) => ({ key: bytes(i), value })))
          writing = false
        })()
        let reads = 0
        while (writing || reads === 0) {
          const [found, small, big] = await Promise.all([b.objects.has([bytes(0), bytes(1)]), b.objects.get(bytes(0)), b.objects.get(bytes(1))])
          assert.deepEqual(found, [true, true])
          assert.deepEqual([...(small ?? [])], [7, 7])
          assert.equal(big?.length, 200 * 1024)
          reads++
        }
        await rewrites
      }),
    },
    {
      name: 'holds one of the two values, never a mix, when a key is written again with other bytes',
      run: withBackend(async (b) => {
        const first = bytes(1, 2, 3)
        const second = new Uint8Array(100 * 1024).fill(9)
        await b.objects.putMany([{ key: bytes(4), value: first }])
        await b.objects.putMany([{ key: bytes(4), value: second }])
        const back = Buffer.from((await b.objects.get(bytes(4))) ?? [])
        assert.ok(back.equals(Buffer.from(first)) || back.equals(Buffer.from(second)), `read ${back.length} bytes, neither value written`)
        const [size] = await b.objects.sizes([bytes(4)])
        assert.equal(size, back.length)
        assert.deepEqual(await collect(b.objects.keys()), [[4]])
      }),
    },
    {
      name: 'counts a key written again as written now, and as touched by a running sweep',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
        await pause(5)
        const since = Date.now()
        const sweep = await b.objects.beginSweep()
        try {
          await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
          await b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(2), value: bytes(2) }])
          const drained = await sweep.drain()
          assert.deepEqual(drained.keys.map((k) => k.join(',')).sort(), ['1', '2'])
        } finally {
          await sweep.end()
        }
        const young = new Set((await collect(b.objects.writtenSince(since))).map((k) => k.join(',')))
        assert.deepEqual([...young].sort(), ['1', '2'])
      }),
    },
  ]
}

function capabilityCases(open: () => Promise<Backend>): ConformanceCase[] {
  const withBackend = opener(open)
  return [
    {
      name: 'reads many keys in one call, answering for each what get answers, in order, missing keys as undefined',
      capability: 'batchedReads',
      run: withBackend(async (b) => {
        const large = new Uint8Array(70 * 1024).fill(7)
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(3), value: bytes() }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'x', log: log('x') }], [{ key: bytes(4), value: large }])
        const keys = [bytes(3), bytes(2), bytes(1), bytes(4), bytes(1), bytes(1, 0)]
        const many = await b.objects.getMany!(keys)
        const one = await Promise.all(keys.map((key) => b.objects.get(key)))
        assert.equal(many.length, keys.length)
        many.forEach((value, i) => assert.deepEqual(value === undefined ? undefined : [...value], one[i] === undefined ? undefined : [...one[i]!], `key ${keys[i]!.join(',')}`))
        assert.deepEqual(many.map((value) => value?.length), [0, undefined, 2, large.length, 2, undefined])
        assert.deepEqual(await b.objects.getMany!([]), [])
      }),
    },
    {
      name: 'reads into lent memory what get answers, whatever the memory lent, and tells a sweep the key',
      capability: 'readsInto',
      run: withBackend(async (b) => {
        const large = Uint8Array.from({ length: 70 * 1024 }, (_, i) => i % 251)
        await b.objects.putMany([{ key: bytes(1), value: bytes(1, 1) }, { key: bytes(3), value: bytes() }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'x', log: log('x') }], [{ key: bytes(4), value: large }])
        for (const lentBytes of [0, 10, large.length, 2 * large.length]) {
          for (const key of [bytes(1), bytes(2), bytes(3), bytes(4)]) {
            const lent = new Uint8Array(new SharedArrayBuffer(lentBytes + 8), 8, lentBytes)
            const answer = await b.objects.getInto!(key, lent)
            const plain = await b.objects.get(key)
            assert.deepEqual(answer && [...answer], plain && [...plain], `key ${key.join(',')}, ${lentBytes} bytes lent`)
          }
        }
        const sweep = await b.objects.beginSweep()
        try {
          await b.objects.getInto!(bytes(2), new Uint8Array(1))
          assert.deepEqual((await sweep.drain()).keys.map((k) => k.join(',')), ['2'])
        } finally {
          await sweep.end()
        }
      }),
    },
    {
      name: 'tells a sweep every key a batched read asked for',
      capability: 'batchedReads',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
        const sweep = await b.objects.beginSweep()
        try {
          await b.objects.getMany!([bytes(1), bytes(2)])
          const drained = await sweep.drain()
          assert.deepEqual(drained.keys.map((k) => k.join(',')).sort(), ['1', '2'])
        } finally {
          await sweep.end()
        }
      }),
    },
    {
      name: 'keeps a scratch space that stores, replaces and deletes values, absence being undefined',
      capability: 'scratch',
      run: withBackend(async (b) => {
        const scratch = b.scratch!
        assert.strictEqual(await scratch.get(bytes(1)), undefined)
        const value = bytes(1, 2, 3)
        await scratch.put(bytes(1), value)
        value[0] = 42
        assert.deepEqual([...((await scratch.get(bytes(1))) ?? [])], [1, 2, 3])
        await scratch.put(bytes(1), bytes(4))
        assert.deepEqual([...((await scratch.get(bytes(1))) ?? [])], [4])
        await scratch.delete(bytes(1))
        await scratch.delete(bytes(2))
        assert.strictEqual(await scratch.get(bytes(1)), undefined)
      }),
    },
    {
      name: 'keeps the scratch space apart from the objects: never listed, found, recorded as written or reported to a sweep',
      capability: 'scratch',
      run: withBackend(async (b) => {
        const scratch = b.scratch!
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
        await scratch.put(bytes(1), bytes(9))
        await scratch.put(bytes(2), bytes(9))
        assert.deepEqual([...((await b.objects.get(bytes(1))) ?? [])], [1])
        assert.deepEqual(await b.objects.has([bytes(2)]), [false])
        assert.deepEqual(await collect(b.objects.keys()), [[1]])
        assert.deepEqual(await collect(b.objects.writtenSince(0)), [[1]])
        const sweep = await b.objects.beginSweep()
        try {
          await scratch.put(bytes(3), bytes(9))
          assert.deepEqual([...((await scratch.get(bytes(2))) ?? [])], [9])
          await sweep.hold()
          await sweep.delete([bytes(1), bytes(2)])
          assert.deepEqual(await sweep.drain(), { keys: [], refValues: [] })
        } finally {
          await sweep.end()
        }
        assert.deepEqual([...((await scratch.get(bytes(2))) ?? [])], [9])
        assert.deepEqual([...((await scratch.get(bytes(3))) ?? [])], [9])
        assert.strictEqual(await b.objects.get(bytes(1)), undefined)
      }),
    },
    {
      name: 'forgets write records older than a time on request, keeping the objects',
      capability: 'forgetWrites',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
        await b.refs.updateRefs([{ name: 'r', expected: null, value: 'x', log: log('x') }], [{ key: bytes(4), value: new Uint8Array(70 * 1024) }])
        await b.objects.forgetWritesBefore!(Date.now() + 1000)
        assert.deepEqual(await collect(b.objects.writtenSince(0)), [])
        assert.deepEqual(await b.objects.has([bytes(1), bytes(4)]), [true, true])
      }),
    },
    {
      name: 'keeps every value readable while reclaiming the space of deleted ones',
      capability: 'reclaim',
      run: withBackend(async (b) => {
        const big = (seed: number) => new Uint8Array(200 * 1024).map((_, i) => (i * seed) & 0xff)
        await b.objects.putMany([1, 2, 3, 4].map((k) => ({ key: bytes(k), value: big(k) })))
        const sweep = await b.objects.beginSweep()
        await sweep.hold()
        await sweep.delete([bytes(1), bytes(2), bytes(3)])
        await sweep.end()
        const result = await b.objects.reclaim!()
        assert.ok(result.files >= 0 && result.bytes >= 0)
        assert.equal(Buffer.compare(Buffer.from((await b.objects.get(bytes(4))) ?? []), Buffer.from(big(4))), 0)
        assert.equal(await b.objects.get(bytes(1)), undefined)
      }),
    },
    {
      name: 'finds nothing wrong in the storage of a store it just wrote',
      capability: 'storageCheck',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: new Uint8Array(300 * 1024) }])
        assert.deepEqual(await b.objects.checkStorage!(), [])
      }),
    },
    {
      name: 'stores entries written with deferred durability like any others',
      capability: 'deferredSync',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(8), value: new Uint8Array(100 * 1024).fill(8) }, { key: bytes(9), value: bytes(9) }], { deferSync: true })
        await b.objects.putMany([{ key: bytes(10), value: bytes(10) }])
        assert.equal((await b.objects.get(bytes(8)))?.length, 100 * 1024)
        assert.deepEqual(await b.objects.has([bytes(8), bytes(9), bytes(10)]), [true, true, true])
      }),
    },
    {
      name: 'keeps serving after being prepared for blocking work',
      capability: 'blockingWorkHandoff',
      run: withBackend(async (b) => {
        await b.objects.putMany([{ key: bytes(1), value: bytes(1) }])
        await b.prepareForBlockingWork!()
        assert.deepEqual(await b.refs.updateRefs([{ name: 'r', expected: null, value: 'v', log: log('x') }], [{ key: bytes(2), value: bytes(2) }]), { ok: true })
        assert.deepEqual(await b.objects.has([bytes(1), bytes(2)]), [true, true])
      }),
    },
  ]
}

/** The compiled peer beside this module (from source, as under a test runner: the build's copy). */
function peerScript(): string {
  const here = import.meta.url
  const url = here.endsWith('.ts') ? here.replace(/\/src\/testing\/conformance\.ts$/, '/dist/src/testing/peer.js') : new URL('./peer.js', here).href
  return fileURLToPath(url)
}

interface Peer {
  /** Sends a command; resolves with its result once the peer answered. */
  send(command: PeerRequest): Promise<unknown>
  close(): Promise<void>
}

async function startPeer(shared: NonNullable<ConformanceTarget['shared']>, location: string): Promise<Peer> {
  const child = spawn(process.execPath, [peerScript(), shared.module, shared.exportName, location], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let ready!: () => void
  const started = new Promise<void>((resolve, reject) => {
    ready = resolve
    child.once('exit', (code) => reject(new Error(`the peer process exited (${code}): ${stderr}`)))
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as PeerReply | { ready: true }
    if ('ready' in message) return ready()
    const waiter = waiting.get(message.id)
    waiting.delete(message.id)
    if (message.ok) waiter?.resolve(message.result)
    else waiter?.reject(new Error(`the peer's call failed: ${message.error}`))
  })
  child.once('exit', () => {
    for (const w of waiting.values()) w.reject(new Error(`the peer process exited: ${stderr}`))
  })
  await started
  let next = 0
  return {
    send: (command) =>
      new Promise((resolve, reject) => {
        const id = next++
        waiting.set(id, { resolve, reject })
        child.stdin.write(`${JSON.stringify({ ...command, id })}\n`)
      }),
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.stdin.end()
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    },
  }
}

function crossProcessCases(shared: NonNullable<ConformanceTarget['shared']>): ConformanceCase[] {
  /** Opens the store here (first, so that a backend with a leader has it here) and in a child process. */
  const withTwo = (test: (here: Backend, peer: Peer) => Promise<void>) => async () => {
    const location = await shared.create()
    const module = (await import(pathToFileURL(shared.module).href)) as Record<string, (location: string) => Promise<Backend>>
    const here = await module[shared.exportName]!(location)
    let peer: Peer | undefined
    try {
      peer = await startPeer(shared, location)
      await test(here, peer)
    } finally {
      await peer?.close()
      await here.close()
    }
  }
  return [
    {
      name: 'tells a sweep what a writer in another process read, probed, wrote and moved a ref to',
      run: withTwo(async (here, peer) => {
        await here.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(2), value: bytes(2) }])
        const sweep = await here.objects.beginSweep()
        try {
          assert.deepEqual(await peer.send({ op: 'get', key: [2] }), [2])
          assert.deepEqual(await peer.send({ op: 'has', keys: [[5]] }), [false])
          await peer.send({ op: 'put', keys: [[6]] })
          assert.deepEqual(await peer.send({ op: 'ref', name: 'r', value: 'v', objects: [[7]], requires: [[[1]]] }), { ok: true })
          const drained = await sweep.drain()
          assert.deepEqual([...new Set(drained.keys.map((k) => k.join(',')))].sort(), ['1', '2', '5', '6', '7'])
          assert.deepEqual(drained.refValues, ['v'])
        } finally {
          await sweep.end()
        }
      }),
    },
    {
      name: 'holds another process\'s writes and ref moves while a sweep holds the store, and loses nothing they reach',
      run: withTwo(async (here, peer) => {
        await here.objects.putMany([{ key: bytes(1), value: bytes(1) }, { key: bytes(3), value: bytes(3) }])
        const sweep = await here.objects.beginSweep()
        let ended = false
        try {
          // Written by the other process after the sweep began, named by its ref only after the hold.
          await peer.send({ op: 'put', keys: [[3]] })
          await sweep.hold()
          const answeredWhileHeld: string[] = []
          const put = peer.send({ op: 'put', keys: [[9]] }).then(() => !ended && answeredWhileHeld.push('put'))
          const ref = peer.send({ op: 'ref', name: 'r', value: 'v', objects: [], requires: [[[3]]] }).then((result) => {
            if (!ended) answeredWhileHeld.push('ref')
            return result
          })
          // The collector's rule: whatever was touched since the sweep began is kept.
          const touched = new Set((await sweep.drain()).keys.map((k) => k.join(',')))
          assert.ok(touched.has('3'), 'a key written by another process during the sweep was not reported')
          const candidates = [bytes(1), bytes(3)].filter((key) => !touched.has(key.join(',')))
          assert.deepEqual(await sweep.delete(candidates), { deleted: 1, bytes: 1 })
          await pause(100)
          assert.deepEqual(answeredWhileHeld, [])
          ended = true
          await sweep.end()
          await put
          assert.deepEqual(await ref, { ok: true })
        } finally {
          ended = true
          await sweep.end()
        }
        assert.deepEqual(await here.objects.has([bytes(1), bytes(3), bytes(9)]), [false, true, true])
        assert.equal(await here.refs.readRef('r'), 'v')
      }),
    },
  ]
}
