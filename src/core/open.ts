import { constants, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { CkptError, isCkptError } from '../errors.js'
import { onPath } from '../io/fs-errors.js'
import { mkdirDurable, syncDirectory, writeFileSynced } from '../io/sync-dir.js'
import type { Backend } from '../backend/interface.js'
import { openOwnFile } from '../io/own-files.js'
import { cutDamagedLevelJournals, openLevelBackend, repairLevelDatabase } from '../backend/level/shared.js'
import type { JournalCut } from '../backend/level/journal.js'
import { HEAD, META_PREFIX, RefDb, headValue } from '../refs/refdb.js'
import { Store } from './store.js'
import type { StoreOptions } from './types.js'

/** Version of the store layout and object model this build reads and writes (docs/format.md). */
export const FORMAT_VERSION = 2
/** The older format this build opens, upgrading the store to FORMAT_VERSION as it does. */
const UPGRADABLE_FORMAT = 1
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
    await writeMarker(root, { format: FORMAT_VERSION, backend: 'level' })
  } catch (err) {
    await backend.close()
    throw err
  }
  return new Store(backend, options)
}

/** Opens the store in `dir`. NOT_A_STORE when there is none; UNSUPPORTED_FORMAT when a newer ckpt wrote it. */
export async function openStore(dir: string, options: StoreOptions = {}): Promise<Store> {
  const root = path.resolve(dir)
  const marker = await readSupportedMarker(root)
  const upgraded = marker.format === FORMAT_VERSION || (await upgradeMarker(root, marker))
  // A store still marked format 1 may be opened by a build that ignores the journal: leave none.
  const mode = upgraded ? durability(options) : { durability: 'fsync' as const }
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { createIfMissing: false, packDir: path.join(root, PACK_FOLDER), ...mode })
  return openOn(backend, options, { upgrade: upgraded })
}

/**
 * Marks a format 1 store as format 2 before anything opens its database, so that no build that
 * does not know this format's files (the write journal among them) opens it once this one has
 * written to them. False when the marker cannot be written (a read-only store).
 */
async function upgradeMarker(root: string, marker: Marker): Promise<boolean> {
  try {
    await writeMarker(root, { format: FORMAT_VERSION, backend: marker.backend })
    return true
  } catch (cause) {
    if (cause instanceof CkptError) throw cause
    const code = (cause as { code?: string }).code
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return false
    throw new CkptError('IO_ERROR', `cannot upgrade the store marker ${path.join(root, STORE_MARKER)} to format ${FORMAT_VERSION}: ${(cause as Error).message}`, {
      cause,
      details: { path: root },
    })
  }
}

/**
 * Cuts the write journal of the store in `dir` where it is damaged, so that the store opens
 * without the acknowledged writes recorded from there on. The bytes cut off are kept in a file
 * beside the journal. Returns what was cut; nothing when the journal is intact. No other process
 * may have the store open.
 */
export async function cutDamagedJournal(dir: string): Promise<JournalCut[]> {
  const root = path.resolve(dir)
  await readSupportedMarker(root)
  return cutDamagedLevelJournals(path.join(root, DB_FOLDER))
}

/**
 * Rebuilds the embedded database of the store in `dir` when it no longer opens (a table file
 * lost, a checksum failing): what the damaged files held is gone, the rest is kept. Then
 * `fsck` shows what is missing and `repair` moves refs back to intact checkpoints. No other
 * process may have the store open.
 */
export async function repairStoreDatabase(dir: string): Promise<void> {
  const root = path.resolve(dir)
  const marker = await readSupportedMarker(root)
  await repairLevelDatabase(path.join(root, DB_FOLDER))
  // The marker file vouches for the store; its settings refs may have been in what was lost.
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { packDir: path.join(root, PACK_FOLDER) })
  try {
    const refs = new RefDb(backend.refs, Date.now)
    const restore = [
      { ref: FORMAT_REF, value: String(Math.max(marker.format, FORMAT_VERSION)) },
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
  return openOn(backend, options, { upgrade: true })
}

async function openOn(backend: Backend, options: StoreOptions, { upgrade }: { upgrade: boolean }): Promise<Store> {
  try {
    const format = await backend.refs.readRef(FORMAT_REF)
    if (format === undefined) throw new CkptError('NOT_A_STORE', `${backend.description} holds no ckpt store`, { details: { path: backend.description } })
    if (format === String(UPGRADABLE_FORMAT)) {
      if (upgrade) await upgradeFormatRef(backend, options)
    } else if (format !== String(FORMAT_VERSION)) {
      throw new CkptError('UNSUPPORTED_FORMAT', `${backend.description} was written in store format ${format}; this ckpt reads formats ${UPGRADABLE_FORMAT} and ${FORMAT_VERSION}`, {
        details: { format },
      })
    }
  } catch (err) {
    await backend.close()
    throw err
  }
  return new Store(backend, options)
}

/** Sets `meta/format` from 1 to 2; another process opening the store at the same time may have done it. */
async function upgradeFormatRef(backend: Backend, options: StoreOptions): Promise<void> {
  const refs = new RefDb(backend.refs, options.clock ?? Date.now)
  try {
    await refs.update([{ ref: FORMAT_REF, expected: String(UPGRADABLE_FORMAT), value: String(FORMAT_VERSION) }], `upgrade: store format ${FORMAT_VERSION}`)
  } catch (err) {
    if (!(isCkptError(err, 'REF_CONFLICT') && (await backend.refs.readRef(FORMAT_REF)) === String(FORMAT_VERSION))) throw err
  }
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

/** The store's marker; UNSUPPORTED_FORMAT when this build cannot open a store of its format. */
async function readSupportedMarker(root: string): Promise<Marker> {
  const marker = await readMarker(root)
  if ((marker.format !== FORMAT_VERSION && marker.format !== UPGRADABLE_FORMAT) || marker.backend !== 'level') {
    throw new CkptError('UNSUPPORTED_FORMAT', `${root} is a ckpt store of format ${marker.format} (${marker.backend}); this ckpt reads formats ${UPGRADABLE_FORMAT} and ${FORMAT_VERSION} (level)`, {
      details: { path: root, format: marker.format },
    })
  }
  return marker
}

async function readMarker(root: string): Promise<Marker> {
  const file = path.join(root, STORE_MARKER)
  let text: string
  try {
    const handle = await openOwnFile(file, constants.O_RDONLY, 'the store marker')
    try {
      text = await handle.readFile('utf8')
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof CkptError) throw err
    throw new CkptError('NOT_A_STORE', `${root} is not a ckpt store (no ${STORE_MARKER}); create one with initStore or \`ckpt init\``, {
      details: { path: root },
    })
  }
  try {
    const marker = JSON.parse(text) as Marker
    if (typeof marker.format !== 'number' || typeof marker.backend !== 'string') throw new Error('missing fields')
    return marker
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', `${file} is damaged`, { cause, details: { path: root } })
  }
}

/**
 * Replaces the marker atomically: a crash leaves the old one or the new one. The temporary name
 * is this call's own, so two processes upgrading a store at once never write one file.
 */
async function writeMarker(root: string, marker: Marker): Promise<void> {
  const temp = path.join(root, `${STORE_MARKER}.tmp-${randomBytes(6).toString('hex')}`)
  try {
    await writeFileSynced(temp, JSON.stringify(marker, null, 2) + '\n')
    await rename(temp, path.join(root, STORE_MARKER))
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined)
    throw err
  }
  await syncDirectory(root)
}

function durability(options: StoreOptions): { durability: 'process' | 'fsync' } {
  return { durability: options.durability ?? 'process' }
}
