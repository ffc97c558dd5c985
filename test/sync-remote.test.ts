import { spawn } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { cloneStore, initStore, openStore, type Store } from '../src/index.js'
import { CKPT, ckpt } from './support/cli.js'
import { failure } from './support/errors.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, onCleanup, tempDir } from './support/temp.js'

async function newStore(): Promise<{ store: Store; dir: string }> {
  const dir = path.join(tempDir(), '.ckpt')
  const store = await initStore(dir)
  return { store, dir }
}

const ids = async (store: Store, rev = 'main') => (await collect(store.log(rev))).map((c) => c.id)

/** Runs `ckpt` in a child process and resolves with its exit code and output. */
function ckptAsync(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CKPT, ...args], { env: { ...process.env, NO_COLOR: '1' } })
  onCleanup(() => void child.kill('SIGKILL'))
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t))
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t))
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

describe('remotes: push, fetch, pull, clone', () => {
  it('pushes and pulls between two stores on disk, each command in its own process', async () => {
    const a = await newStore()
    const b = await newStore()
    for (let i = 0; i < 3; i++) await a.store.commit({ stage: 's', output: { i } })
    await a.store.commit({ stage: 'video', output: pseudoRandomBytes(3 * 1024 * 1024, 1) })
    await a.store.close()
    await b.store.close()
    expect(ckpt(tempDir(), ['--store', b.dir, 'remote', 'add', 'a', a.dir]).code).toBe(0)
    const pulled = ckpt(tempDir(), ['--store', b.dir, 'pull', 'a', 'main', '--json'])
    expect(pulled.code).toBe(0)
    expect(JSON.parse(pulled.stdout).refs).toContainEqual({ ref: 'timelines/main', action: 'created' })
    const reopenedB = await openStore(b.dir)
    await reopenedB.commit({ stage: 's', output: { i: 'from b' } })
    await reopenedB.close()
    const pushed = ckpt(tempDir(), ['--store', b.dir, 'push', 'a', 'main', '--json'])
    expect(pushed.code).toBe(0)
    // Only the new checkpoint and its output travel: the rest was negotiated away.
    expect(JSON.parse(pushed.stdout).written).toBe(2)
    const [storeA, storeB] = [await openStore(a.dir), await openStore(b.dir)]
    onCleanup(() => storeA.close())
    onCleanup(() => storeB.close())
    expect(await ids(storeA)).toEqual(await ids(storeB))
    expect(await ids(storeB, 'a/main')).toEqual(await ids(storeA))
    expect((await storeA.fsck()).problems).toEqual([])
  })

  it('lets exactly one of two racing pushers win; the other gets REF_CONFLICT and the remote loses nothing', async () => {
    const origin = await newStore()
    await origin.store.commit({ stage: 's', output: 'base' })
    await origin.store.close()
    const racers = await Promise.all([0, 1].map(async (n) => {
      const clone = path.join(tempDir(), '.ckpt')
      const store = await cloneStore(origin.dir, clone)
      const mine = await store.commit({ stage: 's', output: `racer ${n}`, meta: { pad: 'x'.repeat(n) } })
      await store.close()
      return { dir: clone, mine: mine.id }
    }))
    const results = await Promise.all(racers.map((r) => ckptAsync(['--store', r.dir, 'push', 'origin', 'main'])))
    expect(results.map((r) => r.code).sort()).toEqual([0, 6])
    const winner = racers[results.findIndex((r) => r.code === 0)]!
    const loser = racers[results.findIndex((r) => r.code === 6)]!
    expect(results.find((r) => r.code === 6)?.stderr).toMatch(/not a fast-forward/)
    const store = await openStore(origin.dir)
    onCleanup(() => store.close())
    expect(await store.timelines.get('main')).toBe(winner.mine)
    expect(await ids(store)).not.toContain(loser.mine)
    expect((await store.fsck()).problems).toEqual([])
  })

  it('resumes an interrupted push without writing again what already arrived', async () => {
    const a = await newStore()
    await a.store.commit({ stage: 'seed', output: 0 })
    await a.store.close()
    const b = path.join(tempDir(), '.ckpt')
    const local = await cloneStore(a.dir, b)
    for (let i = 0; i < 12; i++) await local.commit({ stage: `v${i % 3}`, output: pseudoRandomBytes(3 * 1024 * 1024, 50 + i) })
    const head = await local.timelines.get('main')
    await local.close()
    const push = spawn(process.execPath, [CKPT, '--store', b, 'push', 'origin', 'main', '--json'])
    const closed = new Promise((resolve) => push.on('close', resolve))
    onCleanup(() => void push.kill('SIGKILL'))
    // A whole push takes about 0.7 s here: kill it part way.
    await sleep(350)
    push.kill('SIGKILL')
    await closed
    // The remote is consistent and still where it was, unless the push had already finished.
    const remote = await openStore(a.dir)
    expect((await remote.fsck()).problems).toEqual([])
    const objectsBefore = (await collect(remote.objects())).length
    await remote.close()
    const again = ckpt(tempDir(), ['--store', b, 'push', 'origin', 'main', '--json'])
    expect(again.code).toBe(0)
    const result = JSON.parse(again.stdout) as { blocks: number; written: number }
    const after = await openStore(a.dir)
    onCleanup(() => after.close())
    // What arrived before the kill is not written again: the resumed push writes exactly the rest.
    expect(result.written).toBe((await collect(after.objects())).length - objectsBefore)
    expect(result.blocks).toBeGreaterThan(36)
    expect(await after.timelines.get('main')).toBe(head)
    expect((await after.fsck()).problems).toEqual([])
  })

  it('fetches without moving local timelines, and refuses a diverged pull unless forced', async () => {
    const a = await newStore()
    await a.store.commit({ stage: 's', output: 1 })
    const b = path.join(tempDir(), '.ckpt')
    const local = await cloneStore(a.dir, b)
    onCleanup(() => local.close())
    await a.store.commit({ stage: 's', output: 'theirs' })
    const theirs = await a.store.timelines.get('main')
    await a.store.close()
    const mine = await local.commit({ stage: 's', output: 'mine' })
    await local.remotes.fetch('origin')
    expect(await local.timelines.get('main')).toBe(mine.id)
    expect((await local.getCheckpoint('origin/main')).id).toBe(theirs)
    expect((await failure(local.remotes.pull('origin', 'main'))).code).toBe('REF_CONFLICT')
    await local.remotes.pull('origin', 'main', { force: true })
    expect(await local.timelines.get('main')).toBe(theirs)
    expect((await local.reflog('main'))[0]?.old).toBe(mine.id)
    expect((await failure(local.remotes.push('nowhere', 'main'))).code).toBe('NOT_FOUND')
  })
})
