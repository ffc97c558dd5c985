import type { CheckpointStore } from '../core/checkpoint-store.js'
import { readAudit } from './audit.js'
import { assertRunRecorded } from './runner.js'
import { runSummary } from './runs.js'
import { liveLogPrefix } from './stage-log.js'
import type { AuditEntry, LogLine } from './types.js'


/**
 * A run's audit entries, oldest first (what `ckpt audit RUN` prints); RUN_NOT_FOUND when no run
 * of that id is recorded, rather than an empty list that reads as "ran nothing".
 */
export async function readRunAudit(store: CheckpointStore, runId: string): Promise<AuditEntry[]> {
  const entries = await readAudit(store, runId)
  if (entries.length === 0) await assertRunRecorded(store, runId)
  return entries
}

/** The log of one attempt of a stage, as `readLogs` returns it. */
export interface AttemptLogView {
  readonly stage: string
  readonly attempt: number
  /** `running` while the attempt is going (its newest lines only). */
  readonly status: 'running' | 'succeeded' | 'failed'
  readonly timedOut: boolean
  readonly lines: readonly LogLine[]
  readonly truncated: boolean
  readonly full?: string
}

export interface LogQuery {
  readonly stage?: string
  readonly attempt?: number
}

interface LiveNode {
  readonly stage: string
  readonly attempt: number
  readonly lines: LogLine[]
  readonly total: number
}

/**
 * The logs of a run's attempts, oldest first: those recorded with audit entries, then those of
 * attempts still running (written by the runner every 250 ms), filtered by stage and attempt.
 * RUN_NOT_FOUND for a run the store does not hold.
 */
export async function readLogs(store: CheckpointStore, runId: string, query: LogQuery = {}): Promise<AttemptLogView[]> {
  await assertRunRecorded(store, runId)
  return attemptLogs(store, runId, query)
}

async function attemptLogs(store: CheckpointStore, runId: string, query: LogQuery): Promise<AttemptLogView[]> {
  const wanted = (stage: string, attempt: number) => (query.stage === undefined || stage === query.stage) && (query.attempt === undefined || attempt === query.attempt)
  const views: AttemptLogView[] = []
  const recorded = new Set<string>()
  for (const entry of await readAudit(store, runId)) {
    if (entry.status === 'reused' || entry.attempt === undefined) continue
    recorded.add(`${entry.stage}\n${entry.attempt}`)
    if (!wanted(entry.stage, entry.attempt)) continue
    const log = entry.log ?? { lines: [], truncated: false, total: 0 }
    views.push({ stage: entry.stage, attempt: entry.attempt, status: entry.status, timedOut: entry.timedOut === true, lines: log.lines, truncated: log.truncated, ...(log.full && { full: log.full }) })
  }
  for (const { value } of await store.index.list(liveLogPrefix(runId))) {
    const node = (await store.getOutput(value)) as unknown as LiveNode
    if (recorded.has(`${node.stage}\n${node.attempt}`) || !wanted(node.stage, node.attempt)) continue
    views.push({ stage: node.stage, attempt: node.attempt, status: 'running', timedOut: false, lines: node.lines, truncated: node.total > node.lines.length })
  }
  return views
}

/**
 * Follows a run's logs: calls `onLine` for each line not shown yet, as attempts write them, until
 * the run is no longer running (finished, or its process gone). Lines a fast attempt wrote and
 * dropped between two looks are reported as skipped. RUN_NOT_FOUND for a run the store does not hold.
 */
export async function followLogs(
  store: CheckpointStore,
  runId: string,
  query: LogQuery,
  onLine: (view: AttemptLogView, line: LogLine) => void,
  options: { readonly intervalMs?: number; readonly onSkipped?: (view: AttemptLogView, count: number) => void; readonly signal?: AbortSignal } = {},
): Promise<void> {
  await assertRunRecorded(store, runId)
  const shown = new Map<string, number>()
  for (;;) {
    const running = (await runSummary(store, runId))?.status === 'running'
    for (const view of await attemptLogs(store, runId, query)) {
      const key = `${view.stage}\n${view.attempt}`
      const last = shown.get(key) ?? 0
      const fresh = view.lines.filter((l) => l.seq > last)
      const first = fresh[0]
      if (first && first.seq > last + 1) options.onSkipped?.(view, first.seq - last - 1)
      for (const line of fresh) onLine(view, line)
      if (fresh.length > 0) shown.set(key, (fresh.at(-1) as LogLine).seq)
    }
    if (!running || options.signal?.aborted) return
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200))
  }
}
