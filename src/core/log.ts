import { type CID, cidString, parseCid } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import type { HistoryEntry } from '../model/history-segment.js'
import { HistoryHeaders } from './history-segments.js'
import { type StoreContext, toCheckpoint } from './context.js'
import type { Checkpoint, CheckpointSummary, LogOptions } from './types.js'

/** Where a walk starts; resolved by the first step of the walk, so that a bad revision fails there. */
type Starts = readonly CID[] | Promise<readonly CID[]>

/**
 * History from `starts`, newest first, as log headers: a walk of a 100,000-long timeline that
 * stops after 20 reads 20 checkpoints; a longer one reads a history segment per 256.
 */
export function walkHistory(ctx: StoreContext, starts: Starts, options: LogOptions = {}): AsyncIterable<CheckpointSummary> {
  return walkEntries(ctx, starts, options, summaryOf)
}

/** {@link walkHistory} with each checkpoint read whole. */
export function walkLog(ctx: StoreContext, starts: Starts, options: LogOptions = {}): AsyncIterable<Checkpoint> {
  return walkEntries(ctx, starts, options, async (entry, cut) => {
    const cid = parseCid(entry.id)
    const checkpoint = toCheckpoint(cid, await ctx.loadCheckpoint(cid))
    return cut ? { ...checkpoint, historyCut: true } : checkpoint
  })
}

/**
 * The walk both serve, showing each checkpoint through `show` (`cut`: retention dropped its
 * parents). With merges, the next checkpoint shown is the newest of the frontier (git's default
 * date order); each is shown once.
 */
async function* walkEntries<T>(ctx: StoreContext, starts: Starts, options: LogOptions, show: (entry: HistoryEntry, cut: boolean) => T | Promise<T>): AsyncIterable<T> {
  const limit = options.limit ?? Infinity
  if (limit <= 0) return
  const since = options.since === undefined ? -Infinity : new Date(options.since).getTime()
  const wanted = entryFilter(ctx, options)
  const headers = new HistoryHeaders(ctx)
  const cuts = await ctx.refs.cuts()
  const seen = new Set<string>()
  const frontier: HistoryEntry[] = []
  // Most headers of a long walk are in hand already (read with a segment): no promise for those.
  // `remember`: false where nothing the walk meets later can lead back to `id` (below).
  const enqueue = (id: string, childSeq?: number, remember = true): Promise<void> | undefined => {
    if (seen.size > 0 && seen.has(id)) return undefined
    if (remember) seen.add(id)
    const known = headers.take(id)
    if (known) return void insertByTime(frontier, known)
    return headers.read(id, childSeq).then((entry) => insertByTime(frontier, entry))
  }
  for (const start of await starts) await enqueue(cidString(start))
  let emitted = 0
  while (frontier.length > 0) {
    const next = frontier.shift() as HistoryEntry
    if (next.time < since) return
    let parents = options.firstParent ? next.parents.slice(0, 1) : next.parents
    const cut = cuts.has(next.id) ? await droppedParents(ctx, next.parents) : []
    if (cut.length > 0) parents = parents.filter((p) => !cut.includes(p))
    const matches = wanted(next)
    if (matches === true || (matches !== false && (await matches))) {
      yield show(next, cut.length > 0)
      if (++emitted >= limit) return
    }
    // With nothing else pending, all the walk meets from here on is `parent` and its ancestors,
    // none of which has `parent` as a parent: a linear stretch of history keeps no set of ids.
    const only = frontier.length === 0 && parents.length === 1
    for (const parent of parents) {
      const reading = enqueue(parent, parent === next.parents[0] ? next.seq : undefined, !only)
      if (reading) await reading
    }
  }
}

/** The filters of `options` as one test; only `meta` and `changed` read the checkpoint itself. */
function entryFilter(ctx: StoreContext, options: LogOptions): (entry: HistoryEntry) => Promise<boolean> | boolean {
  const until = options.until === undefined ? Infinity : new Date(options.until).getTime()
  const meta = Object.entries(options.meta ?? {})
  const author = options.author?.toLowerCase()
  const { stage, run, job, changed } = options
  const headerMatches = (e: HistoryEntry) =>
    e.time <= until &&
    (stage === undefined || e.stage === stage) &&
    (run === undefined || e.run === run) &&
    (job === undefined || e.job === job) &&
    (author === undefined || e.author.toLowerCase().includes(author))
  if (meta.length === 0 && changed === undefined) return headerMatches
  return async (e) => {
    if (!headerMatches(e)) return false
    const node = await ctx.loadCheckpoint(parseCid(e.id))
    return meta.every(([key, value]) => metaText(node.meta[key]) === value) && (changed === undefined || (await changesAny(ctx, node, changed)))
  }
}

function summaryOf(entry: HistoryEntry, cut: boolean): CheckpointSummary {
  const summary: { -readonly [K in keyof CheckpointSummary]: CheckpointSummary[K] } = {
    id: entry.id,
    shortId: entry.shortId,
    parents: entry.parents,
    seq: entry.seq,
    message: entry.message,
    author: entry.author,
    time: new Date(entry.time),
  }
  if (entry.stage !== undefined) summary.stage = entry.stage
  if (entry.run !== undefined) summary.run = entry.run
  if (entry.job !== undefined) summary.job = entry.job
  if (cut) summary.historyCut = true
  return summary
}

/** Whether `node` adds, changes or removes any of `stages` against its first parent (a root or cut checkpoint: any it has). */
async function changesAny(ctx: StoreContext, node: CheckpointNode, stages: readonly string[]): Promise<boolean> {
  const first = node.parents[0]
  const parent = first && (await ctx.objects.has(first)) ? await ctx.loadCheckpoint(first) : undefined
  return stages.some((stage) => {
    const [now, before] = [node.stages.get(stage), parent?.stages.get(stage)]
    return now === undefined ? before !== undefined : before === undefined || !now.equals(before)
  })
}

function metaText(value: unknown): string | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? value : JSON.stringify(value)
}

/** Whether `ancestor` is `of` or in its history (a fast-forward from `ancestor` to `of`). */
export async function isAncestor(ctx: StoreContext, ancestor: CID, of: CID): Promise<boolean> {
  const wanted = cidString(ancestor)
  for await (const id of walkEntries(ctx, [of], {}, (entry) => entry.id)) if (id === wanted) return true
  return false
}

/** The parents of a checkpoint at a retention cut that are gone from the store. */
async function droppedParents(ctx: StoreContext, parents: readonly string[]): Promise<string[]> {
  const present = await Promise.all(parents.map((p) => ctx.objects.has(parseCid(p))))
  return parents.filter((_, i) => !present[i])
}

/** Keeps `frontier` sorted newest first; ties keep insertion order (children before parents). */
function insertByTime(frontier: HistoryEntry[], item: HistoryEntry): void {
  let i = frontier.length
  while (i > 0 && (frontier[i - 1] as HistoryEntry).time < item.time) i--
  if (i === frontier.length) frontier.push(item)
  else frontier.splice(i, 0, item)
}
