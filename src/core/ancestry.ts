import type { CID } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import type { StoreContext } from './context.js'

const LEFT = 1
const RIGHT = 2

interface Painted {
  readonly cid: CID
  readonly node: CheckpointNode
  flags: number
}

/**
 * Walks the histories of `left` and `right` together, newest first, marking each checkpoint with
 * the side(s) it is reachable from (git's paint_down_to_common). `visit` sees a checkpoint each
 * time it is taken off the frontier with its marks; it returns false to stop the walk. A
 * checkpoint whose marks grow after it was visited is visited again. Parents that retention
 * dropped end the walk on their side.
 */
async function paint(ctx: StoreContext, left: readonly CID[], right: readonly CID[], visit: (item: Painted, frontier: readonly Painted[]) => boolean): Promise<void> {
  const painted = new Map<string, Painted>()
  const frontier: Painted[] = []
  const mark = async (cid: CID, flags: number) => {
    const key = cid.toString()
    const known = painted.get(key)
    if (known) {
      if ((known.flags | flags) === known.flags) return
      known.flags |= flags
      if (!frontier.includes(known)) insertByTime(frontier, known)
      return
    }
    const node = await ctx.loadCheckpointIfKept(cid)
    if (!node) return
    const item = { cid, node, flags }
    painted.set(key, item)
    insertByTime(frontier, item)
  }
  for (const cid of left) await mark(cid, LEFT)
  for (const cid of right) await mark(cid, RIGHT)
  while (frontier.length > 0) {
    const item = frontier.shift() as Painted
    if (!visit(item, frontier)) return
    for (const parent of item.node.parents) await mark(parent, item.flags)
  }
}

/**
 * The nearest common ancestor of two checkpoints (`git merge-base`): of the checkpoints both
 * reach, the newest. Undefined when their histories never meet.
 */
export async function mergeBase(ctx: StoreContext, a: CID, b: CID): Promise<CID | undefined> {
  if (a.equals(b)) return a
  let base: CID | undefined
  await paint(ctx, [a], [b], (item) => {
    if (item.flags !== (LEFT | RIGHT)) return true
    base = item.cid
    return false
  })
  return base
}

/**
 * The checkpoints reachable from `from` but from none of `others` (`git rev-list FROM --not
 * OTHERS`), newest first: what moving a ref away from `from` leaves behind.
 */
export async function reachableOnlyFrom(ctx: StoreContext, from: CID, others: readonly CID[]): Promise<CID[]> {
  const only = new Map<string, CID>()
  await paint(ctx, [from], others, (item, frontier) => {
    const key = item.cid.toString()
    if (item.flags === LEFT) only.set(key, item.cid)
    else only.delete(key)
    // Once every checkpoint still to walk is reachable from the others, so is all behind them.
    return frontier.some((f) => f.flags === LEFT) || item.flags === LEFT
  })
  return [...only.values()]
}

/** Keeps `frontier` sorted newest first; ties keep insertion order. */
function insertByTime(frontier: Painted[], item: Painted): void {
  let i = frontier.length
  while (i > 0 && (frontier[i - 1] as Painted).node.time < item.node.time) i--
  frontier.splice(i, 0, item)
}
