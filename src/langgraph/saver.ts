import {
  BaseCheckpointSaver,
  JsonPlusSerializer,
  TASKS,
  WRITES_IDX_MAP,
  compareWritesSortKeys,
  copyCheckpoint,
  maxChannelVersion,
  writesSortKey,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint'
import type { RunnableConfig } from '@langchain/core/runnables'
import { BoundedMap } from '../bounded-map.js'
import { CkptError, isCkptError } from '../errors.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import type { Checkpoint as CkptCheckpoint } from '../core/types.js'
import { copyJson, type JsonValue } from '../model/value.js'
import { checkStageName } from '../refs/names.js'
import { decodePart, encodePart } from './names.js'

/*
 * How LangGraph maps onto ckpt (docs/langgraph.md):
 *   thread + namespace        → timeline  langgraph/<thread>/<ns>
 *   LangGraph checkpoint      → ckpt checkpoint on it; parent = LangGraph's parent
 *   channel value             → a stage holding the serializer's bytes (stored once per content)
 *   metadata, the rest of the checkpoint → meta.langgraph
 *   checkpoint id → ckpt id   → index pointer lg/<thread>/<ns>/<checkpoint id>
 *   pending writes            → index pointer lgw/<thread>/<ns>/<checkpoint id> → a JSON node
 *   newest checkpoint id      → the timeline head's, or index pointer lgl/<thread>/<ns> when newer
 */

/** Where metadata the serializer did not write as UTF-8 text is kept (and where all of it was, before). */
const METADATA_STAGE = '__metadata__'
/** The serializer type of most channel values; a skeleton names only the others. */
const USUAL_TYPE = 'json'

interface StoredSkeleton {
  readonly checkpoint: Record<string, JsonValue>
  readonly parent: string | null
  /**
   * Stage name → [channel name, serializer type], for the channel stages that are not the usual
   * [stage name, "json"]. Every stage of the checkpoint but __metadata__ holds a channel.
   */
  readonly channels: Record<string, [string, string]>
  readonly metadataType: string
  /** The serializer's metadata bytes, as text; absent when they are in the stage __metadata__. */
  readonly metadata?: string
}

type StoredWrite = [taskId: string, idx: number, channel: string, type: string, value: Uint8Array, taskPath: string]

interface StoredCheckpoint {
  readonly checkpoint: CkptCheckpoint
  readonly skeleton: StoredSkeleton
}

/** A thread's timeline as a put sees it. */
interface ThreadHead {
  /** The timeline's head; null when there is no timeline. */
  readonly ckptId: string | null
  /** LangGraph's id of the head checkpoint. */
  readonly id: string | null
  /** The newest-id pointer's value; null when there is none. */
  readonly latest: string | null
}

const newerOf = (a: string | null, b: string | null): string | null => (a === null ? b : b === null || a >= b ? a : b)
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
const utf8 = new TextEncoder()

/** The bytes as text, or undefined when they are not UTF-8. */
function textOf(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes)
  } catch {
    return undefined
  }
}

interface Location {
  readonly thread: string
  readonly ns: string
}

const timelineOf = ({ thread, ns }: Location) => `langgraph/${encodePart(thread)}/${encodePart(ns)}`
const checkpointPointer = ({ thread, ns }: Location, id: string) => `lg/${encodePart(thread)}/${encodePart(ns)}/${encodePart(id)}`
const writesPointer = ({ thread, ns }: Location, id: string) => `lgw/${encodePart(thread)}/${encodePart(ns)}/${encodePart(id)}`
const latestPointer = ({ thread, ns }: Location) => `lgl/${encodePart(thread)}/${encodePart(ns)}`

function stageFor(channel: string): string {
  try {
    checkStageName(channel)
    if (channel !== METADATA_STAGE) return channel
  } catch {
    // fall through: a channel name that is not a valid stage name is stored under an encoded one
  }
  return `channel%${Buffer.from(channel).toString('hex')}`
}

