import { CkptError } from '../errors.js'
import { type CID, cidString } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { mergeBase } from './ancestry.js'
import { commit } from './commit.js'
import { type StoreContext, toCheckpoint } from './context.js'
import { commitTimeline, editTarget, fileNamesOf, moveTarget, targetName } from './edit-target.js'
import type { Checkpoint, CopiedStages } from './types.js'

export interface MergeOptions {
  /** The timeline to merge into; default: the one HEAD is on (a detached HEAD moves itself). */
  readonly timeline?: string
  /** Default: `Merge REV into TIMELINE`. */
  readonly message?: string
  readonly author?: string
  /** Resolves every conflicting stage with this side's output. */
  readonly resolve?: 'ours' | 'theirs'
  /** Stage name → revision whose output of that stage the merge takes (a conflict's resolution, or an override). */
  readonly stages?: Readonly<Record<string, string>>
  /** False records a merge checkpoint even when the timeline could simply move forward (git's `--no-ff`). */
  readonly fastForward?: boolean
}

/** A stage both sides changed, since their merge base, to different outputs (null: absent). */
export interface StageConflict {
  readonly stage: string
  readonly base: string | null
  readonly ours: string | null
  readonly theirs: string | null
}

export interface MergeResult {
  /** `merge`: a checkpoint with two parents was recorded; `fast-forward`: the timeline moved; `up-to-date`: nothing to do. */
  readonly kind: 'merge' | 'fast-forward' | 'up-to-date'
  /** The timeline moved, absent when HEAD is detached. */
  readonly timeline?: string
  /** Where the timeline is now. */
  readonly checkpoint: Checkpoint
  /** The merge base, when the histories meet. */
  readonly base?: string
  /** Conflicts and how they were resolved. */
  readonly resolved: ReadonlyArray<StageConflict & { readonly take: 'ours' | 'theirs' | 'revision' }>
}

/**
 * Merges `revision` into a timeline, git's way: when the timeline's head is an ancestor of it, the
 * timeline moves forward; otherwise a checkpoint is recorded with two parents (the head first).
 * Its stages are the union of both sides; a stage both changed since the merge base to different
 * outputs is a conflict, which `resolve` or `stages` must settle, else MERGE_CONFLICT (with
 * `details.conflicts`) and nothing is written. The timeline moves by compare-and-swap from the
 * head read at the start: REF_CONFLICT when it moved meanwhile.
 */
export async function merge(ctx: StoreContext, revision: string, options: MergeOptions = {}): Promise<MergeResult> {
  if (options.resolve !== undefined && options.resolve !== 'ours' && options.resolve !== 'theirs') {
    throw new CkptError('INVALID_ARGUMENT', `merge: resolve is 'ours' or 'theirs', not ${JSON.stringify(options.resolve)}`)
  }
  const target = await editTarget(ctx, options.timeline)
  const theirs = await ctx.resolveCheckpointId(revision)
  const theirsNode = await ctx.loadCheckpoint(theirs)
  const ours = target.head
  const base = ours && (await mergeBase(ctx, ours, theirs))
  const common = { ...(target.timeline !== undefined && { timeline: target.timeline }), ...(base && { base: cidString(base) }) }
  if (ours && base?.equals(theirs)) return { kind: 'up-to-date', ...common, checkpoint: toCheckpoint(ours, await ctx.loadCheckpoint(ours)), resolved: [] }
  if (!ours || (base?.equals(ours) && options.fastForward !== false)) {
    await moveTarget(ctx, target, theirs, `merge ${revision}: fast-forward`)
    return { kind: 'fast-forward', ...common, checkpoint: toCheckpoint(theirs, theirsNode), resolved: [] }
  }
  const sides = { ours: await ctx.loadCheckpoint(ours), theirs: { cid: theirs, node: theirsNode }, base: base && (await ctx.loadCheckpoint(base)) }
  const picks = await pickStages(ctx, sides, options)
  const checkpoint = await commit(
    ctx,
    {
      ...commitTimeline(target),
      parents: [cidString(ours), cidString(theirs)],
      expectedHead: cidString(ours),
      copy: picks.copy,
      remove: picks.remove,
      ...(Object.keys(picks.fileNames).length > 0 && { fileNames: picks.fileNames }),
      message: options.message ?? `Merge ${revision} into ${targetName(target)}`,
      ...(options.author !== undefined && { author: options.author }),
    },
    `merge ${revision}: merged`,
  )
  return { kind: 'merge', ...common, checkpoint, resolved: picks.resolved }
}

