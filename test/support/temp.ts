import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import { createMemoryBackend, initStore, initStoreOn, type Backend, type Store, type StoreOptions } from '../../src/index.js'

const cleanups: Array<() => Promise<void> | void> = []

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.()
})

/** A fresh temporary directory, removed after the test. */
export function tempDir(prefix = 'ckpt-test-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A new store on LevelDB in a temporary directory, closed after the test. */
export async function tempStore(options: StoreOptions = {}): Promise<{ store: Store; dir: string }> {
  const dir = path.join(tempDir(), 'store')
  const store = await initStore(dir, options)
  cleanups.push(() => store.close())
  return { store, dir }
}

/** A new store on the memory backend (or `backend`), with a stepping clock and author `t`. */
export async function memoryStore(backend: Backend = createMemoryBackend()): Promise<Store> {
  return initStoreOn(backend, { clock: steppingClock(), author: 't' })
}

/** Runs `fn` after the current test's other cleanups. */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn)
}

/** A deterministic clock: 2026-01-01T00:00:00Z, one second per call. */
export function steppingClock(start = Date.UTC(2026, 0, 1)): () => number {
  let t = start
  return () => (t += 1000)
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}
