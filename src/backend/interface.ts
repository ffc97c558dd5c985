/**
 * The storage contract. A backend stores opaque bytes under opaque keys, and named string
 * refs moved by compare-and-swap with a per-ref log. It never encodes, hashes or verifies:
 * the core does all of that, so a new backend is a few hundred lines (docs/backends.md).
 *
 * What every backend must do is the required methods below. What only some backends can do is a
 * capability the backend declares in {@link Backend.supports}; the capability's method is present
 * exactly when it is declared, and callers check the manifest and do without it otherwise.
 * Run the conformance cases of `ckpt/testing` against any new backend.
 */

/**
 * The capabilities a backend declares, like abstract-level's `supports` manifest. A capability
 * declared false means its method is absent (or, for `deferredSync`, its flag is ignored).
 */
export interface BackendSupports {
  /** `objects.reclaim`: gives back space deleted values still take (pack rewriting). */
  readonly reclaim: boolean
  /** `objects.checkStorage`: the backend can check its own structures for fsck. */
  readonly storageCheck: boolean
  /** `putMany`'s `deferSync` flag is honoured; without it every put is durable when it resolves. */
  readonly deferredSync: boolean
  /** `objects.forgetWritesBefore`: write records are kept apart from objects and can be dropped. */
  readonly forgetWrites: boolean
  /** `prepareForBlockingWork`: the backend serves other processes from this one's event loop. */
  readonly blockingWorkHandoff: boolean
  /** `scratch`: a mutable per-machine space for hints such as the stat cache (see {@link ScratchStore}). */
  readonly scratch: boolean
  /** `objects.getMany`: reads many keys in one call, cheaper than one `get` each. */
  readonly batchedReads: boolean
  /** `objects.getInto`: reads large values into memory the caller lends, reused from read to read. */
  readonly readsInto: boolean
}

/** A half-open key range [gte, lt); either end may be omitted. */
export interface KeyRange {
  readonly gte?: Uint8Array
  readonly lt?: Uint8Array
}

export interface ObjectEntry {
  readonly key: Uint8Array
  readonly value: Uint8Array
}

export interface PutOptions {
  /**
   * Let durability wait for the next write made without this flag (see {@link ObjectStore.putMany}).
   * Only a backend declaring `supports.deferredSync` acts on it; any other ignores it, which is
   * always safe (a put is then durable sooner, not later).
   */
  readonly deferSync?: boolean
}

