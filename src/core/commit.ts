import { CkptError, isCkptError, quoted } from '../errors.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidString, newCidString, objectKey } from '../model/cid.js'
import { storedKeys } from '../model/manifest.js'
import { findRunIdViolation } from '../model/name-rules.js'
import { encodeCheckpoint, isPlainFileName, type CheckpointNode } from '../model/checkpoint.js'
import { buildTree } from '../model/tree.js'
import { encodeStoredNode, toStoredNode, type JsonValue } from '../model/value.js'
import { Directory } from './directory.js'
import { checkStageName } from '../refs/names.js'
import { HEAD, INDEX_PREFIX, checkedRef } from '../refs/refdb.js'
import { checkRefName } from '../refs/names.js'
import { segmentFor } from './history-segments.js'
import { type StoreContext, toCheckpoint } from './context.js'
import { makeBlock, type Block } from './block.js'
import type { Checkpoint, CommitOptions } from './types.js'
import { WriterLease, lostLease } from './writer-lease.js'

/** A stage output converted to blocks: the output's id and everything to store for it. */
export interface PreparedOutput {
  readonly cid: CID
  readonly blocks: Block[]
  readonly isTree: boolean
  /** The checkpoint `copy` took it from (already stored, so no blocks). */
  readonly copiedFrom?: string
}

/** The id `value` would have as a stage output, without storing anything. `label` names it in errors. */
export function outputIdOf(value: unknown, label = 'value'): string {
  return cidString(prepareOutput(value, label).cid)
}

/**
 * Converts an output value to blocks. Bytes become a raw blob whose CID is the output's id
 * (so its digest is the file's BLAKE3); anything else a dag-json node with bytes split out.
 */
export function prepareOutput(value: unknown, label: string): PreparedOutput {
  if (value instanceof StreamedBlob) return { cid: value.cid, blocks: [], isTree: false }
  if (isByteStream(value)) {
    throw new CkptError('INVALID_OUTPUT', `${label}: a stream's id is known only once it is stored; use commit or putBlobStream`)
  }
  if (value instanceof Uint8Array) {
    const block = makeBlock(RAW_CODE, value)
    return { cid: block.cid, blocks: [block], isTree: false }
  }
  if (value instanceof Directory) {
    const blobs = [...value.files].map(([path, bytes]) => ({ path, block: makeBlock(RAW_CODE, bytes) }))
    const { root, blocks } = buildTree(blobs.map(({ path, block }) => ({ path, cid: block.cid, size: block.bytes.length })))
    return { cid: root, blocks: [...blobs.map((b) => b.block), ...blocks], isTree: true }
  }
  const { bytes, blobs } = encodeStoredNode(value, 'output', label)
  const block = makeBlock(DAG_JSON_CODE, bytes)
  return { cid: block.cid, blocks: [...blobs.map((b) => ({ cid: b.cid, bytes: b.bytes })), block], isTree: false }
}

/** A byte-stream output already stored as a blob while the commit was prepared. */
class StreamedBlob {
  constructor(readonly cid: CID) {}
}

/** Whether a commit output is a stream of bytes (a Readable or any async iterable), not a value. */
function isByteStream(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function' &&
    Object.getPrototypeOf(value) !== Object.prototype
  )
}

/**
 * Stores the outputs given as streams and returns options naming them by id instead. Everything
 * else is validated first, so bad input is refused before a stream is read.
 */
async function storeStreamedOutputs(ctx: StoreContext, options: CommitOptions): Promise<CommitOptions> {
  const single = options.output !== undefined && isByteStream(options.output) ? options.output : undefined
  const many = Object.entries(options.outputs ?? {}).filter(([, value]) => isByteStream(value)) as Array<[string, AsyncIterable<Uint8Array | string>]>
  if (!single && many.length === 0) return options
  const placeholder = new StreamedBlob(EMPTY_BLOB)
  prepareCommit(withOutputs(options, single && placeholder, new Map(many.map(([name]) => [name, placeholder]))))
  const stored = new Map<string, StreamedBlob>()
  // One running count over every stream of the commit.
  let before = 0
  const onBytes = options.onBytes && ((read: number) => options.onBytes?.(before + read))
  const put = async (stream: AsyncIterable<Uint8Array | string>) => {
    let read = 0
    const cid = await ctx.objects.putBlobStream(stream, onBytes && ((n) => onBytes((read = n))))
    before += read
    return cid
  }
  for (const [name, stream] of many) stored.set(name, new StreamedBlob(await put(stream)))
  const output = single && new StreamedBlob(await put(single))
  return withOutputs(options, output, stored)
}

