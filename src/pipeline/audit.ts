import type { CheckpointStore } from '../core/checkpoint-store.js'
import type { AuditEntry } from './types.js'

/*
 * A run's audit log is a chain of small dag-json nodes, newest first: each holds one entry and
 * the id of the previous node. The index pointer `audit/<run>` names the newest; appending is a
 * compare-and-swap of that pointer, so the log cannot lose an entry.
 */

const pointer = (runId: string) => `audit/${runId}`

interface StoredEntry extends Omit<AuditEntry, 'start' | 'end'> {
  readonly start: number
  readonly end: number
}

export async function appendAudit(store: CheckpointStore, entry: AuditEntry): Promise<void> {
  const stored: StoredEntry = { ...entry, start: entry.start.getTime(), end: entry.end.getTime() }
  for (;;) {
    const previous = (await store.index.get(pointer(entry.runId))) ?? null
    const node = await store.putOutput({ type: 'ckpt-audit', prev: previous, entry: JSON.parse(JSON.stringify(stored)) as unknown })
    try {
      await store.index.swap(pointer(entry.runId), previous, node, `audit: ${entry.stage} ${entry.status}`)
      return
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'REF_CONFLICT') throw err
    }
  }
}

/** A run's audit entries, oldest first. */
export async function readAudit(store: CheckpointStore, runId: string): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = []
  let id = await store.index.get(pointer(runId))
  while (id) {
    const node = (await store.getOutput(id)) as unknown as { prev: string | null; entry: StoredEntry }
    entries.push({ ...node.entry, start: new Date(node.entry.start), end: new Date(node.entry.end) })
    id = node.prev ?? undefined
  }
  return entries.reverse()
}
