import type { StoreContext } from '../core/context.js'
import { isAncestor } from '../core/log.js'
import { equalBytes } from '../core/objects.js'
import { CkptError, isCkptError } from '../errors.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidFromDigest, cidOf, cidString, isStoreCid, tryParseCid } from '../model/cid.js'
import { blake3, createBlake3 } from '../model/hash.js'
import { decodeManifest, manifestKey } from '../model/manifest.js'
import { decodeNode, encodeNode } from '../model/value.js'
import { TAG_PREFIX, TIMELINE_PREFIX } from '../refs/refdb.js'
import { checkRefName } from '../refs/names.js'
import { FilledCuts } from './filled-cuts.js'
import { checkClosure, closureBlocks, refHeads, type Block } from './closure.js'

/*
 * A CAR v1 file of ckpt blocks: roots are the exported checkpoints, then one small dag-json
 * "refs" block naming the timelines and tags that travel with them (docs/sync.md). Every other
 * block is a standard raw or dag-json block with a BLAKE3 multihash, readable by IPLD tools.
 */

const REFS_TYPE = 'ckpt-refs'
const BATCH_BYTES = 8 * 1024 * 1024

export interface ExportResult {
  readonly roots: readonly string[]
  readonly blocks: number
  readonly bytes: number
}

export interface ImportResult {
  readonly blocks: number
  readonly bytes: number
  /** Blocks this store lacked and stored. */
  readonly written: number
  readonly roots: readonly string[]
  readonly refs: ReadonlyArray<{ readonly ref: string; readonly action: 'created' | 'fast-forward' | 'forced' | 'unchanged' }>
}

/** What to export: the heads (with the names to carry) and what the receiver already has. */
export interface ExportSelection {
  readonly heads: ReadonlyArray<{ readonly id: CID; readonly ref?: string }>
  readonly exclude: readonly CID[]
}

/** @ipld/car, loaded on first use: it took 60–75 ms of every CLI command's start-up when imported with the store. */
const loadCar = () => import('@ipld/car')

/** Streams the closure of the selection as CAR bytes, in bounded memory. */
export async function* exportCar(ctx: StoreContext, selection: ExportSelection, counts: { blocks: number; bytes: number } = { blocks: 0, bytes: 0 }): AsyncIterable<Uint8Array> {
  const refsNode: Record<string, unknown> = { type: REFS_TYPE, v: 1, refs: Object.fromEntries(selection.heads.flatMap((h) => (h.ref ? [[h.ref, h.id]] : []))) }
  const refsBytes = encodeNode(refsNode)
  const refsCid = cidOf(DAG_JSON_CODE, refsBytes)
  const roots = [...selection.heads.map((h) => h.id), refsCid]
  const { CarWriter } = await loadCar()
  const { writer, out } = CarWriter.create(roots)
  const feeding = (async () => {
    try {
      await writer.put({ cid: refsCid, bytes: refsBytes })
      for await (const block of closureBlocks(ctx, selection.heads.map((h) => h.id), selection.exclude)) {
        counts.blocks++
        counts.bytes += block.bytes.length
        await writer.put(block)
      }
    } finally {
      await writer.close()
    }
  })()
  yield* out
  await feeding
}

/**
 * Reads a CAR, verifies every block against its id before storing it, checks that each root's
 * closure is complete, then creates or fast-forwards the named timelines and tags (a
 * non-fast-forward only with `force`; the old head stays in the reflog). A bad block, a
 * truncated file or foreign bytes reject the whole import before any ref moves, so nothing of it
 * becomes reachable.
 */
