interface Waiting<K, V> {
  readonly key: K
  readonly resolve: (value: V | undefined) => void
  readonly reject: (err: unknown) => void
}

/**
 * Reads asked for in the same turn of the event loop (a checkpoint's channel values, a blob's
 * chunks read ahead, HEAD and the timeline it names) sent to the server as one call: one round
 * trip for all of them, and one snapshot.
 */
export class ReadBatcher<K, V> {
  #waiting: Waiting<K, V>[] = []

  /**
   * `read` fetches up to `perCall` keys at once and returns the values found by `idOf` of their
   * keys; a key it leaves out reads as undefined.
   */
  constructor(
    private readonly perCall: number,
    private readonly idOf: (key: K) => string,
    private readonly read: (keys: readonly K[]) => Promise<Map<string, V>>,
  ) {}

  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) queueMicrotask(() => this.#flush())
      this.#waiting.push({ key, resolve, reject })
    })
  }

  #flush(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (let i = 0; i < waiting.length; i += this.perCall) void this.#send(waiting.slice(i, i + this.perCall))
  }

  async #send(waiting: readonly Waiting<K, V>[]): Promise<void> {
    try {
      const found = await this.read(waiting.map((w) => w.key))
      for (const { key, resolve } of waiting) resolve(found.get(this.idOf(key)))
    } catch (err) {
      for (const { reject } of waiting) reject(err)
    }
  }
}
