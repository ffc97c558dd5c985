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

/** One object or ref call: what it touches. */
interface Call {
  readonly keys: readonly Uint8Array[]
  readonly refValues: readonly (string | null)[]
}

/**
 * The part of the sweep contract every backend shares (interface.ts, `Sweep`): it records what
 * other callers touch while a sweep runs, holds them while the sweep deletes, and lets one sweep
 * run at a time. Backends run every object read, probe and write and every ref update through
 * {@link SweepGate.run}.
 */
export class SweepGate {
  #session: Session | undefined
  #held: Promise<void> | undefined
  #release: (() => void) | undefined
  #turn: Promise<void> = Promise.resolve()
  /**
   * Calls that passed the gate and have not settled. A sweep that begins meanwhile counts their
   * touches too: such a call may move a ref after the collector read the refs.
   */
  readonly #underWay = new Set<Call>()

  /**
   * Runs `task`, the call itself, once no sweep holds the store; its `keys` and `refValues` count
   * as touched by a sweep running now or beginning before the task settles. Passing the gate is
   * synchronous when nothing holds it, so that no call can slip between a sweep's `hold` and its
   * `drain`.
   */
  run<T>(keys: readonly Uint8Array[], refValues: readonly (string | null)[], task: () => Promise<T>): Promise<T> {
    if (this.#held) return this.#waitThenRun(keys, refValues, task)
    const call: Call = { keys, refValues }
    if (this.#session) record(this.#session, call)
    this.#underWay.add(call)
    const settled = () => void this.#underWay.delete(call)
    let running: Promise<T>
    try {
      running = task()
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(settled, settled)
    return running
  }

  async #waitThenRun<T>(keys: readonly Uint8Array[], refValues: readonly (string | null)[], task: () => Promise<T>): Promise<T> {
    while (this.#held) await this.#held
    return this.run(keys, refValues, task)
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
    for (const call of this.#underWay) record(session, call)
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

function record(session: Session, call: Call): void {
  for (const key of call.keys) session.keys.push(Uint8Array.from(key))
  for (const value of call.refValues) if (value !== null) session.refValues.push(value)
}
