import type { StoreContext } from '../core/context.js'
import { isValidRefName } from '../refs/names.js'
import { tagRef, timelineRef } from '../refs/refdb.js'
import type { CID } from '../model/cid.js'
import type { ExportSelection } from './car.js'

/**
 * Resolves export arguments: `REV` exports REV's whole history, `A..B` only what B has that A
 * lacks. A REV (or B) that is a timeline or tag name carries that name along.
 */
export async function selectForExport(ctx: StoreContext, revisions: readonly string[]): Promise<ExportSelection> {
  const heads: Array<{ id: CID; ref?: string }> = []
  const exclude: CID[] = []
  for (const revision of revisions) {
    const [from, to] = revision.includes('..') ? (revision.split('..', 2) as [string, string]) : [undefined, revision]
    if (from !== undefined) exclude.push(await ctx.resolveCheckpointId(from))
    const id = await ctx.resolveCheckpointId(to)
    const ref = await refNamed(ctx, to)
    heads.push({ id, ...(ref !== undefined && { ref }) })
  }
  return { heads, exclude }
}

async function refNamed(ctx: StoreContext, name: string): Promise<string | undefined> {
  if (!isValidRefName(name)) return undefined
  for (const ref of [timelineRef(name), tagRef(name)]) if ((await ctx.refs.read(ref)) !== undefined) return ref
  return undefined
}
