import type { ObjectStore, Sweep } from '../backend/interface.js'
import type { StoreContext } from '../core/context.js'
import { ObjectDb } from '../core/objects.js'
import { earliestLiveWriter, forgetEndedLeases } from '../core/writer-lease.js'
import type { GcOptions, GcResult } from '../core/types.js'
import { isCkptError } from '../errors.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidFromKey, isCidKey, objectKey, tryParseCid } from '../model/cid.js'
import { isManifestKey } from '../model/manifest.js'
import { isSegmentKey, segmentTop } from '../model/history-segment.js'
import { linksIn } from '../model/dag-json.js'
import { allLinks, decodeNode } from '../model/value.js'
import { CUT_PREFIX, INDEX_PREFIX, META_PREFIX, RETENTION_PREFIX, TAG_PREFIX, TIMELINE_PREFIX } from '../refs/refdb.js'
import { writeMissingSegments } from '../core/history-segments.js'
import { MarkSet, ObjectMarks } from './mark-set.js'

/** Like git's gc.pruneExpire: unreachable objects younger than this are kept. */
export const DEFAULT_GRACE_MS = 14 * 24 * 3600 * 1000
const DELETE_BATCH = 2000
const READS_AT_ONCE = 32
const NOTHING_RECLAIMED = { files: 0, bytes: 0 }

/**
 * Deletes every object nothing reaches: not a ref, a reflog entry, an index pointer, an object
 * written within the grace window, nor anything a writer touches while gc runs
 * (docs/maintenance.md). Marking takes no lock; writers wait only while the deletions are written.
 */
export async function gc(ctx: StoreContext, options: GcOptions = {}, before: GcPrelude = { retention: [], reflogEntriesExpired: 0 }): Promise<GcResult> {
  const started = Date.now()
  const store = ctx.objects.store
  const sweep = await store.beginSweep()
  try {
    const asked = options.prune === 'now' ? Date.now() : Date.now() - (options.prune ?? DEFAULT_GRACE_MS)
    // Read after the sweep began: a writer that registers later has its writes touched instead.
    const cutoff = Math.min(asked, (await earliestLiveWriter(ctx, { take: !options.dryRun })) ?? Infinity)
    const marker = new Marker(readerOver(store, sweep), await ctx.refs.cuts(), (n) => options.onProgress?.('mark', n))
    await markRoots(ctx, marker)
    for await (const key of store.writtenSince(cutoff)) await marker.markKey(key)
    const markMs = Date.now() - started

    const candidates = await scanUnmarked(store, marker, (n) => options.onProgress?.('scan', n))
    if (options.dryRun) {
      const bytes = await sizeOf(store, candidates)
      return result(true, marker.size, { objects: candidates.length, bytes }, NOTHING_RECLAIMED, started, markMs, 0, before, 0)
    }

    await sweep.hold()
    const heldAt = Date.now()
    // What writers touched meanwhile may be about to become reachable: keep it and all it reaches.
    await markTouched(sweep, marker)
    const freed = { objects: 0, bytes: 0 }
    for (const keys of candidates.batches(DELETE_BATCH)) {
      const batch = keys.filter((key) => !marker.isMarked(key))
      const { deleted, bytes } = await sweep.delete(batch)
      freed.objects += deleted
      freed.bytes += bytes
      options.onProgress?.('sweep', freed.objects)
    }
    await sweep.end()
    const writersHeldMs = Date.now() - heldAt

    await dropStaleCuts(ctx, marker)
    await forgetEndedLeases(ctx)
    // As git gc writes the commit-graph: histories that arrived without segments get them.
    // Nodes cached before the sweep may be deleted ones, which must not get segments.
    ctx.forgetCheckpoints()
    const heads = (await ctx.refs.listRaw('')).filter(({ name }) => name.startsWith(TIMELINE_PREFIX) || name.startsWith(TAG_PREFIX)).map(({ value }) => tryParseCid(value))
    const segmentsWritten = await writeMissingSegments(ctx, heads.filter((cid): cid is CID => cid !== undefined))
    options.onProgress?.('reclaim', 0)
    // A backend without the capability has no space to give back, or no write records to drop.
    const { supports } = ctx.objects
    const reclaimed = supports.reclaim && store.reclaim ? await store.reclaim() : NOTHING_RECLAIMED
    if (supports.forgetWrites && store.forgetWritesBefore) await store.forgetWritesBefore(Math.min(cutoff, started - DEFAULT_GRACE_MS))
    return result(false, marker.size, freed, reclaimed, started, markMs, writersHeldMs, before, segmentsWritten)
  } finally {
    await sweep.end()
  }
}

/** What ran before the collection itself (retention, reflog expiry). */
export interface GcPrelude {
  readonly retention: GcResult['retention']
  readonly reflogEntriesExpired: number
}

function result(
  dryRun: boolean, kept: number, freed: GcResult['freed'], reclaimed: GcResult['reclaimed'], started: number, markMs: number, writersHeldMs: number, before: GcPrelude, historySegmentsWritten: number,
): GcResult {
  return { dryRun, kept, freed, reclaimed, ...before, historySegmentsWritten, timings: { totalMs: Date.now() - started, markMs, writersHeldMs } }
}

