import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { openStore } from '../src/index.js'
import { runWriter } from './support/processes.js'
import { collect, onCleanup, tempStore } from './support/temp.js'

const READER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/test/fixtures/reader.js')

describe('many processes on one store', () => {
  it('loses no commit and shows readers no error while writers race', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ timeline: 'shared', stage: 'seed', output: 0 })
    await creator.close()
    const reader = spawn(process.execPath, [READER, dir, '60000'], { stdio: ['ignore', 'pipe', 'inherit'] })
    onCleanup(() => void reader.kill('SIGKILL'))
    let readerOutput = ''
    const readerStarted = new Promise<void>((resolve) => {
      reader.stdout.setEncoding('utf8').on('data', (text: string) => {
        readerOutput += text
        if (/ok \d+/.test(readerOutput)) resolve()
      })
    })
    // The writers start once the reader reads, so that it is reading while they write.
    await readerStarted
    const writers = [
      runWriter([dir, 'commit', 'shared', '60', 'retry']),
      runWriter([dir, 'commit', 'shared', '60', 'retry']),
      runWriter([dir, 'commit', 'shared', '60', 'retry']),
      runWriter([dir, 'commit', 'own-1', '60']),
      runWriter([dir, 'commit', 'own-2', '60']),
    ]
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0, 0, 0, 0])
    reader.kill('SIGTERM')
    await new Promise((resolve) => reader.on('close', resolve))

    const store = await openStore(dir)
    onCleanup(() => store.close())
    const shared = new Set((await collect(store.log('shared'))).map((c) => c.id))
    expect(shared.size).toBe(1 + 3 * 60)
    for (const writer of writers.slice(0, 3)) for (const id of writer.lines) expect(shared.has(id)).toBe(true)
    for (const [i, name] of ['own-1', 'own-2'].entries()) {
      expect((await collect(store.log(name))).map((c) => c.id).reverse()).toEqual(writers[3 + i]?.lines)
    }
    expect((await store.fsck()).problems).toEqual([])
    expect(readerOutput).not.toContain('error')
    expect(readerOutput).toMatch(/ok \d+/)
  })
})

describe('the process holding the database dies under load', () => {
  it('lets the writers fail over and keeps every acknowledged checkpoint', async () => {
    const { store: creator, dir } = await tempStore()
    await creator.commit({ timeline: 'shared', stage: 'seed', output: 0 })
    await creator.close()
    const holder = runWriter([dir, 'hold'])
    await holder.waitForLine((l) => l === 'ready')
    const writers = [runWriter([dir, 'commit', 'shared', '80', 'retry']), runWriter([dir, 'commit', 'shared', '80', 'retry']), runWriter([dir, 'commit', 'solo', '80'])]
    await writers[0]?.waitForLine(() => (writers[0]?.lines.length ?? 0) >= 10)
    holder.process.kill('SIGKILL')
    await holder.exited
    expect(await Promise.all(writers.map((w) => w.exited))).toEqual([0, 0, 0])

    const store = await openStore(dir)
    onCleanup(() => store.close())
    const shared = new Set((await collect(store.log('shared'))).map((c) => c.id))
    expect(shared.size).toBe(1 + 2 * 80)
    for (const id of [...(writers[0]?.lines ?? []), ...(writers[1]?.lines ?? [])]) expect(shared.has(id)).toBe(true)
    expect((await collect(store.log('solo'))).length).toBe(80)
    expect((await store.fsck()).ok).toBe(true)
  })
})
