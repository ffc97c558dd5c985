import { CkptError, isCkptError } from '../errors.js'
import type { ObjectEntry, RefStore, ReflogEntry } from '../backend/interface.js'
import { CID, cidString, parseCid, tryParseCid } from '../model/cid.js'
import { idOfKey, storedKeys } from '../model/manifest.js'
import { checkRefName } from './names.js'

/** Namespaces inside the backend's flat ref space. */
export const TIMELINE_PREFIX = 'timelines/'
export const TAG_PREFIX = 'tags/'
export const HEAD = 'HEAD'
/** Reserved for the store's own settings (format version). Never a user name. */
export const META_PREFIX = 'meta/'
/** Named pointers kept by tools built on the store (see StoreIndex). */
export const INDEX_PREFIX = 'index/'
/** `pins/<id>`: checkpoints no retention or gc may drop. */
export const PIN_PREFIX = 'pins/'
/** `cuts/<id>`: checkpoints whose parents retention dropped (git's shallow boundary). Not roots. */
export const CUT_PREFIX = 'cuts/'
/** `remotes/<remote>/<timeline>`: where a remote's timeline was at the last fetch (git's origin/main). */
export const TRACKING_PREFIX = 'remotes/'
/** `retention/<timeline>`: the timeline's retention policy, as JSON. */
export const RETENTION_PREFIX = 'retention/'

/** How HEAD names the timeline it is on: `ref: timelines/main`. */
export const SYMBOLIC = 'ref: '

/** Where HEAD points: a timeline (possibly still without checkpoints) or one checkpoint. */
export type HeadTarget = { readonly kind: 'timeline'; readonly timeline: string } | { readonly kind: 'detached'; readonly checkpoint: CID }

export const timelineRef = (name: string): string => TIMELINE_PREFIX + name
export const tagRef = (name: string): string => TAG_PREFIX + name

/** Validates a timeline or tag name and returns its full ref name. */
export function checkedRef(kind: 'timeline' | 'tag', name: string): string {
  checkRefName(name, `${kind} name`)
  return kind === 'timeline' ? timelineRef(name) : tagRef(name)
}

/** A pending move of one ref, checked and logged by {@link RefDb.update}. */
export interface RefMove {
  readonly ref: string
  readonly expected: string | null
  readonly value: string | null
}

/** Ref semantics over the backend: typed values, CAS errors, HEAD. */
export class RefDb {
  constructor(
    private readonly store: RefStore,
    private readonly now: () => number,
  ) {}

  async read(ref: string): Promise<string | undefined> {
    return this.store.readRef(ref)
  }

  /** The checkpoint a timeline or tag ref points at, or undefined when the ref does not exist. */
  async readCid(ref: string): Promise<CID | undefined> {
    const value = await this.store.readRef(ref)
    return value === undefined ? undefined : this.parseValue(ref, value)
  }

  /** A timeline, tag or detached-HEAD value as a checkpoint id; CORRUPT_OBJECT when it is not one. */
  parseValue(ref: string, value: string): CID {
    try {
      return parseCid(value)
    } catch (cause) {
      throw new CkptError('CORRUPT_OBJECT', `ref ${ref} holds "${value}", which is not a checkpoint id`, { cause, details: { ref } })
    }
  }

