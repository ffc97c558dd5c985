import type { StoreContext } from '../core/context.js'
import type { RetentionPolicy, RetentionResult } from '../core/types.js'
import { CkptError, isCkptError } from '../errors.js'
import { type CID, cidString, tryParseCid } from '../model/cid.js'
import { HEAD, PIN_PREFIX, RETENTION_PREFIX, TAG_PREFIX, TIMELINE_PREFIX, checkedRef } from '../refs/refdb.js'

/**
 * `store.retention`: per-timeline policies that drop old checkpoints from a timeline's history.
 * A checkpoint survives when the policy keeps it, or a tag, a pin or another timeline points at
 * it. Younger checkpoints whose parents are dropped keep working: the cut is recorded, so `log`
 * shows where history was cut and gc stops there (docs/maintenance.md).
 */
export class Retention {
  constructor(private readonly ctx: StoreContext) {}

  /** Sets (replaces) a timeline's policy. The timeline must exist. */
  async set(timeline: string, policy: RetentionPolicy): Promise<void> {
    this.ctx.assertOpen()
    const checked = checkPolicy(policy)
    if ((await this.ctx.refs.read(checkedRef('timeline', timeline))) === undefined) {
      throw new CkptError('NOT_FOUND', `no timeline "${timeline}"`, { details: { timeline } })
    }
    const ref = RETENTION_PREFIX + timeline
    const current = (await this.ctx.refs.read(ref)) ?? null
    await this.ctx.refs.update([{ ref, expected: current, value: JSON.stringify(checked) }], 'retention: set')
  }

  /** The timeline's policy, or undefined when it has none. */
  async get(timeline: string): Promise<RetentionPolicy | undefined> {
    this.ctx.assertOpen()
    checkedRef('timeline', timeline)
    const raw = await this.ctx.refs.read(RETENTION_PREFIX + timeline)
    return raw === undefined ? undefined : parsePolicy(timeline, raw)
  }

  /** Removes the timeline's policy; nothing already dropped comes back. */
  async clear(timeline: string): Promise<void> {
    this.ctx.assertOpen()
    checkedRef('timeline', timeline)
    const ref = RETENTION_PREFIX + timeline
    const current = await this.ctx.refs.read(ref)
    if (current !== undefined) await this.ctx.refs.update([{ ref, expected: current, value: null }], 'retention: cleared')
  }

  async list(): Promise<Array<{ timeline: string; policy: RetentionPolicy }>> {
    this.ctx.assertOpen()
    return (await this.ctx.refs.listRaw(RETENTION_PREFIX)).map(({ name, value }) => {
      const timeline = name.slice(RETENTION_PREFIX.length)
      return { timeline, policy: parsePolicy(timeline, value) }
    })
  }

  /**
   * Applies every policy: records cuts and expires the reflog entries that still name dropped
   * checkpoints, so the next gc reclaims them. Deletes no object itself.
   */
  async apply(): Promise<RetentionResult[]> {
    this.ctx.assertOpen()
    const results: RetentionResult[] = []
    for (const { timeline, policy } of await this.list()) {
      const result = await applyPolicy(this.ctx, timeline, policy)
      if (result) results.push(result)
    }
    return results
  }
}

async function applyPolicy(ctx: StoreContext, timeline: string, policy: RetentionPolicy): Promise<RetentionResult | undefined> {
  const ref = TIMELINE_PREFIX + timeline
  const head = await ctx.refs.readCid(ref)
  if (!head) return undefined
  const protectedIds = await protectedCheckpoints(ctx, ref)
  const cuts = await ctx.refs.cuts()
  const now = ctx.now()
  const history = await historyOf(ctx, head, cuts)
  const kept = new Set<string>()
  history.forEach(({ id, time }, index) => {
    const byCount = policy.keepLast !== undefined && index < policy.keepLast
    const byAge = policy.keepWithinMs !== undefined && time >= now - policy.keepWithinMs
    if (byCount || byAge) kept.add(id)
  })
  // Another name's checkpoint keeps its whole history: a cut there would cut that name's history too.
  const inHistory = new Set(history.map((h) => h.id))
  keepAncestors(history, [...protectedIds].filter((id) => inHistory.has(id)), kept)
  const newCuts: string[] = []
  for (const { id, parents } of history) {
    if (!kept.has(id) || cuts.has(id)) continue
    if (parents.some((p) => !kept.has(p))) newCuts.push(id)
  }
  for (const id of newCuts) await ctx.refs.addCut(id, `retention: history of ${timeline} cut`)
  const dropped = history.filter((h) => !kept.has(h.id)).map((h) => h.id)
  if (dropped.length > 0) await ctx.refs.expireReflog(ref, 0, dropped)
  return { timeline, kept: kept.size, dropped: history.length - kept.size, cuts: newCuts }
}