/** An object reader whose reads neither count as a writer's touches nor wait on the sweep's hold. */
function readerOver(store: ObjectStore, sweep: Sweep): ObjectDb {
  const readOnly = (): never => {
    throw new Error('the collector only reads')
  }
  return new ObjectDb({
    get: (key) => sweep.get(key),
    has: readOnly,
    putMany: readOnly,
    keys: readOnly,
    sizes: (keys) => store.sizes(keys),
    writtenSince: readOnly,
    beginSweep: readOnly,
  })
}

/** Marks from every ref and every reflog entry (deleted refs' included). */
async function markRoots(ctx: StoreContext, marker: Marker): Promise<void> {
  // Settings, cut markers and policies name nothing to keep.
  const isRoot = (name: string) => ![META_PREFIX, CUT_PREFIX, RETENTION_PREFIX].some((prefix) => name.startsWith(prefix))
  for (const { name, value } of await ctx.refs.listRaw('')) {
    if (isRoot(name)) await marker.markValue(value, name.startsWith(INDEX_PREFIX))
  }
  for (const name of await ctx.refs.listReflogNames('')) {
    if (!isRoot(name)) continue
    // An entry's old value is the previous entry's new one, except where a ref was deleted: then
    // it is what `timeline restore` brings back.
    for (const entry of await ctx.refs.reflog(name)) {
      const value = entry.new ?? entry.old
      if (value !== null) await marker.markValue(value, name.startsWith(INDEX_PREFIX))
    }
  }
}

/** Marks what writers touched since the sweep began. */
async function markTouched(sweep: Sweep, marker: Marker): Promise<void> {
  for (;;) {
    const { keys, refValues } = await sweep.drain()
    if (keys.length === 0 && refValues.length === 0) return
    for (const value of refValues) await marker.markValue(value, true)
    for (const key of keys) await marker.markKey(key)
  }
}

/**
 * Keys packed end to end in a few large buffers (length u16, key): a million candidates take
 * tens of megabytes, where as many Uint8Array objects would take several times that.
 */
class KeyList {
  readonly #chunks: Buffer[] = []
  #current = Buffer.alloc(1 << 20)
  #used = 0
  length = 0

  push(key: Uint8Array): void {
    if (this.#used + 2 + key.length > this.#current.length) {
      this.#chunks.push(this.#current.subarray(0, this.#used))
      this.#current = Buffer.alloc(Math.max(1 << 20, 2 + key.length))
      this.#used = 0
    }
    this.#current.writeUInt16BE(key.length, this.#used)
    this.#current.set(key, this.#used + 2)
    this.#used += 2 + key.length
    this.length++
  }

  /** The keys in the order pushed, `size` at a time. */
  *batches(size: number): Iterable<Uint8Array[]> {
    let batch: Uint8Array[] = []
    for (const chunk of [...this.#chunks, this.#current.subarray(0, this.#used)]) {
      for (let at = 0; at < chunk.length; at += 2 + chunk.readUInt16BE(at)) {
        batch.push(chunk.subarray(at + 2, at + 2 + chunk.readUInt16BE(at)))
        if (batch.length === size) {
          yield batch
          batch = []
        }
      }
    }
    if (batch.length > 0) yield batch
  }
}

/**
 * Every stored key nothing marked, in key order (so manifests go before the chunks they list).
 * Every key of the object keyspace is an object's or a manifest's; one that is neither (such as
 * a stat-cache entry an earlier build kept there) nothing can reach, and goes like any garbage.
 */
async function scanUnmarked(store: ObjectStore, marker: Marker, progress: (n: number) => void): Promise<KeyList> {
  const candidates = new KeyList()
  let scanned = 0
  for await (const key of store.keys()) {
    if (++scanned % 10_000 === 0) progress(scanned)
    if (!marker.isMarked(key)) candidates.push(key)
  }
  return candidates
}

async function sizeOf(store: ObjectStore, keys: KeyList): Promise<number> {
  let bytes = 0
  for (const batch of keys.batches(DELETE_BATCH)) for (const size of await store.sizes(batch)) bytes += size ?? 0
  return bytes
}

/** Removes cut markers of checkpoints that are gone: nothing can show those cuts any more. */
async function dropStaleCuts(ctx: StoreContext, marker: Marker): Promise<void> {
  for (const { name, value } of await ctx.refs.listRaw(CUT_PREFIX)) {
    const cid = tryParseCid(value)
    if (cid && marker.isMarked(objectKey(cid))) continue
    await ctx.refs.update([{ ref: name, expected: value, value: null }], 'gc: checkpoint gone').catch((err: unknown) => {
      if (!isCkptError(err, 'REF_CONFLICT')) throw err
    })
  }
}

/**
 * The digest that identifies an object key: a CID's, a chunked blob's manifest key (its blob's) or
 * a history segment's key (its top checkpoint's, so a segment goes when its checkpoint does).
 * Undefined for other keys.
 */
function digestOfKey(key: Uint8Array): Uint8Array | undefined {
  if (isCidKey(key) || isManifestKey(key) || isSegmentKey(key)) return key.length >= 36 ? key.subarray(key.length - MarkSet.DIGEST_BYTES) : undefined
  return undefined
}

/** The object a key belongs to: its own CID, a manifest's blob or a segment's checkpoint. */
function ownerOfKey(key: Uint8Array): CID {
  return isSegmentKey(key) ? segmentTop(key) : cidFromKey(isManifestKey(key) ? key.subarray(1) : key)
}

/**
 * Marks objects and everything they link to. Links are followed generically (every dag-json link,
 * a chunked blob's chunks), except the parents of checkpoints whose history retention cut.
 * Objects reached from index pointers also follow id strings, since tools record checkpoint ids
 * as text (a pipeline run's record names its base checkpoint). Missing or damaged objects are
 * skipped: gc keeps what it cannot read, and fsck reports it.
 */
class Marker {
  readonly #marks = new ObjectMarks()

