import type { StoreContext } from '../core/context.js'
import { CkptError, quoted } from '../errors.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidOf, cidString, tryParseCid } from '../model/cid.js'
import { TAG_PREFIX, TIMELINE_PREFIX, TRACKING_PREFIX } from '../refs/refdb.js'
import { linksIn } from '../model/dag-json.js'
import { manifestKey } from '../model/manifest.js'
import { checkpointFromValue, looksLikeCheckpoint, type CheckpointNode } from '../model/checkpoint.js'
import { findRunIdViolation } from '../model/name-rules.js'
import { checkTreeNode } from '../model/tree.js'
import { decodeNode } from '../model/value.js'
import { ObjectMarks } from '../maintenance/mark-set.js'

/** One block as it travels between stores: standard raw and dag-json blocks with BLAKE3 ids. */
export interface Block {
  readonly cid: CID
  readonly bytes: Uint8Array
}

/**
 * Every block of the closure of `heads` (checkpoints, outputs, blobs, chunks) that the closure of
 * `exclude` does not hold, each once, parents before nothing in particular. A chunked blob travels
 * as its chunks plus its manifest as a dag-json block (the blob's own id names no single block).
 * Parents dropped at a retention cut are left out; any other missing object is NOT_FOUND.
 */
export async function* closureBlocks(ctx: StoreContext, heads: readonly CID[], exclude: readonly CID[] = []): AsyncIterable<Block> {
  const cuts = await ctx.refs.cuts()
  const seen = new ObjectMarks()
  // Marks only: what the other side already has. Bytes are not read, only nodes (for their links).
  for await (const _ of walk(ctx, exclude, seen, cuts, false)) {
    // nothing to yield
  }
  yield* walk(ctx, heads, seen, cuts, true)
}

async function* walk(ctx: StoreContext, roots: readonly CID[], seen: ObjectMarks, cuts: ReadonlySet<string>, emit: boolean): AsyncIterable<Block> {
  const stack = [...roots]
  while (stack.length > 0) {
    const cid = stack.pop()!
    if (!seen.add(cid)) continue
    if (cid.code === RAW_CODE) {
      const manifest = await ctx.objects.manifest(cid)
      if (!manifest) {
        if (emit) yield { cid, bytes: await ctx.objects.getBytes(cid) }
        continue
      }
      const manifestBytes = (await ctx.objects.store.get(manifestKey(cid)))!
      for (const chunk of manifest.chunks) {
        if (!seen.add(chunk.cid) || !emit) continue
        yield { cid: chunk.cid, bytes: await ctx.objects.getBytes(chunk.cid) }
      }
      if (!emit) continue
      yield { cid: cidOf(DAG_JSON_CODE, manifestBytes), bytes: manifestBytes }
      continue
    }
    const bytes = await ctx.objects.getBytes(cid)
    if (emit) checkNames(cid, bytes)
    if (emit) yield { cid, bytes }
    const cut = cuts.has(cidString(cid)) ? new Set((await ctx.loadCheckpoint(cid)).parents.map(String)) : undefined
    for (const link of linksIn(bytes)) {
      if (cut?.has(link.toString()) && !(await ctx.objects.has(link))) continue
      stack.push(link)
    }
  }
}

/**
 * Decodes a node on its way to another store (or being checked after arriving) so that the names
 * it carries, stage names and directory entries, obey the rules `commit` applies: CORRUPT_OBJECT
 * otherwise, so that no ref is ever moved onto it.
 */
function checkNames(cid: CID, bytes: Uint8Array): void {
  let value: unknown
  try {
    value = decodeNode(bytes)
  } catch (cause) {
    throw new CkptError('CORRUPT_OBJECT', `object ${cidString(cid)} does not decode as dag-json`, { cause, details: { id: cidString(cid) } })
  }
  if (looksLikeCheckpoint(value)) checkCarriedIds(cid, checkpointFromValue(cid, value))
  else checkTreeNode(cid, value)
}

/**
 * Run and job ids obey the rules `commit` applies. Checked on arrival, not when reading: a store
 * may hold ids written before the rules, which `log` and `show` print escaped.
 */
function checkCarriedIds(cid: CID, node: CheckpointNode): void {
  for (const field of ['run', 'job'] as const) {
    const violation = node[field] === undefined ? undefined : findRunIdViolation(node[field])
    if (violation) {
      throw new CkptError('CORRUPT_OBJECT', `checkpoint ${cidString(cid)} has an invalid ${field} id ${quoted(node[field])}: ${violation.reason}`, {
        details: { id: cidString(cid), field, rule: violation.rule },
      })
    }
  }
}

/**
 * The checkpoints a store's timelines, tags and remote-tracking refs name: what it advertises as
 * having, each with its whole closure (a store never lets a ref name an incomplete one).
 */
export async function refHeads(ctx: StoreContext): Promise<CID[]> {
  const refs = [...(await ctx.refs.listRaw(TIMELINE_PREFIX)), ...(await ctx.refs.listRaw(TAG_PREFIX)), ...(await ctx.refs.listRaw(TRACKING_PREFIX))]
  return refs.flatMap(({ value }) => tryParseCid(value) ?? [])
}

/**
 * Throws NOT_FOUND naming the first object of `heads`' closure that is not stored. What `complete`
 * reaches (heads of refs, whose closures a store always holds whole) is not read again.
 */
export async function checkClosure(ctx: StoreContext, heads: readonly CID[], complete: readonly CID[] = []): Promise<void> {
  try {
    for await (const _ of closureBlocks(ctx, heads, complete)) {
      // Reading each block is the check.
    }
  } catch (err) {
    if (err instanceof CkptError && err.code === 'NOT_FOUND') {
      throw new CkptError('NOT_FOUND', `the closure is incomplete: ${err.message}`, { cause: err, details: err.details })
    }
    throw err
  }
}
