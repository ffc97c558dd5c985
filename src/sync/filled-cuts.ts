import type { StoreContext } from '../core/context.js'
import { isCkptError } from '../errors.js'
import { type CID, cidString, tryParseCid } from '../model/cid.js'
import { CUT_PREFIX } from '../refs/refdb.js'
import { checkClosure } from './closure.js'

/**
 * Watches an import for the history below recorded cuts. A cut says "the parents here are gone";
 * once an import brings those parents back whole, `log` shows them again, so the cut must go:
 * otherwise gc would stop at it and delete history `log` shows (docs/maintenance.md).
 */
export class FilledCuts {
  /** Parent id → the cut checkpoints it is a parent of. */
  readonly #watched = new Map<string, string[]>()
  readonly #carried = new Set<string>()

  static async watch(ctx: StoreContext): Promise<FilledCuts> {
    const watch = new FilledCuts()
    for (const id of await ctx.refs.cuts()) {
      const cid = tryParseCid(id)
      if (!cid || !(await ctx.objects.has(cid))) continue
      for (const parent of (await ctx.loadCheckpoint(cid)).parents) {
        const key = cidString(parent)
        watch.#watched.set(key, [...(watch.#watched.get(key) ?? []), id])
      }
    }
    return watch
  }

  /** Notes a block the import carries. */
  saw(cid: CID): void {
    if (this.#watched.size === 0) return
    const cuts = this.#watched.get(cidString(cid))
    for (const cut of cuts ?? []) this.#carried.add(cut)
  }

  /** Removes each cut whose parents the import carried and whose parents' closures are now whole. */
  async lift(ctx: StoreContext, why: string): Promise<string[]> {
    const lifted: string[] = []
    for (const id of this.#carried) {
      const cid = tryParseCid(id)!
      const parents = (await ctx.loadCheckpoint(cid)).parents
      try {
        await checkClosure(ctx, parents)
      } catch (err) {
        if (isCkptError(err, 'NOT_FOUND')) continue
        throw err
      }
      await ctx.refs.update([{ ref: CUT_PREFIX + id, expected: id, value: null }], `${why}: history below the cut imported`).catch((err: unknown) => {
        if (!isCkptError(err, 'REF_CONFLICT')) throw err
      })
      lifted.push(id)
    }
    return lifted
  }
}
