/**
 * A cache of values that never go stale (parsed ids, decoded immutable nodes, names found valid,
 * values this process alone writes). Once it holds `limit` entries it forgets them all and
 * starts again: for such values that costs only reading some again, it keeps memory bounded,
 * and a hit costs no more than a plain Map's, which matters on paths taken once per link or
 * per commit.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(readonly limit: number) {
    super()
  }

  override set(key: K, value: V): this {
    if (this.size >= this.limit) this.clear()
    return super.set(key, value)
  }
}
