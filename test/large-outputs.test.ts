import { execFileSync } from 'node:child_process'
import { closeSync, createReadStream, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync, writeSync } from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { hash } from 'blake3-jit'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { base32 } from 'multiformats/bases/base32'
import { describe, expect, it } from 'vitest'
import { Directory, createMemoryBackend, initStoreOn, openStore, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { pseudoRandomBytes } from './support/random.js'
import { foreignKeys, foreignKeysInStore } from './support/object-keys.js'
import { collect, onCleanup, tempDir, tempStore } from './support/temp.js'

const MiB = 1024 * 1024
const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/cli/main.js')

/** The id a blob must have: the raw CID of the BLAKE3 of its whole content, however it is stored. */
function blobId(bytes: Uint8Array): string {
  return CID.createV1(0x55, Digest.create(0x1e, hash(bytes, 32))).toString(base32)
}

function packBytes(dir: string): number {
  const packs = path.join(dir, 'packs')
  try {
    return readdirSync(packs).reduce((sum, name) => sum + statSync(path.join(packs, name)).size, 0)
  } catch {
    return 0
  }
}

const concat = (pieces: Uint8Array[]) => new Uint8Array(Buffer.concat(pieces))
const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0

/** `bytes` cut into pieces of awkward, varying sizes, as a stream. */
function stream(bytes: Uint8Array): Readable {
  const pieces: Uint8Array[] = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = [1, 4093, 65536, 1_000_003][i % 4]!
    pieces.push(bytes.subarray(at, at + size))
    at += size
  }
  return Readable.from(pieces)
}