function keepAncestors(history: readonly HistoryEntry[], starts: readonly string[], kept: Set<string>): void {
  const parentsOf = new Map(history.map((h) => [h.id, h.parents]))
  const visited = new Set<string>(starts)
  const pending = [...starts]
  while (pending.length > 0) {
    const id = pending.pop()!
    kept.add(id)
    for (const parent of parentsOf.get(id) ?? []) {
      if (parentsOf.has(parent) && !visited.has(parent)) {
        visited.add(parent)
        pending.push(parent)
      }
    }
  }
}

/** Checkpoints other names hold: tags, pins, other timelines and a detached HEAD. */
async function protectedCheckpoints(ctx: StoreContext, own: string): Promise<Set<string>> {
  const ids = new Set<string>()
  for (const { name, value } of await ctx.refs.listRaw('')) {
    const holds = name.startsWith(TAG_PREFIX) || name.startsWith(PIN_PREFIX) || (name.startsWith(TIMELINE_PREFIX) && name !== own) || name === HEAD
    if (holds && tryParseCid(value)) ids.add(value)
  }
  return ids
}

/** What retention needs of a checkpoint: a few bytes each, where whole nodes would take a gigabyte of history. */
interface HistoryEntry {
  readonly id: string
  readonly time: number
  readonly parents: readonly string[]
}

/** The timeline's history newest first (every parent), stopping at earlier cuts and at missing checkpoints. */
async function historyOf(ctx: StoreContext, head: CID, cuts: ReadonlySet<string>): Promise<HistoryEntry[]> {
  const out: HistoryEntry[] = []
  const seen = new Set<string>([cidString(head)])
  const pending: CID[] = [head]
  while (pending.length > 0) {
    const cid = pending.shift()!
    const node = await ctx.loadCheckpoint(cid).catch((err: unknown) => {
      if (isCkptError(err, 'NOT_FOUND')) return undefined
      throw err
    })
    if (!node) continue
    const id = cidString(cid)
    out.push({ id, time: node.time, parents: node.parents.map(cidString) })
    if (cuts.has(id)) continue
    for (const parent of node.parents) {
      const key = cidString(parent)
      if (!seen.has(key)) {
        seen.add(key)
        pending.push(parent)
      }
    }
  }
  // Newest first, as `log` shows them: "the last N" means the N newest.
  return out.sort((a, b) => b.time - a.time)
}

function checkPolicy(policy: RetentionPolicy): RetentionPolicy {
  const { keepLast, keepWithinMs } = policy
  if (keepLast === undefined && keepWithinMs === undefined) throw new CkptError('INVALID_ARGUMENT', 'a retention policy needs keepLast, keepWithinMs or both')
  if (keepLast !== undefined && (!Number.isSafeInteger(keepLast) || keepLast < 1)) {
    throw new CkptError('INVALID_ARGUMENT', `keepLast must be a whole number of at least 1, not ${String(keepLast)}`, { details: { keepLast } })
  }
  if (keepWithinMs !== undefined && (!Number.isSafeInteger(keepWithinMs) || keepWithinMs < 0)) {
    throw new CkptError('INVALID_ARGUMENT', `keepWithinMs must be a whole number of milliseconds, not ${String(keepWithinMs)}`, { details: { keepWithinMs } })
  }
  return { ...(keepLast !== undefined && { keepLast }), ...(keepWithinMs !== undefined && { keepWithinMs }) }
}

function parsePolicy(timeline: string, raw: string): RetentionPolicy {
  try {
    return checkPolicy(JSON.parse(raw) as RetentionPolicy)
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', `the retention policy of timeline "${timeline}" is damaged`, { cause, details: { timeline } })
  }
}
