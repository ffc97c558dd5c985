import { type CID, cidString, tryParseCid } from '../model/cid.js'
import { CHUNK_THRESHOLD, decodeManifest, manifestKey } from '../model/manifest.js'
import { treeLeaves } from '../model/tree.js'
import { blobLinks, decodeNode } from '../model/value.js'
import { HEAD, TAG_PREFIX, TIMELINE_PREFIX } from '../refs/refdb.js'
import type { StoreContext } from '../core/context.js'
import { walkLog } from '../core/log.js'
import { RAW_CODE } from '../core/objects.js'

/** Space used by a set of checkpoints, counted two ways, as restic's `stats` does. */
export interface SpaceUsage {
  /** Checkpoints counted. */
  readonly checkpoints: number
  /**
   * Bytes restoring each of those checkpoints in full would give, added up (restic's
   * `restore-size`): every stage's output once per checkpoint that holds it. A JSON output counts
   * its encoded size plus the bytes inside it; a directory the sum of its files.
   */
  readonly restoreSize: number
  /**
   * Distinct stored objects those checkpoints reach, each once: checkpoint nodes, JSON and
   * directory nodes, and blobs (a chunked blob as its manifest and chunks).
   */
  readonly objects: number
  /** The stored bytes of those objects, each counted once (restic's `raw-data`): what the history costs after dedupe. */
  readonly rawSize: number
  /** restoreSize / rawSize: how many times over dedupe saves (0 when nothing is stored). */
  readonly dedupeRatio: number
}

export interface StoreStats extends SpaceUsage {
  /** Every object in the store, reachable or not, as `store.objects()` lists them (chunked blobs as their chunks). */
  readonly storedObjects: number
  /** Each timeline's history on its own. */
  readonly timelines: ReadonlyArray<SpaceUsage & { readonly name: string }>
  /** Each stage across every checkpoint counted: its outputs only, without checkpoint nodes. */
  readonly stages: ReadonlyArray<SpaceUsage & { readonly stage: string; readonly versions: number }>
}

/** What one stage output costs: its restored size, and the stored objects it reaches with their bytes. */
interface OutputCost {
  readonly size: number
  readonly parts: ReadonlyMap<string, number>
}

/**
 * Space used by every checkpoint reachable from a timeline, a tag or a detached HEAD (totals, per
 * timeline, per stage). Reads each checkpoint and each distinct output once, and of blobs only
 * their manifests (or, for blobs stored whole, at most 1 MiB each); a directory's files are sized
 * from its nodes. Works on any backend: it uses only the object and ref layers.
 */
export async function storeStats(ctx: StoreContext): Promise<StoreStats> {
  const costs = new Map<string, OutputCost>()
  const heads = await countedHeads(ctx)
  const all = await usageOf(ctx, heads.flatMap((h) => h.cids), costs)
  const timelines = []
  for (const head of heads.filter((h) => h.timeline !== undefined)) {
    timelines.push({ name: head.timeline as string, ...(await usageOf(ctx, head.cids, costs)).usage })
  }
  let storedObjects = 0
  for await (const _ of ctx.objects.list()) storedObjects++
  return { ...all.usage, storedObjects, timelines, stages: stageUsage(all.stages, costs) }
}

async function countedHeads(ctx: StoreContext): Promise<Array<{ timeline?: string; cids: CID[] }>> {
  const timelines = await ctx.refs.list(TIMELINE_PREFIX)
  const tags = await ctx.refs.list(TAG_PREFIX)
  const head = await ctx.refs.read(HEAD)
  const detached = head === undefined ? undefined : tryParseCid(head)
  return [
    ...timelines.map((t) => ({ timeline: t.name, cids: [t.id] })),
    { cids: [...tags.map((t) => t.id), ...(detached ? [detached] : [])] },
  ]
}

/** Usage of the history of `starts`, and per stage the outputs seen (id → how many checkpoints hold it). */
async function usageOf(ctx: StoreContext, starts: readonly CID[], costs: Map<string, OutputCost>) {
  const parts = new Map<string, number>()
  const stages = new Map<string, Map<string, number>>()
  let checkpoints = 0
  let restoreSize = 0
  for await (const checkpoint of walkLog(ctx, starts)) {
    checkpoints++
    const id = tryParseCid(checkpoint.id) as CID
    parts.set(checkpoint.id, costs.get(checkpoint.id)?.size ?? (await nodeCost(ctx, id, costs)))
    for (const [stage, output] of Object.entries(checkpoint.stages)) {
      const cost = await outputCost(ctx, output, checkpoint.kinds[stage] === 'tree', costs)
      restoreSize += cost.size
      for (const [part, bytes] of cost.parts) parts.set(part, bytes)
      const seen = stages.get(stage) ?? new Map<string, number>()
      seen.set(output, (seen.get(output) ?? 0) + 1)
      stages.set(stage, seen)
    }
  }
  return { usage: usage(checkpoints, restoreSize, parts), stages }
}

