import { existsSync } from 'node:fs'
import { readFile, rename } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../errors.js'
import { onPath } from '../io/fs-errors.js'
import { mkdirDurable, syncDirectory, writeFileSynced } from '../io/sync-dir.js'
import type { Backend } from '../backend/interface.js'
import { openLevelBackend, repairLevelDatabase } from '../backend/level/shared.js'
import { HEAD, META_PREFIX, RefDb, headValue } from '../refs/refdb.js'
import { Store } from './store.js'
import type { StoreOptions } from './types.js'

/** Version of the store layout and object model this build reads and writes (docs/format.md). */
export const FORMAT_VERSION = 1
const FORMAT_REF = `${META_PREFIX}format`
/** The file that marks a directory as a ckpt store. */
export const STORE_MARKER = 'ckpt-store.json'
const DB_FOLDER = 'db'
const PACK_FOLDER = 'packs'
const DEFAULT_TIMELINE = 'main'

interface Marker {
  readonly format: number
  readonly backend: string
}

/**
 * Creates a store in `dir` (made if missing) on the embedded LevelDB backend and opens it.
 * HEAD starts on the timeline `main`, which the first commit creates. STORE_EXISTS when `dir` holds one.
 */
export async function initStore(dir: string, options: StoreOptions = {}): Promise<Store> {
  const root = path.resolve(dir)
  if (existsSync(path.join(root, STORE_MARKER))) {
    throw new CkptError('STORE_EXISTS', `${root} already holds a ckpt store`, { details: { path: root } })
  }
  await onPath(dir, () => mkdirDurable(root), 'cannot create the store folder')
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { createIfMissing: true, packDir: path.join(root, PACK_FOLDER), ...durability(options) })
  try {
    await initBackend(backend, options, { resumeCrashedInit: true })
    // The marker goes last: a crash before it leaves no half-made store that opens.
    const marker: Marker = { format: FORMAT_VERSION, backend: 'level' }
    const temp = path.join(root, `${STORE_MARKER}.tmp`)
    await writeFileSynced(temp, JSON.stringify(marker, null, 2) + '\n')
    await rename(temp, path.join(root, STORE_MARKER))
    await syncDirectory(root)
  } catch (err) {
    await backend.close()
    throw err
  }
  return new Store(backend, options)
}

/** Opens the store in `dir`. NOT_A_STORE when there is none; UNSUPPORTED_FORMAT when a newer ckpt wrote it. */
export async function openStore(dir: string, options: StoreOptions = {}): Promise<Store> {
  const root = path.resolve(dir)
  const marker = await readMarker(root)
  if (marker.format !== FORMAT_VERSION || marker.backend !== 'level') {
    throw new CkptError('UNSUPPORTED_FORMAT', `${root} is a ckpt store of format ${marker.format} (${marker.backend}); this ckpt reads format ${FORMAT_VERSION} (level)`, {
      details: { path: root, format: marker.format },
    })
  }
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { createIfMissing: false, packDir: path.join(root, PACK_FOLDER), ...durability(options) })
  return openOn(backend, options)
}

/**
 * Rebuilds the embedded database of the store in `dir` when it no longer opens (a table file
 * lost, a checksum failing): what the damaged files held is gone, the rest is kept. Then
 * `fsck` shows what is missing and `repair` moves refs back to intact checkpoints. No other
 * process may have the store open.
 */
export async function repairStoreDatabase(dir: string): Promise<void> {
  const root = path.resolve(dir)
  const marker = await readMarker(root)
  await repairLevelDatabase(path.join(root, DB_FOLDER))
  // The marker file vouches for the store; its settings refs may have been in what was lost.
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { packDir: path.join(root, PACK_FOLDER) })
  try {
    const refs = new RefDb(backend.refs, Date.now)
    const restore = [
      { ref: FORMAT_REF, value: String(marker.format) },
      { ref: HEAD, value: headValue({ kind: 'timeline', timeline: DEFAULT_TIMELINE }) },
    ]
    for (const { ref, value } of restore) {
      if ((await refs.read(ref)) === undefined) await refs.update([{ ref, expected: null, value }], 'fsck --repair: lost with a damaged database')
    }
  } finally {
    await backend.close()
  }
}

/**
 * Creates a store in `dir` holding everything the store at `location` has: its timelines (each
 * also as `origin/<name>`), their histories and outputs. `location` becomes the remote `origin`.
 */
export async function cloneStore(location: string, dir: string, options: StoreOptions = {}): Promise<Store> {
  const store = await initStore(dir, options)
  try {
    await store.remotes.add('origin', location)
    await store.remotes.fetch('origin')
    for (const { name, id } of await store.remotes.tracking('origin')) await store.timelines.create(name, id)
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

/** Initializes an empty backend as a store (for backends other than the embedded default). */
export async function initStoreOn(backend: Backend, options: StoreOptions = {}): Promise<Store> {
  await initBackend(backend, options)
  return new Store(backend, options)
}

/** Opens a store on a backend that already holds one. */
export async function openStoreOn(backend: Backend, options: StoreOptions = {}): Promise<Store> {
  return openOn(backend, options)
}

async function openOn(backend: Backend, options: StoreOptions): Promise<Store> {
  try {
    const format = await backend.refs.readRef(FORMAT_REF)
    if (format === undefined) throw new CkptError('NOT_A_STORE', `${backend.description} holds no ckpt store`, { details: { path: backend.description } })
    if (format !== String(FORMAT_VERSION)) {
      throw new CkptError('UNSUPPORTED_FORMAT', `${backend.description} was written in store format ${format}; this ckpt reads format ${FORMAT_VERSION}`, {
        details: { format },
      })
    }
  } catch (err) {
    await backend.close()
    throw err
  }
  return new Store(backend, options)
}

async function initBackend(backend: Backend, options: StoreOptions, { resumeCrashedInit = false } = {}): Promise<void> {
  const refs = new RefDb(backend.refs, options.clock ?? Date.now)
  const existing = await backend.refs.readRef(FORMAT_REF)
  // A directory whose init crashed before writing the marker has the format ref already.
  if (existing !== undefined && resumeCrashedInit && existing === String(FORMAT_VERSION)) return
  if (existing !== undefined) throw new CkptError('STORE_EXISTS', `${backend.description} already holds a ckpt store`)
  await refs.update(
    [
      { ref: FORMAT_REF, expected: null, value: String(FORMAT_VERSION) },
      { ref: HEAD, expected: null, value: headValue({ kind: 'timeline', timeline: DEFAULT_TIMELINE }) },
    ],
    'init',
  )
}

async function readMarker(root: string): Promise<Marker> {
  let text: string
  try {
    text = await readFile(path.join(root, STORE_MARKER), 'utf8')
  } catch {
    throw new CkptError('NOT_A_STORE', `${root} is not a ckpt store (no ${STORE_MARKER}); create one with initStore or \`ckpt init\``, {
      details: { path: root },
    })
  }
  try {
    const marker = JSON.parse(text) as Marker
    if (typeof marker.format !== 'number' || typeof marker.backend !== 'string') throw new Error('missing fields')
    return marker
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', `${path.join(root, STORE_MARKER)} is damaged`, { cause, details: { path: root } })
  }
}

function durability(options: StoreOptions): { durability: 'process' | 'fsync' } {
  return { durability: options.durability ?? 'process' }
}
