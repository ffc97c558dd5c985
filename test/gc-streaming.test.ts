import path from 'node:path'
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { openStore } from '../src/index.js'
import { CKPT, ckpt } from './support/cli.js'
import { pseudoRandomBytes } from './support/random.js'
import { tempDir } from './support/temp.js'

const MiB = 1024 * 1024
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts `ckpt commit -s video -` in `dir` with its stdin left open for the test to feed slowly. */
function slowCommit(dir: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  delete env.CKPT_DIR
  const child = spawn(process.execPath, [CKPT, 'commit', '-s', 'video', '-'], { cwd: dir, env })
  let stdout = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout })))
  return { child, done }
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
    const holder = await openStore(path.join(dir, '.ckpt'))
    try {
      const data = pseudoRandomBytes(12 * MiB, 5)
      const writer = slowCommit(dir)
      writer.child.stdin.write(data.subarray(0, 10 * MiB))
      await sleep(2500)
      await holder.gc({ prune: 'now' })
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
