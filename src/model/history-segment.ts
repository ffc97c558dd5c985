import { CID, cidString, shortId, taggedKey } from './cid.js'
import type { CheckpointNode } from './checkpoint.js'
import { blake3, DIGEST_LENGTH } from './hash.js'

/*
 * History segments: what `log` shows of a run of checkpoints, in walk order, in one record.
 *
 * A checkpoint whose sequence number is a multiple of SEGMENT_SPAN carries a segment: the log
 * headers of itself and its first-parent ancestors, SEGMENT_SPAN of them at most, newest first.
 * A walk that reaches such a checkpoint reads the next SEGMENT_SPAN headers in one read instead
 * of one node each (git's commit-graph serves the same purpose). A segment is derived data: it
 * is written with the checkpoint that tops it, never changes, carries a digest of its bytes, and
 * a walk that finds it missing or damaged reads the nodes instead (docs/format.md).
 */

/**
 * Checkpoints per segment. A segment of 256 short headers is some 50 KB: larger strings go to
 * V8's large-object space, where reading one took ten times as long per byte here.
 */
export const SEGMENT_SPAN = 256

/** The first byte of a segment's key (manifests use 0, CIDs start with their version, 1; builds before the scratch space kept stat entries under 2). */
const SEGMENT_KEY_TAG = 0x03
const SEGMENT_VERSION = 1

/** What `log` shows of a checkpoint without its outputs. */
export interface HistoryEntry {
  readonly id: string
  readonly shortId: string
  readonly parents: readonly string[]
  readonly seq: number
  /** Milliseconds since the Unix epoch. */
  readonly time: number
  readonly author: string
  readonly message: string
  readonly stage?: string
  readonly run?: string
  readonly job?: string
}

/** Whether the checkpoint with this sequence number tops a segment. */
export function topsSegment(seq: number): boolean {
  return seq % SEGMENT_SPAN === 0
}

/** Where the segment topped by checkpoint `top` is stored. Its last 32 bytes are `top`'s digest, as a manifest's key ends with its blob's. */
export function segmentKey(top: CID): Uint8Array {
  return taggedKey(SEGMENT_KEY_TAG, top)
}

/** Whether `key` is a segment's: the tag, then a CIDv1. */
export function isSegmentKey(key: Uint8Array): boolean {
  return key[0] === SEGMENT_KEY_TAG && key[1] === 0x01
}

/** The checkpoint a segment key belongs to. */
export function segmentTop(key: Uint8Array): CID {
  return CID.decode(key.subarray(1))
}

export function historyEntryOf(cid: CID, node: CheckpointNode): HistoryEntry {
  return {
    id: cidString(cid),
    shortId: shortId(cid),
    parents: node.parents.map(cidString),
    seq: node.seq ?? 1,
    time: node.time,
    author: node.author,
    message: node.message,
    ...(node.stage !== undefined && { stage: node.stage }),
    ...(node.run !== undefined && { run: node.run }),
    ...(node.job !== undefined && { job: node.job }),
  }
}

/** A parent written as {@link NEXT_ENTRY} is the id of the entry after this one: a first parent, in all but the last. */
type Row = [id: string, shortId: string, parents: Array<string | typeof NEXT_ENTRY>, seq: number, time: number, author: string, message: string, stage: string | null, run: string | null, job: string | null]
const NEXT_ENTRY = 1

/**
 * The stored bytes: the BLAKE3 digest of the rest, then `{"v":1,"entries":[rows]}` as JSON with
 * every character past ASCII escaped, so that reading it back is a one-byte-per-character copy.
 * A parent that is the next entry is written as `1`, not its id again: a third less to read.
 */
export function encodeSegment(entries: readonly HistoryEntry[]): Uint8Array {
  const rows: Row[] = entries.map((e, i) => [
    e.id,
    e.shortId,
    e.parents.map((p) => (p === entries[i + 1]?.id ? NEXT_ENTRY : p)),
    e.seq,
    e.time,
    e.author,
    e.message,
    e.stage ?? null,
    e.run ?? null,
    e.job ?? null,
  ])
  const json = JSON.stringify({ v: SEGMENT_VERSION, entries: rows }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const body = Buffer.from(json, 'latin1')
  const bytes = new Uint8Array(DIGEST_LENGTH + body.length)
  bytes.set(blake3(body), 0)
  bytes.set(body, DIGEST_LENGTH)
  return bytes
}

/**
 * A stored segment's entries, newest first; undefined when its bytes do not match their digest
 * or it is of a layout this build does not know (the caller then reads the nodes).
 */
export function decodeSegment(bytes: Uint8Array): HistoryEntry[] | undefined {
  if (bytes.length <= DIGEST_LENGTH) return undefined
  const body = bytes.subarray(DIGEST_LENGTH)
  if (Buffer.compare(blake3(body), bytes.subarray(0, DIGEST_LENGTH)) !== 0) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('latin1'))
  } catch {
    return undefined
  }
  const { v, entries: rows } = (parsed ?? {}) as { v?: unknown; entries?: unknown }
  if (v !== SEGMENT_VERSION || !Array.isArray(rows)) return undefined
  const decoded: HistoryEntry[] = new Array(rows.length)
  // From the oldest, so that a parent written as the next entry is known when it is met.
  for (let i = rows.length - 1; i >= 0; i--) {
    const row: unknown = rows[i]
    if (!isRow(row)) return undefined
    const [id, short, written, seq, time, author, message, stage, run, job] = row
    const parents: string[] = []
    for (const p of written) {
      if (p !== NEXT_ENTRY) parents.push(p)
      else if (i + 1 < rows.length) parents.push(decoded[i + 1]!.id)
      else return undefined
    }
    const entry: { -readonly [K in keyof HistoryEntry]: HistoryEntry[K] } = { id, shortId: short, parents, seq, time, author, message }
    if (stage !== null) entry.stage = stage
    if (run !== null) entry.run = run
    if (job !== null) entry.job = job
    decoded[i] = entry
  }
  return decoded
}

function isRow(row: unknown): row is Row {
  if (!Array.isArray(row) || row.length !== 10) return false
  const parents: unknown = row[2]
  if (!Array.isArray(parents)) return false
  for (const p of parents) if (typeof p !== 'string' && p !== NEXT_ENTRY) return false
  return (
    typeof row[0] === 'string' &&
    typeof row[1] === 'string' &&
    Number.isSafeInteger(row[3]) &&
    Number.isSafeInteger(row[4]) &&
    typeof row[5] === 'string' &&
    typeof row[6] === 'string' &&
    (row[7] === null || typeof row[7] === 'string') &&
    (row[8] === null || typeof row[8] === 'string') &&
    (row[9] === null || typeof row[9] === 'string')
  )
}