function withOutputs(options: CommitOptions, output: StreamedBlob | undefined, outputs: Map<string, StreamedBlob>): CommitOptions {
  return {
    ...options,
    ...(output && { output }),
    ...(options.outputs && { outputs: { ...options.outputs, ...Object.fromEntries(outputs) } }),
  }
}

const EMPTY_BLOB = makeBlock(RAW_CODE, new Uint8Array(0)).cid

interface PreparedCommit {
  readonly targetRef: string | undefined
  readonly outputs: Map<string, PreparedOutput>
  readonly remove: readonly string[]
  readonly config?: JsonValue
  readonly meta: Record<string, JsonValue>
}

/** Everything is validated before anything is written, so bad input never leaves a trace. */
function prepareCommit(options: CommitOptions): Omit<PreparedCommit, 'targetRef'> {
  const outputs = new Map<string, PreparedOutput>()
  if (options.output !== undefined) {
    if (options.stage === undefined) throw new CkptError('INVALID_ARGUMENT', 'commit: `output` needs `stage` to name the stage it belongs to')
    checkStageName(options.stage)
    outputs.set(options.stage, prepareOutput(options.output, `output of stage "${options.stage}"`))
  } else if (options.stage !== undefined) {
    checkStageName(options.stage)
  }
  for (const name of Object.keys(options.outputs ?? {})) {
    checkStageName(name)
    if (outputs.has(name)) throw new CkptError('INVALID_ARGUMENT', `commit: stage "${name}" is given both as \`output\` and in \`outputs\``)
    outputs.set(name, prepareOutput((options.outputs as Record<string, unknown>)[name], `output of stage "${name}"`))
  }
  const copied = new Set<string>()
  for (const name of copySources(options).flatMap((c) => c.stages)) {
    checkStageName(name)
    if (outputs.has(name) || copied.has(name)) throw new CkptError('INVALID_ARGUMENT', `commit: stage "${name}" is both written and copied, or copied twice`)
    copied.add(name)
  }
  for (const move of options.index ?? []) checkRefName(move.name, 'index name')
  const remove = options.remove ?? []
  for (const name of remove) {
    checkStageName(name)
    if (outputs.has(name) || copied.has(name)) throw new CkptError('INVALID_ARGUMENT', `commit: stage "${name}" is both written and removed`)
  }
  for (const [field, value] of [['run', options.run], ['job', options.job], ['message', options.message], ['author', options.author]] as const) {
    if (value !== undefined && typeof value !== 'string') throw new CkptError('INVALID_ARGUMENT', `commit: \`${field}\` must be a string`, { details: { field } })
    const violation = (field === 'run' || field === 'job') && value !== undefined ? findRunIdViolation(value) : undefined
    if (violation) throw new CkptError('INVALID_ARGUMENT', `commit: invalid ${field} id ${quoted(value)}: ${violation.reason}`, { details: { field, rule: violation.rule } })
  }
  const config = options.config === undefined ? undefined : (toStoredNode(options.config, 'config', 'config').node as JsonValue)
  if (options.meta !== undefined && (options.meta === null || typeof options.meta !== 'object' || Array.isArray(options.meta))) {
    throw new CkptError('INVALID_ARGUMENT', 'commit: `meta` must be an object of JSON values')
  }
  const meta = toStoredNode(options.meta ?? {}, 'meta', 'meta').node as Record<string, JsonValue>
  return { outputs, remove, meta, ...(config !== undefined && { config }) }
}

function commitTime(options: CommitOptions, ctx: StoreContext): number {
  if (options.time === undefined) return ctx.now()
  const ms = options.time instanceof Date ? options.time.getTime() : options.time
  if (!Number.isSafeInteger(ms)) throw new CkptError('INVALID_ARGUMENT', `commit: time ${String(options.time)} is not a valid instant`)
  return ms
}

/**
 * Records a new checkpoint and moves its timeline by compare-and-swap (objects are written first).
 * `reason` replaces the reflog's `commit: …` line, for history edits (`merge …`, `cherry-pick: …`).
 */
export async function commit(ctx: StoreContext, given: CommitOptions, reason?: string): Promise<Checkpoint> {
  if (!hasStreamedOutput(given)) return commitStored(ctx, given, undefined, reason)
  // What the streams write is reachable only once the ref moves: the lease keeps gc off it till then.
  const lease = await WriterLease.take(ctx)
  try {
    return await commitStored(ctx, given, lease, reason)
  } catch (err) {
    if (isCkptError(err, 'REF_CONFLICT') && (await lease.wasTaken())) throw lostLease()
    throw err
  } finally {
    await lease.release()
  }
}

