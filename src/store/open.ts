import os from 'node:os'
import type { Backend } from '../backend/interface.js'
import { cutDamagedLevelStoreJournal, repairLevelStore } from '../backend/level/store-folder.js'
import type { JournalCut } from '../backend/level/journal.js'
import { shown } from '../backend/registry.js'
import { CkptError } from '../errors.js'
import { StoreContext } from '../core/context.js'
import { STORE_FORMAT, checkStoreFormat, initializeStore, restoreStoreSettings } from '../core/format.js'
import { ObjectDb } from '../core/objects.js'
import { RefDb } from '../refs/refdb.js'
import type { RemoteStores } from '../sync/remotes.js'
import { backends } from './backends.js'
import type { CommonStoreOptions, StoreOptions } from './options.js'
import { Store } from './store.js'
import { withCodedFailures } from './coded-failures.js'

/**
 * Creates a store at `location` and opens it: a path (made if missing) on LevelDB, `memory:`, or
 * the URL of a registered backend. HEAD starts on the timeline `main`, which the first commit
 * creates. STORE_EXISTS when `location` holds one.
 */
export async function initStore(location: string, options: StoreOptions = {}): Promise<Store> {
  const { common, provider, backendOptions } = split(location, options)
  const created = await provider.create(location, backendOptions, STORE_FORMAT)
  try {
    await initializeStore(created.backend, clockOf(common), { resumeCrashedInit: created.resumable ?? false })
    await created.seal?.()
  } catch (err) {
    await created.backend.close()
    throw err
  }
  return storeOn(created.backend, common, created.durable ?? false)
}

/**
 * Opens the store at `location` (a path, `memory:` for a new empty one, or the URL of a
 * registered backend). NOT_A_STORE when there is none; UNSUPPORTED_FORMAT when a newer ckpt wrote it.
 */
export async function openStore(location: string, options: StoreOptions = {}): Promise<Store> {
  const { common, backend, durable } = await openBackend(location, options)
  return storeOn(backend, common, durable)
}

/**
 * Cuts the write journal of the store in `dir` where it is damaged, so that the store opens
 * without the acknowledged writes recorded from there on. The bytes cut off are kept in a file
 * beside the journal. Returns what was cut; nothing when the journal is intact. No other process
 * may have the store open. A LevelDB store's own repair: INVALID_ARGUMENT for another location.
 */
export async function cutDamagedJournal(dir: string): Promise<JournalCut[]> {
  checkLevelLocation(dir, 'cutting a damaged journal')
  return cutDamagedLevelStoreJournal(dir, STORE_FORMAT)
}

/**
 * Rebuilds the embedded database of the store in `dir` when it no longer opens (a table file
 * lost, a checksum failing): what the damaged files held is gone, the rest is kept. Then
 * `fsck` shows what is missing and `repair` moves refs back to intact checkpoints. No other
 * process may have the store open. A LevelDB store's own repair: INVALID_ARGUMENT for another location.
 */
export async function repairStoreDatabase(dir: string): Promise<void> {
  checkLevelLocation(dir, 'rebuilding a damaged database')
  const { backend, format } = await repairLevelStore(dir, STORE_FORMAT)
  try {
    await restoreStoreSettings(backend, format)
  } finally {
    await backend.close()
  }
}

/**
 * Creates a store at `location` holding everything the store at `from` has: its timelines (each
 * also as `origin/<name>`), their histories and outputs. `from` becomes the remote `origin`.
 */
export async function cloneStore(from: string, location: string, options: StoreOptions = {}): Promise<Store> {
  // A location origin cannot record (a URL holding a password) is refused before anything is made.
  backends.canonical(from)
  // So is a source that holds no store or cannot be reached: the clone must not leave an empty store behind.
  await (await openStore(from)).close()
  const store = await initStore(location, options)
  try {
    await store.remotes.add('origin', from)
    await store.remotes.fetch('origin')
    for (const { name, id } of await store.remotes.tracking('origin')) await store.timelines.create(name, id)
  } catch (err) {
    await store.close()
    throw err
  }
  return store
}

