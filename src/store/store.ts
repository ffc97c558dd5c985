import { Readable } from 'node:stream'
import { CkptError, isCkptError } from '../errors.js'
import type { Backend } from '../backend/interface.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidString, parseCid, tryParseCid } from '../model/cid.js'
import type { CheckpointNode } from '../model/checkpoint.js'
import { parsePointer, selectPointer } from '../model/pointer.js'
import { readTree, treeSummary } from '../model/tree.js'
import { defineOwn, restoreBytes } from '../model/value.js'
import { checkRefName } from '../refs/names.js'
import { HEAD, SYMBOLIC, TAG_PREFIX, TIMELINE_PREFIX, headValue, tagRef, timelineRef } from '../refs/refdb.js'
import { symbolicTargetAt } from '../refs/revision.js'
import { writeCheckoutDir } from '../checkout/write-dir.js'
import { diffCheckpoints, diffOutputs, type StageOutputRef } from '../diff/diff.js'
import type { DiffOptions, DiffResult } from '../diff/types.js'
import { makeBlock } from '../core/block.js'
import type { ByteRange } from '../core/blob-stream.js'
import { commit, prepareOutput } from '../core/commit.js'
import { StoreContext, outputKind, toCheckpoint } from '../core/context.js'
import { Directory } from '../core/directory.js'
import { StoreIndex } from '../core/index-refs.js'
import { walkHistory, walkLog } from '../core/log.js'
import { reachableOnlyFrom } from '../core/ancestry.js'
import { mergeBase } from '../core/ancestry.js'
import { merge, type MergeOptions, type MergeResult } from '../core/merge.js'
import { amend, cherryPick, resetTimeline, revert, type AmendOptions, type PickOptions, type PickResult, type ResetResult } from '../core/rewrite.js'
import { Tags, Timelines } from '../core/timelines.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { fsck, repair } from '../maintenance/fsck.js'
import { gc } from '../maintenance/gc.js'
import { Pins } from '../maintenance/pins.js'
import { DEFAULT_REFLOG_EXPIRE_MS, expireReflogs } from '../maintenance/reflog-expire.js'
import { Retention } from '../maintenance/retention.js'
import { storeStats, type StoreStats } from '../maintenance/stats.js'
import { exportCar, importCar, type ImportResult } from '../sync/car.js'
import { selectForExport } from '../sync/select.js'
import { exportGit, type GitExportOptions, type GitExportResult } from '../sync/git/export.js'
import { importGit, type GitImportOptions, type GitImportResult } from '../sync/git/import.js'
import { Remotes, type RemoteStores } from '../sync/remotes.js'
import { listRuns, type RunFilter, type RunSummary } from '../pipeline/runs.js'
import type {
  Checkpoint,
  CheckpointSummary,
  CheckoutMove,
  RestoreOptions,
  RestoreResult,
  CommitOptions,
  FsckOptions,
  FsckReport,
  GcOptions,
  GcResult,
  HeadInfo,
  LogOptions,
  OutputInfo,
  OutputKind,
  StageOutput,
  ReflogExpireOptions,
  ReflogRecord,
  RepairOptions,
  RepairResult,
} from '../core/types.js'
import { WriterLease, lostLease } from '../core/writer-lease.js'

/**
 * An open checkpoint store. Every method that names a checkpoint accepts any revision:
 * a full id, a short id, a timeline or tag name, HEAD, `rev~N`, `rev^N`, `name@{N}`.
 */
export class Store implements CheckpointStore {
  readonly #backend: Backend
  /** The backend makes writes survive power loss (LevelDB's `fsync` durability): checkout fsyncs what it writes, too. */
  readonly #durable: boolean
  readonly #ctx: StoreContext

  /** Timelines: named, movable heads (git's branches). */
  readonly timelines: Timelines
  /** Tags: names fixed on one checkpoint. */
  readonly tags: Tags
  /** Named pointers for tools built on the store (run indexes, thread maps). */
  readonly index: StoreIndex
  /** Pinned checkpoints: kept, with their history, whatever retention says. */
  readonly pins: Pins
  /** Per-timeline retention policies, applied by {@link Store.gc}. */
  readonly retention: Retention
  /** Other stores to push to and fetch from (docs/sync.md). */
  readonly remotes: Remotes

