import type { JsonValue, OutputValue } from '../model/value.js'
import type { Directory } from './directory.js'

export type { JsonValue, OutputValue }

/**
 * What `history` (and `ckpt log`) shows of a checkpoint: everything but its outputs, config and
 * meta. Long histories serve it from history segments without reading each checkpoint.
 */
export interface CheckpointSummary {
  readonly id: string
  /** The first hex digits of the id's BLAKE3 digest, as `ckpt log` shows them. */
  readonly shortId: string
  readonly parents: readonly string[]
  /** Its sequence number along first parents: 1 for the first checkpoint of a history (`main#12` names the 12th). */
  readonly seq: number
  /** The stage whose output this checkpoint recorded, when one did. */
  readonly stage?: string
  readonly run?: string
  readonly job?: string
  readonly message: string
  readonly author: string
  readonly time: Date
  /**
   * Set by `log` when retention dropped this checkpoint's parents: history is cut here, and
   * `parents` still names the dropped ones.
   */
  readonly historyCut?: true
}

/** A checkpoint as the API returns it. Ids are CIDv1 strings (base32). */
export interface Checkpoint extends CheckpointSummary {
  /** Stage name → output id: every stage's output at this point, not only the new one. */
  readonly stages: Readonly<Record<string, string>>
  /** Stage name → what its output is. */
  readonly kinds: Readonly<Record<string, OutputKind>>
  /** Stage name → the file name a bytes output came from (`commit --file report.pdf`), where one was given. */
  readonly files?: Readonly<Record<string, string>>
  readonly config?: JsonValue
  readonly meta: Readonly<Record<string, JsonValue>>
}

/** `json` for structured values, `bytes` for blobs, `tree` for directories ({@link Directory}). */
export type OutputKind = 'json' | 'bytes' | 'tree'

/** A stage output as read back: JSON with bytes inside, bytes, or a directory. */
export type StageOutput = OutputValue | Directory

export interface CommitOptions {
  /** Timeline to commit onto; default: the timeline HEAD is on (a detached HEAD moves itself, as in git). */
  readonly timeline?: string
  /** The stage that produced this checkpoint. With `output`, its new output. */
  readonly stage?: string
  /**
   * The output of `stage`: any JSON value, bytes (`Uint8Array`), JSON with bytes inside, a
   * {@link Directory}, or a stream of bytes (e.g. `fs.createReadStream(file)`), which is stored
   * as it is read, in bounded memory.
   */
  readonly output?: unknown
  /** Several stage outputs recorded at once (stage name → output). */
  readonly outputs?: Readonly<Record<string, unknown>>
  /** Stages to drop from the snapshot. */
  readonly remove?: readonly string[]
  /**
   * Stage outputs to take, as they are, from another checkpoint, or from several (reuse without
   * re-encoding; a directory stays a directory).
   */
  readonly copy?: CopiedStages | readonly CopiedStages[]
  /** Parent revision instead of the timeline's head; null makes a root checkpoint. */
  readonly parent?: string | null
  /** Several parents (a merge); the first parent's stages are the base snapshot. */
  readonly parents?: readonly string[]
  /**
   * The head the caller expects the timeline to have (a revision, or null for "must not exist").
   * When it has moved, the commit fails with REF_CONFLICT and nothing becomes reachable.
   */
  readonly expectedHead?: string | null
  readonly run?: string
  readonly job?: string
  readonly config?: unknown
  readonly message?: string
  readonly author?: string
  readonly meta?: Readonly<Record<string, unknown>>
  /**
   * Stage → the file name its bytes output came from (`report.pdf`), so that `restore` writes it
   * under that name; kept while the output stays unchanged. A plain name, no folders.
   */
  readonly fileNames?: Readonly<Record<string, string>>
  /** Overrides the store clock for this checkpoint. */
  readonly time?: Date | number
  /**
   * Index pointers (see `store.index`) to move in the same atomic step as the timeline, each by
   * compare-and-swap: a tool's lookup tables never disagree with the history they index. A move
   * without `value` points at the checkpoint being recorded.
   */
  readonly index?: ReadonlyArray<{ readonly name: string; readonly expected: string | null; readonly value?: string | null }>
  /**
   * When the timeline moved between reading its head and the swap (another writer), rebuild on
   * the new head and try again, up to this many times. Only applies when the parent is defaulted.
   */
  readonly retry?: number
  /** Called as outputs given as streams are read (or, for an unchanged file, hashed): the bytes so far, for a progress bar. */
  readonly onBytes?: (read: number) => void
}