export async function importCar(ctx: StoreContext, source: AsyncIterable<Uint8Array>, options: { force?: boolean } = {}): Promise<ImportResult> {
  const { CarBlockIterator } = await loadCar()
  const car = await asCar(() => CarBlockIterator.fromIterable(source))
  const roots = await car.getRoots()
  let refs: Array<{ ref: string; id: CID }> = []
  let refsRoot: CID | undefined
  const cuts = await FilledCuts.watch(ctx)
  const blocks = (async function* () {
    for await (const block of car) {
      cuts.saw(block.cid)
      if (roots.some((r) => r.equals(block.cid)) && isRefsBlock(block)) {
        refs = parseRefs(verifiedBlock(block.cid, block.bytes).bytes)
        refsRoot = block.cid
        continue
      }
      yield block
    }
  })()
  const complete = await refHeads(ctx)
  const stored = await asCar(() => storeBlocks(ctx, blocks))
  const heads = roots.filter((r) => !refsRoot?.equals(r))
  await checkClosure(ctx, heads, complete)
  await checkRefTargets(ctx, refs.map((r) => r.id), complete)
  await cuts.lift(ctx, 'import')
  const moved = []
  for (const { ref, id } of refs) moved.push({ ref, action: await moveRef(ctx, ref, id, options.force === true, 'import') })
  return { ...stored, roots: heads.map(cidString), refs: moved }
}

/**
 * Stores blocks arriving from another store or a file: each is verified against its id, blocks
 * already stored are not written again (so an interrupted transfer resumes where it stopped),
 * and a chunked blob's manifest is stored only once its chunks prove it. Nothing becomes
 * reachable here: the caller moves refs after checking the closure.
 */
export async function storeBlocks(ctx: StoreContext, source: AsyncIterable<Block>): Promise<{ blocks: number; bytes: number; written: number }> {
  let batch: Block[] = []
  let batchBytes = 0
  let written = 0
  let blocks = 0
  let bytes = 0
  const manifests: Block[] = []
  const flush = async () => {
    const present = batch.length === 0 ? [] : await ctx.objects.store.has(batch.map((b) => b.cid.bytes))
    const missing = batch.filter((_, i) => !present[i])
    if (missing.length > 0) await ctx.objects.putBlocks(missing, { deferSync: true })
    written += missing.length
    batch = []
    batchBytes = 0
  }
  for await (const block of source) {
    const checked = verifiedBlock(block.cid, block.bytes)
    blocks++
    bytes += checked.bytes.length
    if (isManifestBlock(checked)) {
      manifests.push(checked)
      continue
    }
    batch.push(checked)
    batchBytes += checked.bytes.length
    if (batchBytes >= BATCH_BYTES) await flush()
  }
  await flush()
  for (const manifest of manifests) await storeManifest(ctx, manifest)
  return { blocks, bytes, written }
}

/** Runs a CAR read, turning the library's parse errors into CORRUPT_OBJECT. */
async function asCar<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read()
  } catch (cause) {
    if (cause instanceof CkptError) throw cause
    throw new CkptError('CORRUPT_OBJECT', `not a readable CAR file: ${(cause as Error).message}`, { cause })
  }
}

function verifiedBlock(cid: CID, bytes: Uint8Array): Block {
  if (!isStoreCid(cid)) throw new CkptError('CORRUPT_OBJECT', `block ${cid.toString()} is not a BLAKE3 raw or dag-json block`, { details: { id: cid.toString() } })
  if (!equalBytes(blake3(bytes), cid.multihash.digest)) throw new CkptError('CORRUPT_OBJECT', `block ${cidString(cid)} does not match its id`, { details: { id: cidString(cid) } })
  return { cid, bytes: Uint8Array.from(bytes) }
}

function decodeOrUndefined(block: Block): { type?: unknown } | undefined {
  if (block.cid.code !== DAG_JSON_CODE) return undefined
  try {
    const node = decodeNode(block.bytes)
    return node !== null && typeof node === 'object' ? (node as { type?: unknown }) : undefined
  } catch {
    return undefined
  }
}

const isRefsBlock = (block: Block) => decodeOrUndefined(block)?.type === REFS_TYPE
const isManifestBlock = (block: Block) => decodeOrUndefined(block)?.type === 'chunked-blob'

function parseRefs(bytes: Uint8Array): Array<{ ref: string; id: CID }> {
  const node = decodeNode(bytes) as { refs?: Record<string, unknown> }
  const out: Array<{ ref: string; id: CID }> = []
  for (const [ref, value] of Object.entries(node.refs ?? {})) {
    const id = CID.asCID(value)
    if (!id || !(ref.startsWith(TIMELINE_PREFIX) || ref.startsWith(TAG_PREFIX))) throw new CkptError('CORRUPT_OBJECT', `the CAR's refs block names ${JSON.stringify(ref)} badly`)
    checkRefName(ref.slice(ref.indexOf('/') + 1), ref.startsWith(TAG_PREFIX) ? 'tag name' : 'timeline name')
    out.push({ ref, id })
  }
  return out
}

