import type { StoreContext } from '../core/context.js'
import { META_PREFIX } from '../refs/refdb.js'

/** Like git's gc.reflogExpire. */
export const DEFAULT_REFLOG_EXPIRE_MS = 90 * 24 * 3600 * 1000

/**
 * Deletes reflog entries older than `before` from `refs` (full ref names; default every reflog
 * but the store's own settings'). What only those entries reached becomes collectable, and a
 * deleted timeline whose log is gone can no longer be restored.
 */
export async function expireReflogs(ctx: StoreContext, before: number, refs?: readonly string[]): Promise<{ refs: number; entries: number }> {
  const names = refs ?? (await ctx.refs.listReflogNames('')).filter((name) => !name.startsWith(META_PREFIX))
  let entries = 0
  let touched = 0
  for (const name of names) {
    const removed = await ctx.refs.expireReflog(name, before)
    entries += removed
    if (removed > 0) touched++
  }
  return { refs: touched, entries }
}
