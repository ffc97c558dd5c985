import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { openStore } from '../../src/index.js'
import { runWriter } from '../support/processes.js'
import { collect, onCleanup, tempStore } from '../support/temp.js'
import { SCALE } from './scale.js'

const READER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/test/fixtures/reader.js')

function startReader(dir: string) {
  const reader = spawn(process.execPath, [READER, dir, '600000'], { stdio: ['ignore', 'pipe', 'inherit'] })
  onCleanup(() => void reader.kill('SIGKILL'))
  let output = ''
  reader.stdout.setEncoding('utf8').on('data', (text: string) => (output += text))
  const closed = new Promise<void>((resolve) => reader.on('close', () => resolve()))
  return {
    output: () => output,
    stop: async () => {
      reader.kill('SIGTERM')
      await closed
    },
  }
}

const rounds = (output: string) => (output.match(/^ok /gm) ?? []).length

async function until(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

describe('concurrency: eight writers, readers throughout, and the leader dying', () => {
  it(`keeps all ${8 * SCALE.commitsPerWriter} commits of 4 own-timeline and 4 shared-timeline writers`, async () => {
    const n = SCALE.commitsPerWriter
    const { store: creator, dir } = await tempStore()
    await creator.commit({ timeline: 'shared', stage: 'seed', output: 0 })
    await creator.close()
    // The first process to open the store leads; it dies halfway through to force a failover.
    const holder = runWriter([dir, 'hold'])
    await holder.waitForLine((l) => l === 'ready')
    const readers = [startReader(dir), startReader(dir)]
    const own = [1, 2, 3, 4].map((i) => runWriter([dir, 'commit', `own-${i}`, String(n)]))
    const shared = [1, 2, 3, 4].map(() => runWriter([dir, 'commit', 'shared', String(n), 'retry']))
    await own[0]!.waitForLine(() => own[0]!.lines.length >= n / 2)
    holder.process.kill('SIGKILL')
    await holder.exited
    const roundsAtKill = readers.map((r) => rounds(r.output()))
    expect(await Promise.all([...own, ...shared].map((w) => w.exited))).toEqual(Array(8).fill(0))
    // The readers kept going through the failover: each finishes rounds after the leader died,
    // and none ever saw an error or a torn result.
    for (const [i, reader] of readers.entries()) await until(() => rounds(reader.output()) >= roundsAtKill[i]! + 2)
    await Promise.all(readers.map((r) => r.stop()))
    for (const reader of readers) expect(reader.output()).not.toContain('error')

    const store = await openStore(dir)
    onCleanup(() => store.close())
    const history = new Set((await collect(store.log('shared'))).map((c) => c.id))
    expect(history.size).toBe(1 + 4 * n)
    for (const writer of shared) for (const id of writer.lines) expect(history.has(id)).toBe(true)
    for (const [i, writer] of own.entries()) {
      expect((await collect(store.log(`own-${i + 1}`))).map((c) => c.id).reverse()).toEqual(writer.lines)
    }
    expect((await store.fsck()).problems).toEqual([])
  }, SCALE.timeoutMs)

  it('applies each commit that races without retry, or reports REF_CONFLICT to its caller', async () => {
    const n = Math.max(SCALE.commitsPerWriter, 400)
    const { store: creator, dir } = await tempStore()
    await creator.commit({ timeline: 'shared', stage: 'seed', output: 0 })
    await creator.close()
    // The writers start committing together, whatever their start-up times, so their runs overlap.
    const startAt = String(Date.now() + 2000)
    const writers = [1, 2, 3].map(() => runWriter([dir, 'commit', 'shared', String(n), 'report'], { WRITER_START_AT: startAt }))
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0, 0])
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const history = new Set((await collect(store.log('shared'))).map((c) => c.id))
    const applied = writers.flatMap((w) => w.lines.filter((l) => l !== 'conflict'))
    const conflicts = writers.flatMap((w) => w.lines.filter((l) => l === 'conflict'))
    expect(applied.length + conflicts.length).toBe(3 * n)
    expect(conflicts.length).toBeGreaterThan(0)
    for (const id of applied) expect(history.has(id)).toBe(true)
    expect(history.size).toBe(1 + applied.length)
  }, SCALE.timeoutMs)
})
