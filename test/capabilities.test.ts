import { describe, expect, it } from 'vitest'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { createMemoryBackend, initStoreOn, readDirectory, type Backend } from '../src/index.js'
import { tempDir, tempStore } from './support/temp.js'

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
    supports: { reclaim: false, storageCheck: false, deferredSync: false, forgetWrites: false, blockingWorkHandoff: false, scratch: false, batchedReads: false, readsInto: false },
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

  it('checks out a folder output of many small files, and one of a large file, reading each file on its own', async () => {
    const source = tempDir()
    for (let i = 0; i < 300; i++) {
      mkdirSync(path.join(source, `d${i % 7}`), { recursive: true })
      writeFileSync(path.join(source, `d${i % 7}`, `f${i}`), `file ${i}`.repeat(i % 50))
    }
    writeFileSync(path.join(source, 'large'), new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) % 251))
    // The memory backend reads a folder's files in batches (`supports.batchedReads`); the minimal one cannot.
    for (const backend of [minimalBackend(), createMemoryBackend()]) {
      const store = await initStoreOn(backend)
      await store.commit({ stage: 'files', output: await readDirectory(source) })
      const target = tempDir()
      await store.restore('main', { to: target })
      const files = readdirSync(source, { recursive: true, withFileTypes: true }).filter((e) => e.isFile())
      expect(files).toHaveLength(301)
      for (const file of files) {
        const name = path.relative(source, path.join(file.parentPath, file.name))
        expect(readFileSync(path.join(target, 'files', name)).equals(readFileSync(path.join(source, name))), name).toBe(true)
      }
      expect(readdirSync(path.join(target, 'files'), { recursive: true }).length).toBe(readdirSync(source, { recursive: true }).length)
      await store.close()
    }
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