/** The checkpoint namespace a config names; LangGraph's default is the empty one. */
function namespaceOf(config: RunnableConfig): string {
  return (config.configurable?.checkpoint_ns as string | undefined) ?? ''
}

function threadOf(config: RunnableConfig, action: string): string {
  const thread = config.configurable?.thread_id as unknown
  if (typeof thread !== 'string' || thread === '') {
    throw new CkptError('INVALID_ARGUMENT', `Failed to ${action}: the config has no "thread_id" in its "configurable" property`)
  }
  return thread
}

/**
 * A LangGraph checkpointer on a ckpt store: each thread is a timeline, each channel value is
 * stored once per distinct content, and `ckpt log`/`show`/`diff` work on agent state.
 *
 *   const saver = new CkptSaver(await openStore('.ckpt'))
 *   const graph = workflow.compile({ checkpointer: saver })
 */
export class CkptSaver extends BaseCheckpointSaver {
  /** ckpt checkpoints by id, read or written: ids name content, so an entry never goes stale. */
  readonly #checkpoints = new BoundedMap<string, StoredCheckpoint>(4096)
  /** Timeline → its head as this saver last moved it. A guess: the commit's compare-and-swap checks it. */
  readonly #heads = new BoundedMap<string, ThreadHead>(4096)

  constructor(
    readonly store: CheckpointStore,
    serde?: SerializerProtocol,
  ) {
    super(serde)
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const thread = config.configurable?.thread_id as string | undefined
    if (thread === undefined) return undefined
    const location = { thread, ns: namespaceOf(config) }
    const id = (config.configurable?.checkpoint_id as string | undefined) ?? (await this.#newestId(location))
    if (!id) return undefined
    return this.#tuple(location, id)
  }

  async *list(config: RunnableConfig, options: CheckpointListOptions = {}): AsyncGenerator<CheckpointTuple> {
    const thread = config.configurable?.thread_id as string | undefined
    const ns = config.configurable?.checkpoint_ns as string | undefined
    const wantedId = config.configurable?.checkpoint_id as string | undefined
    const before = options.before?.configurable?.checkpoint_id as string | undefined
    let remaining = options.limit ?? Infinity
    const prefix = thread === undefined ? 'lg/' : `lg/${encodePart(thread)}/${ns === undefined ? '' : `${encodePart(ns)}/`}`
    const entries = (await this.store.index.list(prefix))
      .map((e) => {
        const [, t = '', n = '', c = ''] = e.name.split('/')
        return { location: { thread: decodePart(t), ns: decodePart(n) }, id: decodePart(c), ckptId: e.value }
      })
      .filter((e) => ns === undefined || e.location.ns === ns)
    // Thread by thread and namespace by namespace, newest checkpoint first, as LangGraph's savers list.
    const groups = new Map<string, Array<(typeof entries)[number]>>()
    for (const e of entries) {
      const key = JSON.stringify([e.location.thread, e.location.ns])
      const group = groups.get(key)
      if (group) group.push(e)
      else groups.set(key, [e])
    }
    // Consecutive checkpoints share most channel values: each blob is read and verified once per listing.
    const values = new ValueReads(this.store, this.serde)
    const writes = new Map((await this.store.index.list(`lgw/${prefix.slice('lg/'.length)}`)).map((e) => [e.name, e.value]))
    for (const group of groups.values()) {
      group.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0))
      const listed = group.filter(({ id }) => (wantedId === undefined || id === wantedId) && (before === undefined || id < before))
      // Without a filter, only as many as the limit lets through are read ahead.
      const wanted = options.filter ? listed.length : Math.min(listed.length, remaining)
      const ahead = new ReadAhead(wanted, async (from, to) => {
        const read = await this.#readCheckpoints(listed.slice(from, to).map((e) => e.ckptId))
        await values.readAhead(read.flatMap(({ checkpoint }) => Object.entries(checkpoint.stages).filter(([stage]) => stage !== METADATA_STAGE).map(([, blob]) => blob)))
      })
      for (const [i, { location, id, ckptId }] of listed.entries()) {
        if (remaining <= 0) return
        await ahead.reach(i)
        const tuple = await this.#tuple(location, id, { ckptId, values, writes })
        if (!tuple) continue
        if (options.filter && !Object.entries(options.filter).every(([k, v]) => (tuple.metadata as Record<string, unknown> | undefined)?.[k] === v)) continue
        remaining--
        yield tuple
      }
    }
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const thread = threadOf(config, 'put checkpoint')
    const location = { thread, ns: namespaceOf(config) }
    const parentId = (config.configurable?.checkpoint_id as string | undefined) ?? null
    const prepared = copyCheckpoint(checkpoint)
    const parent = parentId ? await this.#stored(location, parentId) : undefined

