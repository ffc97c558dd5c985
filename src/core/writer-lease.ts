import { randomUUID } from 'node:crypto'
import { CkptError, isCkptError } from '../errors.js'
import { META_PREFIX, type RefMove } from '../refs/refdb.js'
import type { StoreContext } from './context.js'

/**
 * A writer's registration: while it holds one, gc keeps every object written since it began
 * (docs/maintenance.md, "Writers that stream"). It is a ref, `meta/writers/<id>` = "<start> <beat>"
 * (ms), so every process sharing the store, and a backend whose writers are on other machines,
 * sees it. The writer renews it; gc treats a lease not renewed within LEASE_MS as dead and
 * deletes it, and the writer's closing ref update expects its value, so a writer whose lease gc
 * took cannot acknowledge a commit.
 */
export const WRITER_PREFIX = `${META_PREFIX}writers/`
export const LEASE_MS = 60_000
const RENEW_MS = 10_000
/** Clocks of processes that share a store may disagree by this much. */
export const CLOCK_MARGIN_MS = 5_000

export class WriterLease {
  #value: string
  #renewing: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #lost = false

  private constructor(
    private readonly ctx: StoreContext,
    readonly ref: string,
    private readonly start: number,
  ) {
    this.#value = `${start} ${start}`
  }

  static async take(ctx: StoreContext): Promise<WriterLease> {
    const lease = new WriterLease(ctx, WRITER_PREFIX + randomUUID(), Date.now())
    await ctx.refs.update([{ ref: lease.ref, expected: null, value: lease.#value }], 'writer: started')
    lease.#timer = setInterval(() => (lease.#renewing = lease.#renewing.then(() => lease.#renew())), RENEW_MS)
    lease.#timer.unref()
    return lease
  }

  async #renew(): Promise<void> {
    if (this.#lost) return
    const value = `${this.start} ${Date.now()}`
    try {
      await this.ctx.refs.update([{ ref: this.ref, expected: this.#value, value }], 'writer: alive')
      this.#value = value
    } catch (err) {
      if (isCkptError(err, 'REF_CONFLICT')) this.#lost = true
    }
  }

  /** Stops renewing; the move that releases the lease, to go in the writer's closing ref update. */
  async closing(): Promise<RefMove> {
    clearInterval(this.#timer)
    await this.#renewing
    if (this.#lost) throw lostLease()
    return { ref: this.ref, expected: this.#value, value: null }
  }

  /** Whether gc took the lease (judged it dead): what was written under it may be gone. */
  async wasTaken(): Promise<boolean> {
    return (await this.ctx.refs.read(this.ref)) === undefined
  }

  /** Releases the lease on its own (the writer ends without a ref update of its own). */
  async release(): Promise<void> {
    const move = await this.closing().catch(() => undefined)
    if (move) await this.ctx.refs.update([move], 'writer: done').catch(() => undefined)
  }
}

export function lostLease(): CkptError {
  return new CkptError('REF_CONFLICT', 'this write took longer than its lease and gc may have removed what it wrote; nothing was recorded: write it again')
}

/**
 * The earliest start among live writers' leases, to keep everything written since; deletes the
 * leases not renewed within LEASE_MS (their writers died or stalled), so those writers can no
 * longer acknowledge anything.
 */
export async function earliestLiveWriter(ctx: StoreContext, now = Date.now()): Promise<number | undefined> {
  let earliest: number | undefined
  for (const { name, value } of await ctx.refs.listRaw(WRITER_PREFIX)) {
    const [start, beat] = value.split(' ').map(Number)
    if (start !== undefined && beat !== undefined && Number.isFinite(start) && now - beat <= LEASE_MS) {
      earliest = Math.min(earliest ?? Infinity, start - CLOCK_MARGIN_MS)
      continue
    }
    const taken = await ctx.refs.update([{ ref: name, expected: value, value: null }], 'gc: writer lease expired').then(
      () => true,
      (err: unknown) => {
        if (!isCkptError(err, 'REF_CONFLICT')) throw err
        return false
      },
    )
    // Renewed (or released) meanwhile: count it as live, which keeps more than needed, never less.
    if (!taken && start !== undefined && Number.isFinite(start)) earliest = Math.min(earliest ?? Infinity, start - CLOCK_MARGIN_MS)
  }
  return earliest
}
