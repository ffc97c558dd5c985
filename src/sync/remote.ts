import type { StoreContext } from '../core/context.js'
import { CkptError } from '../errors.js'
import { CID, cidString } from '../model/cid.js'
import { checkRefName } from '../refs/names.js'
import { TIMELINE_PREFIX, TRACKING_PREFIX, checkedRef } from '../refs/refdb.js'
import { checkRefTargets, moveRef, storeBlocks } from './car.js'
import { FilledCuts } from './filled-cuts.js'
import { closureBlocks, refHeads } from './closure.js'

/** `remote/<name>` holds where a remote store lives. */
export const REMOTE_CONFIG_PREFIX = 'remote/'

export interface TransferResult {
  /** Blocks read and checked on the way. */
  readonly blocks: number
  readonly bytes: number
  /** Of those, the blocks the receiver lacked and stored: an interrupted transfer resumed writes only the rest. */
  readonly written: number
  readonly refs: ReadonlyArray<{ readonly ref: string; readonly action: string }>
}

/**
 * Copies what `from` has and `to` lacks for `heads`, then moves each of `refs` in `to` by
 * compare-and-swap (fast-forward only unless `force`). Negotiation is by advertised heads, as in
 * git: every timeline and tag `to` has that `from` also knows is excluded with its whole closure,
 * and any other block `to` already stores is skipped, so an interrupted transfer resumes.
 */
export async function transfer(
  from: StoreContext, to: StoreContext, refs: ReadonlyArray<{ ref: string; id: CID }>, options: { force?: boolean; why: string; onBlock?: (n: number) => void },
): Promise<TransferResult> {
  const haves: CID[] = []
  const heads = await refHeads(to)
  for (const cid of heads) if (await from.objects.has(cid)) haves.push(cid)
  let count = 0
  const cuts = await FilledCuts.watch(to)
  const blocks = (async function* () {
    for await (const block of closureBlocks(from, refs.map((r) => r.id), haves)) {
      cuts.saw(block.cid)
      options.onBlock?.(++count)
      yield block
    }
  })()
  const stored = await storeBlocks(to, blocks)
  await checkRefTargets(to, refs.map((r) => r.id), heads)
  await cuts.lift(to, options.why)
  const moved = []
  for (const { ref, id } of refs) moved.push({ ref, action: await moveRef(to, ref, id, options.force === true, options.why) })
  return { ...stored, refs: moved }
}

/** The timelines of a store, as `{ ref, id }` pairs, or only `names`. NOT_FOUND for a name it lacks. */
export async function timelinesOf(ctx: StoreContext, names?: readonly string[]): Promise<Array<{ ref: string; name: string; id: CID }>> {
  if (names === undefined) {
    // Names read from another store become refs here: held to the rules of a name a user types.
    const listed = await ctx.refs.list(TIMELINE_PREFIX)
    for (const { name } of listed) checkRefName(name, 'timeline name')
    return listed.map((e) => ({ ref: TIMELINE_PREFIX + e.name, name: e.name, id: e.id }))
  }
  return Promise.all(
    names.map(async (name) => {
      const ref = checkedRef('timeline', name)
      const id = await ctx.refs.readCid(ref)
      if (!id) throw new CkptError('NOT_FOUND', `no timeline "${name}"`, { details: { timeline: name } })
      return { ref, name, id }
    }),
  )
}

/** Records where `remote`'s timelines are, under `remotes/<remote>/…`, after a fetch. */
export async function updateTracking(ctx: StoreContext, remote: string, timelines: ReadonlyArray<{ name: string; id: CID }>): Promise<void> {
  for (const { name, id } of timelines) {
    const ref = `${TRACKING_PREFIX}${remote}/${name}`
    const current = (await ctx.refs.read(ref)) ?? null
    if (current !== cidString(id)) await ctx.refs.update([{ ref, expected: current, value: cidString(id) }], `fetch: ${remote}`)
  }
}

export function checkRemoteName(name: string): void {
  checkRefName(name, 'remote name')
  if (name.includes('/')) throw new CkptError('INVALID_REF_NAME', `invalid remote name "${name}": it may not contain "/"`, { details: { name, rule: 'slash' } })
}
