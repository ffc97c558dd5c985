import { ClassicLevel } from 'classic-level'
import { BoundedMap } from '../../bounded-map.js'
import { CkptError } from '../../errors.js'
import { compareBytes, concatBytes } from '../bytes.js'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type {
  Backend, BackendSupports, KeyRange, ObjectEntry, ObjectStore, PutOptions, ReclaimResult, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry, ScratchStore, StorageProblem, Sweep,
} from '../interface.js'
import { SweepGate } from '../sweep-gate.js'
import { checkFolderOfOwnFiles } from '../../io/own-files.js'
import type { BatchOp } from './journal.js'
import { PACK_THRESHOLD, Packs, decodeLocation, encodeLocation, type PackLocation } from './packs.js'
import { WriteQueue, levelError } from './write-queue.js'

/** How far a write must get before its call returns. */
export type Durability = 'process' | 'fsync'

/*
 * Key layout in the one LevelDB (docs/backends.md):
 *   'o' + object key           → object bytes (values under PACK_THRESHOLD)
 *   'p' + object key           → where a larger value lives in a pack file (packs.ts)
 *   'r' + ref name (UTF-8)      → ref value (UTF-8)
 *   'L' + ref name              → last reflog sequence number (8 bytes, big-endian)
 *   'l' + ref name + 0x00 + seq → reflog entry (JSON)
 *   'w' + time (8 bytes) + 8 random bytes → keys one batch wrote then (each: length u16, key)
 *   's' + scratch key          → scratch value (Backend.scratch: this machine's hints, never swept)
 */
const OBJECT = 0x6f
const PACKED = 0x70
const REF = 0x72
const LOG_HEAD = 0x4c
const LOG = 0x6c
const WRITES = 0x77
const SCRATCH = 0x73
/** A pack whose live records fill less than this share of it is rewritten by reclaim. */
const REWRITE_BELOW_LIVE_SHARE = 0.5

type Db = ClassicLevel<Uint8Array, Uint8Array>
/** Inside the database folder: it belongs to whoever holds the database lock. */
const JOURNAL_FILE = 'ckpt-journal-2'
/** Where store format 1 kept its journal, in the layout without a header check (journal.ts). */
const LEGACY_JOURNAL_FILE = 'ckpt-journal'

/** The folders LevelDB itself makes in its folder: RepairDB moves the files it cannot use to `lost/`. */
export const LEVELDB_FOLDERS = ['lost']

/** The journal files of the database at `location`: the current one and the one format 1 left. */
export function journalPaths(location: string): { journal: string; legacy: string } {
  return { journal: path.join(location, JOURNAL_FILE), legacy: path.join(location, LEGACY_JOURNAL_FILE) }
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()
const prefixed = (tag: number, rest: Uint8Array): Uint8Array => concatBytes(Uint8Array.of(tag), rest)
const refKey = (name: string) => prefixed(REF, utf8.encode(name))
const logHeadKey = (name: string) => prefixed(LOG_HEAD, utf8.encode(name))
const logKey = (name: string, seq: number) => concatBytes(Uint8Array.of(LOG), utf8.encode(name), Uint8Array.of(0), seqBytes(seq))

function seqBytes(seq: number): Uint8Array {
  const out = new Uint8Array(8)
  new DataView(out.buffer).setBigUint64(0, BigInt(seq))
  return out
}

/** The exclusive upper bound of all keys starting with `prefix`. */
function prefixEnd(prefix: Uint8Array): Uint8Array {
  const out = Uint8Array.from(prefix)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]! += 1
      return out.subarray(0, i + 1)
    }
  }
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff)
}

