import type { StoreContext } from '../core/context.js'
import { CkptError } from '../errors.js'
import { moveRef } from './car.js'
import { TRACKING_PREFIX } from '../refs/refdb.js'
import { REMOTE_CONFIG_PREFIX, checkRemoteName, timelinesOf, transfer, updateTracking, type TransferResult } from './remote.js'

/** How remotes reach other stores; the store facade, which knows the backends, provides it. */
export interface RemoteStores {
  /** The location as recorded: a path made absolute, a URL as given. */
  canonical(location: string): string
  /** Opens the store at `location` and lends its core (the sync code works on both ends alike); `close` it when done. */
  open(location: string): Promise<{ ctx: StoreContext; close(): Promise<void> }>
}

/**
 * `store.remotes`: other stores this one exchanges checkpoints with (git's remotes). A location
 * is anything `openStore` takes (a path, a URL); the transfer speaks only the core, so it works
 * alike between stores on any backends (docs/sync.md).
 */
export class Remotes {
  constructor(
    private readonly ctx: StoreContext,
    private readonly stores: RemoteStores,
  ) {}

  async add(name: string, location: string): Promise<void> {
    this.ctx.assertOpen()
    checkRemoteName(name)
    await this.ctx.refs.update([{ ref: REMOTE_CONFIG_PREFIX + name, expected: null, value: this.stores.canonical(location) }], `remote: added ${name}`)
  }

  async list(): Promise<Array<{ name: string; location: string }>> {
    this.ctx.assertOpen()
    return (await this.ctx.refs.listRaw(REMOTE_CONFIG_PREFIX)).map((e) => ({ name: e.name.slice(REMOTE_CONFIG_PREFIX.length), location: e.value }))
  }

  async remove(name: string): Promise<void> {
    this.ctx.assertOpen()
    const location = await this.#location(name)
    await this.ctx.refs.update([{ ref: REMOTE_CONFIG_PREFIX + name, expected: location, value: null }], `remote: removed ${name}`)
  }

  /**
   * Sends what the remote lacks for `timeline`, then moves the remote's timeline by
   * compare-and-swap: fast-forward only unless `force`. A push that lost a race to another
   * pusher is REF_CONFLICT and moves nothing; fetch, then push again.
   */
  async push(remote: string, timeline: string, options: { force?: boolean; onBlock?: (n: number) => void } = {}): Promise<TransferResult> {
    this.ctx.assertOpen()
    const [local] = await timelinesOf(this.ctx, [timeline])
    return this.#withRemote(remote, async (other) => {
      const result = await transfer(this.ctx, other, [{ ref: local!.ref, id: local!.id }], { ...options, why: 'push' })
      await updateTracking(this.ctx, remote, [local!])
      return result
    })
  }

  /** Brings the remote's timelines (or `timelines`) here, as `remotes/<remote>/<name>`; moves no timeline of this store. */
  async fetch(remote: string, timelines?: readonly string[], options: { onBlock?: (n: number) => void } = {}): Promise<TransferResult> {
    this.ctx.assertOpen()
    return this.#withRemote(remote, async (other) => {
      const theirs = await timelinesOf(other, timelines)
      const refs = theirs.map((t) => ({ ref: `${TRACKING_PREFIX}${remote}/${t.name}`, id: t.id }))
      // Tracking refs always follow the remote, as git's do.
      return transfer(other, this.ctx, refs, { force: true, why: `fetch ${remote}`, ...(options.onBlock && { onBlock: options.onBlock }) })
    })
  }

  /** Fetches `timeline` and fast-forwards this store's timeline of that name to it (or moves it with `force`). */
  async pull(remote: string, timeline: string, options: { force?: boolean; onBlock?: (n: number) => void } = {}): Promise<TransferResult> {
    const fetched = await this.fetch(remote, [timeline], options)
    const tracking = await this.ctx.refs.readCid(`${TRACKING_PREFIX}${remote}/${timeline}`)
    const action = await moveRef(this.ctx, `timelines/${timeline}`, tracking!, options.force === true, `pull ${remote}`)
    return { ...fetched, refs: [...fetched.refs, { ref: `timelines/${timeline}`, action }] }
  }

  /** Where the remote's timelines were at the last fetch: `origin/main` and so on, as names and ids. */
  async tracking(remote: string): Promise<Array<{ name: string; id: string }>> {
    this.ctx.assertOpen()
    checkRemoteName(remote)
    const prefix = `${TRACKING_PREFIX}${remote}/`
    return (await this.ctx.refs.listRaw(prefix)).map((e) => ({ name: e.name.slice(prefix.length), id: e.value }))
  }

  async #location(name: string): Promise<string> {
    checkRemoteName(name)
    const location = await this.ctx.refs.read(REMOTE_CONFIG_PREFIX + name)
    if (location === undefined) throw new CkptError('NOT_FOUND', `no remote "${name}"; add it with \`ckpt remote add ${name} PATH\``, { details: { remote: name } })
    return location
  }

  async #withRemote<T>(name: string, use: (other: StoreContext) => Promise<T>): Promise<T> {
    const other = await this.stores.open(await this.#location(name))
    try {
      return await use(other.ctx)
    } finally {
      await other.close()
    }
  }
}
