import { randomBytes } from 'node:crypto'
import os from 'node:os'
import { CkptError } from '../errors.js'
import { outputIdOf } from '../core/commit.js'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { shortIdOf } from '../model/cid.js'

/*
 * What a store knows of its runs, kept at write time so that finding runs reads only the
 * matching ones (store.index pointers; see docs/pipeline.md "Finding runs"):
 *   run-status/<run>                → the run's status node (below), moved at start, heartbeat and finish
 *   runs-by-job/<hash(job)>/<hash(run)>           → the run's record (runs/<run>), written at start
 *   runs-by-timeline/<hash(timeline)>/<hash(run)> → the same
 *   runs-by-status/<status>/<hash(run)>          → the same, moved with run-status
 * Job ids and timeline names are hashed so that any of them (a job id may hold spaces) makes a
 * valid, bounded pointer name; the record names the run, and a listing checks it matches.
 */

/** Where a run stands. `interrupted`: recorded as running, but its process is gone. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted'

/** One run, as `store.runs()` and `ckpt runs` list it. */
export interface RunSummary {
  readonly runId: string
  readonly jobId: string | null
  readonly pipeline: string
  /** null: the run moved a detached HEAD. */
  readonly timeline: string | null
  readonly status: RunStatus
  readonly started: Date
  /** When it last finished (a resumed run finishes again); null while running or interrupted. */
  readonly finished: Date | null
  /** Stage results of its last execution: how many succeeded, were reused, failed, were skipped. */
  readonly stages: Readonly<Record<'succeeded' | 'reused' | 'failed' | 'skipped', number>> | null
  /** The machine and process running it (or that last ran it). */
  readonly owner: { readonly host: string; readonly pid: number }
}

export interface RunFilter {
  readonly job?: string
  readonly status?: RunStatus
  readonly timeline?: string
  /** Only runs started at or after this time. */
  readonly since?: Date | number
}

interface StatusNode {
  readonly type: 'ckpt-run-status'
  readonly runId: string
  readonly record: string
  readonly jobId: string | null
  readonly pipeline: string
  readonly timeline: string | null
  readonly status: 'running' | 'succeeded' | 'failed'
  readonly started: number
  readonly finished: number | null
  readonly stages: RunSummary['stages']
  readonly owner: { readonly host: string; readonly pid: number; readonly token: string }
  /** When the owner last said it was alive, and how often it says so (ms). */
  readonly heartbeat: number
  readonly heartbeatMs: number
}

export const STATUS_VALUES: readonly RunStatus[] = ['running', 'succeeded', 'failed', 'interrupted']

const statusPointer = (runId: string) => `run-status/${runId}`
const hashed = (text: string) => shortIdOf(outputIdOf(text), 32)
const jobPointer = (job: string, runId: string) => `runs-by-job/${hashed(job)}/${hashed(runId)}`
const timelinePointer = (timeline: string, runId: string) => `runs-by-timeline/${hashed(timeline)}/${hashed(runId)}`
const byStatusPointer = (status: StatusNode['status'], runId: string) => `runs-by-status/${status}/${hashed(runId)}`

/** How often a running run says it is alive; a run silent for four of these is taken as gone. */
export function heartbeatInterval(): number {
  const fromEnv = Number(process.env.CKPT_RUN_HEARTBEAT_MS)
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 30_000
}

/** This process, as an owner of runs and tasks: the token tells it from an earlier process that had its pid. */
export const thisProcess = { host: os.hostname(), pid: process.pid, token: randomBytes(8).toString('hex') }

export interface RunIdentity {
  readonly runId: string
  readonly jobId: string | null
  readonly pipeline: string
  readonly timeline: string | null
}

/**
 * The pointer moves that record a new run as running, to apply in the same atomic step as its
 * record (`runs/<run>` → `record`).
 */
export async function startedRunMoves(store: CheckpointStore, run: RunIdentity, record: string, now: number): Promise<Array<{ name: string; expected: string | null; value: string | null }>> {
  const node = await store.putOutput(statusNode(run, record, now))
  return [
    { name: statusPointer(run.runId), expected: null, value: node },
    { name: byStatusPointer('running', run.runId), expected: null, value: record },
    ...(run.jobId === null ? [] : [{ name: jobPointer(run.jobId, run.runId), expected: null, value: record }]),
    ...(run.timeline === null ? [] : [{ name: timelinePointer(run.timeline, run.runId), expected: null, value: record }]),
  ]
}

function statusNode(run: RunIdentity, record: string, now: number): StatusNode {
  const heartbeatMs = heartbeatInterval()
  return { type: 'ckpt-run-status', ...run, record, status: 'running', started: now, finished: null, stages: null, owner: thisProcess, heartbeat: now, heartbeatMs }
}

/**
 * Keeps a run's status while this process runs it: `running` now (a resumed run starts again),
 * a heartbeat while it goes, and its outcome at the end. Status writes never fail the run: they
 * are bookkeeping, and a lost one only makes a listing less precise.
 */
export class RunTracker {
  #chain: Promise<void> = Promise.resolve()
  #timer: NodeJS.Timeout | undefined

  private constructor(
    private readonly store: CheckpointStore,
    private readonly runId: string,
  ) {}

  /** Starts tracking a run whose status `startedRunMoves` recorded, or marks a resumed one running again. */
  static async begin(store: CheckpointStore, runId: string, resumed: boolean): Promise<RunTracker> {
    const tracker = new RunTracker(store, runId)
    if (resumed) await tracker.#move((node) => ({ ...node, status: 'running', finished: null, owner: thisProcess, heartbeat: Date.now(), heartbeatMs: heartbeatInterval() }))
    tracker.#timer = setInterval(() => void tracker.#move((node) => (node.status === 'running' ? { ...node, heartbeat: Date.now() } : node)), heartbeatInterval())
    tracker.#timer.unref()
    return tracker
  }

