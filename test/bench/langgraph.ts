/**
 * The 10,000-step agent workload through CkptSaver and LangGraph's SqliteSaver, in the same run:
 * 20 channels of ~2 KB, one changing per step. Reports puts/s, getTuple latency, listing all
 * checkpoints, and bytes on disk against the distinct content.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { uuid6, type BaseCheckpointSaver, type Checkpoint } from '@langchain/langgraph-checkpoint'
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite'
import { initStore, openStore } from '../../src/index.js'
import { CkptSaver } from '../../src/langgraph/index.js'
import { settleDisk } from './baselines.js'
import { floorBench, type FloorFigures } from './langgraph-floor.js'

export interface SaverFigures {
  readonly name: string
  readonly putsPerSecond: number
  readonly getTupleMs: number
  readonly listAllPerSecond: number
  /** The same two reads in a new process's view: the store closed and opened again, caches empty. */
  readonly reopened: { readonly getTupleMs: number; readonly listAllPerSecond: number }
  readonly bytesOnDisk: number
}

/** A saver's storage closed: its size at rest, and a saver over the same storage opened again. */
interface Closed {
  readonly bytes: number
  readonly reopened: BaseCheckpointSaver
  readonly done: () => Promise<void>
}

const CHANNELS = 20
const VALUE_BYTES = 2000

function channelValue(channel: number, version: number): string {
  return `${channel}:${version}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + ((channel + version) % 26)))
}

/**
 * The workload's puts, one thread, each step awaited as LangGraph does; returns the checkpoint ids
 * in order and the seconds the puts took.
 */
export async function putSteps(saver: BaseCheckpointSaver, thread: string, steps: number): Promise<{ ids: string[]; seconds: number }> {
  const versions: Record<string, number> = {}
  const values: Record<string, string> = {}
  for (let c = 0; c < CHANNELS; c++) {
    versions[`ch${c}`] = 1
    values[`ch${c}`] = channelValue(c, 1)
  }
  let config = { configurable: { thread_id: thread, checkpoint_ns: '' } } as Parameters<BaseCheckpointSaver['put']>[0]
  const ids: string[] = []
  const start = performance.now()
  for (let step = 0; step < steps; step++) {
    const changed = step === 0 ? Object.keys(versions) : [`ch${step % CHANNELS}`]
    for (const ch of step === 0 ? [] : changed) {
      versions[ch] = (versions[ch] ?? 0) + 1
      values[ch] = channelValue(Number(ch.slice(2)), versions[ch] as number)
    }
    const checkpoint: Checkpoint = { v: 4, id: uuid6(step), ts: new Date().toISOString(), channel_values: { ...values }, channel_versions: { ...versions }, versions_seen: {} }
    config = await saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, Object.fromEntries(changed.map((c) => [c, versions[c] as number])))
    ids.push(checkpoint.id)
  }
  return { ids, seconds: (performance.now() - start) / 1000 }
}

/** Runs the workload on `saver`; `close` closes its storage, measures its files at rest and opens it again. */
async function workload(name: string, saver: BaseCheckpointSaver, steps: number, close: () => Promise<Closed>): Promise<SaverFigures> {
  const thread = 'bench-thread'
  settleDisk()
  const { ids, seconds: putSeconds } = await putSteps(saver, thread, steps)
  const reads = async (reader: BaseCheckpointSaver) => {
    const sample = Array.from({ length: 500 }, (_, i) => ids[(i * 7919) % ids.length] as string)
    const getStart = performance.now()
    for (const id of sample) await reader.getTuple({ configurable: { thread_id: thread, checkpoint_ns: '', checkpoint_id: id } })
    const getTupleMs = (performance.now() - getStart) / sample.length
    const listStart = performance.now()
    let listed = 0
    for await (const _ of reader.list({ configurable: { thread_id: thread } })) listed++
    if (listed !== steps) throw new Error(`${name} listed ${listed} of ${steps}`)
    return { getTupleMs, listAllPerSecond: steps / ((performance.now() - listStart) / 1000) }
  }
  const { getTupleMs, listAllPerSecond } = await reads(saver)
  const closed = await close()
  settleDisk()
  try {
    return { name, putsPerSecond: steps / putSeconds, getTupleMs, listAllPerSecond, reopened: await reads(closed.reopened), bytesOnDisk: closed.bytes }
  } finally {
    await closed.done()
  }
}

const du = (dir: string) => Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0])

export async function langgraphBench(steps: number): Promise<{ ckpt: SaverFigures; sqlite: SaverFigures; floor: FloorFigures; distinctBytes: number }> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'ckpt-lg-bench-'))
  try {
    const store = await initStore(path.join(work, 'ckpt'), { author: 'bench' })
    const ckpt = await workload('ckpt', new CkptSaver(store), steps, async () => {
      await store.close()
      // Measured with the store open again: closing can cut a LevelDB compaction short, leaving
      // its output files beside its inputs until the next open deletes whichever are obsolete.
      const reopened = await openStore(path.join(work, 'ckpt'))
      return { bytes: du(path.join(work, 'ckpt')), reopened: new CkptSaver(reopened), done: () => reopened.close() }
    })
    const sqliteDir = path.join(work, 'sqlite')
    execFileSync('mkdir', ['-p', sqliteDir])
    const sqliteFile = path.join(sqliteDir, 'checkpoints.db')
    const sqliteSaver = SqliteSaver.fromConnString(sqliteFile)
    const sqlite = await workload('SqliteSaver', sqliteSaver, steps, async () => {
      sqliteSaver.db.close()
      const bytes = du(sqliteDir)
      const reopened = SqliteSaver.fromConnString(sqliteFile)
      return { bytes, reopened, done: async () => void reopened.db.close() }
    })
    // Distinct content: every channel version's value, once.
    const distinctBytes = (CHANNELS + (steps - 1)) * VALUE_BYTES
    return { ckpt, sqlite, floor: await floorBench(work, steps), distinctBytes }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
