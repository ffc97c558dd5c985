import { NO_CAPABILITIES, type Backend, type KeyRange, type ObjectEntry, type ObjectStore, type RefEntry, type RefStore, type RefUpdate, type RefUpdateResult, type ReflogEntry, type ScratchStore, type Sweep } from './interface.js'
import { compareBytes, inRange } from './bytes.js'
import { SweepGate } from './sweep-gate.js'

/** A backend that keeps everything in this process's memory: for tests, and short-lived stores. */
export function createMemoryBackend(): Backend {
  const gate = new SweepGate()
  const objects = new MemoryObjects(gate)
  return {
    description: 'memory',
    // Nothing to reclaim or check, no sync to defer, no other process to serve.
    supports: { ...NO_CAPABILITIES, forgetWrites: true, scratch: true, batchedReads: true },
    objects,
    refs: new MemoryRefs(objects, gate),
    scratch: memoryScratch(),
    async close() {},
  }
}

/** The scratch space: a map, outside the object keyspace and the sweep gate. */
function memoryScratch(): ScratchStore {
  const values = new Map<string, Uint8Array>()
  return {
    get: async (key) => {
      const value = values.get(keyOf(key))
      return value && Uint8Array.from(value)
    },
    put: async (key, value) => void values.set(keyOf(key), Uint8Array.from(value)),
    delete: async (key) => void values.delete(keyOf(key)),
  }
}

const keyOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')

class MemoryObjects implements ObjectStore {
  readonly #values = new Map<string, Uint8Array>()
  /** When each key was last written (ms). */
  readonly #written = new Map<string, number>()

  constructor(private readonly gate: SweepGate) {}

  get(key: Uint8Array): Promise<Uint8Array | undefined> {
    return this.gate.run([key], [], async () => this.#read(key))
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return this.gate.run(keys, [], async () => keys.map((key) => this.#read(key)))
  }

  #read(key: Uint8Array): Uint8Array | undefined {
    const value = this.#values.get(keyOf(key))
    return value && Uint8Array.from(value)
  }

  has(keys: readonly Uint8Array[]): Promise<boolean[]> {
    return this.gate.run(keys, [], async () => keys.map((key) => this.#values.has(keyOf(key))))
  }

  putMany(entries: readonly ObjectEntry[]): Promise<void> {
    return this.gate.run(
      entries.map((e) => e.key),
      [],
      async () => this.store(entries),
    )
  }

  holds(key: Uint8Array): boolean {
    return this.#values.has(keyOf(key))
  }

  /** Stores without passing the gate (for a ref update, which has passed it already). */
  store(entries: readonly ObjectEntry[]): void {
    const now = Date.now()
    for (const { key, value } of entries) {
      this.#values.set(keyOf(key), Uint8Array.from(value))
      this.#written.set(keyOf(key), now)
    }
  }

  async sizes(keys: readonly Uint8Array[]): Promise<Array<number | undefined>> {
    return keys.map((key) => this.#values.get(keyOf(key))?.length)
  }

  async *writtenSince(since: number): AsyncIterable<Uint8Array> {
    const young = [...this.#written].filter(([, time]) => time >= since)
    for (const [key] of young) yield new Uint8Array(Buffer.from(key, 'latin1'))
  }

  async forgetWritesBefore(before: number): Promise<void> {
    for (const [key, time] of this.#written) if (time < before) this.#written.delete(key)
  }

  beginSweep(): Promise<Sweep> {
    return this.gate.begin({
      get: async (key) => this.#read(key),
      delete: async (keys) => {
        let deleted = 0
        let bytes = 0
        for (const key of keys) {
          const value = this.#values.get(keyOf(key))
          if (value === undefined) continue
          deleted++
          bytes += value.length
          this.#values.delete(keyOf(key))
          this.#written.delete(keyOf(key))
        }
        return { deleted, bytes }
      },
    })
  }

  async *keys(range: KeyRange = {}): AsyncIterable<Uint8Array> {
    const all = [...this.#values.keys()].map((k) => new Uint8Array(Buffer.from(k, 'latin1'))).sort(compareBytes)
    for (const key of all) if (inRange(key, range)) yield key
  }
}

class MemoryRefs implements RefStore {
  readonly #refs = new Map<string, string>()
  readonly #logs = new Map<string, ReflogEntry[]>()

  constructor(
    private readonly objects: MemoryObjects,
    private readonly gate: SweepGate,
  ) {}

  async readRef(name: string): Promise<string | undefined> {
    return this.#refs.get(name)
  }

  async listRefs(prefix: string): Promise<RefEntry[]> {
    return [...this.#refs.entries()]
      .filter(([name]) => name.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, value]) => ({ name, value }))
  }

  updateRefs(updates: readonly RefUpdate[], objects: readonly ObjectEntry[] = [], requires: ReadonlyArray<readonly Uint8Array[]> = []): Promise<RefUpdateResult> {
    return this.gate.run(
      [...objects.map((o) => o.key), ...requires.flat()],
      updates.map((u) => u.value),
      async () => this.#applyUpdates(updates, objects, requires),
    )
  }

  #applyUpdates(updates: readonly RefUpdate[], objects: readonly ObjectEntry[], requires: ReadonlyArray<readonly Uint8Array[]>): RefUpdateResult {
    const missing = requires.find((group) => !group.some((key) => this.objects.holds(key) || objects.some((o) => Buffer.compare(o.key, key) === 0)))
    if (missing) return { ok: false, missing }
    // Objects first; the check and the moves below then run without yielding, so they are atomic.
    this.objects.store(objects)
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

  async expireReflog(name: string, before: number, values: readonly string[] = []): Promise<number> {
    const entries = this.#logs.get(name) ?? []
    const kept = entries.filter((e) => e.time >= before && !(e.new !== null && values.includes(e.new)))
    if (kept.length === 0 && !this.#refs.has(name)) this.#logs.delete(name)
    else this.#logs.set(name, kept)
    return entries.length - kept.length
  }
}