  /** Records the outcome and stops the heartbeat. */
  async finish(status: 'succeeded' | 'failed', stages: RunSummary['stages']): Promise<void> {
    clearInterval(this.#timer)
    await this.#move((node) => ({ ...node, status, finished: Date.now(), stages }))
  }

  #move(change: (node: StatusNode) => StatusNode): Promise<void> {
    this.#chain = this.#chain.then(() => moveStatus(this.store, this.runId, change)).catch(() => undefined)
    return this.#chain
  }
}

async function moveStatus(store: CheckpointStore, runId: string, change: (node: StatusNode) => StatusNode): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.index.get(statusPointer(runId))
    if (!current) return // a run recorded before run status was kept
    const before = (await store.getOutput(current)) as unknown as StatusNode
    const after = change(before)
    if (after === before) return
    const moves: Array<{ name: string; expected: string | null; value: string | null }> = [{ name: statusPointer(runId), expected: current, value: await store.putOutput(after) }]
    if (after.status !== before.status) {
      moves.push({ name: byStatusPointer(before.status, runId), expected: before.record, value: null })
      moves.push({ name: byStatusPointer(after.status, runId), expected: null, value: before.record })
    }
    try {
      return await store.index.swapMany(moves, `run: ${after.status} ${runId}`)
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'REF_CONFLICT') throw err
    }
  }
}

/**
 * The runs recorded in `store`, newest first, filtered. A filter by job, timeline or status reads
 * only the runs it matches (index pointers kept at write time); `since` alone reads every run's status.
 */
export async function listRuns(store: CheckpointStore, filter: RunFilter = {}): Promise<RunSummary[]> {
  if (filter.status !== undefined && !STATUS_VALUES.includes(filter.status)) {
    throw new CkptError('INVALID_ARGUMENT', `unknown run status "${String(filter.status)}" (one of ${STATUS_VALUES.join(', ')})`, { details: { status: filter.status } })
  }
  const since = filter.since === undefined ? -Infinity : new Date(filter.since).getTime()
  const nodes = await candidates(store, filter)
  const now = Date.now()
  const summaries = nodes
    .filter((n) => (filter.job === undefined || n.jobId === filter.job) && (filter.timeline === undefined || n.timeline === filter.timeline) && n.started >= since)
    .map((n) => summaryOf(n, now))
    .filter((s) => filter.status === undefined || s.status === filter.status)
  return summaries.sort((a, b) => b.started.getTime() - a.started.getTime() || (a.runId < b.runId ? 1 : -1))
}

/** One run's summary, or undefined when the store keeps no status for it. */
export async function runSummary(store: CheckpointStore, runId: string): Promise<RunSummary | undefined> {
  const status = await store.index.get(statusPointer(runId))
  return status === undefined ? undefined : summaryOf((await store.getOutput(status)) as unknown as StatusNode, Date.now())
}

/** The timeline job `job` last ran on (its newest run's), or undefined when it has no run. */
export async function jobTimeline(store: CheckpointStore, job: string): Promise<string | null | undefined> {
  const [newest] = await listRuns(store, { job })
  return newest === undefined ? undefined : newest.timeline
}

/** Status nodes of the runs the narrowest index names. */
async function candidates(store: CheckpointStore, filter: RunFilter): Promise<StatusNode[]> {
  let records: string[] | undefined
  if (filter.job !== undefined) records = await values(store, `runs-by-job/${hashed(filter.job)}/`)
  else if (filter.timeline !== undefined) records = await values(store, `runs-by-timeline/${hashed(filter.timeline)}/`)
  else if (filter.status !== undefined) records = await values(store, `runs-by-status/${filter.status === 'interrupted' ? 'running' : filter.status}/`)
  if (records === undefined) return Promise.all((await store.index.list('run-status/')).map(async (e) => (await store.getOutput(e.value)) as unknown as StatusNode))
  const nodes = await Promise.all(
    records.map(async (record) => {
      const { runId } = (await store.getOutput(record)) as unknown as { runId: string }
      const status = await store.index.get(statusPointer(runId))
      return status === undefined ? undefined : ((await store.getOutput(status)) as unknown as StatusNode)
    }),
  )
  return nodes.filter((n): n is StatusNode => n !== undefined)
}

async function values(store: CheckpointStore, prefix: string): Promise<string[]> {
  return (await store.index.list(prefix)).map((e) => e.value)
}

function summaryOf(node: StatusNode, now: number): RunSummary {
  const status = node.status === 'running' && !isAlive(node, now) ? 'interrupted' : node.status
  return {
    runId: node.runId,
    jobId: node.jobId,
    pipeline: node.pipeline,
    timeline: node.timeline,
    status,
    started: new Date(node.started),
    finished: node.finished === null ? null : new Date(node.finished),
    stages: node.stages,
    owner: { host: node.owner.host, pid: node.owner.pid },
  }
}

/**
 * Whether a run recorded as running still has its process: on this machine, whether the process
 * exists; elsewhere, whether it said so within the last four heartbeats.
 */
export function isAlive(node: Pick<StatusNode, 'owner' | 'heartbeat' | 'heartbeatMs'>, now: number): boolean {
  if (node.owner.host === thisProcess.host) {
    if (node.owner.pid === process.pid) return node.owner.token === thisProcess.token
    try {
      process.kill(node.owner.pid, 0)
      return true
    } catch (err) {
      return (err as { code?: unknown }).code === 'EPERM'
    }
  }
  return now - node.heartbeat <= 4 * node.heartbeatMs
}
