import { spawn } from 'node:child_process'
import { createReadStream, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { openLevelBackend, openStore } from '../src/index.js'
import { CKPT, ckpt } from './support/cli.js'
import { failure } from './support/errors.js'
import { journalRecordStarts, killedWriterWithRecords } from './support/killed-writer.js'
import { foreignKeysInStore } from './support/object-keys.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, onCleanup, tempDir, tempStore } from './support/temp.js'

/*
 * A build that does not know the write journal must never open a store that may hold one: it
 * would commit on an older head, and the journal be replayed over its commits later. So the
 * store's format moved to 2 with the journal's current layout (docs/format.md).
 */

const crc32 = (zlib as unknown as { crc32: (bytes: Uint8Array) => number }).crc32

const marker = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'ckpt-store.json'), 'utf8')) as { format: number; backend: string }

async function formatRef(dir: string): Promise<string | undefined> {
  const backend = await openLevelBackend(path.join(dir, 'db'))
  try {
    return await backend.refs.readRef('meta/format')
  } finally {
    await backend.close()
  }
}

/** Every file under `dir` with its bytes, to show that nothing was written. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>()
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    files.set(file, `${statSync(file).mtimeMs} ${readFileSync(file).toString('base64')}`)
  }
  return files
}

/** The journal records of the current layout (12-byte header) rewritten in format 1's (8-byte header, no header check). */
function toFormat1Journal(bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  for (const at of journalRecordStarts(bytes)) {
    expect(crc32(bytes.subarray(at, at + 8))).toBe(bytes.readUInt32LE(at + 8))
    parts.push(bytes.subarray(at, at + 8), bytes.subarray(at + 12, at + 12 + bytes.readUInt32LE(at)))
  }
  return Buffer.concat(parts)
}

