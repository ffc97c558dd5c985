import { cidString, type CID } from '../model/cid.js'
import { linksToJson } from '../model/value.js'
import type { StoreContext } from '../core/context.js'
import type { OutputKind } from '../core/types.js'
import type { DiffOptions, DiffResult, StageDiff } from './types.js'
import { diffJson, escapePointerToken, type JsonChange } from './json-diff.js'
import { renderTextOutput } from '../model/text-outputs.js'
import { readTree } from '../model/tree.js'
import { outputKind } from '../core/context.js'
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
    const kinds = { from: a && outputKind(from, stage, a), to: b && outputKind(to, stage, b) }
    const entry = await diffStage(ctx, stage, a, b, kinds, options.paths ?? true)
    summary[entry.status]++
    stages.push(entry)
  }
  return { from: cidString(fromId), to: cidString(toId), summary, stages }
}

/** A stage output named by a revision: the checkpoint it is read from, the stage, its id and kind. */
export interface StageOutputRef {
  readonly checkpoint: CID
  readonly stage: string
  readonly id: CID
  readonly kind: OutputKind
}

/**
 * Compares two stage outputs from any checkpoints (`main~3:detect` against `strict:detect`), as
 * one stage of a diff; the stage is named `a → b` when the names differ.
 */
export async function diffOutputs(ctx: StoreContext, from: StageOutputRef, to: StageOutputRef, options: DiffOptions = {}): Promise<DiffResult> {
  const stage = from.stage === to.stage ? from.stage : `${from.stage} → ${to.stage}`
  const entry = await diffStage(ctx, stage, from.id, to.id, { from: from.kind, to: to.kind }, options.paths ?? true)
  const summary = { added: 0, removed: 0, changed: 0, unchanged: 0 }
  summary[entry.status]++
  return { from: cidString(from.checkpoint), to: cidString(to.checkpoint), summary, stages: [entry] }
}

async function diffStage(
  ctx: StoreContext,
  stage: string,
  a: CID | undefined,
  b: CID | undefined,
  kinds: { from: OutputKind | undefined; to: OutputKind | undefined },
  paths: boolean,
): Promise<StageDiff> {
  const ids = { ...(a && { from: cidString(a) }), ...(b && { to: cidString(b) }) }
  if (!a) return { stage, status: 'added', ...ids, kind: kinds.to as OutputKind }
  if (!b) return { stage, status: 'removed', ...ids, kind: kinds.from as OutputKind }
  if (a.equals(b) && kinds.from === kinds.to) return { stage, status: 'unchanged', ...ids, kind: kinds.from as OutputKind }
  const kind = kinds.from === kinds.to ? (kinds.from as OutputKind) : 'mixed'
  if (kind === 'tree') {
    if (!paths) return { stage, status: 'changed', ...ids, kind }
    return { stage, status: 'changed', ...ids, kind, changes: await diffTrees(ctx, a, b) }
  }
  if (kind === 'bytes') {
    // Sizes come from chunk manifests; chunked bytes are read only when small enough to diff as text.
    const [infoA, infoB] = await Promise.all([ctx.objects.sizeOf(a), ctx.objects.sizeOf(b)])
    const [sizeA, sizeB] = [infoA.size, infoB.size]
    const small = paths && sizeA + sizeB <= MAX_TEXT_DIFF_BYTES
    const [x, y] = small ? await Promise.all([infoA.bytes ?? ctx.objects.getBytes(a), infoB.bytes ?? ctx.objects.getBytes(b)]) : []
    const [textX, textY] = x && y ? [asText(x), asText(y)] : []
    const hunks = textX !== undefined && textY !== undefined ? diffLines(textX, textY) : undefined
    return { stage, status: 'changed', ...ids, kind, size: { from: sizeA, to: sizeB }, ...(hunks && { hunks }) }
  }
  if (kind === 'mixed' || !paths) return { stage, status: 'changed', ...ids, kind }
  // One after the other: decoding a large node briefly needs several times its size.
  const x = await ctx.objects.getNode(a)
  const y = await ctx.objects.getNode(b)
  const changes = diffJson(x, y).map((change) => linksToJson(change) as typeof change)
  // Outputs people read as text (a log tail, a git diff) also get a line diff of that text.
  const [textX, textY] = [renderTextOutput(x), renderTextOutput(y)]
  const hunks = textX !== undefined && textY !== undefined ? diffLines(textX, textY) : undefined
  return { stage, status: 'changed', ...ids, kind, changes, ...(hunks && { hunks }) }
}

/** Files added, removed or changed between two directory outputs, at `/` + path, values as `{ "/": id }`. */
async function diffTrees(ctx: StoreContext, a: CID, b: CID): Promise<JsonChange[]> {
  const load = (cid: CID) => ctx.objects.getNode(cid)
  const [before, after] = await Promise.all([readTree(a, load), readTree(b, load)])
  const old = new Map(before.map((e) => [e.path, e.cid]))
  const now = new Map(after.map((e) => [e.path, e.cid]))
  const link = (cid: CID) => ({ '/': cidString(cid) })
  const pointer = (file: string) => '/' + file.split('/').map(escapePointerToken).join('/')
  const changes: JsonChange[] = []
  for (const [file, cid] of old) {
    const next = now.get(file)
    if (!next) changes.push({ op: 'remove', path: pointer(file), oldValue: link(cid) })
    else if (!next.equals(cid)) changes.push({ op: 'replace', path: pointer(file), oldValue: link(cid), value: link(next) })
  }
  for (const [file, cid] of now) if (!old.has(file)) changes.push({ op: 'add', path: pointer(file), value: link(cid) })
  return changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))
}
