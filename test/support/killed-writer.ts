import { readFileSync } from 'node:fs'
import path from 'node:path'
import { expect } from 'vitest'
import { runWriter } from './processes.js'
import { tempStore } from './temp.js'

/*
 * In the default durability a commit is acknowledged once its batch is in the write journal;
 * LevelDB gets it a few milliseconds later (docs/durability.md). These helpers kill a writer in
 * that window, for tests of what the next process to open the store finds.
 */

/** Checkpoints a killed writer commits unless told otherwise. */
const COMMITS = 200

export interface KilledWriter {
  readonly dir: string
  /** The journal file's path. */
  readonly journal: string
  /** The seed checkpoint, then each the writer acknowledged, oldest first. */
  readonly acknowledged: string[]
}

/** Runs a writer that commits `count` checkpoints on main and is killed the moment the last is acknowledged. */
export async function commitThenDie(dir: string, count = COMMITS): Promise<string[]> {
  const writer = runWriter([dir, 'commit-then-die', 'main', String(count)])
  expect(await writer.exited).toBe('SIGKILL')
  expect(writer.lines).toHaveLength(count)
  return writer.lines
}

/** A store with one seed checkpoint whose writer then died right after acknowledging `count` checkpoints on main. */
export async function killedWriter(count = COMMITS): Promise<KilledWriter> {
  const { store, dir } = await tempStore()
  const seed = await store.commit({ stage: 'seed', output: 0 })
  await store.close()
  return { dir, journal: path.join(dir, 'db', 'ckpt-journal-2'), acknowledged: [seed.id, ...(await commitThenDie(dir, count))] }
}

/** Where each record of the journal starts, read by its length fields (docs/format.md: a 12-byte header). */
export function journalRecordStarts(bytes: Buffer): number[] {
  const starts: number[] = []
  for (let at = 0; at + 12 <= bytes.length; at += 12 + bytes.readUInt32LE(at)) starts.push(at)
  return starts
}

/**
 * A killed writer's store with at least `minimum` records in its journal, and where they start. The
 * journal only holds what the database has not yet taken, so a kill just after a flush leaves too
 * few records to replay or damage: such a store is set aside and the writer run again, a few times at most.
 */
export async function killedWriterWithRecords(minimum = 3, count = COMMITS): Promise<KilledWriter & { bytes: Buffer; starts: number[] }> {
  for (let attempt = 1; ; attempt++) {
    const killed = await killedWriter(count)
    const bytes = readFileSync(killed.journal)
    const starts = journalRecordStarts(bytes)
    if (starts.length >= minimum || attempt === 5) {
      expect(starts.length).toBeGreaterThanOrEqual(minimum)
      return { ...killed, bytes, starts }
    }
  }
}
