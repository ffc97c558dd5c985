import { BoundedMap } from '../bounded-map.js'
import { CkptError } from '../errors.js'
import { CID, cidString, newCidString, parseCid, shortId } from '../model/cid.js'
import { decodeCheckpoint, type CheckpointNode } from '../model/checkpoint.js'
import { copyJson, defineOwn } from '../model/value.js'
import { RefDb } from '../refs/refdb.js'
import { parseRevision, resolveCheckpoint, type ResolveContext } from '../refs/revision.js'
import { DAG_JSON_CODE, ObjectDb, checkBlock } from './objects.js'
import type { Checkpoint, OutputKind } from './types.js'

/** Checkpoint nodes a store keeps decoded in memory. */
const CACHED_CHECKPOINTS = 10_000

/** What every core operation needs: the object and ref layers, the clock and the default author. */
export class StoreContext implements ResolveContext {
  readonly #checkpoints = new BoundedMap<string, CheckpointNode>(CACHED_CHECKPOINTS)
  #closed = false

  constructor(
    readonly objects: ObjectDb,
    readonly refs: RefDb,
    readonly now: () => number,
    readonly author: string,
  ) {}

  /** Throws STORE_CLOSED once the store has been closed; every public call starts here. */
  assertOpen(): void {
    if (this.#closed) throw new CkptError('STORE_CLOSED', 'the store is closed')
  }

  get closed(): boolean {
    return this.#closed
  }

  markClosed(): void {
    this.#closed = true
  }

  /** A checkpoint node, verified; cached because nodes are immutable. */
  async loadCheckpoint(cid: CID): Promise<CheckpointNode> {
    const key = cid.toString()
    const cached = this.#checkpoints.get(key)
    if (cached) return cached
    if (cid.code !== DAG_JSON_CODE) throw new CkptError('NOT_FOUND', `${cidString(cid)} is bytes, not a checkpoint`, { details: { id: key } })
    const decoded = decodeCheckpoint(cid, await this.objects.getBytes(cid))
    const node = decoded.seq === undefined ? await this.#withDerivedSeq(decoded) : decoded
    this.rememberCheckpoint(cid, node)
    return node
  }

  /**
   * Reads the checkpoints among `cids` that are not cached together, in one call where the
   * backend batches reads, made off this thread, and caches them: a listing's reads then run
   * beside its decoding. Only a head start: what it cannot give (an object missing, damaged, not
   * a checkpoint, or with no stored sequence number) is left to loadCheckpoint, which says so.
   */
  async prefetchCheckpoints(cids: readonly CID[]): Promise<void> {
    const uncached = cids.filter((cid) => cid.code === DAG_JSON_CODE && !this.#checkpoints.has(cid.toString()))
    if (uncached.length < 2) return
    const stored = await this.objects.getBlocksUnchecked(uncached).catch(() => [])
    stored.forEach((bytes, i) => {
      const cid = uncached[i] as CID
      if (bytes === undefined) return
      try {
        checkBlock(cid, bytes)
        const node = decodeCheckpoint(cid, bytes)
        if (node.seq !== undefined) this.rememberCheckpoint(cid, node)
      } catch {
        // loadCheckpoint reads it again and reports it
      }
    })
  }

  /** {@link loadCheckpoint}, or undefined when the checkpoint is gone (dropped by retention, or never here). */
  async loadCheckpointIfKept(cid: CID): Promise<CheckpointNode | undefined> {
    try {
      return await this.loadCheckpoint(cid)
    } catch (err) {
      if (err instanceof CkptError && err.code === 'NOT_FOUND') return undefined
      throw err
    }
  }

  /**
   * A node written before sequence numbers were stored, with its number counted along first
   * parents down to the nearest node that has one (or to the root, or to where retention cut the
   * history: the oldest checkpoint kept counts as 1). The nearest ancestors counted on the way are
   * cached with their numbers, so a walk down an old history counts it once, not once per node.
   */
  async #withDerivedSeq(node: CheckpointNode): Promise<CheckpointNode> {
    const nearest: Array<[CID, CheckpointNode]> = []
    let steps = 0
    let base = 0
    for (let parent = node.parents[0]; parent !== undefined; ) {
      const above = this.#checkpoints.get(parent.toString()) ?? (await this.#storedCheckpoint(parent))
      if (above === undefined) break
      if (above.seq !== undefined) {
        base = above.seq
        break
      }
      if (nearest.length < CACHED_CHECKPOINTS) nearest.push([parent, above])
      steps++
      parent = above.parents[0]
    }
    // Oldest first, so that the ones a walk from `node` reads next stay cached.
    for (let i = nearest.length - 1; i >= 0; i--) {
      const [cid, ancestor] = nearest[i] as [CID, CheckpointNode]
      this.rememberCheckpoint(cid, { ...ancestor, seq: base + steps - i })
    }
    return { ...node, seq: base + steps + 1 }
  }

  /** A checkpoint node as stored, or undefined when it is gone (a retention cut). */
  async #storedCheckpoint(cid: CID): Promise<CheckpointNode | undefined> {
    try {
      return decodeCheckpoint(cid, await this.objects.getBytes(cid))
    } catch (err) {
      if (err instanceof CkptError && err.code === 'NOT_FOUND') return undefined
      throw err
    }
  }

