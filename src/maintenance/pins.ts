import type { StoreContext } from '../core/context.js'
import { CkptError } from '../errors.js'
import { cidString } from '../model/cid.js'
import { HEAD, PIN_PREFIX } from '../refs/refdb.js'

/** `store.pins`: checkpoints kept whatever retention says, with their whole history. */
export class Pins {
  constructor(private readonly ctx: StoreContext) {}

  /** Pins the checkpoint `revision` names (default HEAD); pinning it again changes nothing. Returns its id. */
  async add(revision: string = HEAD): Promise<string> {
    this.ctx.assertOpen()
    const id = cidString(await this.ctx.resolveCheckpointId(revision))
    if ((await this.ctx.refs.read(PIN_PREFIX + id)) === undefined) {
      await this.ctx.refs.update([{ ref: PIN_PREFIX + id, expected: null, value: id }], `pin: ${revision}`)
    }
    return id
  }

  /** Unpins it; NOT_FOUND when it is not pinned. Returns its id. */
  async remove(revision: string): Promise<string> {
    this.ctx.assertOpen()
    const id = cidString(await this.ctx.resolveCheckpointId(revision))
    if ((await this.ctx.refs.read(PIN_PREFIX + id)) === undefined) {
      throw new CkptError('NOT_FOUND', `checkpoint ${id} is not pinned`, { details: { id } })
    }
    await this.ctx.refs.update([{ ref: PIN_PREFIX + id, expected: id, value: null }], `unpin: ${revision}`)
    return id
  }

  /** Every pinned checkpoint id, sorted. */
  async list(): Promise<string[]> {
    this.ctx.assertOpen()
    return (await this.ctx.refs.listRaw(PIN_PREFIX)).map((e) => e.value)
  }
}