/** Opens the LevelDB at `location` for this process alone. Throws the database's own error when it is locked. */
export async function openLocalLevel(
  location: string,
  options: { durability: Durability; createIfMissing: boolean; packDir: string; onWedged?: () => void; linkedTables?: boolean },
): Promise<LocalLevelBackend> {
  // LevelDB opens, truncates and renames its files itself, following any link planted among them.
  // A read-only scratch copy links the store's tables on purpose, after checking the store's own folder.
  if (!options.linkedTables) checkFolderOfOwnFiles(location, 'the database folder', LEVELDB_FOLDERS)
  const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(location, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open({ createIfMissing: options.createIfMissing, errorIfExists: false })
  let writes: WriteQueue
  try {
    // With fsync durability every write is a synced LevelDB batch; a journal would add a second fsync.
    writes = await WriteQueue.open(db, journalPaths(location), options.durability !== 'fsync', options.onWedged)
  } catch (err) {
    await db.close()
    throw err
  }
  return new LocalLevelBackend(db, writes, options.durability, new Packs(options.packDir, options.durability === 'fsync'))
}

/** What the LevelDB backend declares (the shared one adds the hand-off of its database to a thread). */
export const LEVEL_SUPPORTS: BackendSupports = Object.freeze({ reclaim: true, storageCheck: true, deferredSync: true, forgetWrites: true, blockingWorkHandoff: false, scratch: true, batchedReads: true, readsInto: true })

/** The LevelDB backend as seen by the process that holds the database open. */
export class LocalLevelBackend implements Backend {
  readonly description: string
  readonly supports = LEVEL_SUPPORTS
  readonly objects: Required<ObjectStore>
  readonly refs: RefStore
  readonly scratch: ScratchStore

  constructor(
    private readonly db: Db,
    private readonly writes: WriteQueue,
    durability: Durability,
    private readonly packs: Packs,
  ) {
    this.description = `level:${db.location}`
    const sync = durability === 'fsync'
    const gate = new SweepGate()
    const objects = new LevelObjects(writes, sync, packs, gate)
    this.objects = objects
    this.refs = new LevelRefs(writes, sync, (entries) => objects.objectOps(entries), (ops, synced) => objects.writeIndexed(ops, synced), gate)
    this.scratch = levelScratch(writes)
  }

  async close(): Promise<void> {
    try {
      await this.writes.close()
    } finally {
      await this.packs.close()
      await this.db.close()
    }
  }
}

class LevelObjects implements Required<ObjectStore> {
  constructor(
    private readonly writes: WriteQueue,
    private readonly sync: boolean,
    private readonly packs: Packs,
    private readonly gate: SweepGate,
  ) {}

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.gate.run([key], [], () => this.#read(key))
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return this.gate.run(keys, [], () => this.#readMany(keys))
  }

  async #readMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    // One LevelDB call for all of them, made on its own thread: the caller's thread goes on meanwhile.
    const inline = await wrapIo(() => this.writes.getMany(keys.map((key) => prefixed(OBJECT, key))))
    return Promise.all(inline.map((value, i) => value ?? this.#readPacked(keys[i]!)))
  }

  getInto(key: Uint8Array, into: Uint8Array): Promise<Uint8Array | undefined> {
    return this.gate.run([key], [], () => this.#read(key, into))
  }

  async #read(key: Uint8Array, into?: Uint8Array): Promise<Uint8Array | undefined> {
    // getSync skips a thread-pool round trip; LevelDB serves most reads from its caches.
    const inline = await wrapIo(async () => this.writes.get(prefixed(OBJECT, key)))
    if (inline !== undefined) return inline
    return this.#readPacked(key, into)
  }

  /** A value kept in a pack file, found through its index entry; undefined when there is none. */
  async #readPacked(key: Uint8Array, into?: Uint8Array): Promise<Uint8Array | undefined> {
    const location = await this.#location(key)
    if (location === undefined) return undefined
    try {
      return await this.packs.read(location, into)
    } catch (err) {
      // reclaim may have moved the value and removed its old pack since the lookup.
      const again = await this.#location(key)
      if (again === undefined || (again.pack === location.pack && again.offset === location.offset)) throw err
      return this.packs.read(again, into)
    }
  }

  async #location(key: Uint8Array): Promise<PackLocation | undefined> {
    const location = await wrapIo(async () => this.writes.get(prefixed(PACKED, key)))
    return location === undefined ? undefined : decodeLocation(location)
  }

  has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    return this.gate.run(keys, [], () => this.#has(keys))
  }

  async #has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    const inline = await wrapIo(() => this.writes.hasMany(keys.map((key) => prefixed(OBJECT, key))))
    const missing = keys.filter((_, i) => !inline[i])
    if (missing.length === 0) return inline
    const packed = await wrapIo(() => this.writes.hasMany(missing.map((key) => prefixed(PACKED, key))))
    let next = 0
    return inline.map((found) => found || packed[next++] === true)
  }

  async putMany(entries: readonly ObjectEntry[], options: PutOptions = {}): Promise<void> {
    if (entries.length === 0) return
    await this.gate.run(
      entries.map((e) => e.key),
      [],
      async () => {
        const ops = await this.objectOps(entries)
        // A later synced batch makes this one durable too: LevelDB's log is written in order.
        await this.writeIndexed(ops, this.sync && options.deferSync !== true)
      },
    )
  }

  /** Writes `ops`; when that fails, the pack bytes they would have indexed are given back. */
  async writeIndexed(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    try {
      await wrapIo(() => this.writes.write(ops, sync))
    } catch (err) {
      const locations = ops.filter((op) => op.type === 'put' && op.key[0] === PACKED).map((op) => decodeLocation((op as { value: Uint8Array }).value))
      await this.packs.unappend(locations)
      throw err
    }
  }

  /**
   * The batch operations that store `entries`: large values are appended to a pack first, and the
   * batch records when its keys were written.
   */
  async objectOps(entries: readonly ObjectEntry[]): Promise<BatchOp[]> {
    if (entries.length === 0) return []
    const large = entries.filter((e) => e.value.length >= PACK_THRESHOLD)
    const locations = large.length === 0 ? [] : await this.packs.append(large)
    const ops: BatchOp[] = entries.filter((e) => e.value.length < PACK_THRESHOLD).map(({ key, value }) => ({ type: 'put', key: prefixed(OBJECT, key), value }))
    large.forEach(({ key }, i) => ops.push({ type: 'put', key: prefixed(PACKED, key), value: encodeLocation(locations[i]!) }))
    ops.push({ type: 'put', key: writeRecordKey(Date.now()), value: encodeKeyList(entries.map((e) => e.key)) })
    return ops
  }

  async sizes(keys: readonly Uint8Array[]): Promise<Array<number | undefined>> {
    return wrapIo(async () =>
      keys.map((key) => {
        const inline = this.writes.get(prefixed(OBJECT, key))
        if (inline !== undefined) return inline.length
        const location = this.writes.get(prefixed(PACKED, key))
        return location === undefined ? undefined : decodeLocation(location).length
      }),
    )
  }

  async *writtenSince(since: number): AsyncIterable<Uint8Array> {
    for await (const value of this.writes.values({ gte: writeRecordBound(since), lt: Uint8Array.of(WRITES + 1) })) yield* decodeKeyList(value)
  }

  async forgetWritesBefore(before: number): Promise<void> {
    await wrapIo(() => this.writes.clearRange(Uint8Array.of(WRITES), writeRecordBound(before)))
  }

  beginSweep(): Promise<Sweep> {
    return this.gate.begin({
      get: (key) => this.#read(key),
      delete: async (keys) => {
        const sizes = await this.sizes(keys)
        const ops: BatchOp[] = []
        let deleted = 0
        let bytes = 0
        keys.forEach((key, i) => {
          if (sizes[i] === undefined) return
          deleted++
          bytes += sizes[i]!
          ops.push({ type: 'del', key: prefixed(OBJECT, key) }, { type: 'del', key: prefixed(PACKED, key) })
        })
        await wrapIo(() => this.writes.write(ops, this.sync))
        return { deleted, bytes }
      },
    })
  }

  /** Rewrites packs whose live records are a small share of them, then removes the old packs. */
  reclaim(): Promise<ReclaimResult> {
    return this.gate.exclusive(async () => {
      const packs = await this.packs.sealed()
      const live = await this.#liveBytesByPack()
      let files = 0
      let bytes = 0
      // A damaged index could make a pack look dead: leave everything for fsck to report.
      if (!live) return { files, bytes }
      // A pack no index entry names (left by a failed write, empty ones included) goes whole.
      const sparse = packs.filter(({ name, size }) => !live.has(name) || live.get(name)! < size * REWRITE_BELOW_LIVE_SHARE)
      const damaged = await this.#moveRecords(new Set(sparse.filter(({ name }) => live.has(name)).map(({ name }) => name)))
      for (const { name, size } of sparse) {
        // A pack whose live records no longer read is left as it is, for fsck to report.
        if (damaged.has(name)) continue
        await this.packs.remove(name)
        files++
        bytes += size
      }
      return { files, bytes }
    })
  }

  /** Live bytes per pack, from the index; undefined when an index entry does not decode. */
  async #liveBytesByPack(): Promise<Map<string, number> | undefined> {
    const live = new Map<string, number>()
    for await (const value of this.writes.values({ gte: Uint8Array.of(PACKED), lt: Uint8Array.of(PACKED + 1) })) {
      let location: PackLocation
      try {
        location = decodeLocation(value)
      } catch {
        return undefined
      }
      live.set(location.pack, (live.get(location.pack) ?? 0) + location.length)
    }
    return live
  }

  /**
   * Copies every value indexed in `packs` to this process's pack and points the index there,
   * durably, in one pass over the index. Returns the packs with a record that no longer reads.
   */
  async #moveRecords(packs: ReadonlySet<string>): Promise<Set<string>> {
    const damaged = new Set<string>()
    if (packs.size === 0) return damaged
    let group: Array<{ key: Uint8Array; location: PackLocation }> = []
    let groupBytes = 0
    const flush = async () => {
      const values = await Promise.all(group.map((g) => this.packs.read(g.location).catch((err: unknown) => skipDamaged(err, damaged, g.location.pack))))
      const entries = group.flatMap((g, i) => (values[i] ? [{ key: g.key, value: values[i] }] : []))
      if (entries.length > 0) {
        const locations = await this.packs.append(entries, { sync: true })
        await wrapIo(() => this.writes.write(entries.map((e, i) => ({ type: 'put', key: prefixed(PACKED, e.key), value: encodeLocation(locations[i]!) })), true))
      }
      group = []
      groupBytes = 0
    }
    for await (const [key, value] of this.writes.iterator({ gte: Uint8Array.of(PACKED), lt: Uint8Array.of(PACKED + 1) })) {
      const location = decodeLocation(value)
      if (!packs.has(location.pack)) continue
      group.push({ key: key.subarray(1), location })
      groupBytes += location.length
      if (groupBytes >= 8 * 1024 * 1024) await flush()
    }
    await flush()
    return damaged
  }

  async checkStorage(): Promise<StorageProblem[]> {
    const problems: StorageProblem[] = []
    for await (const [prefixedKey, value] of this.writes.iterator({ gte: Uint8Array.of(PACKED), lt: Uint8Array.of(PACKED + 1) })) {
      const key = prefixedKey.subarray(1)
      let message: string | undefined
      try {
        message = await this.packs.checkRecord(key, decodeLocation(value))
      } catch (err) {
        message = (err as Error).message
      }
      if (message !== undefined) problems.push({ key, message })
    }
    return problems
  }

  /** Keys from both the inline and the packed ranges, merged into one ascending sequence. */
  async *keys(range: KeyRange = {}): AsyncIterable<Uint8Array> {
    const inline = this.#keysUnder(OBJECT, range)[Symbol.asyncIterator]()
    const packed = this.#keysUnder(PACKED, range)[Symbol.asyncIterator]()
    try {
      let a = await inline.next()
      let b = await packed.next()
      while (!a.done || !b.done) {
        const order = a.done ? 1 : b.done ? -1 : compareBytes(a.value, b.value)
        if (order <= 0) {
          yield (a as IteratorYieldResult<Uint8Array>).value
          if (order === 0) b = await packed.next()
          a = await inline.next()
        } else {
          yield b.value as Uint8Array
          b = await packed.next()
        }
      }
    } finally {
      // A caller that stops early must not leave LevelDB iterators open.
      await Promise.all([inline.return?.(), packed.return?.()])
    }
  }

  async *#keysUnder(tag: number, range: KeyRange): AsyncIterable<Uint8Array> {
    const gte = range.gte ? prefixed(tag, range.gte) : Uint8Array.of(tag)
    const lt = range.lt ? prefixed(tag, range.lt) : Uint8Array.of(tag + 1)
    for await (const key of this.writes.keys({ gte, lt })) yield key.subarray(1)
  }
}

