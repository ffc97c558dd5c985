import { CkptError } from '../errors.js'
import { type CID, cidString, shortId, tryParseCid } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { PIN_PREFIX, TAG_PREFIX, TIMELINE_PREFIX, TRACKING_PREFIX } from '../refs/refdb.js'
import { reachableOnlyFrom } from './ancestry.js'
import { commit } from './commit.js'
import { type StoreContext, toCheckpoint } from './context.js'
import { commitTimeline, editTarget, fileNamesOf, moveTarget, targetName } from './edit-target.js'
import type { StageConflict } from './merge.js'
import type { Checkpoint, CommitOptions, CopiedStages } from './types.js'

export interface PickOptions {
  /** The timeline to record onto; default: the one HEAD is on (a detached HEAD moves itself). */
  readonly timeline?: string
  /** Default: cherry-pick keeps the picked checkpoint's message; revert says what it reverts. */
  readonly message?: string
  readonly author?: string
  /** Apply the changes even over stages the timeline has changed since (its outputs are replaced). */
  readonly force?: boolean
}

/** What a cherry-pick or revert did. */
export interface PickResult {
  /** The checkpoint recorded; when `stages` is empty nothing was recorded and this is the unchanged head. */
  readonly checkpoint: Checkpoint
  readonly timeline?: string
  /** The stages changed on the timeline. */
  readonly stages: readonly string[]
}

/** A stage change: its output before and after (null: absent). */
interface StageChange {
  readonly stage: string
  readonly before: CID | undefined
  readonly after: CID | undefined
}

/**
 * Applies the stage changes `revision` made relative to its first parent onto a timeline's head
 * (`git cherry-pick`): added and changed stages copied, removed stages removed. A stage the head
 * has changed since (its output is neither the parent's nor the picked one) is a conflict:
 * MERGE_CONFLICT and nothing written, unless `force`. The checkpoint keeps the picked one's stage,
 * run, job, config, meta and message, with a line naming it.
 */
export async function cherryPick(ctx: StoreContext, revision: string, options: PickOptions = {}): Promise<PickResult> {
  const picked = await ctx.resolveCheckpointId(revision)
  const node = await ctx.loadCheckpoint(picked)
  const parent = await firstParent(ctx, node)
  const subject = firstLine(node.message)
  return applyChanges(ctx, 'cherry-pick', changesBetween(parent?.node, node), { cid: picked, node }, options, {
    ...(node.stage !== undefined && { stage: node.stage }),
    ...(node.run !== undefined && { run: node.run }),
    ...(node.job !== undefined && { job: node.job }),
    ...(node.config !== undefined && { config: node.config }),
    meta: node.meta,
    author: options.author ?? node.author,
    message: options.message ?? `${node.message}${node.message ? '\n\n' : ''}(cherry picked from checkpoint ${cidString(picked)})`,
    reason: `cherry-pick: ${subject || node.stage || shortId(picked)}`,
  })
}

/**
 * Records a checkpoint that undoes the stage changes `revision` made relative to its first parent
 * (`git revert`): changed stages get the parent's output back, added ones are removed, removed
 * ones restored. A stage the head has changed since is a conflict, as for {@link cherryPick}.
 */
export async function revert(ctx: StoreContext, revision: string, options: PickOptions = {}): Promise<PickResult> {
  const reverted = await ctx.resolveCheckpointId(revision)
  const node = await ctx.loadCheckpoint(reverted)
  const parent = await firstParent(ctx, node)
  const changes = changesBetween(parent?.node, node).map((c) => ({ stage: c.stage, before: c.after, after: c.before }))
  const subject = firstLine(node.message) || node.stage || shortId(reverted)
  const message = options.message ?? `Revert "${subject}"\n\nThis reverts checkpoint ${cidString(reverted)}.`
  return applyChanges(ctx, 'revert', changes, parent, options, {
    ...(options.author !== undefined && { author: options.author }),
    message,
    reason: `revert: ${firstLine(message)}`,
  })
}

