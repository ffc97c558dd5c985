import { RAW_CODE, cidString, type CID } from '../model/cid.js'
import { linksToJson } from '../model/value.js'
import type { StoreContext } from '../core/context.js'
import type { DiffOptions, DiffResult, StageDiff } from '../core/types.js'
import { diffJson } from './json-diff.js'
import { asText, diffLines } from './text-diff.js'

/** Text outputs larger than this (both sides together) get sizes only, no line diff. */
const MAX_TEXT_DIFF_BYTES = 8 * 1024 * 1024

/**
 * Compares two checkpoints stage by stage. Stages whose output ids are equal are unchanged
 * without reading anything; only changed outputs are loaded, and only for path-level detail.
 */
export async function diffCheckpoints(ctx: StoreContext, fromId: CID, toId: CID, options: DiffOptions = {}): Promise<DiffResult> {
  const [from, to] = await Promise.all([ctx.loadCheckpoint(fromId), ctx.loadCheckpoint(toId)])
  const wanted = options.stages ? new Set(options.stages) : undefined
  const names = [...new Set([...from.stages.keys(), ...to.stages.keys()])].filter((n) => !wanted || wanted.has(n)).sort()
  const summary = { added: 0, removed: 0, changed: 0, unchanged: 0 }
  const stages: StageDiff[] = []
  for (const stage of names) {
    const a = from.stages.get(stage)
    const b = to.stages.get(stage)
    const entry = await diffStage(ctx, stage, a, b, options.paths ?? true)
    summary[entry.status]++
    stages.push(entry)
  }
  return { from: cidString(fromId), to: cidString(toId), summary, stages }
}

async function diffStage(ctx: StoreContext, stage: string, a: CID | undefined, b: CID | undefined, paths: boolean): Promise<StageDiff> {
  const ids = { ...(a && { from: cidString(a) }), ...(b && { to: cidString(b) }) }
  if (!a) return { stage, status: 'added', ...ids, kind: kindOf(b as CID) }
  if (!b) return { stage, status: 'removed', ...ids, kind: kindOf(a) }
  if (a.equals(b)) return { stage, status: 'unchanged', ...ids, kind: kindOf(a) }
  const kind = kindOf(a) === kindOf(b) ? kindOf(a) : 'mixed'
  if (kind === 'bytes') {
    const [x, y] = await Promise.all([ctx.objects.getBytes(a), ctx.objects.getBytes(b)])
    const [textX, textY] = paths && x.length + y.length <= MAX_TEXT_DIFF_BYTES ? [asText(x), asText(y)] : []
    const hunks = textX !== undefined && textY !== undefined ? diffLines(textX, textY) : undefined
    return { stage, status: 'changed', ...ids, kind, size: { from: x.length, to: y.length }, ...(hunks && { hunks }) }
  }
  if (kind === 'mixed' || !paths) return { stage, status: 'changed', ...ids, kind }
  const [x, y] = await Promise.all([ctx.objects.getNode(a), ctx.objects.getNode(b)])
  const changes = diffJson(x, y).map((change) => linksToJson(change) as typeof change)
  return { stage, status: 'changed', ...ids, kind, changes }
}

function kindOf(cid: CID): 'json' | 'bytes' {
  return cid.code === RAW_CODE ? 'bytes' : 'json'
}