/** Stages whose outputs a commit takes from checkpoint `from`. */
export interface CopiedStages {
  readonly from: string
  readonly stages: readonly string[]
}

export interface LogOptions {
  /** Follow only first parents, like `git log --first-parent`. */
  readonly firstParent?: boolean
  /** Stop after this many checkpoints (counted after filtering). */
  readonly limit?: number
  /** Only checkpoints recorded by this stage. */
  readonly stage?: string
  /** Only checkpoints of this run. */
  readonly run?: string
  /** Only checkpoints of this job. */
  readonly job?: string
  /** Only checkpoints whose `meta` has each of these keys with this value (a non-string value compared as its JSON text). */
  readonly meta?: Readonly<Record<string, string>>
  /** Only checkpoints at or after this time; the walk stops at the first older one, as git's does. */
  readonly since?: Date | number
  /** Only checkpoints at or before this time. */
  readonly until?: Date | number
  /** Only checkpoints whose author contains this text (case-insensitive), like `git log --author`. */
  readonly author?: string
  /**
   * Only checkpoints where one of these stages' outputs differs from the first parent's (added,
   * changed or removed), like `git log -- PATH`: the history of those stages.
   */
  readonly changed?: readonly string[]
}

export interface RestoreOptions {
  /**
   * Write the stage outputs into this directory (JSON as pretty `.json`, bytes as files under the
   * name they were committed from, else the stage name; folders as folders) instead of returning them.
   */
  readonly to?: string
  /** Only these stages (default: every stage of the checkpoint). */
  readonly stages?: readonly string[]
  /** Overwrite files in `to` that ckpt did not write there. */
  readonly force?: boolean
  /** Called after each file written under `to`, for progress display. */
  readonly onProgress?: (written: number, total: number) => void
  /** Called as bytes are written under `to` (often: draw at your own pace), with the bytes of every file to write. */
  readonly onBytes?: (written: number, total: number) => void
}

export interface RestoreResult {
  readonly checkpoint: Checkpoint
  /**
   * Stage name → restored output (bytes as Uint8Array, directories as {@link Directory}). Empty
   * when `to` was given: the outputs were streamed to disk instead, whatever their size.
   */
  readonly outputs: Readonly<Record<string, StageOutput>>
  /** Files written under `to`, relative to it. */
  readonly written: readonly string[]
  /**
   * Outputs written under another name because theirs was taken (a JSON stage `x` and a bytes
   * stage `x.json`, a stage named like the manifest): `wanted` got a `~2`, `~3`, … suffix.
   */
  readonly renamed: readonly { readonly stage: string; readonly wanted: string; readonly written: string }[]
}

/** Where `checkout` put HEAD, and what it left behind. */
export interface CheckoutMove {
  readonly head: HeadInfo
  /**
   * The checkpoints a detached HEAD left that no timeline or tag reaches, newest first (git's
   * "you are leaving 2 commits behind"): name the first with a timeline, or they go with a gc
   * once their reflog entries expire.
   */
  readonly leftBehind?: readonly string[]
}

export interface TimelineInfo {
  readonly name: string
  readonly head: string
  /** Whether HEAD is attached to this timeline. */
  readonly current: boolean
}

export interface TagInfo {
  readonly name: string
  readonly target: string
}

export interface HeadInfo {
  /** The timeline HEAD is attached to; absent when detached. */
  readonly timeline?: string
  /** The checkpoint HEAD resolves to; absent on a timeline with no checkpoints yet. */
  readonly checkpoint?: string
  readonly detached: boolean
}

export interface ReflogRecord {
  /** Position as in `name@{index}`: 0 is the newest. */
  readonly index: number
  readonly old: string | null
  readonly new: string | null
  /**
   * The checkpoint the ref reached with this move: `new` itself, or for HEAD on a timeline
   * (`new` is `ref: timelines/main`) what that timeline held then. What `ref@{index}` names.
   */
  readonly checkpoint: string | null
  readonly time: Date
  readonly reason: string
}

