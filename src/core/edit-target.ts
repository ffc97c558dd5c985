import { CkptError } from '../errors.js'
import { type CID, cidString } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { HEAD, checkedRef } from '../refs/refdb.js'
import type { StoreContext } from './context.js'

/** What a history edit moves: a timeline (the one named, else HEAD's), or a detached HEAD. */
export interface EditTarget {
  /** The ref moved: `timelines/NAME`, or `HEAD` when it is detached. */
  readonly ref: string
  /** The timeline's name; undefined for a detached HEAD. */
  readonly timeline?: string
  /** Its checkpoint now; undefined for a timeline without checkpoints yet. */
  readonly head?: CID
  /** HEAD's value when the timeline was found through HEAD: HEAD's reflog then records the move too. */
  readonly viaHead?: string
}

/** The ref a history edit moves and where it is now, read once: the edit then moves it by compare-and-swap from there. */
export async function editTarget(ctx: StoreContext, timeline: string | undefined): Promise<EditTarget> {
  if (timeline !== undefined) {
    const ref = checkedRef('timeline', timeline)
    const head = await ctx.refs.readCid(ref)
    if (!head) throw new CkptError('NOT_FOUND', `no timeline "${timeline}"`, { details: { timeline } })
    return { ref, timeline, head }
  }
  const head = await ctx.refs.head()
  if (!head) throw new CkptError('INVALID_ARGUMENT', 'HEAD is not set; name a timeline')
  if (head.target.kind === 'detached') return { ref: HEAD, head: head.target.checkpoint }
  const ref = checkedRef('timeline', head.target.timeline)
  const id = await ctx.refs.readCid(ref)
  return { ref, timeline: head.target.timeline, viaHead: head.raw, ...(id && { head: id }) }
}

/**
 * Moves the target from its head to `value` by compare-and-swap, logging `reason`; when it was
 * found through HEAD, HEAD's reflog records the move too (HEAD itself is checked, not changed).
 */
export async function moveTarget(ctx: StoreContext, target: EditTarget, value: CID, reason: string): Promise<void> {
  const moves = [{ ref: target.ref, expected: target.head ? cidString(target.head) : null, value: cidString(value) }]
  if (target.viaHead !== undefined) moves.push({ ref: HEAD, expected: target.viaHead, value: target.viaHead })
  await ctx.refs.update(moves, reason)
}

/**
 * The `timeline` option a commit for this target takes: none when the target was found through
 * HEAD, so that the commit goes through HEAD and HEAD's reflog records it.
 */
export function commitTimeline(target: EditTarget): { timeline?: string } {
  return target.timeline !== undefined && target.viaHead === undefined ? { timeline: target.timeline } : {}
}

/** File names (`restore` writes bytes outputs under them) that `stages` have in `node`, for a commit that copies them. */
export function fileNamesOf(node: CheckpointNode, stages: readonly string[]): { fileNames?: Record<string, string> } {
  const names = stages.flatMap((stage) => {
    const name = node.files?.get(stage)
    return name === undefined ? [] : [[stage, name] as const]
  })
  return names.length === 0 ? {} : { fileNames: Object.fromEntries(names) }
}

/** How a target is named in messages and reflog reasons. */
export function targetName(target: EditTarget): string {
  return target.timeline ?? 'HEAD'
}
