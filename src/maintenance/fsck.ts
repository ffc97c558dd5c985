import type { StoreContext } from '../core/context.js'
import { SegmentCheck } from '../core/history-segments.js'
import { isCkptError } from '../errors.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidString, tryParseCid } from '../model/cid.js'
import { idOfKey } from '../model/manifest.js'
import { checkpointFromValue } from '../model/checkpoint.js'
import { readTree } from '../model/tree.js'
import { allLinks } from '../model/value.js'
import { HEAD, INDEX_PREFIX, META_PREFIX, PIN_PREFIX, TAG_PREFIX, TIMELINE_PREFIX, TRACKING_PREFIX } from '../refs/refdb.js'
import type { FsckOptions, FsckProblem, FsckReport, RepairOptions, RepairResult } from '../core/types.js'

/** What a reachable object is expected to be, which decides how it is checked and what it links to. */
type Expect = 'checkpoint' | 'json' | 'bytes' | 'tree' | 'unknown'

interface Visit {
  readonly cid: CID
  readonly expect: Expect
  /** The first ref this object was reached from. */
  readonly via: string
}

/**
 * Checks every object reachable from every ref and reflog entry: it exists, re-hashes to its
 * id (unless `quick`, for bytes), decodes, and every link it holds resolves. Reports each problem
 * with the ref that reaches it. Reads the store only.
 */
export async function fsck(ctx: StoreContext, options: FsckOptions = {}): Promise<FsckReport> {
  const problems: FsckProblem[] = []
  const seen = new Set<string>()
  const queue: Visit[] = []
  const enqueue = (cid: CID, expect: Expect, via: string) => enqueueOnce(seen, queue, { cid, expect, via })
  const problem = (id: string, kind: FsckProblem['kind'], message: string, ref: string) => problems.push({ id, kind, message, ref })

  const roots = await ctx.refs.listRaw('')
  let refsChecked = 0
  for (const { name, value } of roots) {
    refsChecked++
    if (name.startsWith(META_PREFIX)) continue
    const cid = tryParseCid(value)
    if (holdsCheckpoints(name) && !(name === HEAD && value.startsWith('ref: '))) {
      if (!cid) problem(value, 'bad-ref', `${name} holds "${value}", which is not a checkpoint id`, name)
      else enqueue(cid, 'checkpoint', name)
    }
  }
  for (const name of await ctx.refs.listReflogNames('')) {
    for (const entry of await ctx.refs.reflog(name)) {
      // What gc keeps (gc.ts): each entry's new value, or a deleted ref's last value.
      const value = entry.new ?? entry.old
      const cid = value === null ? undefined : tryParseCid(value)
      if (cid && holdsCheckpoints(name)) enqueue(cid, 'checkpoint', `${name} (reflog)`)
    }
  }

  for (const { name } of await lostRefs(ctx)) problem(name, 'bad-ref', `${name} is gone, though its reflog never recorded its deletion`, name)
  const cuts = await ctx.refs.cuts()
  const segments = new SegmentCheck(ctx)
  const history = await walk(ctx, queue, seen, { ...options, cuts, segments }, problem)
  // Index pointers last, so objects reachable from history are checked as what history says they are.
  for (const { name, value } of roots) {
    const cid = name.startsWith(INDEX_PREFIX) ? tryParseCid(value) : undefined
    if (cid) enqueue(cid, 'unknown', name)
  }
  const indexed = await walk(ctx, queue, seen, { ...options, cuts, segments }, problem)
  // A backend that declares no check of its own structures has them skipped, and the report says so.
  const { store, supports } = ctx.objects
  const storageChecked = supports.storageCheck && store.checkStorage !== undefined
  for (const { key, message } of storageChecked ? await store.checkStorage!() : []) {
    const id = key === undefined ? '(storage)' : idOfKey(key)
    problem(id, 'corrupt', message, '(storage index)')
  }
  const checked = { refs: refsChecked, objects: history.objects + indexed.objects, checkpoints: history.checkpoints + indexed.checkpoints }
  return { ok: problems.length === 0, problems, checked, storageChecked }
}

/** Timelines, tags, pins and HEAD name checkpoints; index pointers may name any object. */
function holdsCheckpoints(ref: string): boolean {
  return ref.startsWith(TIMELINE_PREFIX) || ref.startsWith(TAG_PREFIX) || ref.startsWith(PIN_PREFIX) || ref.startsWith(TRACKING_PREFIX) || ref === HEAD
}



function enqueueOnce(seen: Set<string>, queue: Visit[], visit: Visit): void {
  const key = visit.cid.toString()
  if (seen.has(key)) return
  seen.add(key)
  queue.push(visit)
}

type Report = (id: string, kind: FsckProblem['kind'], message: string, ref: string) => void

