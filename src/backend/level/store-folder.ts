import { constants, existsSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { CkptError } from '../../errors.js'
import { onPath } from '../../io/fs-errors.js'
import { openOwnFile } from '../../io/own-files.js'
import { mkdirDurable, syncDirectory, writeFileSynced } from '../../io/sync-dir.js'
import type { Backend } from '../interface.js'
import type { BackendProvider, CreatedBackend, OpenedBackend, StoreFormat } from '../registry.js'
import type { JournalCut } from './journal.js'
import type { Durability } from './local.js'
import { cutDamagedLevelJournals, openLevelBackend, repairLevelDatabase } from './shared.js'

/*
 * A LevelDB store is a folder: the marker file that says it is one and which format it is in,
 * the database in db/, and the pack files of large values in packs/.
 */

/** The file that marks a directory as a ckpt store. */
export const STORE_MARKER = 'ckpt-store.json'
const DB_FOLDER = 'db'
const PACK_FOLDER = 'packs'
const BACKEND_NAME = 'level'

/** Options of a store on LevelDB: `openStore(dir, { level: { durability: 'fsync' } })`. */
export interface LevelStoreOptions {
  /**
   * `process` (default): a returned commit survives the process being killed. `fsync`: it also
   * survives power loss, at the cost of an fsync per write (docs/backends.md).
   */
  readonly durability?: Durability
}

interface Marker {
  readonly format: number
  readonly backend: string
}

/** Stores at a path: LevelDB. */
export const levelProvider: BackendProvider<LevelStoreOptions> = {
  name: BACKEND_NAME,
  schemes: [],
  optionNames: ['durability'],
  canonical: (location) => path.resolve(location),
  create: createLevelStore,
  open: openLevelStore,
}

/**
 * Makes the folder `dir` (if missing) and an empty database in it. STORE_EXISTS when `dir`
 * holds a store. `seal` writes the marker, last: a crash before it leaves no half-made store that opens.
 */
export async function createLevelStore(dir: string, options: LevelStoreOptions, format: StoreFormat): Promise<CreatedBackend> {
  const durability = durabilityOf(options)
  const root = path.resolve(dir)
  if (existsSync(path.join(root, STORE_MARKER))) {
    throw new CkptError('STORE_EXISTS', `${root} already holds a ckpt store`, { details: { path: root } })
  }
  await onPath(dir, () => mkdirDurable(root), 'cannot create the store folder')
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { createIfMissing: true, packDir: path.join(root, PACK_FOLDER), durability })
  return {
    backend,
    resumable: true,
    durable: durability === 'fsync',
    seal: () => writeMarker(root, { format: format.current, backend: BACKEND_NAME }),
  }
}

/** Opens the store in `dir`. NOT_A_STORE when there is none; UNSUPPORTED_FORMAT when a newer ckpt wrote it. */
export async function openLevelStore(dir: string, options: LevelStoreOptions, format: StoreFormat): Promise<OpenedBackend> {
  const durability = durabilityOf(options)
  const root = path.resolve(dir)
  const marker = await readSupportedMarker(root, format)
  const upgraded = marker.format === format.current || (await upgradeMarker(root, marker, format))
  // A store still marked with an older format may be opened by a build that ignores the journal: leave none.
  const mode = upgraded ? durability : 'fsync'
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { createIfMissing: false, packDir: path.join(root, PACK_FOLDER), durability: mode })
  return { backend, mayUpgrade: upgraded, durable: durability === 'fsync' }
}

/**
 * Marks a store of an older format as the current one before anything opens its database, so
 * that no build that does not know this format's files (the write journal among them) opens it
 * once this one has written to them. False when the marker cannot be written (a read-only store).
 */
async function upgradeMarker(root: string, marker: Marker, format: StoreFormat): Promise<boolean> {
  try {
    await writeMarker(root, { format: format.current, backend: marker.backend })
    return true
  } catch (cause) {
    if (cause instanceof CkptError) throw cause
    const code = (cause as { code?: string }).code
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return false
    throw new CkptError('IO_ERROR', `cannot upgrade the store marker ${path.join(root, STORE_MARKER)} to format ${format.current}: ${(cause as Error).message}`, {
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
export async function cutDamagedLevelStoreJournal(dir: string, format: StoreFormat): Promise<JournalCut[]> {
  const root = path.resolve(dir)
  await readSupportedMarker(root, format)
  return cutDamagedLevelJournals(path.join(root, DB_FOLDER))
}

/**
 * Rebuilds the database of the store in `dir` when it no longer opens (a table file lost, a
 * checksum failing) and opens it: what the damaged files held is gone, the rest is kept. Returns
 * the format its marker records, which vouches for the store when the database lost its own
 * record of it. No other process may have the store open.
 */
export async function repairLevelStore(dir: string, format: StoreFormat): Promise<{ backend: Backend; format: number }> {
  const root = path.resolve(dir)
  const marker = await readSupportedMarker(root, format)
  await repairLevelDatabase(path.join(root, DB_FOLDER))
  const backend = await openLevelBackend(path.join(root, DB_FOLDER), { packDir: path.join(root, PACK_FOLDER) })
  return { backend, format: marker.format }
}

/** The store's marker; UNSUPPORTED_FORMAT when this build cannot open a store of its format. */
async function readSupportedMarker(root: string, format: StoreFormat): Promise<Marker> {
  const marker = await readMarker(root)
  const readable = [...format.upgradable, format.current]
  if (!readable.includes(marker.format) || marker.backend !== BACKEND_NAME) {
    throw new CkptError('UNSUPPORTED_FORMAT', `${root} is a ckpt store of format ${marker.format} (${marker.backend}); this ckpt reads formats ${readable.join(' and ')} (${BACKEND_NAME})`, {
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

function durabilityOf(options: LevelStoreOptions): Durability {
  const durability = options.durability ?? 'process'
  if (durability !== 'process' && durability !== 'fsync') {
    throw new CkptError('INVALID_ARGUMENT', `level.durability must be "process" or "fsync", not ${JSON.stringify(durability)}`, { details: { option: 'level.durability' } })
  }
  return durability
}