  /** Caches a verified node (read, or just written so the next commit need not read it back). */
  rememberCheckpoint(cid: CID, node: CheckpointNode): void {
    this.#checkpoints.set(cid.toString(), node)
  }

  /** Drops cached nodes (after gc, so a deleted checkpoint is not still served from memory). */
  forgetCheckpoints(): void {
    this.#checkpoints.clear()
  }

  async isCheckpoint(cid: CID): Promise<boolean> {
    if (this.#checkpoints.has(cid.toString())) return true
    if (cid.code !== DAG_JSON_CODE) return false
    // Read at once rather than asked about first: the checkpoint is wanted next, and a read costs
    // less than the question.
    try {
      await this.loadCheckpoint(cid)
      return true
    } catch (err) {
      if (err instanceof CkptError && err.code === 'NOT_FOUND') return false
      throw err
    }
  }

  candidates(range: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<CID> {
    return this.objects.listRange(range)
  }

  /** The checkpoint a revision names (a `:stage` suffix is refused here). */
  async resolveCheckpointId(revision: string): Promise<CID> {
    const rev = parseRevision(revision)
    if (rev.stage !== undefined) {
      throw new CkptError('INVALID_REVISION', `"${revision}" names a stage output, not a checkpoint`, { details: { revision } })
    }
    return resolveCheckpoint(rev, this)
  }

  /** A checkpoint or output id: `rev` alone names the checkpoint, `rev:stage` the stage's output. */
  async resolveAny(revision: string): Promise<{ id: CID; checkpoint?: CID; stage?: string; pointer?: string; kind?: OutputKind }> {
    const rev = parseRevision(revision)
    const checkpoint = await resolveCheckpoint(rev, this)
    if (rev.stage === undefined) return { id: checkpoint }
    const node = await this.loadCheckpoint(checkpoint)
    const output = node.stages.get(rev.stage)
    if (!output) {
      const known = [...node.stages.keys()]
      throw new CkptError('NOT_FOUND', `checkpoint ${shortId(checkpoint)} has no stage "${rev.stage}" (stages: ${known.join(', ') || 'none'})`, {
        details: { revision, stage: rev.stage, stages: known },
      })
    }
    const kind = outputKind(node, rev.stage, output)
    return { id: output, checkpoint, stage: rev.stage, kind, ...(rev.pointer !== undefined && { pointer: rev.pointer }) }
  }

  /** An output given either as a CID or as `rev:stage[/pointer]`. */
  async resolveOutput(idOrRevision: string): Promise<{ id: CID; kind: OutputKind; pointer?: string }> {
    if (!idOrRevision.includes(':')) {
      try {
        const id = parseCid(idOrRevision)
        return { id, kind: id.code === DAG_JSON_CODE ? 'json' : 'bytes' }
      } catch {
        // fall through to revision syntax, which reports its own error
      }
    }
    const { id, pointer, kind } = await this.resolveAny(idOrRevision)
    return { id, kind: kind ?? 'json', ...(pointer !== undefined && { pointer }) }
  }

  /** Like {@link resolveOutput}, refusing a JSON pointer (for calls that name whole objects). */
  async resolveWholeOutput(idOrRevision: string): Promise<{ id: CID; kind: OutputKind }> {
    const { id, kind, pointer } = await this.resolveOutput(idOrRevision)
    if (pointer !== undefined) {
      throw new CkptError('INVALID_REVISION', `"${idOrRevision}" points inside an output; only getOutput (ckpt cat) selects JSON paths`, {
        details: { revision: idOrRevision },
      })
    }
    return { id, kind }
  }
}

/** The API form of a checkpoint node. */
export function toCheckpoint(cid: CID, node: CheckpointNode): Checkpoint {
  const stages: Record<string, string> = {}
  const kinds: Record<string, OutputKind> = {}
  for (const [name, output] of node.stages) {
    // Remembered: callers pass stage ids back (getBlob, getOutput), and parsing one is base32 decoding.
    defineOwn(stages, name, newCidString(output))
    defineOwn(kinds, name, outputKind(node, name, output))
  }
  return {
    id: cidString(cid),
    shortId: shortId(cid),
    parents: node.parents.map(cidString),
    seq: node.seq ?? 1,
    stages,
    kinds,
    ...(node.files !== undefined && { files: Object.fromEntries(node.files) }),
    ...(node.stage !== undefined && { stage: node.stage }),
    ...(node.run !== undefined && { run: node.run }),
    ...(node.job !== undefined && { job: node.job }),
    // Copies: the node is cached, and what a caller does to its checkpoint must not change it.
    ...(node.config !== undefined && { config: copyJson(node.config) }),
    message: node.message,
    author: node.author,
    time: new Date(node.time),
    meta: copyJson(node.meta),
  }
}

/** What a stage's output is: the codec says bytes or structured; the checkpoint says which structures are trees. */
export function outputKind(node: CheckpointNode, stage: string, output: CID): OutputKind {
  if (output.code !== DAG_JSON_CODE) return 'bytes'
  return node.trees.includes(stage) ? 'tree' : 'json'
}