describe('the store format', () => {
  it('marks a new store as format 2, in its marker file and in its database', async () => {
    const { store, dir } = await tempStore()
    await store.close()
    expect(marker(dir)).toEqual({ format: 2, backend: 'level' })
    expect(await formatRef(dir)).toBe('2')
  })

  it('refuses a store marked with a newer format with UNSUPPORTED_FORMAT, through the library and the CLI, and writes nothing', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    await store.close()
    writeFileSync(path.join(dir, 'ckpt-store.json'), JSON.stringify({ format: 3, backend: 'level' }))
    const before = snapshot(dir)
    expect((await failure(openStore(dir))).code).toBe('UNSUPPORTED_FORMAT')
    expect(ckpt(dir, ['--store', dir, 'log']).code).toBe(3)
    expect(ckpt(dir, ['--store', dir, 'commit', '-s', 'b', '--as', 'json', '-'], { input: '2' }).code).toBe(3)
    expect(ckpt(dir, ['--store', dir, 'fsck', '--repair']).code).toBe(3)
    expect(snapshot(dir)).toEqual(before)
  })

  it('opens a format 1 store, replays the journal a killed format 1 writer left, and upgrades the store to format 2', async () => {
    const { dir, acknowledged, bytes: journal } = await killedWriterWithRecords(1, 50)
    // Make the store what a format 1 build leaves: its format ref, its journal file, its marker.
    writeFileSync(path.join(dir, 'db', 'ckpt-journal-2'), '')
    const backend = await openLevelBackend(path.join(dir, 'db'))
    await backend.refs.updateRefs([{ name: 'meta/format', expected: '2', value: '1', log: { time: 0, reason: 'test' } }])
    await backend.close()
    writeFileSync(path.join(dir, 'db', 'ckpt-journal'), toFormat1Journal(journal))
    writeFileSync(path.join(dir, 'ckpt-store.json'), JSON.stringify({ format: 1, backend: 'level' }))

    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect((await collect(reopened.log('main'))).map((c) => c.id).reverse()).toEqual(acknowledged)
    await reopened.commit({ stage: 'after', output: 1 })
    await reopened.close()
    expect(marker(dir)).toEqual({ format: 2, backend: 'level' })
    expect(await formatRef(dir)).toBe('2')
    expect(readdirSync(path.join(dir, 'db'))).not.toContain('ckpt-journal')
  })

  it('upgrades a format 1 store opened by three processes at once, none of them failing', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'a', output: 1 })
    await store.close()
    writeFileSync(path.join(dir, 'ckpt-store.json'), JSON.stringify({ format: 1, backend: 'level' }))
    const runs = await Promise.all(
      [0, 1, 2].map(
        () =>
          new Promise<number | null>((resolve) => {
            spawn(process.execPath, [CKPT, '--store', dir, 'log', '-n', '1'], { stdio: 'ignore' }).on('close', (code) => resolve(code))
          }),
      ),
    )
    expect(runs).toEqual([0, 0, 0])
    expect(marker(dir)).toEqual({ format: 2, backend: 'level' })
    expect(readdirSync(dir).filter((name) => name.startsWith('ckpt-store.json.tmp'))).toEqual([])
  })

  /** A stat-cache entry as builds before the scratch space kept it among the objects (docs/format.md): `0x02` + path. */
  function legacyStatEntry(file: string, value: string): { key: Uint8Array; value: Uint8Array } {
    return { key: new Uint8Array(Buffer.concat([Buffer.of(0x02), Buffer.from(file)])), value: new TextEncoder().encode(value) }
  }

  it('opens a store whose object keyspace holds stat-cache entries of earlier builds: ignores them, commits, and gc removes them, fsck clean', async () => {
    const { store, dir } = await tempStore()
    const file = path.join(tempDir(), 'weights.bin')
    const bytes = pseudoRandomBytes(2 * 1024 * 1024 + 5, 51)
    writeFileSync(file, bytes)
    const blob = (await store.commit({ stage: 'weights', output: bytes })).stages.weights!
    const objects = (await collect(store.objects())).map((o) => o.id).sort()
    await store.close()
    const s = statSync(file, { bigint: true })
    const stat = { dev: String(s.dev), ino: String(s.ino), size: String(s.size), mtimeNs: String(s.mtimeNs), ctimeNs: String(s.ctimeNs) }
    const backend = await openLevelBackend(path.join(dir, 'db'))
    await backend.objects.putMany([
      legacyStatEntry(file, JSON.stringify({ ...stat, blob })), // the file as it is, naming its live blob
      legacyStatEntry('/gone/elsewhere.bin', JSON.stringify({ ...stat, blob: 'bafkr4ihdr6qkqzjvdtplxfmqp3hpq2ikwh4xqrqcsyb4ksgnweh5nnvb7q' })),
      legacyStatEntry('/damaged.bin', '{not json'),
    ])
    await backend.close()
    expect((await foreignKeysInStore(dir)).length).toBe(3)

    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect((await collect(reopened.objects())).map((o) => o.id).sort()).toEqual(objects)
    // The old entries are not consulted: the first commit reads the file, the next one recognises it.
    const first = createReadStream(file)
    expect((await reopened.commit({ stage: 'weights', output: first, message: 'first' })).stages.weights).toBe(blob)
    expect(first.bytesRead).toBe(bytes.length)
    const gc = await reopened.gc({ prune: 'now' })
    expect(gc.freed.objects).toBe(3)
    expect(await foreignKeysInStore(dir)).toEqual([])
    expect((await collect(reopened.objects())).map((o) => o.id).sort()).toEqual(objects.concat((await reopened.getCheckpoint('HEAD')).id).sort())
    expect((await reopened.fsck()).problems).toEqual([])
    // gc leaves the stat cache itself alone.
    const again = createReadStream(file)
    expect((await reopened.commit({ stage: 'weights', output: again, message: 'again' })).stages.weights).toBe(blob)
    expect(again.bytesRead).toBe(0)
  })
})
