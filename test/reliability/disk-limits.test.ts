import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { chmodSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { initStore, openStore } from '../../src/index.js'
import { CKPT, ckpt } from '../support/cli.js'
import { pseudoRandomBytes } from '../support/random.js'
import { collect, onCleanup, tempDir } from '../support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const FULL_DISK_WRITER = path.join(root, 'dist/test/reliability/fixtures/full-disk-writer.js')

/** A small tmpfs of its own (the test runs as root, as CI does), unmounted after the test. */
function smallDisk(mib: number): string {
  const dir = tempDir('ckpt-disk-')
  chmodSync(dir, 0o755)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0755`, 'tmpfs', dir])
  onCleanup(() => void execFileSync('umount', ['-l', dir]))
  return dir
}

const remount = (dir: string, options: string) => execFileSync('mount', ['-o', `remount,${options}`, dir])

/** Writes a filler file until the disk is full; returns its path. */
function fill(disk: string): string {
  const filler = path.join(disk, 'filler')
  spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' })
  return filler
}

const packsOf = (dir: string) => readdirSync(path.join(dir, 'packs')).map((name) => ({ name, size: statSync(path.join(dir, 'packs', name)).size }))

describe('a full disk', () => {
  it('opens read-only while the disk is full: log and show work, a commit fails with one clear error', async () => {
    const disk = smallDisk(12)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    for (let i = 0; i < 20; i++) await store.commit({ stage: `s${i % 3}`, output: { i, pad: 'p'.repeat(3000) } })
    await store.close()
    fill(disk)
    const log = ckpt(disk, ['--store', dir, 'log', '--oneline'])
    expect(log.stderr).toBe('')
    expect(log.code).toBe(0)
    expect(log.stdout.trim().split('\n')).toHaveLength(20)
    expect(ckpt(disk, ['--store', dir, 'show', 'main']).code).toBe(0)
    const commit = ckpt(disk, ['--store', dir, 'commit', '-s', 'x', '--json', '1'])
    expect(commit.code).toBe(3)
    expect(commit.stderr.trim().split('\n')).toHaveLength(1)
    expect(commit.stderr).toMatch(/no space|read-only/i)
  })

  it('a commit too large for the disk gives its space back, so the store opens and takes the next commit', async () => {
    const disk = smallDisk(16)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    await store.commit({ stage: 'small', output: { ok: true } })
    await expect(store.commit({ stage: 'huge', output: pseudoRandomBytes(40 * 1024 * 1024, 5) })).rejects.toMatchObject({ code: 'IO_ERROR' })
    await store.close().catch(() => undefined)
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    await reopened.commit({ stage: 'after', output: pseudoRandomBytes(1024 * 1024, 6) })
    expect((await collect(reopened.log('main'))).map((c) => c.stage)).toEqual(['after', 'small'])
    expect((await reopened.fsck()).problems).toEqual([])
  })

  it('gc removes pack files no index entry names, empty ones included', async () => {
    const disk = smallDisk(32)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    await store.commit({ stage: 'big', output: pseudoRandomBytes(1024 * 1024, 7) })
    await store.close()
    const live = packsOf(dir).map((p) => p.name)
    writeFileSync(path.join(dir, 'packs', 'lz00000-aaaaaaaaaaaa.pack'), '')
    writeFileSync(path.join(dir, 'packs', 'lz00001-bbbbbbbbbbbb.pack'), Buffer.alloc(5000, 1))
    const gc = ckpt(disk, ['--store', dir, 'gc', '--prune=now'])
    expect(gc.code).toBe(0)
    expect(packsOf(dir).map((p) => p.name).sort()).toEqual(live.sort())
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    expect((await reopened.fsck()).problems).toEqual([])
  })

  it('a long-lived writer committing through ENOSPC recovers once there is room, and every acknowledged commit survives it closing', async () => {
    const disk = smallDisk(10)
    const dir = path.join(disk, 'store')
    await (await initStore(dir)).close()
    const stop = path.join(tempDir(), 'STOP')
    const child = spawn(process.execPath, [FULL_DISK_WRITER, dir, stop], { stdio: ['ignore', 'pipe', 'inherit'] })
    onCleanup(() => void child.kill('SIGKILL'))
    const lines: string[] = []
    let partial = ''
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      const parts = (partial + text).split('\n')
      partial = parts.pop() ?? ''
      lines.push(...parts)
    })
    const exited = new Promise((resolve) => child.on('close', resolve))
    const until = async (done: () => boolean, what: string) => {
      for (const started = Date.now(); !done(); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() - started > 15_000) throw new Error(`timed out waiting for ${what}; last lines: ${lines.slice(-5).join(' | ')}`)
      }
    }
    const fails = () => lines.filter((l) => l.startsWith('fail')).length
    await until(() => fails() >= 10, 'the disk to fill')
    expect(lines.filter((l) => l.startsWith('fail')).every((l) => l === 'fail IO_ERROR' || l === 'fail STORE_UNAVAILABLE')).toBe(true)
    remount(disk, 'size=128m')
    const acksBefore = lines.length
    await until(() => lines.slice(acksBefore).filter((l) => l.startsWith('ack')).length >= 10, 'commits to succeed again')
    // Another process writes through the long-lived one.
    const other = ckpt(disk, ['--store', dir, 'commit', '-s', 'other', '--json', '42', '--retry', '100'])
    expect(other.stderr).toBe('')
    expect(other.code).toBe(0)
    writeFileSync(stop, '')
    await exited
    expect(lines.at(-1)).toBe('closed')
    const reopened = await openStore(dir)
    onCleanup(() => reopened.close())
    const acknowledged = lines.filter((l) => l.startsWith('ack ')).map((l) => l.slice(4))
    for (const id of acknowledged) expect((await reopened.getCheckpoint(id)).id).toBe(id)
    expect((await reopened.fsck()).problems).toEqual([])
  }, 60_000)
})

describe('a read-only store', () => {
  it('reads through log, show, diff, cat and checkout --to elsewhere, and refuses writes with one clear error', async () => {
    const disk = smallDisk(16)
    const dir = path.join(disk, 'store')
    const store = await initStore(dir)
    const first = await store.commit({ stage: 'a', output: { n: 1 } })
    await store.commit({ stage: 'a', output: { n: 2 } })
    await store.commit({ stage: 'video', output: pseudoRandomBytes(300 * 1024, 9) })
    await store.close()
    remount(disk, 'ro')
    const elsewhere = tempDir()
    const run = (args: string[]) => ckpt(elsewhere, ['--store', dir, ...args])
    for (const args of [['log'], ['status'], ['show', 'main'], ['diff', first.id, 'main'], ['cat', 'main:a'], ['restore', 'main', '--to', path.join(elsewhere, 'out')]]) {
      const result = run(args)
      expect({ args, stderr: result.stderr, code: result.code }).toEqual({ args, stderr: '', code: 0 })
    }
    expect(JSON.parse(run(['cat', 'main:a']).stdout)).toEqual({ n: 2 })
    const commit = run(['commit', '-s', 'b', '--json', '1'])
    expect(commit.code).toBe(3)
    expect(commit.stderr.trim().split('\n')).toHaveLength(1)
    expect(commit.stderr).toMatch(/read-only/i)
  })

  it('reads a store made read-only with chmod -R a-w, as an unprivileged user', () => {
    const base = tempDir()
    chmodSync(base, 0o755)
    const dir = path.join(base, 'store')
    expect(ckpt(base, ['--store', dir, 'init']).code).toBe(0)
    expect(ckpt(base, ['--store', dir, 'commit', '-s', 'a', '--json', '{"n":1}']).code).toBe(0)
    execFileSync('chmod', ['-R', 'a-w,a+rX', dir])
    const nobody = (args: string[]) => {
      const result = spawnSync(process.execPath, [CKPT, '--store', dir, ...args], { cwd: '/', uid: 65534, gid: 65534, env: { ...process.env, NO_COLOR: '1', HOME: '/tmp' } })
      return { code: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() }
    }
    const log = nobody(['log', '--oneline'])
    expect({ stderr: log.stderr, code: log.code }).toEqual({ stderr: '', code: 0 })
    expect(JSON.parse(nobody(['cat', 'main:a']).stdout)).toEqual({ n: 1 })
    const commit = nobody(['commit', '-s', 'b', '--json', '1'])
    expect(commit.code).toBe(3)
    expect(commit.stderr).toMatch(/read-only/i)
  })
})