function hasStreamedOutput(options: CommitOptions): boolean {
  return (options.output !== undefined && isByteStream(options.output)) || Object.values(options.outputs ?? {}).some((value) => isByteStream(value))
}

async function commitStored(ctx: StoreContext, given: CommitOptions, lease: WriterLease | undefined, reason: string | undefined): Promise<Checkpoint> {
  const options = await storeStreamedOutputs(ctx, given)
  const prepared = prepareCommit(options)
  const time = commitTime(options, ctx)
  // A commit on HEAD reads HEAD and then the timeline it names. The timeline HEAD named at this
  // store's last such commit is read at once with HEAD: a backend may answer both in one round trip.
  const guess = options.timeline === undefined && options.expectedHead === undefined ? headTargets.get(ctx) : undefined
  const early = guess === undefined ? undefined : ctx.refs.read(guess)
  early?.catch(() => undefined)
  const { targetRef, viaHead } = await commitTarget(ctx, options.timeline)
  if (options.timeline === undefined) headTargets.set(ctx, targetRef)
  // git's HEAD reflog holds every move of HEAD, commits on the timeline it is on included.
  const headMoves = viaHead === undefined ? [] : [{ ref: HEAD, expected: viaHead, value: viaHead }]
  const explicitParents = await explicitParentIds(ctx, options)
  const expectedHead = options.expectedHead === undefined ? undefined : options.expectedHead === null ? null : await ctx.resolveCheckpointId(options.expectedHead)
  const retries = explicitParents === undefined && expectedHead === undefined ? Math.max(0, options.retry ?? 0) : 0

  await copiedOutputs(ctx, options, prepared.outputs)
  // Chunking and existence checks happen once, not once per retry.
  // Streamed and copied outputs, blocks found already stored, and parents not taken from the ref
  // the update checks were stored before this commit: they must still be there when the ref moves.
  const storedBefore = [...prepared.outputs.values()].filter((o) => o.blocks.length === 0 && o.copiedFrom === undefined).map((o) => storedKeys(o.cid))
  const copied = [...prepared.outputs.values()].filter((o) => o.copiedFrom !== undefined)
  const outputEntries = await ctx.objects.entriesToWrite([...prepared.outputs.values()].flatMap((o) => o.blocks), storedBefore)
  for (let attempt = 0; ; attempt++) {
    // Given an expected head, nothing needs the ref's value before the compare-and-swap checks it.
    const currentRaw =
      expectedHead !== undefined ? (expectedHead === null ? null : cidString(expectedHead)) : ((await (attempt === 0 && guess === targetRef ? early : ctx.refs.read(targetRef))) ?? null)
    const current = currentRaw === null ? null : ctx.refs.parseValue(targetRef, currentRaw)
    const parents = explicitParents ?? (current ? [current] : [])
    const node = await buildNode(ctx, parents, prepared, options, time)
    const { cid, bytes } = encodeCheckpoint(node)
    const expected = expectedHead === undefined ? currentRaw : expectedHead === null ? null : cidString(expectedHead)
    // The objects travel with the ref move: never a ref to an object that is not stored.
    const segment = await segmentFor(ctx, cid, node)
    const objects = [...outputEntries, { key: objectKey(cid), value: bytes }, ...(segment ? [segment] : [])]
    // What the ref this update expects reaches is stored, and stays so while it is reachable:
    // only what the ref does not reach needs checking.
    const reached = expected !== null && expected === currentRaw ? currentRaw : undefined
    const requires = [
      ...storedBefore,
      ...copied.filter((o) => o.copiedFrom !== reached).map((o) => storedKeys(o.cid)),
      ...(explicitParents ?? []).filter((p) => cidString(p) !== reached).map((p) => storedKeys(p)),
    ]
    try {
      // The refs name the new checkpoint by this string, which the update parses again.
      const id = newCidString(cid)
      const indexMoves = (options.index ?? []).map((m) => ({ ref: INDEX_PREFIX + m.name, expected: m.expected, value: m.value === undefined ? id : m.value }))
      const released = lease ? [await lease.closing()] : []
      await ctx.refs.update([{ ref: targetRef, expected, value: id }, ...headMoves, ...indexMoves, ...released], reason ?? reflogReason(node, parents.length === 0), objects, requires)
      ctx.rememberCheckpoint(cid, node)
      return toCheckpoint(cid, node)
    } catch (err) {
      if (!isCkptError(err, 'REF_CONFLICT') || attempt >= retries) throw err
    }
  }
}

/** The timeline HEAD named at each store's last commit on HEAD. */
const headTargets = new WeakMap<StoreContext, string>()