interface WalkOptions extends FsckOptions {
  readonly cuts?: ReadonlySet<string>
  /** Checkpoints whose parents are not followed at all: every checkpoint, or these. */
  readonly stopAt?: ReadonlySet<string> | 'all'
  /** Checks the history segments checkpoints carry too. */
  readonly segments?: SegmentCheck
}

/** Checks everything reachable from `queue`, reporting through `problem`. */
async function walk(
  ctx: StoreContext, queue: Visit[], seen: Set<string>, options: WalkOptions, problem: Report,
): Promise<{ objects: number; checkpoints: number }> {
  const enqueue = (cid: CID, expect: Expect, via: string) => enqueueOnce(seen, queue, { cid, expect, via })
  let objectsChecked = 0
  let checkpointsChecked = 0
  while (queue.length > 0) {
    const { cid, expect, via } = queue.pop() as Visit
    const id = cidString(cid)
    objectsChecked++
    options.onProgress?.(objectsChecked, objectsChecked + queue.length)
    if (cid.code === RAW_CODE) {
      await ctx.objects.checkBlob(cid, !options.quick).catch((err: unknown) => reportReadError(err, id, via, problem))
      continue
    }
    if (cid.code !== DAG_JSON_CODE) continue
    const node = await ctx.objects.getNode(cid).catch((err: unknown) => reportReadError(err, id, via, problem))
    if (node === undefined) continue
    if (expect === 'checkpoint') {
      let checkpoint
      try {
        checkpoint = checkpointFromValue(cid, node)
      } catch (err) {
        problem(id, 'corrupt', `checkpoint ${id}: ${(err as Error).message}`, via)
        continue
      }
      checkpointsChecked++
      // Derived data: a bad segment is reported, but leaves the checkpoint intact for repair.
      for (const bad of (await options.segments?.visit(cid, checkpoint)) ?? []) {
        problem(bad.id, 'corrupt', `checkpoint ${bad.id}: ${bad.message}`, via)
      }
      // At a retention cut, dropped parents are expected to be gone.
      const cut = options.cuts?.has(id) === true
      const stop = options.stopAt === 'all' || options.stopAt?.has(id) === true
      if (!stop) for (const parent of checkpoint.parents) if (!cut || (await ctx.objects.has(parent))) enqueue(parent, 'checkpoint', via)
      for (const [stage, output] of checkpoint.stages) enqueue(output, checkpoint.trees.includes(stage) ? 'tree' : output.code === RAW_CODE ? 'bytes' : 'json', via)
      continue
    }
    if (expect === 'tree') {
      // Inner tree nodes are checked (and counted) as readTree loads them.
      const load = (c: CID) => {
        if (!c.equals(cid)) {
          objectsChecked++
          seen.add(c.toString())
        }
        return ctx.objects.getNode(c)
      }
      const entries = await readTree(cid, load).catch((err: unknown) => reportReadError(err, id, via, problem))
      for (const entry of entries ?? []) enqueue(entry.cid, 'bytes', via)
      continue
    }
    for (const link of allLinks(node)) enqueue(link, 'unknown', via)
  }
  return { objects: objectsChecked, checkpoints: checkpointsChecked }
}

/**
 * Whether a checkpoint and everything it reaches is present and intact; history is not followed
 * past `stopAt` (every checkpoint: the checkpoint's own content only).
 */
async function intact(ctx: StoreContext, cid: CID, cuts: ReadonlySet<string>, stopAt?: ReadonlySet<string> | 'all'): Promise<boolean> {
  let ok = true
  await walk(ctx, [{ cid, expect: 'checkpoint', via: '' }], new Set([cid.toString()]), { quick: false, cuts, ...(stopAt && { stopAt }) }, () => (ok = false))
  return ok
}

/**
 * For every timeline and tag that reaches damage: when its own checkpoint and outputs are intact
 * it stays, its history cut below the newest intact point; otherwise it moves to the newest
 * reflog entry that is intact (or intact but for older history, then cut likewise). Never deletes
 * anything; a ref with no such entry is reported and left alone. `dryRun` changes nothing.
 */
