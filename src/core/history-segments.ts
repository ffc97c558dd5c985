import type { ObjectEntry } from '../backend/interface.js'
import { type CID, parseCid } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { decodeSegment, encodeSegment, historyEntryOf, segmentKey, topsSegment, SEGMENT_SPAN, type HistoryEntry } from '../model/history-segment.js'
import type { StoreContext } from './context.js'

/**
 * Log headers by id: from the history segment a walk last reached, else from the checkpoint
 * itself. A checkpoint that tops a segment brings the next {@link SEGMENT_SPAN} headers along its
 * first parents with it, so a long walk reads one record per segment instead of one per checkpoint.
 */
export class HistoryHeaders {
  /** Headers read from segments, in the order a first-parent walk takes them; those before `#next` are taken. */
  #queue: HistoryEntry[] = []
  #next = 0
  /** The untaken ones by id, made once a walk takes one out of that order (a merge, several starts). */
  #byId: Map<string, HistoryEntry> | undefined

  constructor(private readonly ctx: StoreContext) {}

  /** The header of `id` when a segment read earlier holds it (each is asked for once). */
  take(id: string): HistoryEntry | undefined {
    // Past any taken out of order.
    while (this.#byId !== undefined && this.#next < this.#queue.length && !this.#byId.has(this.#queue[this.#next]!.id)) this.#next++
    const next = this.#queue[this.#next]
    if (next?.id === id) {
      this.#next++
      this.#byId?.delete(id)
      return next
    }
    this.#byId ??= new Map(this.#queue.slice(this.#next).map((e) => [e.id, e]))
    const found = this.#byId.get(id)
    this.#byId.delete(id)
    return found
  }

  /**
   * The header of `id` read from the store. `childSeq`: the sequence number of the checkpoint
   * whose first parent `id` is; when that makes `id` a segment's top, the segment is read first
   * and the checkpoint itself is not read at all.
   */
  async read(id: string, childSeq?: number): Promise<HistoryEntry> {
    const cid = parseCid(id)
    const tried = childSeq !== undefined && topsSegment(childSeq - 1)
    if (tried) {
      const top = await this.#readSegment(cid)
      if (top !== undefined) return top
    }
    const entry = historyEntryOf(cid, await this.ctx.loadCheckpoint(cid))
    if (!tried && topsSegment(entry.seq)) await this.#readSegment(cid)
    return entry
  }

  /**
   * Takes in the segment `top` carries and returns its first entry (`top`'s own header); a
   * segment that is missing, damaged or not `top`'s is passed over.
   */
  async #readSegment(top: CID): Promise<HistoryEntry | undefined> {
    const entries = await storedSegment(this.ctx, top)
    if (!Array.isArray(entries) || entries[0]?.id !== top.toString()) return undefined
    const below = entries.slice(1)
    if (this.#next >= this.#queue.length) {
      this.#queue = below
      this.#next = 0
      if (this.#byId?.size === 0) this.#byId = undefined
    } else {
      this.#queue.push(...below)
    }
    for (const entry of this.#byId === undefined ? [] : below) this.#byId!.set(entry.id, entry)
    return entries[0]
  }
}

/** The segment `top` carries as stored: its entries, `damaged` when its bytes fail their checks, or undefined when it has none. */
async function storedSegment(ctx: StoreContext, top: CID): Promise<HistoryEntry[] | 'damaged' | undefined> {
  const stored = await ctx.objects.store.get(segmentKey(top))
  return stored === undefined ? undefined : (decodeSegment(stored) ?? 'damaged')
}

/**
 * The segment a new checkpoint carries when it tops one (its sequence number a multiple of
 * {@link SEGMENT_SPAN}), to be stored with it; undefined otherwise. Its ancestors are usually
 * still in the store's node cache from the commits that wrote them.
 */
export async function segmentFor(ctx: StoreContext, cid: CID, node: CheckpointNode): Promise<ObjectEntry | undefined> {
  if (node.seq === undefined || !topsSegment(node.seq)) return undefined
  return { key: segmentKey(cid), value: encodeSegment(await segmentEntries(ctx, cid, node)) }
}

/** The headers of `top` and its first-parent ancestors, newest first: SEGMENT_SPAN, or fewer where history ends or was cut. */
async function segmentEntries(ctx: StoreContext, top: CID, node: CheckpointNode): Promise<HistoryEntry[]> {
  const entries = [historyEntryOf(top, node)]
  for (let parent = node.parents[0]; parent !== undefined && entries.length < SEGMENT_SPAN; ) {
    const above = await ctx.loadCheckpointIfKept(parent)
    if (above === undefined) break
    entries.push(historyEntryOf(parent, above))
    parent = above.parents[0]
  }
  return entries
}

const DAMAGED = 'its history segment is damaged; log reads the checkpoints instead'
const MISMATCHED = 'its history segment does not match the checkpoints it lists'

/**
 * fsck's check of history segments, fed every checkpoint its walk reads: a segment's digest when
 * its checkpoint is read, and each header it lists when that checkpoint is read in turn, so no
 * checkpoint is read twice. Stores written before segments, and imported histories, have none:
 * nothing to check. Headers of checkpoints retention has since dropped are never met, and not
 * compared.
 */
export class SegmentCheck {
  /** Listed headers not yet met, with the checkpoint whose segment lists them. */
  readonly #listed = new Map<string, { readonly entry: HistoryEntry; readonly top: string }>()
  /** Checkpoints already shown to {@link visit}. */
  readonly #visited = new Set<string>()
  readonly #reported = new Set<string>()

  constructor(private readonly ctx: StoreContext) {}

  /**
   * Checks what `cid`'s node says against the segment that listed it, and takes in the segment
   * it carries. Returns each checkpoint whose segment is bad, with what is wrong.
   */
  async visit(cid: CID, node: CheckpointNode): Promise<Array<{ readonly id: string; readonly message: string }>> {
    const problems: Array<{ id: string; message: string }> = []
    const report = (id: string, message: string) => {
      if (this.#reported.has(id)) return
      this.#reported.add(id)
      problems.push({ id, message })
    }
    const id = cid.toString()
    this.#visited.add(id)
    const header = historyEntryOf(cid, node)
    const listed = this.#listed.get(id)
    if (listed) {
      this.#listed.delete(id)
      if (!sameEntry(listed.entry, header)) report(listed.top, MISMATCHED)
    }
    if (node.seq === undefined || !topsSegment(node.seq)) return problems
    const entries = await storedSegment(this.ctx, cid)
    if (entries === undefined) return problems
    if (entries === 'damaged') {
      report(id, DAMAGED)
      return problems
    }
    if (!sameEntry(entries[0]!, header)) report(id, MISMATCHED)
    for (const entry of entries.slice(1)) {
      if (!this.#visited.has(entry.id)) {
        this.#listed.set(entry.id, { entry, top: id })
        continue
      }
      // Reached by another way first: read again (usually from the cache).
      const other = parseCid(entry.id)
      const node = await this.ctx.loadCheckpointIfKept(other).catch(() => undefined)
      if (node !== undefined && !sameEntry(entry, historyEntryOf(other, node))) report(id, MISMATCHED)
    }
    return problems
  }
}

function sameEntry(a: HistoryEntry, b: HistoryEntry): boolean {
  const fields = ['id', 'shortId', 'seq', 'time', 'author', 'message', 'stage', 'run', 'job'] as const
  return fields.every((f) => a[f] === b[f]) && a.parents.length === b.parents.length && a.parents.every((p, i) => p === b.parents[i])
}

/**
 * Writes the segments missing along the first-parent histories of `heads`: histories that came
 * from an import, a clone or a build before segments existed. A stretch that already has its
 * segments costs one read per segment. Returns how many were written.
 */
export async function writeMissingSegments(ctx: StoreContext, heads: readonly CID[]): Promise<number> {
  let written = 0
  const visited = new Set<string>()
  for (const head of heads) {
    let at: CID | undefined = head
    while (at !== undefined && !visited.has(at.toString())) {
      visited.add(at.toString())
      const node = await ctx.loadCheckpointIfKept(at)
      // Below the first 256 checkpoints of a history there is no segment to write.
      const seq = node?.seq ?? 1
      if (node === undefined || seq < SEGMENT_SPAN) break
      if (!topsSegment(seq)) {
        at = node.parents[0]
        continue
      }
      const stored = await storedSegment(ctx, at)
      let entries = Array.isArray(stored) && stored[0]?.id === at.toString() ? stored : undefined
      if (stored === undefined) {
        entries = await segmentEntries(ctx, at, node)
        await ctx.objects.store.putMany([{ key: segmentKey(at), value: encodeSegment(entries) }])
        written++
      }
      for (const entry of entries ?? []) visited.add(entry.id)
      // A bad segment is left for fsck to report; the walk goes on through the checkpoints.
      const last = entries?.at(-1)
      at = last === undefined ? node.parents[0] : last.parents[0] === undefined ? undefined : parseCid(last.parents[0])
    }
  }
  return written
}