export interface ObjectStore {
  /** The value stored under `key`, or undefined when there is none. Absence is not an error. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  /**
   * Capability `batchedReads`. What `get` would return for each key, in order (undefined where
   * nothing is stored; a key asked twice is answered twice). Counts as a `get` of every key for a
   * sweep. For callers reading many keys at once, such as a checkout reading a folder's files.
   */
  getMany?(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>>
  /**
   * Capability `readsInto`. What `get` would return, but a value the backend keeps in a file of
   * its own (as a large one) is read into `into` when it fits, and the answer is a view of `into`;
   * any other value is answered from the backend's own memory, as `get` answers it. Lent memory
   * is written only by this call. For a reader that reuses its memory from chunk to chunk of a
   * large blob; only the process holding the files offers it, never across processes.
   */
  getInto?(key: Uint8Array, into: Uint8Array): Promise<Uint8Array | undefined>
  /** One boolean per key, in order: whether a value is stored under it. */
  has(keys: readonly Uint8Array[]): Promise<boolean[]>
  /**
   * Stores every entry, all or nothing. When the promise resolves the entries are as durable as
   * the backend's durability mode promises; with `deferSync`, they become so no later than the
   * next write made without it (a bulk writer pays for one sync at its end, not one per batch).
   * Overwrite: writing a key that is already stored leaves it stored and readable throughout,
   * holding either its old or its new value (never a mix, never absent). For object keys, which
   * are content addresses, both are the same bytes, so a backend may skip the rewrite; but it must
   * still count the key as written now (`writtenSince`) and, during a sweep, as touched. Nothing
   * mutable is kept in the object keyspace: per-machine hints live in {@link Backend.scratch}.
   */
  putMany(entries: readonly ObjectEntry[], options?: PutOptions): Promise<void>
  /** Every stored key inside `range`, in ascending unsigned byte order, each exactly once. */
  keys(range?: KeyRange): AsyncIterable<Uint8Array>
  /** The stored length of each key's value, in order; undefined where nothing is stored. */
  sizes(keys: readonly Uint8Array[]): Promise<Array<number | undefined>>
  /**
   * Every key written (or written again) at or after `since`, milliseconds by the backend's own
   * wall clock, in any order, possibly more than once. This is how a collector knows an object's
   * age: a writer may store objects some time before a ref names them.
   */
  writtenSince(since: number): AsyncIterable<Uint8Array>
  /**
   * Capability `forgetWrites`. Drops the write records older than `before`; their keys then
   * count as written long ago. A backend that keeps a write time per key needs no records to drop.
   */
  forgetWritesBefore?(before: number): Promise<void>
  /**
   * Starts a sweep: the only way to delete objects. At most one runs at a time per store (across
   * every process and machine using it); a second call waits for the first to end. The session
   * must be ended, on every path. The protocol is in docs/backends.md ("The sweep protocol").
   */
  beginSweep(): Promise<Sweep>
  /**
   * Capability `reclaim`. Gives back the space deleted values still take (for example by
   * rewriting files whose values are mostly deleted). Every stored value stays readable
   * throughout. Safe to interrupt.
   */
  reclaim?(): Promise<ReclaimResult>
  /** Capability `storageCheck`. Checks the backend's own structures (indexes against the files they index). Reads only. */
  checkStorage?(): Promise<StorageProblem[]>
}

/**
 * A collector's view of the store while it decides what to delete. From `beginSweep` on, the
 * backend remembers every key any other caller (in any process, on any machine) writes, tests
 * (`has`) or reads (`get`), and every ref value others set: anything a writer touched may be about
 * to become reachable, so the collector must keep it and what it links to. The session's own
 * reads are not remembered.
 */
export interface Sweep {
  /** Keys touched and ref values set by others since the session began or since the last drain. */
  drain(): Promise<{ keys: Uint8Array[]; refValues: string[] }>
  /** A read that is not remembered as a touch and is not held. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  /**
   * Makes every other object write, probe and read, and every ref update, wait until `end`
   * (whichever process or machine makes it). Calls already under way are remembered as touches
   * before this resolves, so a drain after it sees everything that can still become reachable.
   */
  hold(): Promise<void>
  /** Deletes the keys (only while held); returns how many were stored and their value bytes. */
  delete(keys: readonly Uint8Array[]): Promise<{ deleted: number; bytes: number }>
  /** Ends the session and lets held calls go on. */
  end(): Promise<void>
}

export interface ReclaimResult {
  /** Files rewritten or removed. */
  readonly files: number
  /** Bytes the backend's files shrank by. */
  readonly bytes: number
}

export interface StorageProblem {
  /** The object key concerned, when there is one. */
  readonly key?: Uint8Array
  readonly message: string
}

/** One logged move of a ref. `old`/`new` are ref values; null means absent. */
export interface ReflogEntry {
  readonly old: string | null
  readonly new: string | null
  /** Milliseconds since the Unix epoch. */
  readonly time: number
  readonly reason: string
}

/** A compare-and-swap of one ref. */
export interface RefUpdate {
  readonly name: string
  /** The value the caller believes the ref holds now; null: the ref must not exist. */
  readonly expected: string | null
  /** The value to set; null deletes the ref. */
  readonly value: string | null
  /** The reflog entry to append in the same atomic step (old/new are filled from expected/value). */
  readonly log: { readonly time: number; readonly reason: string }
}

export type RefUpdateResult =
  | { readonly ok: true }
  /** Nothing was written: `name` held `actual` instead of its expected value. */
  | { readonly ok: false; readonly name: string; readonly actual: string | null }
  /** Nothing was written: none of these keys, one group of `requires`, is stored. */
  | { readonly ok: false; readonly missing: readonly Uint8Array[] }

export interface RefEntry {
  readonly name: string
  readonly value: string
}

export interface RefStore {
  /** The ref's value, or undefined when it does not exist. */
  readRef(name: string): Promise<string | undefined>
  /** Every ref whose name starts with `prefix`, sorted by name. */
  listRefs(prefix: string): Promise<RefEntry[]>
  /**
   * Applies every update atomically, or none: when any ref does not hold its `expected`
   * value the result names the first such ref and nothing is written. Each applied update
   * appends one entry to its ref's reflog in the same atomic step, so a crash can never leave
   * a moved ref without its log line. A ref's reflog outlives the ref's deletion.
   *
   * `objects` are stored with the updates: all of them before (or atomically with) the refs
   * move, so a ref never names an object that is not stored. On a conflict they may or may not
   * have been stored; content addressing makes either harmless.
   *
   * `requires` names objects stored earlier that the update links to, as groups of alternative
   * keys (a blob is one block or a manifest): at the moment the refs move, each group must have
   * a stored key, or nothing is written. A sweep can then never delete, between a writer's store
   * and its ref move, what the ref is about to reach. Required keys count as touched.
   */
  updateRefs(updates: readonly RefUpdate[], objects?: readonly ObjectEntry[], requires?: ReadonlyArray<readonly Uint8Array[]>): Promise<RefUpdateResult>
  /** The ref's log, oldest first (or newest first), at most `limit` entries. Empty when there is none. */
  readReflog(name: string, options?: { readonly newestFirst?: boolean; readonly limit?: number }): Promise<ReflogEntry[]>
  /** Names of every ref that has a reflog (including deleted refs whose log remains), sorted. */
  listReflogs(prefix: string): Promise<string[]>
  /**
   * Deletes the ref's log entries whose time is before `before`, and those whose new value is
   * one of `values`; returns how many. When a deleted ref loses its last entry, its log is gone
   * and `listReflogs` no longer names it.
   */
  expireReflog(name: string, before: number, values?: readonly string[]): Promise<number>
}

/**
 * Optional capability: a small mutable key/value space for hints that belong to one machine,
 * such as the stat cache (which blob a local file held when last stored, keyed by its path).
 * Unlike the object keyspace it is not content-addressed: `put` replaces a key's value. It is
 * never swept, its writes are not recorded for gc (`writtenSince`), not held or reported by a
 * sweep, and need not be durable: losing any entry is harmless, as every hint is checked against
 * the bytes before it is used. A backend whose store is shared by several machines leaves it out
 * (a path on one machine means nothing on another), or keeps one space per machine. Without it
 * the core does without the hints: an unchanged file committed again is read again.
 */
export interface ScratchStore {
  /** The value stored under `key`, or undefined. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  /** Stores `value` under `key`, replacing any value there. */
  put(key: Uint8Array, value: Uint8Array): Promise<void>
  /** Removes `key`'s value; nothing happens when there is none. */
  delete(key: Uint8Array): Promise<void>
}

export interface Backend {
  /** A short name for messages, e.g. `level:/path/to/store` or `memory`. */
  readonly description: string
  /** What this backend can do beyond the required methods. */
  readonly supports: BackendSupports
  readonly objects: ObjectStore
  readonly refs: RefStore
  /** Capability `scratch`: this machine's mutable scratch space (see {@link ScratchStore}). */
  readonly scratch?: ScratchStore
  /**
   * Capability `blockingWorkHandoff`. Called before work that may block the calling thread for
   * long (a pipeline's stages), so the backend can keep serving other processes meanwhile.
   */
  prepareForBlockingWork?(): Promise<void>
  /** Releases the backend's resources. Further calls may fail. */
  close(): Promise<void>
}

/** The capability names of {@link BackendSupports}. */
export type Capability = keyof BackendSupports

/** A manifest declaring nothing optional: what a minimal backend starts from. */
export const NO_CAPABILITIES: BackendSupports = Object.freeze({ reclaim: false, storageCheck: false, deferredSync: false, forgetWrites: false, blockingWorkHandoff: false, scratch: false, batchedReads: false, readsInto: false })