export async function repair(ctx: StoreContext, options: RepairOptions = {}): Promise<RepairResult> {
  const write = options.dryRun !== true
  const restored: Array<{ ref: string; from: string; to: string }> = []
  const cut: Array<{ ref: string; at: string[] }> = []
  const unrecoverable: string[] = []
  const refs = [...(await ctx.refs.listRaw(TIMELINE_PREFIX)), ...(await ctx.refs.listRaw(TAG_PREFIX)), ...(await lostRefs(ctx))]
  const cuts = await ctx.refs.cuts()
  for (const { name, value } of refs) {
    const current = value === LOST ? undefined : tryParseCid(value)
    if (current && (await intact(ctx, current, cuts))) continue
    // Newest first: the newest version whose own content survived wins. Fully intact, the ref
    // moves there; intact but for lost history, it stays (or moves) there with that history cut,
    // as retention would cut it, so the newest work is never given up for older history.
    const entries = await ctx.refs.reflog(name, { newestFirst: true, limit: REPAIR_CANDIDATES })
    const candidates = [...new Set([value, ...entries.map((e) => e.new ?? LOST)])].filter((v) => v !== LOST)
    let done = false
    for (const text of candidates) {
      const candidate = tryParseCid(text)
      if (!candidate) continue
      if (text !== value && (await intact(ctx, candidate, cuts))) {
        if (write) await ctx.refs.update([{ ref: name, expected: value === LOST ? null : value, value: text }], 'fsck --repair: restored from reflog')
        restored.push({ ref: name, from: value, to: text })
        done = true
        break
      }
      const at = await cutLostHistory(ctx, name, value, text, cuts, write)
      if (at) {
        cut.push({ ref: name, at })
        done = true
        break
      }
    }
    if (!done) unrecoverable.push(name)
  }
  return { restored, cut, unrecoverable }
}

/** How many of a damaged ref's newest reflog entries repair tries, each a walk of its history. */
const REPAIR_CANDIDATES = 50

/**
 * When `text`'s own content is intact and only older history is lost or damaged, records cuts
 * where the history breaks and points the ref at it. Returns the cut checkpoints, or undefined.
 */
async function cutLostHistory(ctx: StoreContext, name: string, value: string, text: string, cuts: Set<string>, write: boolean): Promise<string[] | undefined> {
  const candidate = tryParseCid(text)
  if (!candidate) return undefined
  const boundary = await checkpointsWithDamagedParents(ctx, candidate, cuts).catch((err: unknown) => {
    if (isCkptError(err, 'NOT_FOUND') || isCkptError(err, 'CORRUPT_OBJECT')) return undefined
    throw err
  })
  if (!boundary || boundary.length === 0) return undefined
  const below = new Set(boundary)
  if (!(await intact(ctx, candidate, new Set([...cuts, ...boundary]), below))) return undefined
  for (const id of boundary) {
    if (!cuts.has(id) && write) await ctx.refs.addCut(id, `fsck --repair: history of ${name} lost`)
    cuts.add(id)
  }
  if (text !== value && write) await ctx.refs.update([{ ref: name, expected: value === LOST ? null : value, value: text }], 'fsck --repair: restored from reflog, history cut')
  return boundary
}

/**
 * The checkpoints in `head`'s history with a parent that is missing, unreadable, or whose own
 * outputs are damaged: the newest intact points, below which repair cuts. Parents a recorded cut
 * already dropped are not followed.
 */
async function checkpointsWithDamagedParents(ctx: StoreContext, head: CID, cuts: ReadonlySet<string>): Promise<string[]> {
  const boundary: string[] = []
  const seen = new Set<string>([head.toString()])
  const pending = [head]
  while (pending.length > 0) {
    const cid = pending.pop()!
    const node = await ctx.loadCheckpoint(cid)
    const cut = cuts.has(cid.toString())
    let lost = false
    for (const parent of node.parents) {
      if (cut && !(await ctx.objects.has(parent))) continue
      const readable = await intact(ctx, parent, cuts, 'all')
      if (!readable) lost = true
      else if (!seen.has(parent.toString())) {
        seen.add(parent.toString())
        pending.push(parent)
      }
    }
    if (lost) boundary.push(cid.toString())
  }
  return boundary
}

/** Stands for the value of a ref that is gone though its reflog says it was never deleted. */
const LOST = ''

/**
 * Timelines and tags whose reflog ends in a move, yet which do not exist: every deletion is
 * logged, so these were lost with damaged storage, and repair brings them back.
 */
async function lostRefs(ctx: StoreContext): Promise<Array<{ name: string; value: string }>> {
  const lost: Array<{ name: string; value: string }> = []
  for (const prefix of [TIMELINE_PREFIX, TAG_PREFIX]) {
    for (const name of await ctx.refs.listReflogNames(prefix)) {
      const [last] = await ctx.refs.reflog(name, { newestFirst: true, limit: 1 })
      if (last?.new != null && (await ctx.refs.read(name)) === undefined) lost.push({ name, value: LOST })
    }
  }
  return lost
}

function reportReadError(err: unknown, id: string, via: string, problem: Report): undefined {
  if (isCkptError(err, 'NOT_FOUND')) problem(id, 'missing', err.details?.chunk === undefined ? `object ${id} is missing` : err.message, via)
  else if (isCkptError(err, 'CORRUPT_OBJECT')) problem(id, 'corrupt', (err as Error).message, via)
  else throw err
  return undefined
}