async function firstParent(ctx: StoreContext, node: CheckpointNode): Promise<{ cid: CID; node: CheckpointNode } | undefined> {
  const cid = node.parents[0]
  if (cid === undefined) return undefined
  const parent = await ctx.loadCheckpoint(cid).catch((err: unknown) => {
    if (err instanceof CkptError && err.code === 'NOT_FOUND') {
      throw new CkptError('NOT_FOUND', `checkpoint ${shortId(cid)}, the first parent, is gone (retention dropped it): its changes are unknown`, { details: { id: cidString(cid) } })
    }
    throw err
  })
  return { cid, node: parent }
}

function changesBetween(before: CheckpointNode | undefined, after: CheckpointNode): StageChange[] {
  const stages = new Set([...(before?.stages.keys() ?? []), ...after.stages.keys()])
  const changes: StageChange[] = []
  for (const stage of [...stages].sort()) {
    const [b, a] = [before?.stages.get(stage), after.stages.get(stage)]
    if (b === undefined ? a !== undefined : !(a !== undefined && a.equals(b))) changes.push({ stage, before: b, after: a })
  }
  return changes
}

/**
 * Records `changes` onto the target's head, copying the outputs they add from `source` (the
 * checkpoint that has them), by compare-and-swap from the head read at the start.
 */
async function applyChanges(
  ctx: StoreContext,
  verb: 'cherry-pick' | 'revert',
  changes: readonly StageChange[],
  source: { cid: CID; node: CheckpointNode } | undefined,
  options: PickOptions,
  fields: Omit<CommitOptions, 'timeline'> & { reason: string },
): Promise<PickResult> {
  const target = await editTarget(ctx, options.timeline)
  if (!target.head) throw new CkptError('NOT_FOUND', `${verb}: ${targetName(target)} has no checkpoints yet`, { details: { ref: target.ref } })
  const head = await ctx.loadCheckpoint(target.head)
  const same = (a: CID | undefined, b: CID | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b))
  const pending = changes.filter((c) => !same(head.stages.get(c.stage), c.after))
  const conflicts: StageConflict[] = pending
    .filter((c) => !same(head.stages.get(c.stage), c.before))
    .map((c) => ({ stage: c.stage, base: idOrNull(c.before), ours: idOrNull(head.stages.get(c.stage)), theirs: idOrNull(c.after) }))
  if (conflicts.length > 0 && !options.force) {
    throw new CkptError('MERGE_CONFLICT', `${verb}: ${targetName(target)} has changed stage(s) ${conflicts.map((c) => c.stage).join(', ')} since; \`force\` applies the changes anyway`, {
      details: { conflicts },
    })
  }
  const timeline = target.timeline !== undefined ? { timeline: target.timeline } : {}
  if (pending.length === 0) return { checkpoint: toCheckpoint(target.head, head), ...timeline, stages: [] }
  const copied = pending.filter((c) => c.after !== undefined).map((c) => c.stage)
  const copy: CopiedStages[] = copied.length > 0 && source ? [{ from: cidString(source.cid), stages: copied }] : []
  const remove = pending.filter((c) => c.after === undefined && head.stages.has(c.stage)).map((c) => c.stage)
  const { reason, ...commitFields } = fields
  const names = source ? fileNamesOf(source.node, copied) : {}
  const checkpoint = await commit(ctx, { ...commitFields, ...commitTimeline(target), ...names, expectedHead: cidString(target.head), copy, remove }, reason)
  return { checkpoint, ...timeline, stages: pending.map((c) => c.stage) }
}

/** A commit's options, less those that choose parents: an amended checkpoint keeps the head's. */
export type AmendOptions = Omit<CommitOptions, 'parent' | 'parents' | 'expectedHead' | 'retry' | 'copy'>

/**
 * Replaces the head checkpoint (`git commit --amend`): a new checkpoint with the same parents,
 * the head's stages with the given outputs written over them (and `remove` removed), and the
 * head's message, stage, run, job, config, meta and author unless given. The timeline moves by
 * compare-and-swap from the replaced head.
 */