  /**
   * Applies the moves atomically, each logged with `reason`, storing `objects` first in the same
   * step; REF_CONFLICT when any ref moved meanwhile.
   */
  async update(moves: readonly RefMove[], reason: string, objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<void> {
    const time = this.now()
    const updates = moves.map((m) => ({ name: m.ref, expected: m.expected, value: m.value, log: { time, reason } }))
    const result = await this.store.updateRefs(updates, objects, [...requires, ...namedObjects(moves, objects)])
    if (!result.ok && 'missing' in result) {
      const id = result.missing[0] === undefined ? '(none)' : idOfKey(result.missing[0])
      throw new CkptError('NOT_FOUND', `object ${id} is no longer in the store (gc removed it after it was stored); store it again`, { details: { id } })
    }
    if (!result.ok) {
      const move = moves.find((m) => m.ref === result.name)
      throw new CkptError('REF_CONFLICT', conflictMessage(describeRef(result.name), move?.expected ?? null, result.actual), {
        details: { ref: result.name, expected: move?.expected ?? null, actual: result.actual },
      })
    }
  }

  async list(prefix: string): Promise<Array<{ name: string; id: CID }>> {
    const entries = await this.store.listRefs(prefix)
    return entries.map((e) => ({ name: e.name.slice(prefix.length), id: this.parseValue(e.name, e.value) }))
  }

  /** Refs under `prefix` with their raw values (for namespaces that do not hold checkpoints). */
  async listRaw(prefix: string): Promise<Array<{ name: string; value: string }>> {
    return this.store.listRefs(prefix)
  }

  /** Names of every ref with a reflog under `prefix`, deleted refs included. */
  async listReflogNames(prefix: string): Promise<string[]> {
    return this.store.listReflogs(prefix)
  }

  async reflog(ref: string, options: { newestFirst?: boolean; limit?: number } = {}): Promise<ReflogEntry[]> {
    return this.store.readReflog(ref, options)
  }

  /** Ids of the checkpoints whose history retention (or repair) cut: their dropped parents are not followed. */
  async cuts(): Promise<Set<string>> {
    return new Set((await this.store.listRefs(CUT_PREFIX)).map((e) => e.value))
  }

  /** Records a cut at checkpoint `id`; one already there stays as it is. */
  async addCut(id: string, reason: string): Promise<void> {
    // A conflict means the marker is there already: its value is always its own id.
    await this.update([{ ref: CUT_PREFIX + id, expected: null, value: id }], reason).catch((err: unknown) => {
      if (!isCkptError(err, 'REF_CONFLICT')) throw err
    })
  }

  /** Deletes the ref's log entries older than `before` (ms), or moving it to one of `values`; returns how many went. */
  async expireReflog(ref: string, before: number, values?: readonly string[]): Promise<number> {
    return this.store.expireReflog(ref, before, values)
  }

  async head(): Promise<{ target: HeadTarget; raw: string } | undefined> {
    const raw = await this.store.readRef(HEAD)
    if (raw === undefined) return undefined
    if (raw.startsWith(SYMBOLIC)) {
      const ref = raw.slice(SYMBOLIC.length)
      if (!ref.startsWith(TIMELINE_PREFIX)) throw new CkptError('CORRUPT_OBJECT', `HEAD points at "${ref}", which is not a timeline`)
      return { target: { kind: 'timeline', timeline: ref.slice(TIMELINE_PREFIX.length) }, raw }
    }
    return { target: { kind: 'detached', checkpoint: this.parseValue(HEAD, raw) }, raw }
  }
}

/**
 * What the moved refs will name that is not written with them: it must still be stored when they
 * move (a gc may have run since the caller looked it up).
 */
function namedObjects(moves: readonly RefMove[], objects: readonly ObjectEntry[]): Uint8Array[][] {
  const groups: Uint8Array[][] = []
  for (const { value } of moves) {
    const cid = value === null ? undefined : tryParseCid(value)
    if (cid && !objects.some((o) => Buffer.compare(o.key, cid.bytes) === 0)) groups.push(storedKeys(cid))
  }
  return groups
}

/** The stored form of a HEAD target. */
export function headValue(target: HeadTarget): string {
  return target.kind === 'timeline' ? SYMBOLIC + timelineRef(target.timeline) : cidString(target.checkpoint)
}

export function describeRef(ref: string): string {
  if (ref.startsWith(TIMELINE_PREFIX)) return `timeline "${ref.slice(TIMELINE_PREFIX.length)}"`
  if (ref.startsWith(TAG_PREFIX)) return `tag "${ref.slice(TAG_PREFIX.length)}"`
  return ref
}

/** A lost compare-and-swap in the user's words: a name that exists already is not a race. */
function conflictMessage(ref: string, expected: string | null, actual: string | null): string {
  if (expected === null) return `${ref} already exists (at ${actual ?? 'no checkpoint'})`
  if (actual === null) return `${ref} no longer exists (it was deleted; expected it at ${expected})`
  return `${ref} moved concurrently: expected ${expected}, found ${actual}`
}