function stageUsage(stages: ReadonlyMap<string, ReadonlyMap<string, number>>, costs: ReadonlyMap<string, OutputCost>) {
  return [...stages]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([stage, outputs]) => {
      const parts = new Map<string, number>()
      let checkpoints = 0
      let restoreSize = 0
      for (const [output, count] of outputs) {
        const cost = costs.get(output) as OutputCost
        checkpoints += count
        restoreSize += cost.size * count
        for (const [part, bytes] of cost.parts) parts.set(part, bytes)
      }
      return { stage, versions: outputs.size, ...usage(checkpoints, restoreSize, parts) }
    })
}

function usage(checkpoints: number, restoreSize: number, parts: ReadonlyMap<string, number>): SpaceUsage {
  let rawSize = 0
  for (const bytes of parts.values()) rawSize += bytes
  return { checkpoints, restoreSize, objects: parts.size, rawSize, dedupeRatio: rawSize === 0 ? 0 : restoreSize / rawSize }
}

/** A checkpoint node's stored size, remembered beside the outputs' costs (ids never collide). */
async function nodeCost(ctx: StoreContext, cid: CID, costs: Map<string, OutputCost>): Promise<number> {
  const size = (await ctx.objects.getBytes(cid)).length
  costs.set(cidString(cid), { size, parts: new Map() })
  return size
}

async function outputCost(ctx: StoreContext, output: string, isTree: boolean, costs: Map<string, OutputCost>): Promise<OutputCost> {
  const known = costs.get(output)
  if (known) return known
  const cid = tryParseCid(output) as CID
  const parts = new Map<string, number>()
  let size: number
  if (cid.code === RAW_CODE) {
    size = await addBlob(ctx, cid, undefined, parts)
  } else {
    const bytes = await ctx.objects.getBytes(cid)
    parts.set(output, bytes.length)
    const node = decodeNode(bytes)
    size = isTree ? await addTree(ctx, cid, node, parts) : bytes.length + (await addBlobs(ctx, blobLinks(node), parts))
  }
  const cost = { size, parts }
  costs.set(output, cost)
  return cost
}

async function addBlobs(ctx: StoreContext, blobs: readonly CID[], parts: Map<string, number>): Promise<number> {
  let size = 0
  for (const blob of blobs) size += await addBlob(ctx, blob, undefined, parts)
  return size
}

/** A directory output: its nodes, and its files' blobs (sized from the leaves, so small files are not read). */
async function addTree(ctx: StoreContext, root: CID, rootNode: unknown, parts: Map<string, number>): Promise<number> {
  let size = 0
  const load = async (cid: CID): Promise<unknown> => {
    if (cid.equals(root)) return rootNode
    const bytes = await ctx.objects.getBytes(cid)
    parts.set(cidString(cid), bytes.length)
    return decodeNode(bytes)
  }
  for await (const leaf of treeLeaves(root, load)) {
    for (const entry of leaf) size += await addBlob(ctx, entry.cid, entry.size, parts)
  }
  return size
}

/** A blob: one block when small, else its manifest and chunks. Returns its size. */
async function addBlob(ctx: StoreContext, blob: CID, knownSize: number | undefined, parts: Map<string, number>): Promise<number> {
  if (knownSize !== undefined && knownSize <= CHUNK_THRESHOLD) {
    parts.set(cidString(blob), knownSize)
    return knownSize
  }
  const stored = await ctx.objects.store.get(manifestKey(blob))
  if (stored === undefined) {
    const { size } = await ctx.objects.sizeOf(blob)
    parts.set(cidString(blob), size)
    return size
  }
  const manifest = decodeManifest(blob, stored)
  parts.set(`manifest:${cidString(blob)}`, stored.length)
  for (const chunk of manifest.chunks) parts.set(cidString(chunk.cid), chunk.size)
  return manifest.size
}