describe('large outputs: chunked blobs', () => {
  // Over one 8 MiB batch, so streams take the path that hashes on worker threads.
  const big = pseudoRandomBytes(12 * MiB, 7)

  it('keeps the whole-content id, reads back intact, and reports the size from the manifest', async () => {
    const { store } = await tempStore()
    const id = await store.putBlob(big)
    expect(id).toBe(blobId(big))
    expect(same(await store.getBlob(id), big)).toBe(true)
    expect(await store.outputInfo(id)).toEqual({ id, kind: 'bytes', size: big.length })
    // Stored as chunks: the packs hold the bytes, and listing shows chunks, not one 8 MiB object.
    const objects = await collect(store.objects())
    expect(objects.length).toBeGreaterThan(8)
    expect(objects.map((o) => o.id)).not.toContain(id)
  })

  it('gives a stream the same id as the same bytes in memory, and streams them back in pieces', async () => {
    const { store } = await tempStore()
    const id = await store.putBlobStream(stream(big))
    expect(id).toBe(blobId(big))
    const pieces = await collect(store.getBlobStream(id) as AsyncIterable<Uint8Array>)
    expect(pieces.length).toBeGreaterThan(8)
    expect(same(concat(pieces), big)).toBe(true)
  })

  it('works the same on the in-memory backend, which has no pack files', async () => {
    const store = await initStoreOn(createMemoryBackend())
    const id = await store.putBlobStream(stream(big))
    expect(id).toBe(blobId(big))
    expect(same(await store.getBlob(id), big)).toBe(true)
    expect(same(await store.getBlob(id, { offset: 5 * MiB, length: 3 * MiB }), big.subarray(5 * MiB, 8 * MiB))).toBe(true)
    expect(same(concat(await collect(store.getBlobStream(id) as AsyncIterable<Uint8Array>)), big)).toBe(true)
    expect((await store.outputInfo(id)).size).toBe(big.length)
    await store.close()
  })

  it('works the same in fsync durability mode, across a reopen', async () => {
    const { store, dir } = await tempStore({ level: { durability: 'fsync' } })
    const c = await store.commit({ stage: 'weights', output: stream(big) })
    await store.close()
    const reopened = await openStore(dir, { level: { durability: 'fsync' } })
    onCleanup(() => reopened.close())
    expect(same(await reopened.getBlob(c.stages.weights!), big)).toBe(true)
    expect((await reopened.fsck()).ok).toBe(true)
  })

  it('stores a stream at or under 1 MiB as one block with the same id', async () => {
    const { store } = await tempStore()
    const small = pseudoRandomBytes(MiB, 3)
    const id = await store.putBlobStream(stream(small))
    expect(id).toBe(blobId(small))
    expect((await collect(store.objects())).map((o) => o.id)).toEqual([id])
    expect(same(await store.getBlob(id), small)).toBe(true)
  })

  it('serves byte ranges, including ranges across chunk boundaries and past the end', async () => {
    const { store } = await tempStore()
    const id = await store.putBlob(big)
    const ranges = [
      { offset: 0, length: 10 },
      { offset: 3 * MiB - 5, length: 2 * MiB + 17 },
      { offset: big.length - 3, length: 100 },
      { offset: big.length + 5, length: 1 },
      { offset: 12345 },
      { offset: 0, length: 0 },
    ]
    for (const range of ranges) {
      const end = range.length === undefined ? big.length : Math.min(big.length, range.offset + range.length)
      const expected = big.subarray(Math.min(range.offset, big.length), Math.max(Math.min(range.offset, big.length), end))
      expect(same(await store.getBlob(id, range), expected)).toBe(true)
      expect(same(concat(await collect(store.getBlobStream(id, range) as AsyncIterable<Uint8Array>)), expected)).toBe(true)
    }
    const small = await store.putBlob(pseudoRandomBytes(1000, 5))
    expect(same(await store.getBlob(small, { offset: 990, length: 50 }), pseudoRandomBytes(1000, 5).subarray(990))).toBe(true)
    for (const bad of [{ offset: -1 }, { length: 1.5 }, { offset: Number.NaN }]) {
      const err = await failure(store.getBlob(id, bad))
      expect(err.code).toBe('INVALID_ARGUMENT')
    }
  })

  it('stores a copy only once, and an edited copy as little more than the chunks around the edit', async () => {
    const { store, dir } = await tempStore()
    await store.putBlob(big)
    const first = packBytes(dir)
    expect(first).toBeGreaterThanOrEqual(big.length)

    await store.putBlobStream(stream(big))
    expect(packBytes(dir)).toBe(first)

    const overwritten = Uint8Array.from(big)
    overwritten.set(pseudoRandomBytes(64 * 1024, 99), 4 * MiB)
    await store.putBlob(overwritten)
    const afterOverwrite = packBytes(dir)
    expect(afterOverwrite - first).toBeLessThanOrEqual(3 * MiB)

    const inserted = concat([big.subarray(0, big.length / 3), pseudoRandomBytes(64 * 1024, 42), big.subarray(big.length / 3)])
    await store.putBlobStream(stream(inserted))
    expect(packBytes(dir) - afterOverwrite).toBeLessThanOrEqual(3 * MiB)
    expect(same(await store.getBlob(blobId(inserted)), inserted)).toBe(true)
    expect(same(await store.getBlob(blobId(overwritten)), overwritten)).toBe(true)
  })

  it('commits a stream as a stage output; diff compares by id and sizes without reading the bytes as text', async () => {
    const { store } = await tempStore()
    const a = await store.commit({ stage: 'frames', output: stream(big) })
    expect(a.stages.frames).toBe(blobId(big))
    expect(a.kinds.frames).toBe('bytes')
    const edited = Uint8Array.from(big)
    edited[5 * MiB] = (edited[5 * MiB]! + 1) & 0xff
    const b = await store.commit({ stage: 'frames', output: edited })
    const c = await store.commit({ stage: 'other', output: { x: 1 } })
    const changed = await store.diff(a.id, b.id)
    expect(changed.stages).toEqual([
      { stage: 'frames', status: 'changed', from: a.stages.frames, to: b.stages.frames, kind: 'bytes', size: { from: big.length, to: big.length } },
    ])
    const unchanged = await store.diff(b.id, c.id)
    expect(unchanged.stages.find((s) => s.stage === 'frames')?.status).toBe('unchanged')
  })

  it('only hashes a file committed again unchanged, and reads a changed one in full', async () => {
    const { store, dir } = await tempStore()
    const file = path.join(tempDir(), 'weights.bin')
    writeFileSync(file, big)
    const first = createReadStream(file)
    const a = await store.commit({ stage: 'weights', output: first })
    expect(first.bytesRead).toBe(big.length)
    const packs = packBytes(dir)

    const again = createReadStream(file)
    const b = await store.commit({ stage: 'weights', output: again })
    expect(b.stages.weights).toBe(a.stages.weights)
    expect(again.bytesRead).toBe(0) // recognised from its stat and one hash pass, never streamed
    expect(packBytes(dir)).toBe(packs)

    const edited = Uint8Array.from(big)
    edited[100] = (edited[100]! + 1) & 0xff
    writeFileSync(file, edited)
    const changed = createReadStream(file)
    const c = await store.commit({ stage: 'weights', output: changed })
    expect(changed.bytesRead).toBe(big.length)
    expect(c.stages.weights).toBe(blobId(edited))
    expect(same(await store.getBlob(c.stages.weights!), edited)).toBe(true)
  })

  it('refuses bad commit input before reading a stream', async () => {
    const { store } = await tempStore()
    let read = false
    const source = (async function* () {
      read = true
      yield big
    })()
    const err = await failure(store.commit({ stage: 'bad/../name', output: source }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(read).toBe(false)
    expect(await collect(store.objects())).toEqual([])
  })

  it('checks out a chunked output to a file byte for byte, and inside a directory output', async () => {
    const { store } = await tempStore()
    const file = pseudoRandomBytes(3 * MiB, 11)
    await store.commit({ stage: 'weights', output: stream(big) })
    await store.commit({ stage: 'frames', output: new Directory(new Map([['a/big.bin', file], ['small.txt', new TextEncoder().encode('hi')]])) })
    const target = tempDir()
    await store.restore('HEAD', { to: target })
    expect(same(new Uint8Array(readFileSync(path.join(target, 'weights'))), big)).toBe(true)
    expect(same(new Uint8Array(readFileSync(path.join(target, 'frames', 'a', 'big.bin'))), file)).toBe(true)
  })

  it('checks out several large files byte for byte, with fsync and through a follower process-role too', async () => {
    // Over 8 MiB each: read into memory reused from chunk to chunk, and given back once written.
    const { store, dir } = await tempStore({ level: { durability: 'fsync' } })
    const other = pseudoRandomBytes(9 * MiB, 13)
    await store.commit({ stage: 'weights', output: stream(big) })
    await store.commit({ stage: 'optimizer', output: stream(other) })
    const follower = await openStore(dir)
    onCleanup(() => follower.close())
    for (const [reader, target] of [[store, tempDir()], [follower, tempDir()], [follower, path.join(tempDir(), 'new')]] as const) {
      await reader.restore('HEAD', { to: target })
      expect(same(new Uint8Array(readFileSync(path.join(target, 'weights'))), big)).toBe(true)
      expect(same(new Uint8Array(readFileSync(path.join(target, 'optimizer'))), other)).toBe(true)
    }
  })

  it('lets a second process-role (a follower over the socket) write and read chunked blobs', async () => {
    const { store, dir } = await tempStore()
    const follower = await openStore(dir)
    onCleanup(() => follower.close())
    const other = pseudoRandomBytes(5 * MiB, 21)
    const [x, y] = await Promise.all([follower.putBlobStream(stream(other)), store.putBlob(big)])
    expect(same(await store.getBlob(x), other)).toBe(true)
    expect(same(await follower.getBlob(y), big)).toBe(true)
  })
})

describe('large outputs: damage is found', () => {
  async function storeWithBig(): Promise<{ store: Store; dir: string; id: string }> {
    const { store, dir } = await tempStore()
    // Over 8 MiB, so whole reads verify chunks on a worker thread; fsck re-hashes on this one.
    const c = await store.commit({ stage: 'blob', output: pseudoRandomBytes(12 * MiB, 5) })
    return { store, dir, id: c.stages.blob! }
  }

  function packFile(dir: string): string {
    const [name] = readdirSync(path.join(dir, 'packs'))
    return path.join(dir, 'packs', name!)
  }

  it('fsck re-hashes chunks and finds a flipped byte in a pack; --quick checks presence only', async () => {
    const { store, dir, id } = await storeWithBig()
    expect((await store.fsck()).ok).toBe(true)
    const pack = packFile(dir)
    const at = Math.floor(statSync(pack).size / 2)
    const flipped = readFileSync(pack)[at]! ^ 0xff
    const fd = openSync(pack, 'r+')
    writeSync(fd, Uint8Array.of(flipped), 0, 1, at)
    closeSync(fd)
    const report = await store.fsck()
    expect(report.ok).toBe(false)
    expect(report.problems).toEqual([expect.objectContaining({ id, kind: 'corrupt', ref: 'timelines/main' })])
    expect(report.problems[0]!.message).toMatch(/^object \S+ is corrupt/)
    expect((await store.fsck({ quick: true })).ok).toBe(true)
    expect((await failure(store.getBlob(id))).code).toBe('CORRUPT_OBJECT')
    // Streamed reads verify on a worker thread, and refuse the damaged chunk too.
    expect((await failure(collect(store.getBlobStream(id) as AsyncIterable<Uint8Array>))).code).toBe('CORRUPT_OBJECT')
    expect((await failure(store.restore('HEAD', { to: tempDir() }))).code).toBe('CORRUPT_OBJECT')
    const durable = await openStore(dir, { level: { durability: 'fsync' } })
    onCleanup(() => durable.close())
    const target = tempDir()
    expect((await failure(durable.restore('HEAD', { to: target }))).code).toBe('CORRUPT_OBJECT')
    expect(readdirSync(target).filter((name) => !name.startsWith('.ckpt'))).toEqual([])
  })

  it('a truncated pack is CORRUPT_OBJECT naming the pack; a deleted pack likewise', async () => {
    const { store, dir, id } = await storeWithBig()
    const pack = packFile(dir)
    writeFileSync(pack, readFileSync(pack).subarray(0, 1024 * 1024))
    const truncated = await failure(store.getBlob(id))
    expect(truncated.code).toBe('CORRUPT_OBJECT')
    expect(truncated.message).toContain(path.basename(pack))
    expect(truncated.message).toContain('truncated')
    expect((await store.fsck()).problems[0]).toMatchObject({ id, kind: 'corrupt' })

    await store.close()
    rmSync(pack)
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    const missing = await failure(reopened.getBlob(id))
    expect(missing.code).toBe('CORRUPT_OBJECT')
    expect(missing.message).toContain('missing')
  })
})

describe('large outputs: the ckpt command', () => {
  it('commits a file by streaming it and cats it back byte for byte', async () => {
    const dir = tempDir()
    const store = path.join(dir, 'store')
    const input = path.join(dir, 'in.bin')
    const bytes = pseudoRandomBytes(6 * MiB, 8)
    writeFileSync(input, bytes)
    const run = (...args: string[]) => execFileSync(process.execPath, [CLI, '--store', store, ...args], { maxBuffer: 64 * MiB })
    run('init')
    run('commit', '--stage', 'weights', '--file', input)
    expect(run('rev-parse', 'HEAD:weights').toString().trim()).toBe(blobId(bytes))
    expect(same(new Uint8Array(run('cat', 'HEAD:weights')), bytes)).toBe(true)
    expect(JSON.parse(run('show', 'HEAD', '--json').toString()).stages.weights).toBe(blobId(bytes))
  })
})

describe('large outputs: the stat cache is kept apart from the objects', () => {
  const bytes = pseudoRandomBytes(3 * MiB, 31)

  it('ckpt commit --file leaves nothing but objects in the object keyspace, committed once or again unchanged', async () => {
    const dir = tempDir()
    const store = path.join(dir, 'store')
    const input = path.join(dir, 'weights.bin')
    writeFileSync(input, bytes)
    const run = (...args: string[]) => execFileSync(process.execPath, [CLI, '--store', store, ...args], { maxBuffer: 64 * MiB })
    run('init')
    run('commit', '--stage', 'weights', '--file', input)
    run('commit', '--stage', 'weights', '--file', input, '-m', 'again')
    expect(run('rev-parse', 'HEAD:weights').toString().trim()).toBe(blobId(bytes))
    expect(await foreignKeysInStore(store)).toEqual([])
  })

  it('the memory backend remembers an unchanged file too, outside its object keyspace', async () => {
    const backend = createMemoryBackend()
    const store = await initStoreOn(backend)
    onCleanup(() => store.close())
    const file = path.join(tempDir(), 'weights.bin')
    writeFileSync(file, bytes)
    await store.commit({ stage: 'weights', output: createReadStream(file) })
    const again = createReadStream(file)
    const b = await store.commit({ stage: 'weights', output: again })
    expect(again.bytesRead).toBe(0)
    expect(b.stages.weights).toBe(blobId(bytes))
    expect(await foreignKeys(backend.objects)).toEqual([])
  })

  it('a backend without a scratch space still commits an unchanged file, by reading it again in full', async () => {
    const inner = createMemoryBackend()
    const store = await initStoreOn({ description: inner.description, supports: { ...inner.supports, scratch: false }, objects: inner.objects, refs: inner.refs, close: () => inner.close() })
    onCleanup(() => store.close())
    const file = path.join(tempDir(), 'weights.bin')
    writeFileSync(file, bytes)
    const a = await store.commit({ stage: 'weights', output: createReadStream(file) })
    const again = createReadStream(file)
    const b = await store.commit({ stage: 'weights', output: again })
    expect(again.bytesRead).toBe(bytes.length)
    expect(b.stages.weights).toBe(a.stages.weights)
    expect(b.stages.weights).toBe(blobId(bytes))
    expect(await foreignKeys(inner.objects)).toEqual([])
  })
})

describe('large outputs: an unchanged file is trusted by its stat only when no write can hide behind it', () => {
  const bytes = pseudoRandomBytes(3 * MiB, 47)
  // git's racy-clean rule: a stat proves a file unchanged only when the file's times were more than
  // 2 s old when the stat was taken (src/core/file-source.ts). Files written, then left that long.
  const settled = async (...files: string[]) => {
    for (const file of files) writeFileSync(file, bytes)
    await new Promise((resolve) => setTimeout(resolve, 2_100))
  }
  const commitCounting = async (store: Store, file: string) => {
    const stream = createReadStream(file)
    let reported = 0
    const checkpoint = await store.commit({ stage: 'weights', output: stream, onBytes: (n) => void (reported = n) })
    return { id: checkpoint.stages.weights!, streamed: stream.bytesRead, hashed: reported }
  }

  it('reads nothing of a settled file committed again, and hashes one written just before it was stored', async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const old = path.join(dir, 'old.bin')
    await settled(old)
    expect(await commitCounting(store, old)).toEqual({ id: blobId(bytes), streamed: bytes.length, hashed: bytes.length })
    const fresh = path.join(dir, 'fresh.bin')
    writeFileSync(fresh, bytes)
    expect(await commitCounting(store, fresh)).toEqual({ id: blobId(bytes), streamed: bytes.length, hashed: bytes.length })
    expect(await commitCounting(store, old)).toEqual({ id: blobId(bytes), streamed: 0, hashed: 0 })
    // The fresh file is still within the margin of its stat: a hash pass, not trust.
    expect(await commitCounting(store, fresh)).toEqual({ id: blobId(bytes), streamed: 0, hashed: bytes.length })
  })

  it('a settled file rewritten in place with the same size and its mtime set back is read again, by its ctime', async () => {
    const { store } = await tempStore()
    const file = path.join(tempDir(), 'weights.bin')
    await settled(file)
    await commitCounting(store, file)
    const { mtime } = statSync(file)
    const edited = Uint8Array.from(bytes)
    edited[5] = (edited[5]! + 1) & 0xff
    writeFileSync(file, edited)
    utimesSync(file, mtime, mtime)
    expect(await commitCounting(store, file)).toEqual({ id: blobId(edited), streamed: edited.length, hashed: edited.length })
    expect(same(await store.getBlob(blobId(edited)), edited)).toBe(true)
  })

  it('a settled file replaced by another of the same size and mtime (a new inode) is read again', async () => {
    const { store } = await tempStore()
    const dir = tempDir()
    const file = path.join(dir, 'weights.bin')
    await settled(file)
    await commitCounting(store, file)
    const { mtime } = statSync(file)
    const edited = Uint8Array.from(bytes).reverse()
    const replacement = path.join(dir, 'next.bin')
    writeFileSync(replacement, edited)
    utimesSync(replacement, mtime, mtime)
    renameSync(replacement, file)
    expect(await commitCounting(store, file)).toEqual({ id: blobId(edited), streamed: edited.length, hashed: edited.length })
  })
})
