import type { ClassicLevel } from 'classic-level'
import { CkptError } from '../../errors.js'
import { Journal, journalError, type BatchOp } from './journal.js'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** Past this size the journal is emptied before more is appended, so a restart replays little. */
const JOURNAL_LIMIT = 8 * 1024 * 1024
/**
 * Journaled batches are applied to LevelDB together, this long after the first of them or once
 * they add up to FLUSH_BYTES: each LevelDB write costs the main thread tens of microseconds.
 */
const FLUSH_DELAY_MS = 5
const FLUSH_BYTES = 1024 * 1024

/*
 * Every write to the LevelDB goes through one WriteQueue. Without the journal (fsync durability)
 * a write is a LevelDB batch. With it, a write is appended to the journal and acknowledged at
 * once: LevelDB's batch writes go through its worker threads, and that hop cost a small commit
 * more time than all of the commit's own work (docs/performance.md). The journaled batches are
 * applied to LevelDB in the background, several at a time, and until then reads find them in
 * an overlay, so the process that holds the database always reads its own writes.
 *
 * Order: a journaled batch reaches LevelDB after every batch acknowledged before it. A direct
 * write (a synced one) first empties the journal, and holds new appends back until then, so a
 * replay can never put an older value over it.
 */
export class WriteQueue {
  readonly #overlay = new Map<string, { value: Uint8Array | undefined; seq: number }>()
  #pending: Array<{ seq: number; ops: readonly BatchOp[] }> = []
  #seq = 0
  /** The last seq whose batch is in LevelDB. */
  #appliedSeq = 0
  #chain: Promise<void> = Promise.resolve()
  #flushQueued = false
  #appendsHeld = 0
  #failure: Error | undefined
  #closed = false
  #pendingBytes = 0
  #flushTimer: NodeJS.Timeout | undefined

  private constructor(
    private readonly db: Db,
    private readonly journal: Journal | undefined,
  ) {}

  /**
   * A queue over `db`, journaled at `journalPath` when one is given. Batches a previous holder of
   * the database journaled but did not apply are applied first.
   */
  static async open(db: Db, journalPath: string | undefined): Promise<WriteQueue> {
    if (journalPath === undefined) return new WriteQueue(db, undefined)
    const { journal, batches } = Journal.open(journalPath)
    try {
      if (batches.length > 0) {
        await writeOps(db, batches.flat(), false)
        journal.clear()
      }
    } catch (err) {
      journal.close()
      throw journalError(err)
    }
    return new WriteQueue(db, journal)
  }