/** Adds the outputs named by `copy` (already stored, so no blocks) to the prepared outputs. */
async function copiedOutputs(ctx: StoreContext, options: CommitOptions, outputs: Map<string, PreparedOutput>): Promise<void> {
  for (const copy of copySources(options)) {
    const from = await ctx.resolveCheckpointId(copy.from)
    const source = await ctx.loadCheckpoint(from)
    for (const name of copy.stages) {
      const cid = source.stages.get(name)
      if (!cid) throw new CkptError('NOT_FOUND', `commit: checkpoint ${copy.from} has no stage "${name}" to copy`, { details: { stage: name } })
      outputs.set(name, { cid, blocks: [], isTree: source.trees.includes(name), copiedFrom: cidString(from) })
    }
  }
}

function copySources(options: CommitOptions): ReadonlyArray<{ readonly from: string; readonly stages: readonly string[] }> {
  const copy = options.copy
  return copy === undefined ? [] : 'from' in copy ? [copy] : copy
}

/** The ref a commit moves; `viaHead`, HEAD's value, when HEAD named that timeline (HEAD's reflog records the commit too). */
async function commitTarget(ctx: StoreContext, timeline: string | undefined): Promise<{ targetRef: string; viaHead?: string }> {
  if (timeline !== undefined) return { targetRef: checkedRef('timeline', timeline) }
  const head = await ctx.refs.head()
  if (!head) throw new CkptError('INVALID_ARGUMENT', 'commit: HEAD is not set; name a timeline')
  return head.target.kind === 'timeline' ? { targetRef: checkedRef('timeline', head.target.timeline), viaHead: head.raw } : { targetRef: HEAD }
}

async function explicitParentIds(ctx: StoreContext, options: CommitOptions): Promise<CID[] | undefined> {
  if (options.parents !== undefined && options.parent !== undefined) {
    throw new CkptError('INVALID_ARGUMENT', 'commit: give `parent` or `parents`, not both')
  }
  if (options.parent === null) return []
  if (options.parent !== undefined) return [await ctx.resolveCheckpointId(options.parent)]
  if (options.parents !== undefined) return Promise.all(options.parents.map((p) => ctx.resolveCheckpointId(p)))
  return undefined
}

async function buildNode(ctx: StoreContext, parents: CID[], prepared: Omit<PreparedCommit, 'targetRef'>, options: CommitOptions, time: number): Promise<CheckpointNode> {
  const parent = parents[0] ? await ctx.loadCheckpoint(parents[0]) : undefined
  const stages = new Map(parent?.stages ?? [])
  const trees = new Set(parent?.trees ?? [])
  const files = new Map(parent?.files ?? [])
  for (const name of prepared.remove) {
    if (!stages.delete(name)) throw new CkptError('NOT_FOUND', `commit: cannot remove stage "${name}": the parent has no such stage`, { details: { stage: name } })
  }
  for (const [name, output] of prepared.outputs) {
    if (!stages.get(name)?.equals(output.cid)) files.delete(name)
    stages.set(name, output.cid)
    if (output.isTree) trees.add(name)
    else trees.delete(name)
  }
  for (const name of trees) if (!stages.has(name)) trees.delete(name)
  for (const [name, file] of Object.entries(options.fileNames ?? {})) {
    if (!stages.has(name) || trees.has(name)) throw new CkptError('INVALID_ARGUMENT', `commit: fileNames names stage "${name}", which has no bytes output here`, { details: { stage: name } })
    if (!isPlainFileName(file)) throw new CkptError('INVALID_ARGUMENT', `commit: ${quoted(file)} is not a plain file name (no folders, no control characters)`, { details: { stage: name, name: file } })
    files.set(name, file)
  }
  for (const name of files.keys()) if (!stages.has(name)) files.delete(name)
  return {
    parents,
    seq: parent === undefined ? 1 : (parent.seq as number) + 1,
    stages: new Map([...stages].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    trees: [...trees].sort(),
    ...(files.size > 0 && { files: new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) }),
    ...(options.stage !== undefined && { stage: options.stage }),
    ...(options.run !== undefined && { run: options.run }),
    ...(options.job !== undefined && { job: options.job }),
    ...(prepared.config !== undefined && { config: prepared.config }),
    message: options.message ?? '',
    author: options.author ?? ctx.author,
    time,
    meta: prepared.meta,
  }
}

function reflogReason(node: CheckpointNode, initial: boolean): string {
  const what = node.stage ? `${node.stage}${node.message ? ': ' + node.message : ''}` : node.message
  return `commit${initial ? ' (initial)' : ''}: ${what}`.trimEnd()
}