    // Channels that changed are stored now; unchanged ones stay as the parent holds them when it
    // holds the same version (a child starts with its parent's stages). Nothing else is kept, as
    // LangGraph's own savers do.
    const outputs: Record<string, Uint8Array> = {}
    const kept: string[] = []
    const channels: Record<string, [string, string]> = {}
    for (const [channel, value] of Object.entries(prepared.channel_values)) {
      const stage = stageFor(channel)
      if (channel in newVersions) {
        const [type, bytes] = await this.serde.dumpsTyped(value)
        outputs[stage] = bytes
        if (stage !== channel || type !== USUAL_TYPE) channels[stage] = [channel, type]
      } else if (parent && stage in parent.checkpoint.stages && (parent.skeleton.checkpoint.channel_versions as Record<string, unknown> | undefined)?.[channel] === prepared.channel_versions[channel]) {
        kept.push(stage)
        const unusual = parent.skeleton.channels[stage]
        if (unusual) channels[stage] = unusual
      }
    }
    const [metadataType, metadataBytes] = await this.serde.dumpsTyped(metadata)
    // Kept in the node as text: a stage would cost a blob per step, written and read again.
    const metadataText = textOf(metadataBytes)
    if (metadataText === undefined) outputs[METADATA_STAGE] = metadataBytes
    const { channel_values: _values, ...rest } = prepared
    const skeleton: StoredSkeleton = {
      checkpoint: JSON.parse(JSON.stringify(rest)) as Record<string, JsonValue>,
      parent: parentId,
      channels,
      metadataType,
      ...(metadataText !== undefined && { metadata: metadataText }),
    }
    const keep = new Set([...Object.keys(outputs), ...kept])
    const remove = parent ? Object.keys(parent.checkpoint.stages).filter((s) => !keep.has(s)) : []

