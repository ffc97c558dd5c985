/**
 * Lower bounds, not products: the least work any LangGraph saver on ckpt's object model does for
 * the bench workload, timed in the same run as the real savers. They separate a target the object
 * model cannot reach from one the implementation misses.
 *
 * A floor put serializes the changed channel and the metadata, hashes the blob, builds, encodes
 * and hashes the checkpoint node with ckpt's own encoder, appends both to a log with one write(2)
 * (as the write journal does), and hands LevelDB the same keys a commit writes (the two objects,
 * the head and id pointer, a reflog entry for each) in one batch every 5 ms. It keeps no index it
 * would have to read, checks nothing and builds no API object.
 *
 * A floor listing reads each node and its new blob back from that LevelDB, newest first, verifies
 * both hashes, decodes the node (dag-json, canonical form checked) and decodes the blob with the
 * serializer, once per blob. It builds no tuple.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import path from 'node:path'
import { setImmediate as turn } from 'node:timers/promises'
import { BaseCheckpointSaver, copyCheckpoint, type ChannelVersions, type Checkpoint, type CheckpointMetadata, type CheckpointTuple } from '@langchain/langgraph-checkpoint'
import type { RunnableConfig } from '@langchain/core/runnables'
import { ClassicLevel } from 'classic-level'
import { decodeCheckpoint, encodeCheckpoint } from '../../src/model/checkpoint.js'
import { CID, DAG_JSON_CODE, RAW_CODE, cidOf, type Codec } from '../../src/model/cid.js'
import { toStoredNode, type JsonValue } from '../../src/model/value.js'
import { putSteps } from './langgraph.js'

export interface FloorFigures {
  readonly putsPerSecond: number
  readonly listAllPerSecond: number
}

const FLUSH_EVERY_MS = 5

class FloorSaver extends BaseCheckpointSaver {
  /** Per put, newest last: the node's id and the blobs it added. */
  readonly written: Array<{ node: CID; blobs: CID[] }> = []
  readonly #log: number
  #stages = new Map<string, CID>()
  #head: CID | undefined
  #batch: Array<{ type: 'put'; key: string; value: Uint8Array }> = []
  #flushedAt = performance.now()
  #reflogSeq = 0
  readonly #flushes: Array<Promise<void>> = []

  constructor(
    readonly db: ClassicLevel<string, Uint8Array>,
    logFile: string,
  ) {
    super()
    this.#log = openSync(logFile, 'a')
  }

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const prepared = copyCheckpoint(checkpoint)
    const stages = new Map(this.#stages)
    const pieces: Uint8Array[] = []
    const blobs: CID[] = []
    for (const channel of Object.keys(newVersions)) {
      const [, bytes] = await this.serde.dumpsTyped(prepared.channel_values[channel])
      const cid = cidOf(RAW_CODE, bytes)
      stages.set(channel, cid)
      blobs.push(cid)
      pieces.push(bytes)
      this.#batch.push({ type: 'put', key: `o/${cid.toString()}`, value: bytes })
    }
    const [metadataType, metadataBytes] = await this.serde.dumpsTyped(metadata)
    const { channel_values: _values, ...rest } = prepared
    const skeleton = { checkpoint: JSON.parse(JSON.stringify(rest)) as JsonValue, parent: (config.configurable?.checkpoint_id as string | undefined) ?? null, channels: {}, metadataType, metadata: Buffer.from(metadataBytes).toString() }
    const meta = toStoredNode({ langgraph: skeleton }, 'meta', 'meta').node as Record<string, JsonValue>
    const sorted = new Map([...stages].sort(([a], [b]) => (a < b ? -1 : 1)))
    const { cid: node, bytes } = encodeCheckpoint({ parents: this.#head ? [this.#head] : [], stages: sorted, trees: [], message: 'loop', author: 'bench', time: Date.now(), meta })
    pieces.push(bytes)
    writeSync(this.#log, Buffer.concat(pieces))
    const id = node.toString()
    const reflog = (name: string) => ({ type: 'put' as const, key: `l/${name}/${String(this.#reflogSeq++).padStart(12, '0')}`, value: Buffer.from(JSON.stringify({ old: this.#head?.toString() ?? null, new: id, time: Date.now(), reason: 'commit' })) })
    this.#batch.push(
      { type: 'put', key: `o/${id}`, value: bytes },
      { type: 'put', key: 'r/timeline/t', value: Buffer.from(id) },
      reflog('timeline/t'),
      { type: 'put', key: `r/index/lg/t/${prepared.id}`, value: Buffer.from(id) },
      reflog(`index/lg/t/${prepared.id}`),
    )
    if (performance.now() - this.#flushedAt >= FLUSH_EVERY_MS) {
      const batch = this.#batch
      this.#batch = []
      this.#flushedAt = performance.now()
      this.#flushes.push(this.db.batch(batch))
      await turn()
    }
    this.#stages = stages
    this.#head = node
    this.written.push({ node, blobs })
    return { configurable: { ...config.configurable, checkpoint_id: prepared.id } }
  }

  async finish(): Promise<void> {
    await Promise.all([...this.#flushes, this.db.batch(this.#batch)])
    this.#batch = []
    closeSync(this.#log)
  }

  async getTuple(): Promise<CheckpointTuple | undefined> {
    throw new Error('the floor saver only puts')
  }

  async *list(): AsyncGenerator<CheckpointTuple> {
    throw new Error('the floor saver only puts')
  }

  async putWrites(): Promise<void> {
    throw new Error('the floor saver only puts')
  }

  async deleteThread(): Promise<void> {
    throw new Error('the floor saver only puts')
  }
}

function verified(db: ClassicLevel<string, Uint8Array>, codec: Codec, cid: CID): Uint8Array {
  const bytes = db.getSync(`o/${cid.toString()}`)
  if (!bytes || !cidOf(codec, bytes).equals(cid)) throw new Error(`floor: object ${cid.toString()} is missing or damaged`)
  return bytes
}

export async function floorBench(work: string, steps: number): Promise<FloorFigures> {
  const db = new ClassicLevel<string, Uint8Array>(path.join(work, 'floor-db'), { valueEncoding: 'view' })
  await db.open()
  try {
    const saver = new FloorSaver(db, path.join(work, 'floor-journal'))
    const { seconds } = await putSteps(saver, 't', steps)
    await saver.finish()
    const listStart = performance.now()
    for (let i = saver.written.length - 1; i >= 0; i--) {
      const { node, blobs } = saver.written[i] as { node: CID; blobs: CID[] }
      const decoded = decodeCheckpoint(node, verified(db, DAG_JSON_CODE, node))
      if (decoded.stages.size === 0) throw new Error('floor: a node without stages')
      for (const blob of blobs) await saver.serde.loadsTyped('json', verified(db, RAW_CODE, blob))
    }
    return { putsPerSecond: steps / seconds, listAllPerSecond: steps / ((performance.now() - listStart) / 1000) }
  } finally {
    await db.close()
  }
}
