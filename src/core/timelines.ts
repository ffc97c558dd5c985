import { CkptError } from '../errors.js'
import { CID, cidString } from '../model/cid.js'
import { HEAD, type RefMove, TAG_PREFIX, TIMELINE_PREFIX, checkedRef, headValue } from '../refs/refdb.js'
import type { StoreContext } from './context.js'
import { isAncestor } from './log.js'
import type { TagInfo, TimelineInfo } from './types.js'

/** `store.timelines`: create, list, rename, move and delete timelines. */
export class Timelines {
  constructor(private readonly ctx: StoreContext) {}

  /** Creates a timeline at `revision` (default HEAD); REF_CONFLICT when the name exists. */
  async create(name: string, revision: string = HEAD): Promise<TimelineInfo> {
    this.ctx.assertOpen()
    const ref = checkedRef('timeline', name)
    const cid = await this.ctx.resolveCheckpointId(revision)
    await this.ctx.refs.update([{ ref, expected: null, value: cidString(cid) }], `timeline: created from ${revision}`)
    return { name, head: cidString(cid), current: false }
  }

  async list(): Promise<TimelineInfo[]> {
    this.ctx.assertOpen()
    const head = await this.ctx.refs.head()
    const current = head?.target.kind === 'timeline' ? head.target.timeline : undefined
    const entries = await this.ctx.refs.list(TIMELINE_PREFIX)
    return entries.map((e) => ({ name: e.name, head: cidString(e.id), current: e.name === current }))
  }

  /** The head checkpoint id of a timeline; NOT_FOUND when it does not exist. */
  async get(name: string): Promise<string> {
    this.ctx.assertOpen()
    const ref = checkedRef('timeline', name)
    const cid = await this.ctx.refs.readCid(ref)
    if (!cid) throw new CkptError('NOT_FOUND', `no timeline "${name}"`, { details: { timeline: name } })
    return cidString(cid)
  }

  /**
   * Deletes a timeline (its reflog stays). Refuses the timeline HEAD is on. With `expected`, only
   * while the timeline is at that checkpoint (REF_CONFLICT otherwise), as a compare-and-swap.
   */
  async delete(name: string, options: { expected?: string } = {}): Promise<void> {
    this.ctx.assertOpen()
    const ref = checkedRef('timeline', name)
    const head = await this.ctx.refs.head()
    if (head?.target.kind === 'timeline' && head.target.timeline === name) {
      throw new CkptError('INVALID_ARGUMENT', `timeline "${name}" is checked out (HEAD is on it); move HEAD first`, { details: { timeline: name } })
    }
    const current = await this.get(name)
    const expected = options.expected === undefined ? current : await this.#expectedHead(name, options.expected, current)
    await this.ctx.refs.update([{ ref, expected, value: null }], 'timeline: deleted')
  }

  /** `expected` as a checkpoint id; REF_CONFLICT when the timeline is no longer there. */
  async #expectedHead(name: string, expected: string, current: string): Promise<string> {
    const id = cidString(await this.ctx.resolveCheckpointId(expected))
    if (id !== current) {
      throw new CkptError('REF_CONFLICT', `timeline "${name}" is at ${current}, not at the expected ${expected}: it moved meanwhile`, {
        details: { ref: TIMELINE_PREFIX + name, expected: id, actual: current },
      })
    }
    return id
  }

  /**
   * Brings back a deleted timeline at the checkpoint it last pointed to, from its reflog (which
   * deletion keeps). NOT_FOUND when the reflog holds no checkpoint; REF_CONFLICT when the name
   * is in use again.
   */
  async restore(name: string): Promise<TimelineInfo> {
    this.ctx.assertOpen()
    const ref = checkedRef('timeline', name)
    const last = (await this.ctx.refs.reflog(ref, { newestFirst: true })).find((e) => e.new !== null)
    if (!last?.new) throw new CkptError('NOT_FOUND', `timeline "${name}" has no reflog to restore from`, { details: { timeline: name } })
    await this.ctx.refs.update([{ ref, expected: null, value: last.new }], 'timeline: restored from reflog')
    return { name, head: last.new, current: false }
  }

  /** Renames a timeline atomically; HEAD follows when it was on it. */
  async rename(from: string, to: string): Promise<TimelineInfo> {
    this.ctx.assertOpen()
    const oldRef = checkedRef('timeline', from)
    const newRef = checkedRef('timeline', to)
    const id = await this.get(from)
    const head = await this.ctx.refs.head()
    const moves: RefMove[] = [
      { ref: newRef, expected: null, value: id },
      { ref: oldRef, expected: id, value: null },
    ]
    const onHead = head?.target.kind === 'timeline' && head.target.timeline === from
    if (onHead) moves.push({ ref: HEAD, expected: head.raw, value: headValue({ kind: 'timeline', timeline: to }) })
    await this.ctx.refs.update(moves, `timeline: renamed ${from} to ${to}`)
    return { name: to, head: id, current: onHead }
  }

  /**
   * Points a timeline at another checkpoint. Only forward (the current head must be an ancestor
   * of the target) unless `force`; REF_CONFLICT when the timeline moved meanwhile, or with
   * `expected` when it is not at that checkpoint (a compare-and-swap for callers that read it earlier).
   */
  async move(name: string, revision: string, options: { force?: boolean; expected?: string } = {}): Promise<TimelineInfo> {
    this.ctx.assertOpen()
    const ref = checkedRef('timeline', name)
    const found = await this.get(name)
    const current = options.expected === undefined ? found : await this.#expectedHead(name, options.expected, found)
    const target = await this.ctx.resolveCheckpointId(revision)
    if (!options.force && !(await isAncestor(this.ctx, CID.parse(current), target))) {
      throw new CkptError('REF_CONFLICT', `moving timeline "${name}" to ${revision} is not a fast-forward; use force`, {
        details: { ref, expected: current, actual: cidString(target) },
      })
    }
    await this.ctx.refs.update([{ ref, expected: current, value: cidString(target) }], `timeline: moved to ${revision}${options.force ? ' (forced)' : ''}`)
    const head = await this.ctx.refs.head()
    return { name, head: cidString(target), current: head?.target.kind === 'timeline' && head.target.timeline === name }
  }
}

/** `store.tags`: create, list and delete tags. */
export class Tags {
  constructor(private readonly ctx: StoreContext) {}

  /** Fixes a name on a checkpoint; REF_CONFLICT when the tag exists. */
  async create(name: string, revision: string = HEAD): Promise<TagInfo> {
    this.ctx.assertOpen()
    const ref = checkedRef('tag', name)
    const cid = await this.ctx.resolveCheckpointId(revision)
    await this.ctx.refs.update([{ ref, expected: null, value: cidString(cid) }], `tag: created at ${revision}`)
    return { name, target: cidString(cid) }
  }

  async list(): Promise<TagInfo[]> {
    this.ctx.assertOpen()
    return (await this.ctx.refs.list(TAG_PREFIX)).map((e) => ({ name: e.name, target: cidString(e.id) }))
  }

  async delete(name: string): Promise<void> {
    this.ctx.assertOpen()
    const ref = checkedRef('tag', name)
    const current = await this.ctx.refs.read(ref)
    if (current === undefined) throw new CkptError('NOT_FOUND', `no tag "${name}"`, { details: { tag: name } })
    await this.ctx.refs.update([{ ref, expected: current, value: null }], 'tag: deleted')
  }
}