  constructor(
    private readonly reader: ObjectDb,
    private readonly cuts: ReadonlySet<string>,
    private readonly progress: (marked: number) => void,
  ) {}

  get size(): number {
    return this.#marks.size
  }

  /** Whether any object with this key's digest is marked (keeping one more object than needed is safe). */
  isMarked(key: Uint8Array): boolean {
    const digest = digestOfKey(key)
    return digest !== undefined && this.#marks.hasDigest(digest)
  }

  /** A ref value or reflog value: marks it when it is an id. */
  async markValue(value: string, followIdStrings: boolean): Promise<void> {
    const cid = tryParseCid(value)
    if (cid) await this.mark(cid, followIdStrings)
  }

  /** An object key: a CID's, a manifest's or a history segment's. */
  async markKey(key: Uint8Array): Promise<void> {
    if (!digestOfKey(key)) return
    await this.mark(ownerOfKey(key), false)
  }

  async mark(root: CID, followIdStrings: boolean): Promise<void> {
    const stack: Array<{ cid: CID; ids: boolean }> = [{ cid: root, ids: followIdStrings }]
    while (stack.length > 0) {
      // Several reads at a time: through another process's socket, each read waits a turn of its event loop.
      const wave: Array<{ cid: CID; ids: boolean }> = []
      while (stack.length > 0 && wave.length < READS_AT_ONCE) {
        const item = stack.pop()!
        if (item.cid.code !== RAW_CODE && item.cid.code !== DAG_JSON_CODE) continue
        if (!this.#marks.add(item.cid)) continue
        if (this.size % 10_000 === 0) this.progress(this.size)
        wave.push(item)
      }
      const links = await Promise.all(wave.map((item) => this.#linksOf(item.cid, item.ids)))
      links.forEach((found, i) => {
        for (const cid of found) stack.push({ cid, ids: wave[i]!.ids })
      })
    }
  }

  /** What `cid` links to that marking follows; a chunked blob's chunks are marked at once. */
  async #linksOf(cid: CID, ids: boolean): Promise<CID[]> {
    if (cid.code === RAW_CODE) {
      const manifest = await this.reader.manifest(cid).catch(skipUnreadable)
      for (const chunk of manifest?.chunks ?? []) this.#marks.add(chunk.cid)
      return []
    }
    const bytes = await this.reader.getBytes(cid).catch(skipUnreadable)
    if (bytes === undefined) return []
    const cut = this.cuts.has(cid.toString())
    if (!cut && !ids) return [...linksIn(bytes)]
    // Cuts and index records need the parsed node: which links are parents, which strings are ids.
    const node = tryDecode(bytes)
    if (node === undefined) return []
    const parents = cut ? new Set(parentIds(node)) : undefined
    const links = [...allLinks(node)].filter((link) => !parents?.has(link.toString()))
    if (ids) links.push(...idStrings(node))
    return links
  }
}

function tryDecode(bytes: Uint8Array): unknown {
  try {
    return decodeNode(bytes)
  } catch {
    return undefined
  }
}

function skipUnreadable(err: unknown): undefined {
  if (isCkptError(err, 'NOT_FOUND') || isCkptError(err, 'CORRUPT_OBJECT')) return undefined
  throw err
}

function parentIds(node: unknown): string[] {
  const parents = (node as { parents?: unknown }).parents
  return Array.isArray(parents) ? parents.flatMap((p) => (CID.asCID(p) ? [String(CID.asCID(p))] : [])) : []
}

/** Strings anywhere in `node` that are ids of this store's objects. */
function idStrings(node: unknown): CID[] {
  const found: CID[] = []
  const visit = (value: unknown): void => {
    if (typeof value === 'string') {
      const cid = value.length >= 50 && value.length <= 70 ? tryParseCid(value) : undefined
      if (cid) found.push(cid)
    } else if (value !== null && typeof value === 'object' && !CID.asCID(value)) {
      for (const item of Array.isArray(value) ? value : Object.values(value)) visit(item)
    }
  }
  visit(node)
  return found
}
