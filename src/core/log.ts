import { type CID, cidString } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { type StoreContext, toCheckpoint } from './context.js'
import type { Checkpoint, LogOptions } from './types.js'

interface Pending {
  readonly cid: CID
  readonly node: CheckpointNode
}

/**
 * History from `starts`, newest first, reading one checkpoint per step: a walk of a
 * 100,000-long timeline that stops after 20 reads 20 nodes. With merges, the next checkpoint
 * shown is the newest of the frontier (git's default date order); each is shown once.
 */
export async function* walkLog(ctx: StoreContext, starts: readonly CID[], options: LogOptions = {}): AsyncIterable<Checkpoint> {
  const limit = options.limit ?? Infinity
  if (limit <= 0) return
  const since = options.since === undefined ? -Infinity : new Date(options.since).getTime()
  const until = options.until === undefined ? Infinity : new Date(options.until).getTime()
  const meta = Object.entries(options.meta ?? {})
  const author = options.author?.toLowerCase()
  const wanted = async (node: CheckpointNode) =>
    node.time <= until &&
    (options.stage === undefined || node.stage === options.stage) &&
    (options.run === undefined || node.run === options.run) &&
    (options.job === undefined || node.job === options.job) &&
    (author === undefined || node.author.toLowerCase().includes(author)) &&
    meta.every(([key, value]) => metaText(node.meta[key]) === value) &&
    (options.changed === undefined || (await changesAny(ctx, node, options.changed)))
  const cuts = await ctx.refs.cuts()
  const seen = new Set<string>()
  const frontier: Pending[] = []
  const enqueue = async (cid: CID) => {
    const key = cid.toString()
    if (seen.has(key)) return
    seen.add(key)
    insertByTime(frontier, { cid, node: await ctx.loadCheckpoint(cid) })
  }
  for (const start of starts) await enqueue(start)
  let emitted = 0
  while (frontier.length > 0) {
    const next = frontier.shift() as Pending
    if (next.node.time < since) return
    let parents = options.firstParent ? next.node.parents.slice(0, 1) : next.node.parents
    const cut = cuts.has(next.cid.toString()) ? await droppedParents(ctx, next.node.parents) : []
    if (cut.length > 0) parents = parents.filter((p) => !cut.includes(p))
    if (await wanted(next.node)) {
      yield cut.length > 0 ? { ...toCheckpoint(next.cid, next.node), historyCut: true } : toCheckpoint(next.cid, next.node)
      if (++emitted >= limit) return
    }
    for (const parent of parents) await enqueue(parent)
  }
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
  for await (const checkpoint of walkLog(ctx, [of])) if (checkpoint.id === wanted) return true
  return false
}

/** The parents of a checkpoint at a retention cut that are gone from the store. */
async function droppedParents(ctx: StoreContext, parents: readonly CID[]): Promise<CID[]> {
  const present = await Promise.all(parents.map((p) => ctx.objects.has(p)))
  return parents.filter((_, i) => !present[i])
}

/** Keeps `frontier` sorted newest first; ties keep insertion order (children before parents). */
function insertByTime(frontier: Pending[], item: Pending): void {
  let i = frontier.length
  while (i > 0 && (frontier[i - 1] as Pending).node.time < item.node.time) i--
  frontier.splice(i, 0, item)
}