/**
 * Stores a chunked blob's manifest under its blob's key, once its chunks are stored and, read in
 * order, hash to the blob's id: a manifest is trusted only for what it proves.
 */
async function storeManifest(ctx: StoreContext, block: Block): Promise<void> {
  const claimed = decodeNode(block.bytes) as { blake3?: unknown }
  const blob = typeof claimed.blake3 === 'string' && /^[0-9a-f]{64}$/.test(claimed.blake3) ? cidFromDigest(RAW_CODE, Buffer.from(claimed.blake3, 'hex')) : undefined
  if (!blob) throw new CkptError('CORRUPT_OBJECT', `manifest block ${cidString(block.cid)} names no blob`)
  const manifest = decodeManifest(blob, block.bytes)
  const whole = createBlake3()
  for (const chunk of manifest.chunks) whole.update(await ctx.objects.getBytes(chunk.cid))
  if (!equalBytes(whole.digest(), blob.multihash.digest)) {
    throw new CkptError('CORRUPT_OBJECT', `manifest block ${cidString(block.cid)}: its chunks do not hash to blob ${cidString(blob)}`, { details: { id: cidString(blob) } })
  }
  await ctx.objects.store.putMany([{ key: manifestKey(blob), value: block.bytes }])
}

/**
 * Creates `ref` at `id`, or fast-forwards it there; anything else only with `force`. By
 * compare-and-swap, logged as `why`. REF_CONFLICT otherwise, moving nothing.
 */
export async function moveRef(ctx: StoreContext, ref: string, id: CID, force: boolean, why: string): Promise<ImportResult['refs'][number]['action']> {
  const kind = ref.startsWith(TAG_PREFIX) ? 'tag' : 'timeline'
  const current = (await ctx.refs.read(ref)) ?? null
  const target = cidString(id)
  if (current === target) return 'unchanged'
  if (current === null) {
    await ctx.refs.update([{ ref, expected: null, value: target }], `${why}: created`)
    return 'created'
  }
  const forward = kind !== 'tag' && (await reachesBack(ctx, tryParseCid(current), id))
  if (!forward && !force) {
    throw new CkptError('REF_CONFLICT', `${why} would move ${ref} from ${current} to ${target}, which is not a fast-forward; use force`, {
      details: { ref, expected: current, actual: target },
    })
  }
  await ctx.refs.update([{ ref, expected: current, value: target }], `${why}: ${forward ? 'fast-forward' : 'forced'}`)
  return forward ? 'fast-forward' : 'forced'
}

/**
 * Every id a ref is about to name must be a checkpoint node whose whole closure is stored:
 * CORRUPT_OBJECT for anything else (a blob, a tree), NOT_FOUND for a missing object. Checked for
 * all ids before any ref moves, so a refused import moves none.
 */
export async function checkRefTargets(ctx: StoreContext, ids: readonly CID[], complete: readonly CID[]): Promise<void> {
  for (const id of ids) {
    if (id.code !== DAG_JSON_CODE) throw notACheckpoint(id)
    try {
      await ctx.loadCheckpoint(id)
    } catch (err) {
      if (isCkptError(err, 'NOT_FOUND') && (await ctx.objects.has(id))) throw notACheckpoint(id)
      throw err
    }
  }
  await checkClosure(ctx, ids, complete)
}

function notACheckpoint(id: CID): CkptError {
  return new CkptError('CORRUPT_OBJECT', `a ref would name ${cidString(id)}, which is not a checkpoint`, { details: { id: cidString(id) } })
}

/** isAncestor, where a history that ends early (older checkpoints never received) means no. */
async function reachesBack(ctx: StoreContext, ancestor: CID | undefined, of: CID): Promise<boolean> {
  if (!ancestor) return false
  try {
    return await isAncestor(ctx, ancestor, of)
  } catch (err) {
    if (!isCkptError(err, 'NOT_FOUND')) throw err
  }
  return false
}
