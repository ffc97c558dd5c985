import { existsSync, readdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  createMemoryBackend,
  cloneStore,
  cutDamagedJournal,
  initStore,
  initStoreOn,
  openStore,
  openStoreOn,
  registerBackend,
  type Backend,
  type StoreOptions,
} from '../src/index.js'
import { failure } from './support/errors.js'
import { collect, onCleanup, tempDir, tempStore } from './support/temp.js'

/*
 * A store's location picks its backend: a path is LevelDB, `memory:` a store in this process's
 * memory, and `scheme:…` the backend registered for that scheme. Each backend takes its own
 * options, under its own name, and an option no backend here takes is refused, not ignored.
 */

/** Options as a caller without the types might pass them (a JavaScript caller, a typo). */
const untyped = (options: Record<string, unknown>) => options as StoreOptions

describe('memory: stores', () => {
  it('opens memory: as a new, empty store that commits and reads back', async () => {
    const store = await openStore('memory:')
    onCleanup(() => store.close())
    expect(await store.head()).toEqual({ detached: false, timeline: 'main' })
    const c = await store.commit({ outputs: { a: { n: 1 } }, message: 'first' })
    expect(await store.getOutput(`${c.id}:a`)).toEqual({ n: 1 })
    expect((await collect(store.log())).map((x) => x.id)).toEqual([c.id])
    expect(store.description).toBe('memory')
  })

  it('creates a store at memory: with initStore, each one its own', async () => {
    const a = await initStore('memory:', { author: 'ann' })
    const b = await initStore('memory:')
    onCleanup(() => a.close())
    onCleanup(() => b.close())
    const c = await a.commit({ outputs: { x: 1 } })
    expect(c.author).toBe('ann')
    expect(await b.head()).toEqual({ detached: false, timeline: 'main' })
  })

  it('refuses a memory location with anything after the colon', async () => {
    const err = await failure(openStore('memory:some-name'))
    expect(err.code).toBe('INVALID_ARGUMENT')
  })
})

describe('locations no backend serves', () => {
  it('refuses a location whose scheme no backend serves, naming the scheme, and writes nothing', async () => {
    const location = 'nosuchbackend:store-of-this-test'
    onCleanup(() => rmSync(path.resolve(location), { recursive: true, force: true }))
    const err = await failure(initStore(location))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ scheme: 'nosuchbackend' })
    expect(err.message).toContain('nosuchbackend:')
    expect(existsSync(path.resolve(location))).toBe(false)
  })

  it('refuses a URL of an unknown scheme on open too', async () => {
    const err = await failure(openStore('nosuch://user@host:5432/db'))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ scheme: 'nosuch' })
  })

  it('refuses to cut a journal or rebuild a database of a store that is not a LevelDB folder', async () => {
    const err = await failure(cutDamagedJournal('memory:'))
    expect(err.code).toBe('INVALID_ARGUMENT')
  })
})

describe('backend options', () => {
  it('refuses an option of LevelDB given for a memory store', async () => {
    const err = await failure(openStore('memory:', { level: { durability: 'fsync' } }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ option: 'level', backend: 'memory' })
  })

  it('refuses durability given at the top level, where no backend reads it, and creates no folder', async () => {
    const dir = path.join(tempDir(), 'store')
    const err = await failure(initStore(dir, untyped({ durability: 'fsync' })))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ option: 'durability' })
    expect(existsSync(dir)).toBe(false)
  })

  it('refuses an option LevelDB does not take, and a durability it does not know', async () => {
    const dir = path.join(tempDir(), 'store')
    const typo = await failure(initStore(dir, untyped({ level: { durabilty: 'fsync' } })))
    expect(typo.code).toBe('INVALID_ARGUMENT')
    expect(typo.details).toMatchObject({ option: 'level.durabilty' })
    const value = await failure(initStore(dir, untyped({ level: { durability: 'sometimes' } })))
    expect(value.code).toBe('INVALID_ARGUMENT')
    expect(existsSync(dir)).toBe(false)
  })

  it('refuses backend options for a backend opened by hand, which took its own when it was opened', async () => {
    const err = await failure(initStoreOn(createMemoryBackend(), untyped({ level: { durability: 'fsync' } })))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ option: 'level' })
  })

  it('takes LevelDB options for a store at a path, across a reopen', async () => {
    const { store, dir } = await tempStore({ level: { durability: 'fsync' } })
    const c = await store.commit({ outputs: { a: 1 } })
    await store.close()
    const reopened = await openStore(dir, { level: { durability: 'fsync' } })
    onCleanup(() => reopened.close())
    expect((await reopened.getCheckpoint('main')).id).toBe(c.id)
  })
})