/**
 * The scratch space, in its own key range of the database (a LevelDB store is one machine's).
 * Its writes are never synced, record no write time and pass no sweep gate: losing one is harmless.
 */
function levelScratch(writes: WriteQueue): ScratchStore {
  return {
    get: (key) => wrapIo(async () => writes.get(prefixed(SCRATCH, key))),
    put: (key, value) => wrapIo(() => writes.write([{ type: 'put', key: prefixed(SCRATCH, key), value: Uint8Array.from(value) }], false)),
    delete: (key) => wrapIo(() => writes.write([{ type: 'del', key: prefixed(SCRATCH, key) }], false)),
  }
}

/** How many ref values and reflog sequence numbers LevelRefs keeps decoded. */
const REMEMBERED_REFS = 65_536

class LevelRefs implements RefStore {
  /** Serializes ref transactions: this process is the only one with the database open. */
  #queue: Promise<unknown> = Promise.resolve()
  /**
   * Ref values (null: no ref) and next reflog sequence numbers read or written here, decoded.
   * This process is the database's only writer, so they cannot go stale.
   */
  readonly #values = new BoundedMap<string, string | null>(REMEMBERED_REFS)
  readonly #nextSeqs = new BoundedMap<string, number>(REMEMBERED_REFS)

  constructor(
    private readonly writes: WriteQueue,
    private readonly sync: boolean,
    private readonly objectOps: (entries: readonly ObjectEntry[]) => Promise<BatchOp[]>,
    private readonly writeIndexed: (ops: readonly BatchOp[], sync: boolean) => Promise<void>,
    private readonly gate: SweepGate,
  ) {}