  /** @internal Use {@link openStore} or {@link initStore}. */
  constructor(backend: Backend, ctx: StoreContext, wiring: { durable: boolean; remotes: RemoteStores }) {
    this.#backend = backend
    this.#durable = wiring.durable
    this.#ctx = ctx
    this.timelines = new Timelines(this.#ctx)
    this.tags = new Tags(this.#ctx)
    this.index = new StoreIndex(this.#ctx.refs, () => this.#ctx.assertOpen())
    this.pins = new Pins(this.#ctx)
    this.retention = new Retention(this.#ctx)
    this.remotes = new Remotes(this.#ctx, wiring.remotes)
  }

  /** Where the store lives, e.g. `level:/path/.ckpt/db`. */
  get description(): string {
    return this.#backend.description
  }

  /**
   * Stores bytes as a blob; returns its id (a raw CID whose digest is the bytes' BLAKE3). Blobs over
   * 1 MiB are stored as content-defined chunks, so a slightly edited copy costs only the chunks
   * around the edit; the id is the same however the blob is stored.
   */
  async putBlob(bytes: Uint8Array): Promise<string> {
    this.#open()
    if (!(bytes instanceof Uint8Array)) throw new CkptError('INVALID_ARGUMENT', 'putBlob takes a Uint8Array')
    const block = makeBlock(RAW_CODE, bytes)
    await this.#ctx.objects.putBlocks([block])
    return cidString(block.cid)
  }

  /** Stores a stream of bytes (e.g. `fs.createReadStream(file)`) as one blob, in bounded memory; returns its id. */
  async putBlobStream(source: AsyncIterable<Uint8Array | string>): Promise<string> {
    this.#open()
    // The lease keeps gc off the chunks until the blob is whole (then it is like any putBlob).
    const lease = await WriterLease.take(this.#ctx)
    try {
      const blob = await this.#ctx.objects.putBlobStream(source)
      await this.#ctx.refs.update([await lease.closing()], 'writer: done').catch((err: unknown) => {
        throw isCkptError(err, 'REF_CONFLICT') ? lostLease() : err
      })
      return cidString(blob)
    } finally {
      await lease.release()
    }
  }

  /** The verified bytes of a blob (an id, or `rev:stage` of a bytes output), or of `range` of it. */
  async getBlob(idOrRevision: string, range?: ByteRange): Promise<Uint8Array> {
    const cid = await this.#blobId(idOrRevision)
    if (range === undefined) return this.#ctx.objects.getBytes(cid)
    const pieces: Uint8Array[] = []
    for await (const piece of this.#ctx.objects.readBlob(cid, range)) pieces.push(piece)
    return pieces.length === 1 ? pieces[0]! : new Uint8Array(Buffer.concat(pieces))
  }

  /** {@link getBlob} of each, whole, in order; the blobs are read together (faster for many small ones). */
  async getBlobs(idsOrRevisions: readonly string[]): Promise<Uint8Array[]> {
    const cids = await Promise.all(idsOrRevisions.map((id) => this.#blobId(id)))
    return this.#ctx.objects.getBytesMany(cids)
  }

  /**
   * A blob (or `range` of it) as a readable stream of verified pieces. Memory stays bounded
   * whatever the blob's size, and a range reads only the chunks it touches.
   */
  getBlobStream(idOrRevision: string, range?: ByteRange): Readable {
    return Readable.from((async function* (store: Store) {
      yield* store.#ctx.objects.readBlob(await store.#blobId(idOrRevision), range)
    })(this), { objectMode: false })
  }

  async #blobId(idOrRevision: string): Promise<CID> {
    this.#open()
    const { id: cid } = await this.#ctx.resolveWholeOutput(idOrRevision)
    if (cid.code !== RAW_CODE) throw new CkptError('INVALID_ARGUMENT', `${idOrRevision} is a JSON output, not bytes; use getOutput`)
    return cid
  }

  /** Stores an output value (JSON, bytes, or JSON with bytes inside) without committing it; returns its id. */
  async putOutput(value: unknown): Promise<string> {
    this.#open()
    const prepared = prepareOutput(value, 'output')
    await this.#ctx.objects.putBlocks(prepared.blocks)
    return cidString(prepared.cid)
  }

  /**
   * An output by id or `rev:stage`, with bytes restored as Uint8Array. `rev:stage/json/pointer`
   * selects inside a JSON output (RFC 6901).
   */
  async getOutput(idOrRevision: string): Promise<StageOutput> {
    this.#open()
    const { id, pointer, kind } = await this.#ctx.resolveOutput(idOrRevision)
    if (pointer === undefined) return this.#readOutput(id, kind)
    if (kind === 'bytes') throw new CkptError('INVALID_REVISION', `"${idOrRevision}": a JSON pointer cannot select inside bytes`, { details: { revision: idOrRevision } })
    if (kind === 'tree') return this.#readTreeFile(id, pointer)
    const node = selectPointer(await this.#ctx.objects.getNode(id), pointer)
    return restoreBytes(node, (blob) => this.#ctx.objects.getBytes(blob))
  }

  /** In a directory output, `rev:stage/a/b.png` names the file `a/b.png`. */
  async #readTreeFile(root: CID, pointer: string): Promise<Uint8Array> {
    const file = parsePointer(pointer).join('/')
    const entry = (await this.#treeEntries(root)).find((e) => e.path === file)
    if (!entry) throw new CkptError('NOT_FOUND', `no file "${file}" in the directory output`, { details: { path: file } })
    return this.#ctx.objects.getBytes(entry.cid)
  }

  #treeEntries(root: CID) {
    return readTree(root, (cid) => this.#ctx.objects.getNode(cid))
  }

  /** An output's kind and stored size, by id or `rev:stage`. */
  async outputInfo(idOrRevision: string): Promise<OutputInfo> {
    this.#open()
    const { id, kind } = await this.#ctx.resolveWholeOutput(idOrRevision)
    if (kind === 'bytes') return { id: cidString(id), kind, size: (await this.#ctx.objects.sizeOf(id)).size }
    if (kind !== 'tree') return { id: cidString(id), kind, size: (await this.#ctx.objects.getBytes(id)).length }
    const summary = treeSummary(await this.#ctx.objects.getNode(id))
    return { id: cidString(id), kind, size: summary?.size ?? 0, files: summary?.files ?? 0 }
  }

  async #readOutput(cid: CID, kind: OutputKind): Promise<StageOutput> {
    if (kind === 'bytes') return this.#ctx.objects.getBytes(cid)
    if (kind === 'tree') {
      const files = new Map<string, Uint8Array>()
      for (const entry of await this.#treeEntries(cid)) files.set(entry.path, await this.#ctx.objects.getBytes(entry.cid))
      return new Directory(files)
    }
    return restoreBytes(await this.#ctx.objects.getNode(cid), (blob) => this.#ctx.objects.getBytes(blob))
  }

  /** Records a checkpoint; see {@link CommitOptions}. The timeline moves only by compare-and-swap. */
  async commit(options: CommitOptions): Promise<Checkpoint> {
    this.#open()
    return commit(this.#ctx, options)
  }

  /** The checkpoint a revision names. */
  async getCheckpoint(revision: string): Promise<Checkpoint> {
    this.#open()
    const cid = await this.#ctx.resolveCheckpointId(revision)
    return toCheckpoint(cid, await this.#ctx.loadCheckpoint(cid))
  }

  /**
   * The checkpoints the revisions name, in order: {@link getCheckpoint} of each, with the
   * checkpoints not in memory read together (a listing of many reads them faster this way).
   */
  async getCheckpoints(revisions: readonly string[]): Promise<Checkpoint[]> {
    this.#open()
    // Full ids, as most callers give, are read first, together: resolving them then finds them in memory.
    await this.#ctx.prefetchCheckpoints(revisions.map(tryParseCid).filter((cid) => cid !== undefined))
    return Promise.all(revisions.map((revision) => this.getCheckpoint(revision)))
  }

  /** The full id a revision names: a checkpoint, or with `:stage` that stage's output (like `git rev-parse`). */
  async resolve(revision: string): Promise<string> {
    this.#open()
    const { id, pointer } = await this.#ctx.resolveAny(revision)
    if (pointer !== undefined) {
      throw new CkptError('INVALID_REVISION', `"${revision}" points inside an output, which has no id of its own; use getOutput`, { details: { revision } })
    }
    return cidString(id)
  }

  /** History newest first, read lazily: stop iterating and nothing more is read. Default start: HEAD. */
  log(revisions: string | readonly string[] = HEAD, options: LogOptions = {}): AsyncIterable<Checkpoint> {
    return whenIterated(() => {
      this.#open()
      return walkLog(this.#ctx, this.#starts(revisions), options)
    })
  }

  /**
   * {@link log} without outputs, config or meta: what `ckpt log` prints. On a long history it
   * reads one history segment per 256 checkpoints instead of each checkpoint (docs/performance.md),
   * several times faster than `log`. The `meta` and `changed` filters still read each checkpoint.
   */
  history(revisions: string | readonly string[] = HEAD, options: LogOptions = {}): AsyncIterable<CheckpointSummary> {
    return whenIterated(() => {
      this.#open()
      return walkHistory(this.#ctx, this.#starts(revisions), options)
    })
  }

  async #starts(revisions: string | readonly string[]): Promise<CID[]> {
    const list = typeof revisions === 'string' ? [revisions] : revisions
    return Promise.all(list.map((r) => this.#ctx.resolveCheckpointId(r)))
  }

  /**
   * For each stage of a checkpoint, the checkpoint that recorded its current output: the oldest
   * along first parents that already had the same output id. Reads history only as far back as
   * the oldest such stage (at most `depth` checkpoints).
   */
  async origins(revision: string, depth = 10_000): Promise<Record<string, Checkpoint>> {
    this.#open()
    const head = await this.getCheckpoint(revision)
    const pending = new Map(Object.entries(head.stages))
    const found: Record<string, Checkpoint> = {}
    let previous = head
    let seen = 0
    for await (const c of this.log(head.id, { firstParent: true })) {
      for (const [stage, id] of pending) {
        if (c.stages[stage] !== id) {
          defineOwn(found, stage, previous)
          pending.delete(stage)
        }
      }
      previous = c
      if (pending.size === 0 || ++seen >= depth) break
    }
    for (const stage of pending.keys()) defineOwn(found, stage, previous)
    return found
  }

  /** The nearest common ancestor of two checkpoints (`git merge-base`); undefined when their histories never meet. */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    this.#open()
    const [x, y] = await Promise.all([this.#ctx.resolveCheckpointId(a), this.#ctx.resolveCheckpointId(b)])
    const base = await mergeBase(this.#ctx, x, y)
    return base && cidString(base)
  }

  /**
   * Merges `revision` into a timeline (default: HEAD's): a fast-forward when its head is an
   * ancestor, else a checkpoint with two parents whose stages are the union of both sides. Stages
   * changed on both sides since the merge base are conflicts: MERGE_CONFLICT, nothing written,
   * unless `resolve` or `stages` settles them. REF_CONFLICT when the timeline moved meanwhile.
   */
  async merge(revision: string, options: MergeOptions = {}): Promise<MergeResult> {
    this.#open()
    return merge(this.#ctx, revision, options)
  }

  /** Applies `revision`'s stage changes (against its first parent) onto a timeline's head, as a new checkpoint (`git cherry-pick`). */
  async cherryPick(revision: string, options: PickOptions = {}): Promise<PickResult> {
    this.#open()
    return cherryPick(this.#ctx, revision, options)
  }

  /** Records a checkpoint undoing `revision`'s stage changes against its first parent (`git revert`). */
  async revert(revision: string, options: PickOptions = {}): Promise<PickResult> {
    this.#open()
    return revert(this.#ctx, revision, options)
  }

  /** Replaces a timeline's head checkpoint: same parents, the given outputs over its stages (`git commit --amend`). */
  async amend(options: AmendOptions = {}): Promise<Checkpoint> {
    this.#open()
    return amend(this.#ctx, options)
  }

  /**
   * Moves a timeline (default: HEAD's) to any checkpoint, backwards too (`git reset`), recorded in
   * its reflog; reports the checkpoints no ref reaches any more. REF_CONFLICT when it moved meanwhile.
   */
  async resetTimeline(revision: string, options: { timeline?: string } = {}): Promise<ResetResult> {
    this.#open()
    return resetTimeline(this.#ctx, revision, options)
  }

  /**
   * Space used by every checkpoint a timeline, tag or detached HEAD reaches, like restic's
   * `stats`: restored size, distinct stored objects and bytes after dedupe, and their ratio, in
   * total, per timeline and per stage. Reads every checkpoint and each distinct output once.
   */
  async stats(): Promise<StoreStats> {
    this.#open()
    return storeStats(this.#ctx)
  }

  /**
   * Stage-by-stage comparison of two checkpoints, with JSON paths for changed JSON outputs; or,
   * given `REV:STAGE` on both sides, of those two outputs (any stages, any checkpoints).
   */
  async diff(from: string, to: string, options: DiffOptions = {}): Promise<DiffResult> {
    this.#open()
    const [a, b] = await Promise.all([this.#ctx.resolveAny(from), this.#ctx.resolveAny(to)])
    if (a.stage === undefined && b.stage === undefined) return diffCheckpoints(this.#ctx, a.id, b.id, options)
    if (a.stage === undefined || b.stage === undefined || a.pointer !== undefined || b.pointer !== undefined) {
      throw new CkptError('INVALID_ARGUMENT', `compare two checkpoints or two stage outputs (REV:STAGE), not "${from}" with "${to}"`, { details: { from, to } })
    }
    return diffOutputs(this.#ctx, a as StageOutputRef, b as StageOutputRef, options)
  }

  /**
   * A checkpoint's stage outputs (every stage, or `stages`): returned in memory, or with `to`
   * streamed into that folder whatever their size. HEAD never moves (`git restore`, `dvc get`);
   * {@link checkout} moves HEAD.
   */
  async restore(revision: string, options: RestoreOptions = {}): Promise<RestoreResult> {
    this.#open()
    const cid = await this.#ctx.resolveCheckpointId(revision)
    const node = onlyStages(await this.#ctx.loadCheckpoint(cid), options.stages, revision)
    if (options.to !== undefined) {
      // Streamed to disk, never held in memory: a checkpoint may hold outputs of many GiB.
      const { written, renamed } = await writeCheckoutDir(this.#ctx.objects, cid, node, options.to, {
        force: options.force ?? false,
        durable: this.#durable,
        onProgress: options.onProgress,
        onBytes: options.onBytes,
      })
      return { checkpoint: toCheckpoint(cid, node), outputs: {}, written, renamed }
    }
    const outputs: Record<string, StageOutput> = {}
    for (const [stage, output] of node.stages) {
      defineOwn(outputs, stage, await this.#readOutput(output, outputKind(node, stage, output)))
    }
    return { checkpoint: toCheckpoint(cid, node), outputs, written: [], renamed: [] }
  }

  /**
   * Moves HEAD, as `git checkout`/`git switch`: onto a timeline when `target` names one, else
   * detached at the checkpoint it resolves to. Writes no files ({@link restore} does). Says which
   * checkpoint a detached HEAD leaves behind when no timeline or tag reaches it.
   */
  async checkout(target: string): Promise<CheckoutMove> {
    this.#open()
    const before = await this.head()
    const head = await this.setHead(target)
    if (!before.detached || before.checkpoint === undefined || before.checkpoint === head.checkpoint) return { head }
    const names = [...(await this.#ctx.refs.list(TIMELINE_PREFIX)), ...(await this.#ctx.refs.list(TAG_PREFIX))]
    const left = await reachableOnlyFrom(this.#ctx, parseCid(before.checkpoint), names.map((n) => n.id))
    return left.length > 0 ? { head, leftBehind: left.map(cidString) } : { head }
  }

  /** Where HEAD is. */
  async head(): Promise<HeadInfo> {
    this.#open()
    const head = await this.#ctx.refs.head()
    if (!head) return { detached: false }
    if (head.target.kind === 'detached') return { detached: true, checkpoint: cidString(head.target.checkpoint) }
    const id = await this.#ctx.refs.readCid(timelineRef(head.target.timeline))
    return { detached: false, timeline: head.target.timeline, ...(id && { checkpoint: cidString(id) }) }
  }

  /** Moves HEAD: onto a timeline when `target` names one, otherwise detached at the checkpoint `target` resolves to. */
  async setHead(target: string): Promise<HeadInfo> {
    this.#open()
    if (target === HEAD || target === '@') return this.head()
    const before = await this.#ctx.refs.head()
    const name = target.startsWith(TIMELINE_PREFIX) ? target.slice(TIMELINE_PREFIX.length) : target
    // Already on it, though it has no checkpoints yet (a new store's main): nothing to move.
    if (before?.raw === headValue({ kind: 'timeline', timeline: name })) return this.head()
    const isTimeline = /^[^~^:@]+$/.test(name) && (await this.#ctx.refs.read(timelineRef(name))) !== undefined
    const value = isTimeline
      ? headValue({ kind: 'timeline', timeline: name })
      : headValue({ kind: 'detached', checkpoint: await this.#ctx.resolveCheckpointId(target) })
    // Staying where it is writes nothing, so `checkout --to` works on a store that cannot be written.
    if (before?.raw === value) return this.head()
    await this.#ctx.refs.update([{ ref: HEAD, expected: before?.raw ?? null, value }], `checkout: moving to ${target}`)
    return this.head()
  }

  /** A ref's log, newest first (`name@{0}` first). `ref` is a timeline or tag name, `HEAD`, or a full ref name. */
  async reflog(ref: string, options: { limit?: number } = {}): Promise<ReflogRecord[]> {
    this.#open()
    const full = await this.#refName(ref)
    const entries = await this.#ctx.refs.reflog(full, { newestFirst: true, ...(options.limit !== undefined && { limit: options.limit }) })
    if (entries.length === 0 && full !== HEAD && (await this.#ctx.refs.read(full)) === undefined) {
      throw new CkptError('NOT_FOUND', `no timeline or tag named "${ref}" (and no reflog of one)`, { details: { ref } })
    }
    const reached = async (e: (typeof entries)[number]) =>
      e.new?.startsWith(SYMBOLIC) ? ((await symbolicTargetAt(this.#ctx.refs, e.new.slice(SYMBOLIC.length), e.time)) ?? null) : e.new
    return Promise.all(entries.map(async (e, index) => ({ index, old: e.old, new: e.new, checkpoint: await reached(e), time: new Date(e.time), reason: e.reason })))
  }

  async #refName(ref: string): Promise<string> {
    if (ref === HEAD || ref.startsWith(TIMELINE_PREFIX) || ref.startsWith(TAG_PREFIX)) return ref
    checkRefName(ref)
    const tag = await this.#ctx.refs.read(tagRef(ref))
    return tag !== undefined && (await this.#ctx.refs.read(timelineRef(ref))) === undefined ? tagRef(ref) : timelineRef(ref)
  }

  /**
   * Pipeline runs recorded in this store, newest first: `{ job }` answers "which runs, and which
   * timeline, does job J use", `{ status: 'failed' }` what to resume. Filters by job, timeline and
   * status read only the matching runs. A run whose process is gone shows as `interrupted`.
   */
  async runs(filter: RunFilter = {}): Promise<RunSummary[]> {
    this.#ctx.assertOpen()
    return listRuns(this, filter)
  }

  /**
   * Verifies everything reachable from every ref and reflog entry: each object exists,
   * re-hashes to its id (bytes skipped with `quick`) and decodes, and each link resolves.
   * Read-only; see docs/maintenance.md.
   */
  async fsck(options: FsckOptions = {}): Promise<FsckReport> {
    this.#open()
    return fsck(this.#ctx, options)
  }

  /**
   * Moves only timelines and tags whose own checkpoint or outputs are damaged, to their newest
   * intact reflog entry; damaged older history is cut below the newest intact point. Deletes
   * nothing. With `dryRun`, reports what it would do and changes nothing.
   */
  async repair(options: RepairOptions = {}): Promise<RepairResult> {
    this.#open()
    return repair(this.#ctx, options)
  }

  /**
   * Reclaims the space of everything nothing reaches: applies retention policies, expires old
   * reflog entries, then deletes unreachable objects older than the grace window. Safe beside
   * live writers in this and other processes; see docs/maintenance.md.
   */
  async gc(options: GcOptions = {}): Promise<GcResult> {
    this.#open()
    if (options.dryRun) return gc(this.#ctx, options)
    const retention = await this.retention.apply()
    const expired = await expireReflogs(this.#ctx, this.#ctx.now() - (options.reflogExpireMs ?? DEFAULT_REFLOG_EXPIRE_MS))
    try {
      return await gc(this.#ctx, options, { retention, reflogEntriesExpired: expired.entries })
    } finally {
      this.#ctx.forgetCheckpoints()
    }
  }

  /** Deletes reflog entries older than `before` (default 90 days ago), like `git reflog expire`. */
  async expireReflogs(options: ReflogExpireOptions = {}): Promise<{ refs: number; entries: number }> {
    this.#open()
    const before = options.before === undefined ? this.#ctx.now() - DEFAULT_REFLOG_EXPIRE_MS : new Date(options.before).getTime()
    if (!Number.isFinite(before)) throw new CkptError('INVALID_ARGUMENT', `reflog expiry: ${String(options.before)} is not a valid instant`)
    const refs = options.refs === undefined ? undefined : await Promise.all(options.refs.map((ref) => this.#refName(ref)))
    return expireReflogs(this.#ctx, before, refs)
  }

  /**
   * The closure of the named checkpoints as a CAR v1 file, streamed in bounded memory: `REV` is
   * REV with its whole history, `A..B` only what B has that A lacks (incremental transfer).
   * Timeline and tag names given travel in the file. `counts` is filled in as it streams.
   * See docs/sync.md.
   */
  async *exportCar(revisions: string | readonly string[], counts?: { blocks: number; bytes: number }): AsyncIterable<Uint8Array> {
    this.#open()
    const selection = await selectForExport(this.#ctx, typeof revisions === 'string' ? [revisions] : revisions)
    yield* exportCar(this.#ctx, selection, counts)
  }

  /**
   * Imports a CAR written by {@link Store.exportCar}: every block is verified against its id, the
   * closure of each root must be complete, then its timelines and tags are created or
   * fast-forwarded (anything else only with `force`). A bad file changes no ref.
   */
  async importCar(source: AsyncIterable<Uint8Array>, options: { force?: boolean } = {}): Promise<ImportResult> {
    this.#open()
    return importCar(this.#ctx, source, options)
  }

  /**
   * Mirrors timelines into a git repository (created bare when `dir` is missing or empty): each
   * checkpoint a commit with the same parents, author and time, one file or folder per stage;
   * each timeline a branch, each tag a tag. Reruns write only new checkpoints, and the same
   * checkpoints always give the same commit ids, so the mirror can be pushed to any git server.
   */
  async exportGit(dir: string, options: GitExportOptions = {}): Promise<GitExportResult> {
    this.#open()
    return exportGit(this.#ctx, dir, options)
  }

  /**
   * Reads a branch of a mirror written by {@link Store.exportGit} back into checkpoints with
   * identical ids, then creates or fast-forwards the timeline (anything else only with `force`).
   * Every object is verified by content; an edited or foreign commit is refused and moves no ref.
   */
  async importGit(dir: string, branch: string, options: GitImportOptions = {}): Promise<GitImportResult> {
    this.#open()
    return importGit(this.#ctx, dir, branch, options)
  }

  /** Every object id in the store (checkpoints, outputs, blobs), in key order. */
  async *objects(): AsyncIterable<{ id: string; kind: 'json' | 'bytes' }> {
    this.#open()
    for await (const cid of this.#ctx.objects.list()) yield { id: cidString(cid), kind: cid.code === DAG_JSON_CODE ? 'json' : 'bytes' }
  }

  /**
   * Tells the store that this thread is about to run code that may block it for long (a
   * pipeline's stages). With the LevelDB backend, the database then moves to a worker thread so
   * other processes keep their answers; the pipeline runner calls it before running stages.
   */
  async prepareForBlockingWork(): Promise<void> {
    this.#open()
    if (this.#backend.supports.blockingWorkHandoff) await this.#backend.prepareForBlockingWork?.()
  }

  /** Closes the store; with the LevelDB backend another process may then take over. */
  async close(): Promise<void> {
    if (this.#ctx.closed) return
    this.#ctx.markClosed()
    await this.#backend.close()
  }

  #open(): void {
    this.#ctx.assertOpen()
  }
}

/** `node` with only `stages` (all when undefined); NOT_FOUND naming a stage it does not have. */
function onlyStages(node: CheckpointNode, stages: readonly string[] | undefined, revision: string): CheckpointNode {
  if (stages === undefined) return node
  const missing = stages.filter((s) => !node.stages.has(s))
  if (missing.length > 0) {
    throw new CkptError('NOT_FOUND', `${revision} has no stage ${missing.map((s) => `"${s}"`).join(', ')} (stages: ${[...node.stages.keys()].join(', ') || 'none'})`, { details: { stages: missing } })
  }
  const wanted = new Set(stages)
  return { ...node, stages: new Map([...node.stages].filter(([name]) => wanted.has(name))), trees: node.trees.filter((t) => wanted.has(t)) }
}

/**
 * An iterable that calls `make` when iteration starts, as an async generator would run its body:
 * a closed store or a bad revision fails the loop, not the call. Unlike `yield*` in a generator,
 * it adds no step per item.
 */
function whenIterated<T>(make: () => AsyncIterable<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => make()[Symbol.asyncIterator]() }
}