/** What an output is, without its content. */
export interface OutputInfo {
  readonly id: string
  /** `tree` is known only when the output is named as `rev:stage` (the checkpoint records it). */
  readonly kind: OutputKind
  /** Stored size in bytes: the dag-json encoding for JSON (not counting blobs inside), the sum of file sizes for trees. */
  readonly size: number
  /** For trees: the number of files. */
  readonly files?: number
}

export interface FsckOptions {
  /** Check that bytes objects exist without re-hashing them (structure only). */
  readonly quick?: boolean
  readonly onProgress?: (checked: number, known: number) => void
}

export interface FsckProblem {
  /** The object (or ref value) with the problem. */
  readonly id: string
  readonly kind: 'missing' | 'corrupt' | 'bad-ref'
  readonly message: string
  /** A ref that reaches it (`name (reflog)` when only a reflog entry does). */
  readonly ref: string
}

export interface FsckReport {
  readonly ok: boolean
  readonly problems: readonly FsckProblem[]
  readonly checked: { readonly refs: number; readonly objects: number; readonly checkpoints: number }
  /** False when the backend declares no check of its own structures (`supports.storageCheck`): that part was skipped. */
  readonly storageChecked: boolean
}

export interface RepairOptions {
  /** Work out what repair would do, and change nothing. */
  readonly dryRun?: boolean
}

export interface RepairResult {
  /** Refs put back to their newest intact reflog entry. */
  readonly restored: ReadonlyArray<{ readonly ref: string; readonly from: string; readonly to: string }>
  /**
   * Refs kept at the newest version whose own checkpoint and outputs survived, with their history
   * cut (as retention cuts it) at these checkpoints, whose parents are lost or damaged.
   */
  readonly cut: ReadonlyArray<{ readonly ref: string; readonly at: readonly string[] }>
  /** Refs whose reflog holds no intact checkpoint; left as they are. */
  readonly unrecoverable: readonly string[]
}

export interface GcOptions {
  /**
   * Objects written less than this many milliseconds ago are kept even when nothing reaches them,
   * so a writer that stored objects but has not yet moved its ref never loses them. `'now'`
   * keeps only what is reachable, or touched by a writer while gc runs. Default: two weeks.
   */
  readonly prune?: number | 'now'
  /** Report what would be freed, delete nothing (retention and reflog expiry are skipped too). */
  readonly dryRun?: boolean
  /** Reflog entries older than this many milliseconds are expired first. Default: 90 days, like git. */
  readonly reflogExpireMs?: number
  readonly onProgress?: (phase: GcPhase, done: number) => void
}

export type GcPhase = 'mark' | 'scan' | 'sweep' | 'reclaim'

export interface GcResult {
  readonly dryRun: boolean
  /** Objects proved reachable (or young, or touched by a writer meanwhile). */
  readonly kept: number
  /** Unreachable objects removed (or, in a dry run, that would be), and their stored bytes. */
  readonly freed: { readonly objects: number; readonly bytes: number }
  /** Files rewritten or removed to give back the space freed objects held, and bytes saved. */
  readonly reclaimed: { readonly files: number; readonly bytes: number }
  /** What each timeline's retention policy dropped before marking. */
  readonly retention: readonly RetentionResult[]
  readonly reflogEntriesExpired: number
  /** History segments written for timelines and tags whose history had none (imported, cloned, or older than segments). */
  readonly historySegmentsWritten: number
  readonly timings: { readonly totalMs: number; readonly markMs: number; readonly writersHeldMs: number }
}

/** A timeline's retention policy. A checkpoint is kept when either rule (or a tag, pin or other ref) keeps it. */
export interface RetentionPolicy {
  /** Keep the newest N checkpoints of the timeline's history. */
  readonly keepLast?: number
  /** Keep checkpoints younger than this many milliseconds. */
  readonly keepWithinMs?: number
}

export interface RetentionResult {
  readonly timeline: string
  readonly kept: number
  readonly dropped: number
  /** Kept checkpoints whose parents were dropped: where `log` shows history was cut. */
  readonly cuts: readonly string[]
}

export interface ReflogExpireOptions {
  /** Entries older than this instant go. Default: 90 days ago. */
  readonly before?: Date | number
  /** Only these refs (timeline or tag names, `HEAD`, or full ref names). Default: every reflog. */
  readonly refs?: readonly string[]
}