    const pointer = checkpointPointer(location, prepared.id)
    const timeline = timelineOf(location)
    const commitOptions = {
      timeline,
      parent: parent ? parent.checkpoint.id : null,
      outputs,
      remove,
      message: `${String((metadata as Record<string, unknown>).source ?? 'checkpoint')} step ${String((metadata as Record<string, unknown>).step ?? '')}`.trim(),
      meta: { langgraph: skeleton as unknown as JsonValue },
    }
    // The checkpoint and its id pointer move in one atomic step, expecting the head this saver
    // last saw and a new id; a conflict reads both. The head names the thread's newest checkpoint
    // unless a put with an older id moved it there: then the newest-id pointer does.
    const newestPointer = latestPointer(location)
    let guessed = this.#heads.get(timeline)
    for (;;) {
      const [head, current] = guessed ? [guessed, undefined] : await Promise.all([this.#readHead(location), this.store.index.get(pointer)])
      guessed = undefined
      const newest = newerOf(head.id, head.latest)
      const latest = newest !== null && prepared.id < newest ? newest : head.latest
      const index = [
        { name: pointer, expected: current ?? null },
        ...(latest !== head.latest ? [{ name: newestPointer, expected: head.latest, value: latest }] : []),
      ]
      try {
        const written = await this.store.commit({ ...commitOptions, expectedHead: head.ckptId, index })
        // The next step's put finds its parent and the head here.
        this.#remember({ checkpoint: written, skeleton })
        this.#heads.set(timeline, { ckptId: written.id, id: prepared.id, latest })
        break
      } catch (err) {
        // Forks and concurrent writers move the thread's timeline; commit again on its new head.
        if (!isCkptError(err, 'REF_CONFLICT')) throw err
      }
    }
    return { configurable: { thread_id: thread, checkpoint_ns: location.ns, checkpoint_id: prepared.id } }
  }

  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const thread = threadOf(config, 'put writes')
    const id = config.configurable?.checkpoint_id as string | undefined
    if (!id) throw new CkptError('INVALID_ARGUMENT', 'Failed to put writes: the config has no "checkpoint_id" in its "configurable" property')
    const location = { thread, ns: namespaceOf(config) }
    const serialized = await Promise.all(writes.map(async ([channel, value], i) => [channel, i, await this.serde.dumpsTyped(value)] as const))
    const pointer = writesPointer(location, id)
    for (;;) {
      const current = await this.store.index.get(pointer)
      const existing = current ? ((await this.store.getOutput(current)) as unknown as { writes: StoredWrite[] }).writes : []
      const byKey = new Map(existing.map((w) => [`${w[0]},${w[1]}`, w]))
      for (const [channel, i, [type, bytes]] of serialized) {
        const idx = WRITES_IDX_MAP[channel] ?? i
        const key = `${taskId},${idx}`
        // Regular writes are kept as first written; special channels (errors, interrupts) are replaced.
        if (idx >= 0 && byKey.has(key)) continue
        byKey.set(key, [taskId, idx, channel, type, bytes, taskPath ?? ''])
      }
      const node = await this.store.putOutput({ writes: [...byKey.values()] })
      try {
        await this.store.index.swap(pointer, current ?? null, node, 'langgraph: writes')
        return
      } catch (err) {
        if (!isCkptError(err, 'REF_CONFLICT')) throw err
      }
    }
  }

  async deleteThread(threadId: string): Promise<void> {
    const part = encodePart(threadId)
    for (const name of this.#heads.keys()) if (name.startsWith(`langgraph/${part}/`)) this.#heads.delete(name)
    for (const prefix of [`lg/${part}/`, `lgw/${part}/`, `lgl/${part}/`]) {
      for (const { name, value } of await this.store.index.list(prefix)) {
        await this.store.index.swap(name, value, null, 'langgraph: thread deleted').catch((err: unknown) => {
          if (!isCkptError(err, 'REF_CONFLICT')) throw err
        })
      }
    }
    for (const timeline of await this.store.timelines.list()) {
      if (timeline.name.startsWith(`langgraph/${part}/`)) await this.store.timelines.delete(timeline.name)
    }
  }

  async #readHead(location: Location): Promise<ThreadHead> {
    const [ckptId, latest] = await Promise.all([
      this.store.timelines.get(timelineOf(location)).catch((err: unknown) => {
        if (isCkptError(err, 'NOT_FOUND')) return null
        throw err
      }),
      this.store.index.get(latestPointer(location)),
    ])
    // A checkpoint committed onto the timeline by other means has no LangGraph id.
    const id = ckptId === null ? undefined : (await this.#storedCheckpoint(ckptId)).skeleton?.checkpoint?.id
    return { ckptId, id: typeof id === 'string' ? id : null, latest: latest ?? null }
  }

  async #newestId(location: Location): Promise<string | null> {
    const head = await this.#readHead(location)
    return newerOf(head.id, head.latest)
  }

