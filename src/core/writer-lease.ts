import { randomUUID } from 'node:crypto'
import { CkptError, isCkptError } from '../errors.js'
import { META_PREFIX, type RefMove } from '../refs/refdb.js'
import type { StoreContext } from './context.js'

/**
 * A writer's registration: while it holds one, gc keeps every object written since it began
 * (docs/maintenance.md, "Writers that stream"). It is a ref, `meta/writers/<id>` =
 * "<start> <beat> <lease>" (ms), so every process sharing the store, and a backend whose writers
 * are on other machines, sees it. The writer renews it six times per lease; gc treats a lease not
 * renewed within its own length as dead and deletes it, and the writer's closing ref update
 * expects its value, so a writer whose lease gc took cannot acknowledge a commit. A lease leaves
 * no history: each renewal drops the entry of the one before, and the writer, or gc, drops the
 * log of a lease that is gone.
 */
export const WRITER_PREFIX = `${META_PREFIX}writers/`
export const DEFAULT_LEASE_MS = 60_000
const MIN_LEASE_MS = 100
const RENEWALS_PER_LEASE = 6
/** Clocks of processes that share a store may disagree by this much. */
export const CLOCK_MARGIN_MS = 5_000
/** A `before` for expireReflog that every entry is older than. */
const EVERY_ENTRY = Number.MAX_SAFE_INTEGER

/** The length of the leases this process takes: CKPT_WRITER_LEASE_MS (ms), or 60 s. */
export function leaseMs(): number {
  const given = process.env.CKPT_WRITER_LEASE_MS
  if (given === undefined || given === '') return DEFAULT_LEASE_MS
  const ms = Number(given)
  if (!Number.isSafeInteger(ms) || ms < MIN_LEASE_MS) {
    throw new CkptError('INVALID_ARGUMENT', `CKPT_WRITER_LEASE_MS is "${given}": give a whole number of milliseconds, at least ${MIN_LEASE_MS}`, {
      details: { value: given },
    })
  }
  return ms
}

export class WriterLease {
  #value: string
  #renewing: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined
  #lost = false

  private constructor(
    private readonly ctx: StoreContext,
    readonly ref: string,
    private readonly start: number,
    private readonly length: number,
  ) {
    this.#value = leaseValue(start, start, length)
  }

  static async take(ctx: StoreContext): Promise<WriterLease> {
    const lease = new WriterLease(ctx, WRITER_PREFIX + randomUUID(), Date.now(), leaseMs())
    await ctx.refs.update([{ ref: lease.ref, expected: null, value: lease.#value }], 'writer: started')
    lease.#timer = setInterval(() => (lease.#renewing = lease.#renewing.then(() => lease.#renew())), Math.floor(lease.length / RENEWALS_PER_LEASE))
    lease.#timer.unref()
    return lease
  }

  async #renew(): Promise<void> {
    if (this.#lost) return
    const before = this.#value
    const value = leaseValue(this.start, Date.now(), this.length)
    try {
      await this.ctx.refs.update([{ ref: this.ref, expected: before, value }], 'writer: alive')
      this.#value = value
    } catch (err) {
      if (isCkptError(err, 'REF_CONFLICT')) this.#lost = true
      return
    }
    // Only the latest beat matters: a stream of hours would otherwise log hundreds of them.
    await this.ctx.refs.expireReflog(this.ref, 0, [before]).catch(() => undefined)
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

  /** Releases the lease if the writer's own ref update did not, then drops the lease's log. */
  async release(): Promise<void> {
    const move = await this.closing().catch(() => undefined)
    if (move && (await this.ctx.refs.read(this.ref)) !== undefined) await this.ctx.refs.update([move], 'writer: done').catch(() => undefined)
    if ((await this.ctx.refs.read(this.ref).catch(() => '')) === undefined) await this.ctx.refs.expireReflog(this.ref, EVERY_ENTRY).catch(() => undefined)
  }
}

const leaseValue = (start: number, beat: number, length: number) => `${start} ${beat} ${length}`

export function lostLease(): CkptError {
  return new CkptError('REF_CONFLICT', 'this write took longer than its lease and gc may have removed what it wrote; nothing was recorded: write it again')
}

/**
 * The earliest start among live writers' leases, to keep everything written since. Leases not
 * renewed within their length (their writers died or stalled) do not count; with `take`, gc
 * deletes them and their logs, so those writers can no longer acknowledge anything.
 */
export async function earliestLiveWriter(ctx: StoreContext, { take }: { take: boolean }, now = Date.now()): Promise<number | undefined> {
  let earliest: number | undefined
  const keepSince = (start: number) => (earliest = Math.min(earliest ?? Infinity, start - CLOCK_MARGIN_MS))
  for (const { name, value } of await ctx.refs.listRaw(WRITER_PREFIX)) {
    // A lease written before leases carried their length lasts the default.
    const [start, beat, length = DEFAULT_LEASE_MS] = value.split(' ').map(Number)
    const valid = start !== undefined && Number.isFinite(start)
    if (valid && beat !== undefined && now - beat <= length) {
      keepSince(start)
      continue
    }
    if (!take) continue
    const taken = await ctx.refs.update([{ ref: name, expected: value, value: null }], 'gc: writer lease expired').then(
      () => true,
      (err: unknown) => {
        if (!isCkptError(err, 'REF_CONFLICT')) throw err
        return false
      },
    )
    // Renewed (or released) meanwhile: count it as live, which keeps more than needed, never less.
    if (!taken && valid) keepSince(start)
    // Its writer's closing update expects the lease, so nothing will read this log again.
    if (taken) await ctx.refs.expireReflog(name, EVERY_ENTRY)
  }
  return earliest
}

/**
 * Drops the logs of leases that are gone (a writer that died between its closing update and
 * dropping the log leaves one). A log is dropped once its entries are a lease length old, since a
 * writer retrying its closing update after losing the process holding the database reads it.
 */
export async function forgetEndedLeases(ctx: StoreContext, now = Date.now()): Promise<void> {
  const live = new Set((await ctx.refs.listRaw(WRITER_PREFIX)).map((lease) => lease.name))
  for (const name of await ctx.refs.listReflogNames(WRITER_PREFIX)) {
    if (!live.has(name)) await ctx.refs.expireReflog(name, now - DEFAULT_LEASE_MS)
  }
}