  /** Applies `ops` atomically. Returns once they survive the process dying, or with `sync` power loss too. */
  async write(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    if (this.#closed) throw new CkptError('STORE_CLOSED', 'the store is closed')
    if (this.#failure) throw this.#failure
    if (!this.journal || sync) return this.#direct(ops, sync)
    while (this.#appendsHeld > 0 || this.journal.size >= JOURNAL_LIMIT) await this.settled()
    if (this.#closed) throw new CkptError('STORE_CLOSED', 'the store is closed')
    const sizeBefore = this.journal.size
    try {
      this.journal.append(ops)
    } catch (err) {
      throw journalError(err)
    }
    const seq = ++this.#seq
    // Copies: the caller may reuse its buffers, and a reader may change what it is given.
    for (const op of ops) this.#overlay.set(overlayKey(op.key), { value: op.type === 'put' ? op.value.slice() : undefined, seq })
    this.#pending.push({ seq, ops })
    this.#pendingBytes += this.journal.size - sizeBefore
    this.#scheduleFlush()
    // A journaled write never leaves the microtask queue; without this a loop of them would starve
    // the event loop, and with it the socket other processes read the store through.
    await new Promise((resolve) => setImmediate(resolve))
  }

  /** The value at `key`, including writes not yet applied to LevelDB. */
  get(key: Uint8Array): Uint8Array | undefined {
    if (this.#overlay.size > 0) {
      const entry = this.#overlay.get(overlayKey(key))
      if (entry) return entry.value?.slice()
    }
    return this.db.getSync(key)
  }

  /** Which of `keys` have a value, including writes not yet applied to LevelDB. */
  async hasMany(keys: readonly Uint8Array[]): Promise<boolean[]> {
    const known = keys.map((key) => (this.#overlay.size > 0 ? this.#overlay.get(overlayKey(key)) : undefined))
    const unknown = keys.filter((_, i) => known[i] === undefined)
    const found = unknown.length === 0 ? [] : await this.db.hasMany(unknown)
    let next = 0
    return known.map((entry) => (entry ? entry.value !== undefined : found[next++] === true))
  }

  /**
   * Resolves once everything acknowledged before the call is in LevelDB, so that iterators and
   * range deletes, which read LevelDB alone, see it.
   */
  settled(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#appliedSeq === this.#seq) return Promise.resolve()
    return this.#enqueue(() => this.#flush())
  }

  /** Applies what is journaled, then empties the journal. */
  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#flushTimer)
    if (!this.journal) return
    try {
      if (!this.#failure) await this.settled()
    } finally {
      this.journal.close()
    }
  }

  #scheduleFlush(): void {
    if (this.#flushQueued) return
    const queue = () => {
      clearTimeout(this.#flushTimer)
      this.#flushTimer = undefined
      this.#flushQueued = true
      this.#enqueue(() => {
        this.#flushQueued = false
        return this.#flush()
      }).catch(() => undefined)
    }
    if (this.#pendingBytes >= FLUSH_BYTES) queue()
    else this.#flushTimer ??= setTimeout(queue, FLUSH_DELAY_MS).unref()
  }

  #direct(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    this.#appendsHeld++
    return this.#enqueue(async () => {
      try {
        while (this.#pending.length > 0 || (this.journal?.size ?? 0) > 0) await this.#flush()
        await writeOps(this.db, ops, sync)
      } finally {
        this.#appendsHeld--
      }
    })
  }

  /** Applies every pending batch to LevelDB in one batch; empties the journal once nothing is pending. */
  async #flush(): Promise<void> {
    const batch = this.#pending
    if (batch.length === 0) {
      if (this.journal && this.journal.size > 0) this.#clearJournal()
      return
    }
    this.#pending = []
    const pendingBytes = this.#pendingBytes
    this.#pendingBytes = 0
    try {
      await writeOps(
        this.db,
        batch.flatMap((b) => b.ops),
        false,
      )
    } catch (err) {
      // Acknowledged batches stay in the journal and the overlay; the next open applies them.
      this.#pending = [...batch, ...this.#pending]
      this.#pendingBytes += pendingBytes
      this.#failure = journalError(err)
      throw this.#failure
    }
    const last = batch[batch.length - 1]!.seq
    this.#appliedSeq = last
    for (const { ops } of batch) {
      for (const op of ops) {
        const key = overlayKey(op.key)
        if ((this.#overlay.get(key)?.seq ?? Infinity) <= last) this.#overlay.delete(key)
      }
    }
    if (this.#pending.length === 0) this.#clearJournal()
  }

  #clearJournal(): void {
    try {
      this.journal?.clear()
    } catch (err) {
      this.#failure = journalError(err)
      throw this.#failure
    }
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(task)
    this.#chain = run.catch(() => undefined)
    return run
  }
}

const overlayKey = (key: Uint8Array): string => Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1')

/** Writes `ops` as one LevelDB batch. The chained form measured ~8% faster per commit than `db.batch(array)`. */
export async function writeOps(db: Db, ops: readonly BatchOp[], sync: boolean): Promise<void> {
  const batch = db.batch()
  try {
    for (const op of ops) {
      if (op.type === 'put') batch.put(op.key, op.value)
      else batch.del(op.key)
    }
  } catch (err) {
    await batch.close()
    throw err
  }
  await batch.write({ sync })
}
