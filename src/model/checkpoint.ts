import { CkptError, quoted } from '../errors.js'
import { findStageNameViolation } from './name-rules.js'
import { CID, DAG_JSON_CODE, cidOf, cidString } from './cid.js'
import { decodeNode, defineOwn, encodeNode, type JsonValue } from './value.js'

/** Version of the checkpoint node schema this build writes and reads (docs/format.md). */
export const CHECKPOINT_VERSION = 1

/** A checkpoint node as stored: see docs/format.md for the exact dag-json layout. */
export interface CheckpointNode {
  readonly parents: readonly CID[]
  /**
   * The checkpoint's sequence number along first parents: 1 for a root, its first parent's plus
   * one otherwise. Nodes written before it was stored have none (the store derives it on reading).
   */
  readonly seq?: number
  /** Stage name → output CID: the full snapshot at this point. */
  readonly stages: ReadonlyMap<string, CID>
  /** Stages whose output is a directory tree (docs/format.md), sorted. */
  readonly trees: readonly string[]
  /**
   * Stage → the name of the file its bytes output was read from (`commit --file report.pdf`),
   * so that restoring it writes `report.pdf`; carried forward while the output is unchanged.
   */
  readonly files?: ReadonlyMap<string, string>
  readonly stage?: string
  readonly run?: string
  readonly job?: string
  readonly config?: JsonValue
  readonly message: string
  readonly author: string
  /** Milliseconds since the Unix epoch. */
  readonly time: number
  readonly meta: Readonly<Record<string, JsonValue>>
}

/** Encodes a checkpoint node canonically; returns its CID and bytes. */
export function encodeCheckpoint(node: CheckpointNode): { cid: CID; bytes: Uint8Array } {
  const stages: Record<string, CID> = {}
  for (const [name, cid] of node.stages) defineOwn(stages, name, cid)
  const record: Record<string, unknown> = {
    type: 'checkpoint',
    v: CHECKPOINT_VERSION,
    parents: [...node.parents],
    stages,
    message: node.message,
    author: node.author,
    time: node.time,
    meta: node.meta,
  }
  if (node.trees.length > 0) record.trees = [...node.trees]
  if (node.files !== undefined && node.files.size > 0) {
    const files: Record<string, string> = {}
    for (const [stage, name] of node.files) defineOwn(files, stage, name)
    record.files = files
  }
  if (node.stage !== undefined) record.stage = node.stage
  if (node.run !== undefined) record.run = node.run
  if (node.job !== undefined) record.job = node.job
  if (node.config !== undefined) record.config = node.config
  if (node.seq !== undefined) record.seq = node.seq
  const bytes = encodeNode(record)
  return { cid: cidOf(DAG_JSON_CODE, bytes), bytes }
}

/** Whether decoded dag-json claims to be a checkpoint (any version). */
export function looksLikeCheckpoint(value: unknown): boolean {
  return isRecord(value) && value.type === 'checkpoint'
}

/**
 * Reads a decoded node as a checkpoint. A node of a newer schema version raises
 * UNSUPPORTED_FORMAT; a malformed one CORRUPT_OBJECT.
 */
export function decodeCheckpoint(cid: CID, bytes: Uint8Array): CheckpointNode {
  let value: unknown
  try {
    value = decodeNode(bytes)
  } catch (cause) {
    throw corrupt(cid, 'does not decode as dag-json', cause)
  }
  return checkpointFromValue(cid, value)
}

export function checkpointFromValue(cid: CID, value: unknown): CheckpointNode {
  if (!isRecord(value) || value.type !== 'checkpoint') {
    throw new CkptError('NOT_FOUND', `object ${cidString(cid)} is not a checkpoint`, { details: { id: cidString(cid) } })
  }
  if (value.v !== CHECKPOINT_VERSION) {
    throw new CkptError(
      'UNSUPPORTED_FORMAT',
      `checkpoint ${cidString(cid)} has schema version ${String(value.v)}; this ckpt reads version ${CHECKPOINT_VERSION}`,
      { details: { id: cidString(cid), version: value.v } },
    )
  }
  const { parents, stages, message, author, time, meta } = value
  if (!Array.isArray(parents) || !parents.every((p) => CID.asCID(p) !== null)) throw corrupt(cid, 'has malformed parents')
  if (!isRecord(stages) || !Object.values(stages).every((s) => CID.asCID(s) !== null)) throw corrupt(cid, 'has a malformed stage map')
  for (const name of [...Object.keys(stages), ...(value.stage === undefined ? [] : [value.stage])]) {
    const violation = findStageNameViolation(name)
    if (violation !== undefined) throw corrupt(cid, `has an invalid stage name ${quoted(String(name))}: ${violation.reason}`)
  }
  if (typeof message !== 'string' || typeof author !== 'string') throw corrupt(cid, 'has a malformed message or author')
  if (typeof time !== 'number' || !Number.isSafeInteger(time)) throw corrupt(cid, 'has a malformed time')
  if (!isRecord(meta)) throw corrupt(cid, 'has malformed metadata')
  const trees = value.trees ?? []
  if (!Array.isArray(trees) || !trees.every((t) => typeof t === 'string' && Object.hasOwn(stages, t))) throw corrupt(cid, 'has a malformed tree list')
  const files = value.files ?? {}
  if (!isRecord(files) || !Object.entries(files).every(([stage, name]) => Object.hasOwn(stages, stage) && typeof name === 'string' && isPlainFileName(name))) {
    throw corrupt(cid, 'has a malformed file name list')
  }
  if (value.seq !== undefined && !(typeof value.seq === 'number' && Number.isSafeInteger(value.seq) && value.seq >= 1)) throw corrupt(cid, 'has a malformed sequence number')
  for (const field of ['stage', 'run', 'job'] as const) {
    if (value[field] !== undefined && typeof value[field] !== 'string') throw corrupt(cid, `has a malformed ${field}`)
  }
  return {
    parents: parents.map((p) => CID.asCID(p) as CID),
    ...(value.seq !== undefined && { seq: value.seq as number }),
    stages: new Map(Object.keys(stages).map((name) => [name, CID.asCID(stages[name]) as CID])),
    trees: trees as string[],
    ...(Object.keys(files).length > 0 && { files: new Map(Object.entries(files as Record<string, string>)) }),
    ...(value.stage !== undefined && { stage: value.stage as string }),
    ...(value.run !== undefined && { run: value.run as string }),
    ...(value.job !== undefined && { job: value.job as string }),
    ...(value.config !== undefined && { config: value.config as JsonValue }),
    message,
    author,
    time,
    meta: meta as Record<string, JsonValue>,
  }
}

function corrupt(cid: CID, what: string, cause?: unknown): CkptError {
  return new CkptError('CORRUPT_OBJECT', `checkpoint ${cidString(cid)} ${what}`, { cause, details: { id: cidString(cid) } })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && CID.asCID(value) === null && !(value instanceof Uint8Array)
}

/**
 * Whether `name` is one plain file name, safe to write inside a folder whatever its source: no
 * separator, not `.` or `..`, no control character, at most 255 bytes.
 */
export function isPlainFileName(name: string): boolean {
  return name.length > 0 && name !== '.' && name !== '..' && !/[/\\\u0000-\u001f\u007f]/.test(name) && new TextEncoder().encode(name).length <= 255
}