/** Initializes an empty backend as a store (to embed ckpt on a backend opened by hand). */
export async function initStoreOn(backend: Backend, options: CommonStoreOptions = {}): Promise<Store> {
  const common = commonOnly(backend, options)
  await initializeStore(backend, clockOf(common))
  return storeOn(backend, common, false)
}

/** Opens a store on a backend that already holds one. */
export async function openStoreOn(backend: Backend, options: CommonStoreOptions = {}): Promise<Store> {
  const common = commonOnly(backend, options)
  await checkedFormat(backend, common, true)
  return storeOn(backend, common, false)
}

async function openBackend(location: string, options: StoreOptions): Promise<{ common: CommonStoreOptions; backend: Backend; durable: boolean }> {
  const { common, provider, backendOptions } = split(location, options)
  const opened = await provider.open(location, backendOptions, STORE_FORMAT)
  if (opened.fresh) {
    try {
      await initializeStore(opened.backend, clockOf(common))
    } catch (err) {
      await opened.backend.close()
      throw err
    }
  } else {
    await checkedFormat(opened.backend, common, opened.mayUpgrade ?? true)
  }
  return { common, backend: opened.backend, durable: opened.durable ?? false }
}

/** Checks the store's format (closing the backend when it is refused). */
async function checkedFormat(backend: Backend, common: CommonStoreOptions, upgrade: boolean): Promise<void> {
  try {
    await checkStoreFormat(backend, clockOf(common), { upgrade })
  } catch (err) {
    await backend.close()
    throw err
  }
}

function storeOn(backend: Backend, common: CommonStoreOptions, durable: boolean): Store {
  return new Store(backend, contextOn(backend, common), { durable, remotes })
}

function contextOn(backend: Backend, common: CommonStoreOptions): StoreContext {
  const now = clockOf(common)
  const author = common.author ?? process.env.CKPT_AUTHOR ?? safeUserName()
  const objects = withCodedFailures(backend.objects, backend.description)
  const refs = withCodedFailures(backend.refs, backend.description)
  return new StoreContext(new ObjectDb(objects, backend.supports, backend.scratch), new RefDb(refs, now), now, author)
}

/** Other stores, as remotes reach them: opened with default options, lent as their core. */
const remotes: RemoteStores = {
  canonical: (location) => backends.canonical(location),
  async open(location) {
    const { common, backend } = await openBackend(location, {})
    const ctx = contextOn(backend, common)
    return {
      ctx,
      async close() {
        ctx.markClosed()
        await backend.close()
      },
    }
  },
}

/** The store's own options, and the chosen backend with its options; INVALID_ARGUMENT for an option no backend here takes. */
function split(location: string, options: StoreOptions) {
  const { clock, author, ...rest } = options
  const { provider, options: backendOptions } = backends.choose(location, rest)
  return { common: { ...(clock && { clock }), ...(author !== undefined && { author }) }, provider, backendOptions }
}

/** A backend opened by hand took its options when it was opened: only the store's own are taken here. */
function commonOnly(backend: Backend, options: CommonStoreOptions): CommonStoreOptions {
  const { clock, author, ...rest } = options
  const extra = Object.entries(rest).find(([, value]) => value !== undefined)
  if (extra) {
    throw new CkptError('INVALID_ARGUMENT', `"${extra[0]}" is not an option of a store on a backend opened by hand (${backend.description}); give the backend its options when opening it`, {
      details: { option: extra[0] },
    })
  }
  return { ...(clock && { clock }), ...(author !== undefined && { author }) }
}

function checkLevelLocation(location: string, what: string): void {
  const { provider } = backends.choose(location, {})
  if (provider.name !== 'level') {
    throw new CkptError('INVALID_ARGUMENT', `${what} is for a LevelDB store (a path), not ${provider.name} (${shown(location)})`, { details: { location: shown(location) } })
  }
}

function clockOf(options: CommonStoreOptions): () => number {
  return options.clock ?? Date.now
}

function safeUserName(): string {
  try {
    return os.userInfo().username
  } catch {
    return 'unknown'
  }
}