type Source = { readonly cid: CID; readonly node: CheckpointNode }

/**
 * What the merge checkpoint takes on top of our stages: the stages to copy (by the checkpoint
 * they come from), to remove, and how each conflict was resolved. MERGE_CONFLICT when a conflict
 * is left unresolved.
 */
async function pickStages(ctx: StoreContext, sides: { ours: CheckpointNode; theirs: Source; base: CheckpointNode | undefined }, options: MergeOptions) {
  const overrides = await stageOverrides(ctx, options.stages ?? {})
  const plan = planStages(sides.base?.stages ?? new Map(), sides.ours.stages, sides.theirs.node.stages)
  for (const stage of overrides.keys()) {
    if (!plan.known.has(stage)) throw new CkptError('NOT_FOUND', `merge: stage "${stage}" is on neither side of the merge`, { details: { stage } })
  }
  const open = plan.conflicts.filter((c) => !overrides.has(c.stage))
  if (open.length > 0 && options.resolve === undefined) {
    const list = open.map((c) => c.stage).join(', ')
    throw new CkptError('MERGE_CONFLICT', `merge: ${open.length} stage(s) changed on both sides since the merge base: ${list}; resolve them with \`resolve\` or \`stages\``, {
      details: { conflicts: open },
    })
  }
  const copies = new Map<string, string[]>()
  const remove: string[] = []
  const fileNames: Record<string, string> = {}
  const take = (stage: string, from: Source) => {
    const output = from.node.stages.get(stage)
    const current = sides.ours.stages.get(stage)
    if (output === undefined) {
      if (current !== undefined) remove.push(stage)
    } else if (!current?.equals(output)) {
      const key = cidString(from.cid)
      copies.set(key, [...(copies.get(key) ?? []), stage])
      Object.assign(fileNames, fileNamesOf(from.node, [stage]).fileNames)
    }
  }
  for (const stage of plan.fromTheirs) if (!overrides.has(stage)) take(stage, sides.theirs)
  const resolved: Array<StageConflict & { take: 'ours' | 'theirs' | 'revision' }> = []
  for (const conflict of open) {
    resolved.push({ ...conflict, take: options.resolve as 'ours' | 'theirs' })
    if (options.resolve === 'theirs') take(conflict.stage, sides.theirs)
  }
  for (const [stage, source] of overrides) {
    const conflict = plan.conflicts.find((c) => c.stage === stage)
    if (conflict) resolved.push({ ...conflict, take: 'revision' })
    take(stage, source)
  }
  const copy: CopiedStages[] = [...copies].map(([from, stages]) => ({ from, stages }))
  return { copy, remove, fileNames, resolved }
}

/** `--stage S=REV` resolutions: each stage with the checkpoint to take it from. */
async function stageOverrides(ctx: StoreContext, stages: Readonly<Record<string, string>>): Promise<Map<string, Source>> {
  const out = new Map<string, Source>()
  for (const [stage, revision] of Object.entries(stages)) {
    const cid = await ctx.resolveCheckpointId(revision)
    out.set(stage, { cid, node: await ctx.loadCheckpoint(cid) })
  }
  return out
}

/** A three-way merge of stage maps: what to take from theirs, and the stages changed on both sides. */
function planStages(base: ReadonlyMap<string, CID>, ours: ReadonlyMap<string, CID>, theirs: ReadonlyMap<string, CID>) {
  const known = new Set([...base.keys(), ...ours.keys(), ...theirs.keys()])
  const fromTheirs: string[] = []
  const conflicts: StageConflict[] = []
  const same = (a: CID | undefined, b: CID | undefined) => (a === undefined ? b === undefined : b !== undefined && a.equals(b))
  for (const stage of [...known].sort()) {
    const [b, o, t] = [base.get(stage), ours.get(stage), theirs.get(stage)]
    if (same(o, t) || same(t, b)) continue
    if (same(o, b)) fromTheirs.push(stage)
    else conflicts.push({ stage, base: idOrNull(b), ours: idOrNull(o), theirs: idOrNull(t) })
  }
  return { known, fromTheirs, conflicts }
}

const idOrNull = (cid: CID | undefined) => (cid === undefined ? null : cidString(cid))