  async #stored(location: Location, id: string, known?: string): Promise<StoredCheckpoint | undefined> {
    const ckptId = known ?? (await this.store.index.get(checkpointPointer(location, id)))
    return ckptId ? this.#storedCheckpoint(ckptId) : undefined
  }

  async #storedCheckpoint(ckptId: string): Promise<StoredCheckpoint> {
    const cached = this.#checkpoints.get(ckptId)
    if (cached) return cached
    const checkpoint = await this.store.getCheckpoint(ckptId)
    return this.#remember({ checkpoint, skeleton: checkpoint.meta.langgraph as unknown as StoredSkeleton })
  }

  /** The checkpoints, those not in this saver's memory read together (and kept there). */
  async #readCheckpoints(ckptIds: readonly string[]): Promise<StoredCheckpoint[]> {
    const unread = ckptIds.filter((ckptId) => !this.#checkpoints.has(ckptId))
    for (const checkpoint of unread.length === 0 ? [] : await this.store.getCheckpoints(unread)) {
      this.#remember({ checkpoint, skeleton: checkpoint.meta.langgraph as unknown as StoredSkeleton })
    }
    return Promise.all(ckptIds.map((ckptId) => this.#storedCheckpoint(ckptId)))
  }

  #remember(stored: StoredCheckpoint): StoredCheckpoint {
    this.#checkpoints.set(stored.checkpoint.id, stored)
    return stored
  }

  /** `listed`: the writes pointers a listing read up front, by name. */
  async #pendingWrites(location: Location, id: string, listed?: ReadonlyMap<string, string>): Promise<CheckpointPendingWrite[]> {
    const name = writesPointer(location, id)
    const pointer = listed ? listed.get(name) : await this.store.index.get(name)
    if (!pointer) return []
    const { writes } = (await this.store.getOutput(pointer)) as unknown as { writes: StoredWrite[] }
    const ordered = [...writes].sort((a, b) => compareWritesSortKeys(writesSortKey(a[5], a[0], a[1]), writesSortKey(b[5], b[0], b[1])))
    return Promise.all(ordered.map(async ([task, , channel, type, value]) => [task, channel, await this.serde.loadsTyped(type, value)] as CheckpointPendingWrite))
  }

  async #tuple(
    location: Location,
    id: string,
    listing?: { readonly ckptId: string; readonly values: ValueReads; readonly writes: ReadonlyMap<string, string> },
  ): Promise<CheckpointTuple | undefined> {
    const ckptId = listing?.ckptId
    const values = listing?.values ?? new ValueReads(this.store, this.serde)
    const stored = await this.#stored(location, id, ckptId)
    if (!stored) return undefined
    const { checkpoint: node, skeleton } = stored
    const channelValues: Record<string, unknown> = {}
    const reads: Array<Promise<void>> = []
    for (const [stage, blob] of Object.entries(node.stages)) {
      if (stage === METADATA_STAGE) continue
      const [channel, type] = skeleton.channels[stage] ?? [stage, USUAL_TYPE]
      // Most values of a listing's tuples were decoded for an earlier tuple: no promise for those.
      const known = values.known(blob, type)
      if (known) channelValues[channel] = known.value
      else reads.push(values.get(blob, type).then((value) => void (channelValues[channel] = value)))
    }
    await Promise.all(reads)
    // Its own copy: the stored skeleton is shared with later puts and other tuples.
    const checkpoint = { ...(copyJson(skeleton.checkpoint) as unknown as Omit<Checkpoint, 'channel_values'>), channel_values: channelValues } as Checkpoint
    if (checkpoint.v < 4 && skeleton.parent !== null) await this.#migratePendingSends(checkpoint, location, skeleton.parent)
    const metadata = (
      skeleton.metadata === undefined
        ? await values.get(node.stages[METADATA_STAGE] as string, skeleton.metadataType)
        : await this.serde.loadsTyped(skeleton.metadataType, skeleton.metadataType === 'json' ? skeleton.metadata : utf8.encode(skeleton.metadata))
    ) as CheckpointMetadata
    const configurable = { thread_id: location.thread, checkpoint_ns: location.ns, checkpoint_id: id }
    return {
      config: { configurable },
      checkpoint,
      metadata,
      pendingWrites: await this.#pendingWrites(location, id, listing?.writes),
      ...(skeleton.parent !== null && { parentConfig: { configurable: { ...configurable, checkpoint_id: skeleton.parent } } }),
    }
  }

  /** Checkpoints of format v < 4 kept pending sends as writes on the parent; newer ones as a channel. */
  async #migratePendingSends(checkpoint: Checkpoint, location: Location, parentId: string): Promise<void> {
    const sends = (await this.#pendingWrites(location, parentId)).filter(([, channel]) => channel === TASKS).map(([, , value]) => value)
    checkpoint.channel_values ??= {}
    checkpoint.channel_values[TASKS] = sends
    checkpoint.channel_versions ??= {}
    const versions = Object.values(checkpoint.channel_versions)
    checkpoint.channel_versions[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined)
  }
}

