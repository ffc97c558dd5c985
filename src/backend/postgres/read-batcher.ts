import type { Connection } from './connection.js'
import { bufferOf, hexOf } from './value-bytes.js'

/** Keys per call, and so at most this many values (chunks of up to 1 MiB) in one reply. */
const KEYS_PER_CALL = 32

interface Waiting {
  readonly key: Uint8Array
  readonly resolve: (value: Uint8Array | undefined) => void
  readonly reject: (err: unknown) => void
}

/**
 * Object reads asked for in the same turn of the event loop (a checkpoint's channel values, a
 * blob's chunks read ahead) sent as one call of `ckpt_get`: one round trip for all of them.
 */
export class ReadBatcher {
  #waiting: Waiting[] = []

  constructor(
    private readonly connection: Connection,
    private readonly getFunction: string,
  ) {}

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return new Promise((resolve, reject) => {
      if (this.#waiting.length === 0) queueMicrotask(() => this.#flush())
      this.#waiting.push({ key, resolve, reject })
    })
  }

  #flush(): void {
    const waiting = this.#waiting
    this.#waiting = []
    for (let i = 0; i < waiting.length; i += KEYS_PER_CALL) void this.#read(waiting.slice(i, i + KEYS_PER_CALL))
  }

  async #read(waiting: readonly Waiting[]): Promise<void> {
    try {
      const found = await this.connection.run('reading objects', async (client) => {
        const { rows } = await client.query<{ k: Buffer; v: Buffer }>({ name: this.getFunction, text: `SELECT k, v FROM ${this.getFunction}($1::bytea[])`, values: [waiting.map((w) => bufferOf(w.key))] })
        return new Map(rows.map((r) => [r.k.toString('hex'), r.v]))
      })
      for (const { key, resolve } of waiting) {
        const value = found.get(hexOf(key))
        resolve(value === undefined ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      }
    } catch (err) {
      for (const { reject } of waiting) reject(err)
    }
  }
}