describe('registered backends', () => {
  /** A backend for `shelf:NAME`: named memory stores that outlive their opening, as a third party might write one. */
  const shelves = new Map<string, Backend>()
  const seen: Array<{ location: string; options: object }> = []
  registerBackend<{ label?: string }>({
    name: 'shelf',
    schemes: ['shelf'],
    optionNames: ['label'],
    async create(location, options) {
      seen.push({ location, options })
      if (shelves.has(location)) throw new Error(`${location} exists`)
      const backend = { ...createMemoryBackend(), description: location }
      shelves.set(location, backend)
      return { backend }
    },
    async open(location, options) {
      seen.push({ location, options })
      const backend = shelves.get(location)
      if (!backend) throw new Error(`no ${location}`)
      return { backend }
    },
  })

  it('opens locations of a registered scheme on that backend, with its own options', async () => {
    const store = await initStore('shelf:one', untyped({ shelf: { label: 'first' } }))
    const c = await store.commit({ outputs: { a: 'x' } })
    await store.close()
    const again = await openStore('shelf:one')
    onCleanup(() => again.close())
    expect(again.description).toBe('shelf:one')
    expect((await again.getCheckpoint('main')).id).toBe(c.id)
    expect(seen).toEqual([
      { location: 'shelf:one', options: { label: 'first' } },
      { location: 'shelf:one', options: {} },
    ])
  })

  it('refuses a registered backend an option it does not take, and another backend its options', async () => {
    const wrong = await failure(initStore('shelf:two', untyped({ shelf: { poolSize: 4 } })))
    expect(wrong.code).toBe('INVALID_ARGUMENT')
    expect(wrong.details).toMatchObject({ option: 'shelf.poolSize' })
    const other = await failure(initStore(path.join(tempDir(), 'store'), untyped({ shelf: { label: 'x' } })))
    expect(other.code).toBe('INVALID_ARGUMENT')
    expect(other.details).toMatchObject({ option: 'shelf', backend: 'level' })
    expect(shelves.has('shelf:two')).toBe(false)
  })

  it('clones and fetches between a store at a path and one at a registered scheme, with the same ids', async () => {
    const source = await initStore('shelf:three')
    const a = await source.commit({ outputs: { a: 1 } })
    const b = await source.commit({ outputs: { a: 2 } })
    await source.close()
    const dir = path.join(tempDir(), 'clone')
    const clone = await cloneStore('shelf:three', dir)
    onCleanup(() => clone.close())
    expect(await clone.remotes.list()).toEqual([{ name: 'origin', location: 'shelf:three' }])
    expect((await collect(clone.log('main'))).map((c) => c.id)).toEqual([b.id, a.id])
    expect(readdirSync(dir)).toContain('ckpt-store.json')
  })

  it('refuses a second backend for a scheme that is taken', () => {
    expect(() => registerBackend({ name: 'other', schemes: ['memory'], optionNames: [], create: async () => ({ backend: createMemoryBackend() }), open: async () => ({ backend: createMemoryBackend() }) })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
  })

  it('still opens a backend given by hand', async () => {
    const backend = createMemoryBackend()
    await (await initStoreOn(backend)).commit({ outputs: { a: 1 } })
    const store = await openStoreOn(backend)
    expect((await collect(store.log())).length).toBe(1)
  })
})
