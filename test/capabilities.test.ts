import { describe, expect, it } from 'vitest'
import { createMemoryBackend, initStoreOn, type Backend } from '../src/index.js'
import { tempStore } from './support/temp.js'

/**
 * A backend that does only what every backend must: the memory backend with its optional
 * methods taken away and nothing declared, as a third party's first backend would be.
 */
function minimalBackend(): Backend {
  const inner = createMemoryBackend()
  const { get, has, putMany, keys, sizes, writtenSince, beginSweep } = inner.objects
  const bind = <F extends (...args: never[]) => unknown>(f: F): F => f.bind(inner.objects) as F
  return {
    description: 'minimal',
    supports: { reclaim: false, storageCheck: false, deferredSync: false, forgetWrites: false, blockingWorkHandoff: false, scratch: false },
    objects: { get: bind(get), has: bind(has), putMany: bind(putMany), keys: bind(keys), sizes: bind(sizes), writtenSince: bind(writtenSince), beginSweep: bind(beginSweep) },
    refs: inner.refs,
    close: () => inner.close(),
  }
}

describe('a backend with only the required methods', () => {
  it('passes the conformance suite exported as ckpt/testing, without the cases of capabilities it lacks', async () => {
    const { backendConformance } = await import('ckpt/testing')
    const cases = await backendConformance({ open: async () => minimalBackend() })
    expect(cases.length).toBeGreaterThan(20)
    expect(cases.filter((c) => c.capability !== undefined)).toEqual([])
    for (const c of cases) await c.run()
  })

  it('is collected by gc, which reports nothing reclaimed', async () => {
    const store = await initStoreOn(minimalBackend())
    await store.commit({ stage: 'kept', output: { a: 1 } })
    await store.putBlob(new Uint8Array(5000).fill(3))
    // Out of the grace window: `--prune now` keeps what was written in this very millisecond.
    await new Promise((resolve) => setTimeout(resolve, 5))
    const result = await store.gc({ prune: 'now' })
    expect(result.freed.objects).toBeGreaterThanOrEqual(1)
    expect(result.reclaimed).toEqual({ files: 0, bytes: 0 })
    expect(await store.getOutput('HEAD:kept')).toEqual({ a: 1 })
    await store.close()
  })

  it('is checked by fsck, which says it skipped the storage check', async () => {
    const store = await initStoreOn(minimalBackend())
    await store.commit({ stage: 's', output: 1 })
    const report = await store.fsck()
    expect(report).toMatchObject({ ok: true, storageChecked: false })
    await store.close()
  })
})

describe('the LevelDB backend', () => {
  it('declares its storage check, which fsck runs', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 's', output: 1 })
    expect((await store.fsck()).storageChecked).toBe(true)
  })
})