/**
 * Reads a listing's checkpoints a window ahead of the one it is at: the store reads the next
 * window while this thread makes tuples of the current one.
 */
class ReadAhead {
  static readonly WINDOW = 64
  readonly #windows = new Map<number, Promise<void>>()

  constructor(
    private readonly count: number,
    private readonly read: (from: number, to: number) => Promise<void>,
  ) {}

  /** Waits until item `i` is read, and starts reading the window after its own. */
  async reach(i: number): Promise<void> {
    const window = Math.floor(i / ReadAhead.WINDOW)
    const current = this.#window(window)
    this.#window(window + 1)
    this.#windows.delete(window - 1)
    await current
  }

  #window(window: number): Promise<void> {
    let reading = this.#windows.get(window)
    if (reading === undefined) {
      const from = window * ReadAhead.WINDOW
      const to = Math.min(this.count, from + ReadAhead.WINDOW)
      // A failed read only means that the tuples read their checkpoints one by one, as without it.
      reading = from < to ? this.read(from, to).catch(() => undefined) : Promise.resolve()
      this.#windows.set(window, reading)
    }
    return reading
  }
}

/**
 * Channel values read for one listing. Consecutive checkpoints share all but a few channel blobs,
 * so each blob is read and verified once. Each tuple still gets values of its own, as from the
 * other savers, except where that cannot be told apart: a value that decodes to a string, number,
 * boolean or null is decoded once and shared.
 */
class ValueReads {
  readonly #bytes = new BoundedMap<string, Promise<Uint8Array>>(4096)
  /** Serializer type → blob id → decoded primitive. Two levels: the ids are the nodes' own strings, whose hashes V8 keeps. */
  readonly #primitives = new Map<string, Map<string, unknown>>()
  #primitiveCount = 0

  constructor(
    private readonly store: CheckpointStore,
    private readonly serde: SerializerProtocol,
  ) {}

  /** Reads the blobs not read yet together, for the tuples about to ask for them. */
  async readAhead(ids: readonly string[]): Promise<void> {
    const primitives = [...this.#primitives.values()]
    const unread = [...new Set(ids)].filter((id) => !this.#bytes.has(id) && !primitives.some((byId) => byId.has(id)))
    if (unread.length < 2) return
    const read = await this.store.getBlobs(unread)
    unread.forEach((id, i) => this.#bytes.set(id, Promise.resolve(read[i] as Uint8Array)))
  }

  /** The value when it is a primitive decoded already. */
  known(id: string, type: string): { value: unknown } | undefined {
    const byId = this.#primitives.get(type)
    return byId?.has(id) ? { value: byId.get(id) } : undefined
  }

  async get(id: string, type: string): Promise<unknown> {
    const known = this.known(id, type)
    if (known) return known.value
    let bytes = this.#bytes.get(id)
    if (!bytes) {
      bytes = this.store.getBlob(id)
      this.#bytes.set(id, bytes)
    }
    // A serializer may hand out (part of) the bytes it decodes, as "bytes" values are: then each
    // tuple needs its own copy. LangGraph's own serializer decodes "json" into new objects.
    const shared = type === 'json' && this.serde.constructor === JsonPlusSerializer
    const value = await this.serde.loadsTyped(type, shared ? await bytes : (await bytes).slice())
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) {
      if (this.#primitiveCount++ >= 4096) {
        this.#primitives.clear()
        this.#primitiveCount = 0
      }
      let byId = this.#primitives.get(type)
      if (!byId) this.#primitives.set(type, (byId = new Map()))
      byId.set(id, value)
    }
    return value
  }
}
