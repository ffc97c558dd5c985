import type { Store } from '../src/index.js'

/** What `/api/events` streams: a kind (the SSE event name) and its JSON payload. */
export interface ServerEvent {
  readonly type: 'checkpoint' | 'ref' | 'run' | 'task'
  readonly data: unknown
}

/** Fan-out of server events to every open event stream. */
export class EventHub {
  readonly #listeners = new Set<(event: ServerEvent) => void>()

  subscribe(listener: (event: ServerEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  publish(event: ServerEvent): void {
    for (const listener of this.#listeners) listener(event)
  }

  get listeners(): number {
    return this.#listeners.size
  }
}

/** Checkpoints walked back from a moved timeline to find those it gained; past this only its head is announced. */
const MAX_NEW_PER_MOVE = 200

/**
 * Watches a store for changes made by anyone, this server or other processes on any machine:
 * every `pollMs` it reads the timelines, tags and HEAD and the run-status pointers, and
 * publishes what moved. Polling works on every backend; a poll reads one listing per namespace
 * and only the run nodes that changed.
 */
export class StoreWatcher {
  readonly #store: Store
  readonly #hub: EventHub
  readonly #pollMs: number
  #refs = new Map<string, string>()
  #runs = new Map<string, string>()
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #stopped = false

  constructor(store: Store, hub: EventHub, pollMs: number) {
    this.#store = store
    this.#hub = hub
    this.#pollMs = pollMs
  }

  /** Takes the first snapshot (nothing is announced for what already exists), then polls. */
  async start(): Promise<void> {
    this.#refs = await this.#readRefs()
    this.#runs = await this.#readRuns()
    this.#schedule()
  }

  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#polling
  }

  /** Polls now rather than at the next tick (after this server changed the store itself). */
  poke(): void {
    if (this.#stopped || this.#polling) return
    clearTimeout(this.#timer)
    this.#tick()
  }

  #schedule(): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => this.#tick(), this.#pollMs)
    this.#timer.unref()
  }

  #tick(): void {
    this.#polling = this.#poll()
      .catch(() => undefined) // a store briefly unavailable is polled again at the next tick
      .finally(() => {
        this.#polling = undefined
        this.#schedule()
      })
  }

  async #poll(): Promise<void> {
    const refs = await this.#readRefs()
    for (const [ref, to] of refs) {
      const from = this.#refs.get(ref) ?? null
      if (from === to) continue
      if (!ref.startsWith('HEAD')) await this.#announceCheckpoints(from, to)
      this.#hub.publish({ type: 'ref', data: { ref, from, to } })
    }
    for (const [ref, from] of this.#refs) if (!refs.has(ref)) this.#hub.publish({ type: 'ref', data: { ref, from, to: null } })
    this.#refs = refs
    const runs = await this.#readRuns()
    for (const [name, node] of runs) {
      if (this.#runs.get(name) === node) continue
      const status = (await this.#store.getOutput(node)) as { runId?: unknown; status?: unknown; timeline?: unknown; jobId?: unknown }
      this.#hub.publish({ type: 'run', data: { type: 'run-status', runId: status.runId, status: status.status, timeline: status.timeline ?? null, jobId: status.jobId ?? null } })
    }
    this.#runs = runs
  }

  /**
   * The checkpoints a timeline or tag gained, oldest first: back to where it was, or for a new
   * one back to where it forked from a known timeline; only the new head past MAX_NEW_PER_MOVE.
   */
  async #announceCheckpoints(from: string | null, to: string): Promise<void> {
    const stop = from ?? (await this.#forkPoint(to))
    const gained = []
    for await (const checkpoint of this.#store.log(to, { limit: MAX_NEW_PER_MOVE })) {
      if (checkpoint.id === stop) break
      gained.push(checkpoint)
    }
    const reachedOld = gained.length < MAX_NEW_PER_MOVE
    const announced = reachedOld ? gained.reverse() : gained.slice(0, 1)
    for (const checkpoint of announced) this.#hub.publish({ type: 'checkpoint', data: checkpoint })
  }

  /** The newest checkpoint `id` shares with a timeline or tag already known (undefined: none). */
  async #forkPoint(id: string): Promise<string | undefined> {
    let best: { id: string; seq: number } | undefined
    for (const [ref, head] of this.#refs) {
      if (ref === 'HEAD') continue
      const base = await this.#store.mergeBase(id, head)
      if (base === undefined) continue
      if (base === id) return id
      const seq = (await this.#store.getCheckpoint(base)).seq
      if (!best || seq > best.seq) best = { id: base, seq }
    }
    return best?.id
  }

  async #readRefs(): Promise<Map<string, string>> {
    const [timelines, tags, head] = await Promise.all([this.#store.timelines.list(), this.#store.tags.list(), this.#store.head()])
    const refs = new Map<string, string>()
    for (const t of timelines) refs.set(`timelines/${t.name}`, t.head)
    for (const t of tags) refs.set(`tags/${t.name}`, t.target)
    refs.set('HEAD', head.detached ? (head.checkpoint ?? '') : `ref: timelines/${head.timeline ?? ''}`)
    return refs
  }

  async #readRuns(): Promise<Map<string, string>> {
    return new Map((await this.#store.index.list('run-status/')).map((e) => [e.name, e.value]))
  }
}
