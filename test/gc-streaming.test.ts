import path from 'node:path'
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { openLevelBackend, openStore, openStoreOn, type Backend } from '../src/index.js'
import { CKPT, ckpt } from './support/cli.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, tempDir } from './support/temp.js'

const MiB = 1024 * 1024
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts `ckpt ARGS` in `dir` without waiting (a process of the test's may be leading the store). */
function ckptChild(dir: string, args: string[], extraEnv: Record<string, string> = {}) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...extraEnv }
  delete env.CKPT_DIR
  const child = spawn(process.execPath, [CKPT, ...args], { cwd: dir, env })
  let stdout = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.resume()
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout })))
  return { child, done }
}

/** Starts `ckpt commit -s video -` in `dir` with its stdin left open for the test to feed slowly. */
const slowCommit = (dir: string, env: Record<string, string> = {}) => ckptChild(dir, ['commit', '-s', 'video', '-'], env)

/** The store in `dir` opened by this process, which then leads it, with its backend to see what writers wrote. */
async function holdStore(dir: string) {
  const root = path.join(dir, '.ckpt')
  const backend = await openLevelBackend(path.join(root, 'db'), { packDir: path.join(root, 'packs') })
  return { store: await openStoreOn(backend), backend }
}

/** The keys written since `since`, once some are: a writer in another process has stored chunks. */
async function writtenBy(backend: Backend, since: number): Promise<Uint8Array[]> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(50)) {
    const keys: Uint8Array[] = []
    for await (const key of backend.objects.writtenSince(since)) keys.push(key)
    if (keys.length > 0) return keys
  }
  throw new Error('the writer stored nothing within 30 s')
}

const WRITERS = 'meta/writers/'
/** Writer lease refs and the reflogs of lease refs, live or gone. */
async function leaseTraces(backend: Backend) {
  return { refs: await backend.refs.listRefs(WRITERS), reflogs: await backend.refs.listReflogs(WRITERS) }
}

describe('gc beside a streamed commit', () => {
  it('gc --prune=now in another process deletes nothing a slow streaming commit has written, and the commit reads back', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const data = pseudoRandomBytes(12 * MiB, 3)
    const writer = slowCommit(dir)
    writer.child.stdin.write(data.subarray(0, 10 * MiB))
    await sleep(2500) // the first 8 MiB batch of chunks is written by now
    const gc = ckpt(dir, ['gc', '--prune=now'])
    expect(gc.code).toBe(0)
    writer.child.stdin.end(data.subarray(10 * MiB))
    const { code } = await writer.done
    expect(code).toBe(0)
    expect(ckpt(dir, ['fsck']).code).toBe(0)
    const store = await openStore(path.join(dir, '.ckpt'))
    try {
      expect(Buffer.compare(Buffer.from(await store.getBlob('HEAD:video')), Buffer.from(data))).toBe(0)
      expect((await store.fsck()).problems).toEqual([])
    } finally {
      await store.close()
    }
  }, 60_000)

  it('a streamed commit in a follower process survives gc --prune=now run by the process holding the database', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const { store: holder, backend } = await holdStore(dir)
    try {
      const data = pseudoRandomBytes(12 * MiB, 5)
      const since = Date.now()
      const writer = slowCommit(dir)
      writer.child.stdin.write(data.subarray(0, 10 * MiB))
      // Chunks are stored and the manifest is not (stdin is still open): gc runs in that window.
      const chunks = await writtenBy(backend, since)
      await holder.gc({ prune: 'now' })
      expect((await backend.objects.has(chunks)).every(Boolean)).toBe(true)
      writer.child.stdin.end(data.subarray(10 * MiB))
      expect((await writer.done).code).toBe(0)
      expect(Buffer.compare(Buffer.from(await holder.getBlob('HEAD:video')), Buffer.from(data))).toBe(0)
      expect((await holder.fsck()).problems).toEqual([])
    } finally {
      await holder.close()
    }
  }, 60_000)

  it('putBlobStream keeps its chunks through gc --prune=now in another process until the blob is whole', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const store = await openStore(path.join(dir, '.ckpt'))
    try {
      const data = pseudoRandomBytes(12 * MiB, 9)
      let gcCode: number | null = -1
      const slow = async function* () {
        yield data.subarray(0, 10 * MiB)
        await sleep(2500)
        gcCode = await new Promise<number | null>((resolve) => {
          const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
          delete env.CKPT_DIR
          spawn(process.execPath, [CKPT, 'gc', '--prune=now'], { cwd: dir, env, stdio: 'ignore' }).on('close', resolve)
        })
        yield data.subarray(10 * MiB)
      }
      const id = await store.putBlobStream(slow())
      expect(gcCode).toBe(0)
      expect(Buffer.compare(Buffer.from(await store.getBlob(id)), Buffer.from(data))).toBe(0)
    } finally {
      await store.close()
    }
  }, 60_000)
})

