import { checkRefName } from '../refs/names.js'
import type { RefDb } from '../refs/refdb.js'
import { INDEX_PREFIX } from '../refs/refdb.js'

/**
 * Named pointers to object ids, moved by compare-and-swap like refs but outside the
 * timeline and tag namespaces: tools built on ckpt (the pipeline runtime's run and input-key
 * indexes, an agent framework's threads) keep their lookups here. Names follow ref-name rules.
 */
export class StoreIndex {
  constructor(
    private readonly refs: RefDb,
    private readonly assertOpen: () => void,
  ) {}

  async get(name: string): Promise<string | undefined> {
    this.assertOpen()
    checkRefName(name, 'index name')
    return this.refs.read(INDEX_PREFIX + name)
  }

  /**
   * Points `name` at `value` if it currently holds `expected` (null: must not exist; a null
   * `value` deletes it). REF_CONFLICT otherwise.
   */
  async swap(name: string, expected: string | null, value: string | null, reason = 'index'): Promise<void> {
    this.assertOpen()
    checkRefName(name, 'index name')
    await this.refs.update([{ ref: INDEX_PREFIX + name, expected, value }], reason)
  }

  /**
   * Several pointers moved in one atomic step, each as {@link swap} moves one: all move, or none
   * does (REF_CONFLICT naming the first that was not where expected).
   */
  async swapMany(moves: ReadonlyArray<{ readonly name: string; readonly expected: string | null; readonly value: string | null }>, reason = 'index'): Promise<void> {
    this.assertOpen()
    for (const move of moves) checkRefName(move.name, 'index name')
    await this.refs.update(
      moves.map((m) => ({ ref: INDEX_PREFIX + m.name, expected: m.expected, value: m.value })),
      reason,
    )
  }

  /** Every name under `prefix` with its value, sorted. */
  async list(prefix = ''): Promise<Array<{ name: string; value: string }>> {
    this.assertOpen()
    return (await this.refs.listRaw(INDEX_PREFIX + prefix)).map((e) => ({ name: e.name.slice(INDEX_PREFIX.length), value: e.value }))
  }
}

