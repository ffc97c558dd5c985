/**
 * Answers the server may give again without asking the store: a checkpoint's report and a log
 * page walked from resolved checkpoint ids. History is content-addressed, so these change only
 * when retention and gc cut a history (a parent goes, `historyCut` appears). Entries live for
 * `ttlMs` at most, so such a change shows within seconds. Bounded: the oldest entry goes first.
 */
export class ResponseCache {
  readonly #entries = new Map<string, { readonly json: string; readonly until: number }>()

  constructor(
    private readonly maxEntries = 500,
    private readonly ttlMs = 5_000,
  ) {}

  /** The cached JSON text for `key`, or `build()`'s value serialized (and kept). */
  async json(key: string, build: () => Promise<unknown>): Promise<string> {
    const now = Date.now()
    const hit = this.#entries.get(key)
    if (hit && hit.until > now) return hit.json
    const json = JSON.stringify(await build())
    this.#entries.delete(key)
    this.#entries.set(key, { json, until: now + this.ttlMs })
    if (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string)
    return json
  }

  clear(): void {
    this.#entries.clear()
  }
}
