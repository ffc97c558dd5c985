import type { Sweep } from './interface.js'

/** What a backend lends its sweep sessions: reads that bypass the gate, and the deletion itself. */
export interface SweepAccess {
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  delete(keys: readonly Uint8Array[]): Promise<{ deleted: number; bytes: number }>
}

interface Session {
  keys: Uint8Array[]
  refValues: string[]
}

/**
 * The part of the sweep contract every backend shares (interface.ts, `Sweep`): it records what
 * other callers touch while a sweep runs, holds them while the sweep deletes, and lets one sweep
 * run at a time. Backends call {@link SweepGate.enter} first thing in every object read, probe and
 * write and every ref update.
 */
export class SweepGate {
  #session: Session | undefined
  #held: Promise<void> | undefined
  #release: (() => void) | undefined
  #turn: Promise<void> = Promise.resolve()

  /**
   * Records `keys` and `refValues` as touched when a sweep is running. Returns undefined when the
   * caller may go on at once, or a promise to await when a sweep holds the store. Synchronous on
   * the fast path so that no call can slip between a sweep's `hold` and its `drain`.
   */
  enter(keys: readonly Uint8Array[], refValues: readonly (string | null)[] = []): Promise<void> | undefined {
    if (this.#held) return this.#waitThenEnter(keys, refValues)
    const session = this.#session
    if (session) {
      for (const key of keys) session.keys.push(Uint8Array.from(key))
      for (const value of refValues) if (value !== null) session.refValues.push(value)
    }
    return undefined
  }

  async #waitThenEnter(keys: readonly Uint8Array[], refValues: readonly (string | null)[]): Promise<void> {
    while (this.#held) await this.#held
    await this.enter(keys, refValues)
  }

  /** Runs `task` when no sweep (or other exclusive task, such as reclaiming space) is running. */
  async exclusive<T>(task: () => Promise<T>): Promise<T> {
    const done = await this.#takeTurn()
    try {
      return await task()
    } finally {
      done()
    }
  }

  async #takeTurn(): Promise<() => void> {
    const previous = this.#turn
    let done!: () => void
    this.#turn = new Promise<void>((resolve) => (done = resolve))
    await previous
    return done
  }

  /** Starts a sweep session once the previous one has ended. */
  async begin(access: SweepAccess): Promise<Sweep> {
    const done = await this.#takeTurn()
    const session: Session = { keys: [], refValues: [] }
    this.#session = session
    let ended = false
    let held = false
    const end = async () => {
      if (ended) return
      ended = true
      this.#session = undefined
      this.#held = undefined
      this.#release?.()
      this.#release = undefined
      done()
    }
    return {
      drain: async () => {
        const drained = { keys: session.keys, refValues: session.refValues }
        session.keys = []
        session.refValues = []
        return drained
      },
      get: (key) => access.get(key),
      hold: async () => {
        if (ended || held) return
        held = true
        this.#held = new Promise<void>((resolve) => (this.#release = resolve))
      },
      delete: async (keys) => {
        if (!held || ended) throw new Error('a sweep deletes only while it holds the store')
        return access.delete(keys)
      },
      end,
    }
  }
}
