import { CkptError } from '../errors.js'
import type { CID } from '../model/cid.js'
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
  return { ref, timeline: head.target.timeline, ...(id && { head: id }) }
}

/** How a target is named in messages and reflog reasons. */
export function targetName(target: EditTarget): string {
  return target.timeline ?? 'HEAD'
}