  async readRef(name: string): Promise<string | undefined> {
    return (await wrapIo(async () => this.#value(name))) ?? undefined
  }

  #value(name: string): string | null {
    let value = this.#values.get(name)
    if (value === undefined) {
      const stored = this.writes.get(refKey(name))
      value = stored === undefined ? null : fromUtf8.decode(stored)
      this.#values.set(name, value)
    }
    return value
  }

  #nextSeq(name: string): number {
    let seq = this.#nextSeqs.get(name)
    if (seq === undefined) {
      const head = this.writes.get(logHeadKey(name))
      seq = head === undefined ? 0 : Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0)) + 1
      this.#nextSeqs.set(name, seq)
    }
    return seq
  }

  async listRefs(prefix: string): Promise<RefEntry[]> {
    const start = refKey(prefix)
    const out: RefEntry[] = []
    for await (const [key, value] of this.writes.iterator({ gte: start, lt: prefixEnd(start) })) {
      out.push({ name: fromUtf8.decode(key.subarray(1)), value: fromUtf8.decode(value) })
    }
    return out
  }

  updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    const previous = this.#queue
    const run = this.gate.run(
      [...objects.map((o) => o.key), ...requires.flat()],
      updates.map((u) => u.value),
      () => previous.then(() => this.#applyUpdates(updates, objects, requires)),
    )
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #applyUpdates(updates: readonly RefUpdate[], objects: readonly ObjectEntry[], requires: ReadonlyArray<readonly Uint8Array[]>): Promise<RefUpdateResult> {
    const missing = requires.length === 0 ? undefined : await this.#firstMissing(requires, objects)
    if (missing) return { ok: false, missing }
    const current = await wrapIo(async () => updates.map((u) => this.#value(u.name)))
    for (const [i, update] of updates.entries()) {
      if (current[i] !== update.expected) return { ok: false, name: update.name, actual: current[i] ?? null }
    }
    const firstSeqs = await wrapIo(async () => updates.map((u) => this.#nextSeq(u.name)))
    const nextSeq = new Map<string, number>()
    // Objects and ref moves in one LevelDB batch: both are durable together, or neither.
    const ops = await this.objectOps(objects)
    for (const [i, update] of updates.entries()) {
      const seq = nextSeq.get(update.name) ?? firstSeqs[i]!
      nextSeq.set(update.name, seq + 1)
      ops.push(update.value === null ? { type: 'del', key: refKey(update.name) } : { type: 'put', key: refKey(update.name), value: utf8.encode(update.value) })
      const entry: ReflogEntry = { old: update.expected, new: update.value, time: update.log.time, reason: update.log.reason }
      ops.push({ type: 'put', key: logKey(update.name, seq), value: utf8.encode(JSON.stringify(entry)) })
      ops.push({ type: 'put', key: logHeadKey(update.name), value: seqBytes(seq) })
    }
    await this.writeIndexed(ops, this.sync)
    for (const update of updates) this.#values.set(update.name, update.value)
    for (const [name, seq] of nextSeq) this.#nextSeqs.set(name, seq)
    return { ok: true }
  }

  async #firstMissing(requires: ReadonlyArray<readonly Uint8Array[]>, objects: readonly ObjectEntry[]): Promise<readonly Uint8Array[] | undefined> {
    const written = new Set(objects.map((o) => Buffer.from(o.key).toString('hex')))
    const stored = (key: Uint8Array) =>
      written.has(Buffer.from(key).toString('hex')) || this.writes.get(prefixed(OBJECT, key)) !== undefined || this.writes.get(prefixed(PACKED, key)) !== undefined
    return wrapIo(async () => requires.find((group) => !group.some(stored)))
  }

  async readReflog(name: string, options: { newestFirst?: boolean; limit?: number } = {}): Promise<ReflogEntry[]> {
    const start = concatBytes(Uint8Array.of(LOG), utf8.encode(name), Uint8Array.of(0))
    const out: ReflogEntry[] = []
    const iterator = this.writes.iterator({ gte: start, lt: prefixEnd(start), reverse: options.newestFirst ?? false, limit: options.limit ?? -1 })
    for await (const [, value] of iterator) out.push(parseReflogEntry(value))
    return out
  }

  async listReflogs(prefix: string): Promise<string[]> {
    const start = logHeadKey(prefix)
    const names: string[] = []
    for await (const key of this.writes.keys({ gte: start, lt: prefixEnd(start) })) names.push(fromUtf8.decode(key.subarray(1)))
    return names
  }

  expireReflog(name: string, before: number, values: readonly string[] = []): Promise<number> {
    const dropped = new Set(values)
    // In the ref queue, so no update appends to this log while it is pruned.
    const run = this.#queue.then(async () => {
      const start = concatBytes(Uint8Array.of(LOG), utf8.encode(name), Uint8Array.of(0))
      const ops: BatchOp[] = []
      let kept = 0
      for await (const [key, value] of this.writes.iterator({ gte: start, lt: prefixEnd(start) })) {
        const entry = parseReflogEntry(value)
        if (entry.time < before || (entry.new !== null && dropped.has(entry.new))) ops.push({ type: 'del', key })
        else kept++
      }
      const exists = (await wrapIo(async () => this.#value(name))) !== null
      // The log head goes with the last entry of a deleted ref, so listReflogs stops naming it.
      if (kept === 0 && !exists && ops.length > 0) ops.push({ type: 'del', key: logHeadKey(name) })
      if (ops.length > 0) await wrapIo(() => this.writes.write(ops, this.sync))
      this.#nextSeqs.delete(name)
      return ops.filter((op) => op.key[0] === LOG).length
    })
    this.#queue = run.catch(() => undefined)
    return run
  }
}

/** A read of a damaged pack: noted, so the pack is kept for fsck; any other failure is thrown. */
function skipDamaged(err: unknown, damaged: Set<string>, pack: string): undefined {
  if (!(err instanceof CkptError && err.code === 'CORRUPT_OBJECT')) throw err
  damaged.add(pack)
  return undefined
}

/** Random per process, so that write records of two processes never share a key. */
const processTag = randomBytes(4)
let batchCount = 0

/** A write record's key: its time, then this process's tag and a count, so two batches in one millisecond differ. */
function writeRecordKey(time: number): Uint8Array {
  const out = writeRecordBound(time)
  out.set(processTag, 9)
  new DataView(out.buffer).setUint32(13, batchCount)
  batchCount = (batchCount + 1) >>> 0
  return out
}

/** The smallest write-record key at `time`, for ranges. */
function writeRecordBound(time: number): Uint8Array {
  const out = new Uint8Array(17)
  out[0] = WRITES
  new DataView(out.buffer).setBigUint64(1, BigInt(Math.max(0, Math.floor(time))))
  return out
}

function encodeKeyList(keys: readonly Uint8Array[]): Uint8Array {
  const out = Buffer.alloc(keys.reduce((sum, key) => sum + 2 + key.length, 0))
  let at = 0
  for (const key of keys) {
    out.writeUInt16BE(key.length, at)
    out.set(key, at + 2)
    at += 2 + key.length
  }
  return out
}

function* decodeKeyList(bytes: Uint8Array): Iterable<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let at = 0
  while (at + 2 <= bytes.length) {
    const length = view.getUint16(at)
    yield bytes.slice(at + 2, at + 2 + length)
    at += 2 + length
  }
}

function parseReflogEntry(bytes: Uint8Array): ReflogEntry {
  try {
    const entry = JSON.parse(fromUtf8.decode(bytes)) as ReflogEntry
    if (typeof entry.time !== 'number' || typeof entry.reason !== 'string') throw new Error('missing fields')
    return entry
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', 'a reflog entry does not parse', { cause })
  }
}

async function wrapIo<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (cause) {
    throw levelError(cause)
  }
}
