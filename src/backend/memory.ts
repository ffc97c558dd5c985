import type { Backend, KeyRange, ObjectEntry, ObjectStore, RefEntry, RefStore, RefUpdate, RefUpdateResult, ReflogEntry } from './interface.js'
import { compareBytes, inRange } from './bytes.js'

/** A backend that keeps everything in this process's memory: for tests, and short-lived stores. */
export function createMemoryBackend(): Backend {
  const objects = new MemoryObjects()
  return {
    description: 'memory',
    objects,
    refs: new MemoryRefs(objects),
    async close() {},
  }
}

const keyOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')

class MemoryObjects implements ObjectStore {
  readonly #values = new Map<string, Uint8Array>()

  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    const value = this.#values.get(keyOf(key))
    return value && Uint8Array.from(value)
  }

  async has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    return keys.map((key) => this.#values.has(keyOf(key)))
  }

  async putMany(entries: readonly ObjectEntry[]): Promise<void> {
    for (const { key, value } of entries) this.#values.set(keyOf(key), Uint8Array.from(value))
  }

  async *keys(range: KeyRange = {}): AsyncIterable<Uint8Array> {
    const all = [...this.#values.keys()].map((k) => new Uint8Array(Buffer.from(k, 'latin1'))).sort(compareBytes)
    for (const key of all) if (inRange(key, range)) yield key
  }
}

class MemoryRefs implements RefStore {
  readonly #refs = new Map<string, string>()
  readonly #logs = new Map<string, ReflogEntry[]>()

  constructor(private readonly objects: ObjectStore) {}

  async readRef(name: string): Promise<string | undefined> {
    return this.#refs.get(name)
  }

  async listRefs(prefix: string): Promise<RefEntry[]> {
    return [...this.#refs.entries()]
      .filter(([name]) => name.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value }))
  }

  async updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = []): Promise<RefUpdateResult> {
    // Objects first; the check and the moves below then run without yielding, so they are atomic.
    await this.objects.putMany(objects)
    for (const { name, expected } of updates) {
      const actual = this.#refs.get(name) ?? null
      if (actual !== expected) return { ok: false, name, actual }
    }
    for (const { name, expected, value, log } of updates) {
      if (value === null) this.#refs.delete(name)
      else this.#refs.set(name, value)
      const entries = this.#logs.get(name) ?? []
      entries.push({ old: expected, new: value, time: log.time, reason: log.reason })
      this.#logs.set(name, entries)
    }
    return { ok: true }
  }

  async readReflog(name: string, options: { newestFirst?: boolean; limit?: number } = {}): Promise<ReflogEntry[]> {
    const entries = [...(this.#logs.get(name) ?? [])]
    if (options.newestFirst) entries.reverse()
    return entries.slice(0, options.limit ?? entries.length)
  }

  async listReflogs(prefix: string): Promise<string[]> {
    return [...this.#logs.keys()].filter((name) => name.startsWith(prefix)).sort()
  }
}