export async function amend(ctx: StoreContext, options: AmendOptions): Promise<Checkpoint> {
  const target = await editTarget(ctx, options.timeline)
  if (!target.head) throw new CkptError('NOT_FOUND', `amend: ${targetName(target)} has no checkpoint to amend`, { details: { ref: target.ref } })
  const head = await ctx.loadCheckpoint(target.head)
  const base = head.parents[0] && (await ctx.loadCheckpoint(head.parents[0]).catch(() => undefined))
  const stage = options.stage ?? head.stage
  const written = new Set([...(stage !== undefined && options.output !== undefined ? [stage] : []), ...Object.keys(options.outputs ?? {}), ...(options.remove ?? [])])
  const kept = [...head.stages.keys()].filter((s) => !written.has(s))
  // The new checkpoint starts from the first parent's stages: what the head dropped stays dropped.
  const dropped = [...(base?.stages.keys() ?? [])].filter((s) => !head.stages.has(s) && !written.has(s))
  const removeFromParent = (options.remove ?? []).filter((s) => base?.stages.has(s))
  for (const s of options.remove ?? []) {
    if (!head.stages.has(s)) throw new CkptError('NOT_FOUND', `amend: cannot remove stage "${s}": the checkpoint has no such stage`, { details: { stage: s } })
  }
  const checkpoint = await commit(
    ctx,
    {
      ...options,
      ...commitTimeline(target),
      fileNames: { ...fileNamesOf(head, kept).fileNames, ...options.fileNames },
      parents: head.parents.map(cidString),
      expectedHead: cidString(target.head),
      copy: kept.length > 0 ? { from: cidString(target.head), stages: kept } : [],
      remove: [...dropped, ...removeFromParent],
      ...(stage !== undefined && { stage }),
      ...(head.run !== undefined && options.run === undefined && { run: head.run }),
      ...(head.job !== undefined && options.job === undefined && { job: head.job }),
      ...(head.config !== undefined && options.config === undefined && { config: head.config }),
      meta: options.meta ?? head.meta,
      message: options.message ?? head.message,
      author: options.author ?? head.author,
    },
    `commit (amend): ${firstLine(options.message ?? head.message)}`.trimEnd(),
  )
  return checkpoint
}

export interface ResetResult {
  /** The timeline moved; absent when HEAD is detached. */
  readonly timeline?: string
  readonly from: string | null
  readonly to: Checkpoint
  /**
   * Checkpoints the old head reached that no timeline, tag, pin, remote-tracking ref or HEAD
   * reaches any more, newest first. Their reflog entries keep them until they expire.
   */
  readonly unreachable: readonly string[]
}

/**
 * Moves a timeline (default: HEAD's; a detached HEAD itself) to `revision`, backwards or sideways
 * as well as forwards (`git reset`; there is no work tree, so nothing else changes). Recorded in
 * the reflog as `reset: moving to REV`; REF_CONFLICT when the timeline moved meanwhile.
 */
export async function resetTimeline(ctx: StoreContext, revision: string, options: { timeline?: string } = {}): Promise<ResetResult> {
  const target = await editTarget(ctx, options.timeline)
  const to = await ctx.resolveCheckpointId(revision)
  const node = await ctx.loadCheckpoint(to)
  const timeline = target.timeline !== undefined ? { timeline: target.timeline } : {}
  const from = target.head ? cidString(target.head) : null
  if (!target.head?.equals(to)) await moveTarget(ctx, target, to, `reset: moving to ${revision}`)
  const unreachable = target.head && !target.head.equals(to) ? await leftBehind(ctx, target.head) : []
  return { ...timeline, from, to: toCheckpoint(to, node), unreachable: unreachable.map(cidString) }
}

/** What `old` reached that no ref reaches now. */
async function leftBehind(ctx: StoreContext, old: CID): Promise<CID[]> {
  const roots: CID[] = []
  for (const prefix of [TIMELINE_PREFIX, TAG_PREFIX, TRACKING_PREFIX, PIN_PREFIX]) {
    for (const ref of await ctx.refs.listRaw(prefix)) {
      const cid = tryParseCid(ref.value)
      if (cid) roots.push(cid)
    }
  }
  const head = await ctx.refs.head()
  if (head?.target.kind === 'detached') roots.push(head.target.checkpoint)
  return reachableOnlyFrom(ctx, old, roots)
}

const firstLine = (text: string) => text.split('\n')[0] ?? ''
const idOrNull = (cid: CID | undefined) => (cid === undefined ? null : cidString(cid))
