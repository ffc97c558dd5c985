import { CkptError, isCkptError } from '../errors.js'
import type { Backend } from '../backend/interface.js'
import { HEAD, META_PREFIX, RefDb, headValue } from '../refs/refdb.js'

/** Version of the store layout and object model this build reads and writes (docs/format.md). */
export const FORMAT_VERSION = 2
/** The older format this build opens, upgrading the store to FORMAT_VERSION as it does. */
const UPGRADABLE_FORMAT = 1
/** What this build reads and writes, as told to a backend that records a format of its own. */
export const STORE_FORMAT = { current: FORMAT_VERSION, upgradable: [UPGRADABLE_FORMAT] } as const
const FORMAT_REF = `${META_PREFIX}format`
const DEFAULT_TIMELINE = 'main'

/**
 * Makes an empty backend a store: the format ref, and HEAD on the timeline `main`, which the
 * first commit creates. STORE_EXISTS when it holds one, unless `resumeCrashedInit` and it holds
 * just what an init that crashed after this step left.
 */
export async function initializeStore(backend: Backend, clock: () => number, { resumeCrashedInit = false } = {}): Promise<void> {
  const refs = new RefDb(backend.refs, clock)
  const existing = await backend.refs.readRef(FORMAT_REF)
  if (existing !== undefined && resumeCrashedInit && existing === String(FORMAT_VERSION)) return
  const exists = () => new CkptError('STORE_EXISTS', `${backend.description} already holds a ckpt store`, { details: { path: backend.description } })
  if (existing !== undefined) throw exists()
  try {
    await refs.update(
      [
        { ref: FORMAT_REF, expected: null, value: String(FORMAT_VERSION) },
        { ref: HEAD, expected: null, value: headValue({ kind: 'timeline', timeline: DEFAULT_TIMELINE }) },
      ],
      'init',
    )
  } catch (err) {
    // Another init on a backend shared by processes (PostgreSQL) wrote the format ref first.
    if (isCkptError(err, 'REF_CONFLICT') && (await backend.refs.readRef(FORMAT_REF)) !== undefined) throw exists()
    throw err
  }
}

/**
 * Checks that `backend` holds a store of a format this build reads, upgrading an older one when
 * `upgrade`. NOT_A_STORE when it holds none; UNSUPPORTED_FORMAT when a newer ckpt wrote it.
 */
export async function checkStoreFormat(backend: Backend, clock: () => number, { upgrade }: { upgrade: boolean }): Promise<void> {
  const format = await backend.refs.readRef(FORMAT_REF)
  if (format === undefined) throw new CkptError('NOT_A_STORE', `${backend.description} holds no ckpt store`, { details: { path: backend.description } })
  if (format === String(UPGRADABLE_FORMAT)) {
    if (upgrade) await upgradeFormatRef(backend, clock)
  } else if (format !== String(FORMAT_VERSION)) {
    throw new CkptError('UNSUPPORTED_FORMAT', `${backend.description} was written in store format ${format}; this ckpt reads formats ${UPGRADABLE_FORMAT} and ${FORMAT_VERSION}`, {
      details: { format },
    })
  }
}

/** Sets `meta/format` from 1 to 2; another process opening the store at the same time may have done it. */
async function upgradeFormatRef(backend: Backend, clock: () => number): Promise<void> {
  const refs = new RefDb(backend.refs, clock)
  try {
    await refs.update([{ ref: FORMAT_REF, expected: String(UPGRADABLE_FORMAT), value: String(FORMAT_VERSION) }], `upgrade: store format ${FORMAT_VERSION}`)
  } catch (err) {
    if (!(isCkptError(err, 'REF_CONFLICT') && (await backend.refs.readRef(FORMAT_REF)) === String(FORMAT_VERSION))) throw err
  }
}

/**
 * Writes back the settings a damaged database may have lost with a table file (the format, at
 * least `format`, which the store's files outside the database vouch for, and HEAD), where missing.
 */
export async function restoreStoreSettings(backend: Backend, format: number): Promise<void> {
  const refs = new RefDb(backend.refs, Date.now)
  const restore = [
    { ref: FORMAT_REF, value: String(Math.max(format, FORMAT_VERSION)) },
    { ref: HEAD, value: headValue({ kind: 'timeline', timeline: DEFAULT_TIMELINE }) },
  ]
  for (const { ref, value } of restore) {
    if ((await refs.read(ref)) === undefined) await refs.update([{ ref, expected: null, value }], 'fsck --repair: lost with a damaged database')
  }
}