describe('writer leases', () => {
  it('streamed commits and blob streams leave no lease and no lease reflog behind after gc', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    for (let i = 0; i < 3; i++) expect(ckpt(dir, ['commit', '-s', 'video', '-'], { input: pseudoRandomBytes(2 * MiB, 20 + i) }).code).toBe(0)
    const store = await openStore(path.join(dir, '.ckpt'))
    await store.putBlobStream((async function* () {
      yield pseudoRandomBytes(2 * MiB, 30)
    })())
    await store.close()
    expect(ckpt(dir, ['gc']).code).toBe(0)
    const backend = await openLevelBackend(path.join(dir, '.ckpt', 'db'), { packDir: path.join(dir, '.ckpt', 'packs') })
    try {
      expect(await leaseTraces(backend)).toEqual({ refs: [], reflogs: [] })
    } finally {
      await backend.close()
    }
  }, 60_000)

  it('a lease renewed many times keeps a history of at most two entries', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const { store, backend } = await holdStore(dir)
    const before = process.env.CKPT_WRITER_LEASE_MS
    process.env.CKPT_WRITER_LEASE_MS = '600' // renewed every 100 ms
    try {
      const values = new Set<string>()
      let longest = 0
      const slow = async function* () {
        for (let i = 0; i < 12; i++) {
          await sleep(150)
          for (const { name, value } of await backend.refs.listRefs(WRITERS)) {
            values.add(value)
            longest = Math.max(longest, (await backend.refs.readReflog(name)).length)
          }
          yield pseudoRandomBytes(64 * 1024, 40 + i)
        }
      }
      await store.putBlobStream(slow())
      expect(values.size).toBeGreaterThanOrEqual(5)
      expect(longest).toBeLessThanOrEqual(2)
      expect(await leaseTraces(backend)).toEqual({ refs: [], reflogs: [] })
    } finally {
      if (before === undefined) delete process.env.CKPT_WRITER_LEASE_MS
      else process.env.CKPT_WRITER_LEASE_MS = before
      await store.close()
    }
  }, 60_000)

  it('once the lease of a killed streaming writer expires, a dry-run gc leaves the lease and the chunks, and gc collects both', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const { store: holder, backend } = await holdStore(dir)
    try {
      const since = Date.now()
      const writer = slowCommit(dir, { CKPT_WRITER_LEASE_MS: '1500' })
      writer.child.stdin.write(pseudoRandomBytes(10 * MiB, 7))
      const chunks = await writtenBy(backend, since)
      writer.child.kill('SIGKILL')
      await writer.done
      await sleep(2000)
      expect((await ckptChild(dir, ['gc', '--prune=now', '--dry-run']).done).code).toBe(0)
      expect((await leaseTraces(backend)).refs.length).toBe(1)
      expect((await backend.objects.has(chunks)).every(Boolean)).toBe(true)
      expect((await ckptChild(dir, ['gc', '--prune=now']).done).code).toBe(0)
      expect((await backend.objects.has(chunks)).some(Boolean)).toBe(false)
      expect(await leaseTraces(backend)).toEqual({ refs: [], reflogs: [] })
      expect((await ckptChild(dir, ['fsck']).done).code).toBe(0)
    } finally {
      await holder.close()
    }
  }, 60_000)

  it('a streaming writer stalled past its lease fails with REF_CONFLICT and prints no id, and nothing acknowledged is lost', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    expect(ckpt(dir, ['commit', '-s', 'notes', '-'], { input: 'kept' }).code).toBe(0)
    const { store: holder, backend } = await holdStore(dir)
    try {
      const data = pseudoRandomBytes(12 * MiB, 8)
      const since = Date.now()
      const writer = slowCommit(dir, { CKPT_WRITER_LEASE_MS: '1500' })
      writer.child.stdin.write(data.subarray(0, 10 * MiB))
      const chunks = await writtenBy(backend, since)
      writer.child.kill('SIGSTOP')
      try {
        await sleep(2000)
        await holder.gc({ prune: 'now' })
        // gc judged the lease dead, so what the writer wrote was not kept.
        expect((await backend.objects.has(chunks)).some(Boolean)).toBe(false)
      } finally {
        writer.child.kill('SIGCONT')
      }
      writer.child.stdin.end(data.subarray(10 * MiB))
      const { code, stdout } = await writer.done
      expect(code).toBe(6) // REF_CONFLICT
      expect(stdout).toBe('')
      expect(new TextDecoder().decode(await holder.getBlob('HEAD:notes'))).toBe('kept')
      expect((await collect(holder.log())).length).toBe(1)
      expect((await ckptChild(dir, ['fsck']).done).code).toBe(0)
    } finally {
      await holder.close()
    }
  }, 60_000)

  it('gc drops the old log of a lease that is gone, left by a writer that died after its closing update', async () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    const backend = await openLevelBackend(path.join(dir, '.ckpt', 'db'), { packDir: path.join(dir, '.ckpt', 'packs') })
    try {
      const ref = `${WRITERS}00000000-0000-4000-8000-000000000000`
      const time = Date.now() - 120_000
      const value = `${time} ${time} 60000`
      const move = (expected: string | null, to: string | null) => backend.refs.updateRefs([{ name: ref, expected, value: to, log: { time, reason: 'writer' } }])
      expect(await move(null, value)).toEqual({ ok: true })
      expect(await move(value, null)).toEqual({ ok: true })
      expect((await leaseTraces(backend)).reflogs).toEqual([ref])
      await openStoreOn(backend).then(async (store) => store.gc())
      expect(await leaseTraces(backend)).toEqual({ refs: [], reflogs: [] })
    } finally {
      await backend.close()
    }
  })

  it('a lease length that is not a whole number of at least 100 ms is refused, naming the variable and value, before anything is written', () => {
    const dir = tempDir()
    expect(ckpt(dir, ['init']).code).toBe(0)
    for (const value of ['soon', '50', '1500.5']) {
      const commit = ckpt(dir, ['commit', '-s', 'video', '-'], { input: 'bytes', env: { CKPT_WRITER_LEASE_MS: value } })
      expect(commit.code).toBe(2) // INVALID_ARGUMENT
      expect(commit.stderr).toContain(`CKPT_WRITER_LEASE_MS is "${value}"`)
    }
    expect(ckpt(dir, ['log'])).toMatchObject({ code: 0, stdout: '' }) // the timeline has no checkpoints
  })
})
