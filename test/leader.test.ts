import { spawnSync } from 'node:child_process'
import { cpSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { openStore, run } from '../src/index.js'
import { SCALE } from './reliability/scale.js'
import { ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { fixture, runFixture, runWriter } from './support/processes.js'
import { collect, onCleanup, tempDir, tempStore } from './support/temp.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/**
 * A second build of ckpt beside this one: the built files copied, with the leader protocol's
 * revision raised as a later release that changed a method's meaning would raise it.
 */
function otherBuild(): { cli: string; writer: string } {
  const dir = tempDir()
  cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true })
  cpSync(path.join(root, 'package.json'), path.join(dir, 'package.json'))
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'))
  // The library's module and the command's bundle each hold the revision.
  const bundles = readdirSync(path.join(dir, 'dist/cli')).filter((f) => /^bundle-.*\.js$/.test(f)).map((f) => path.join('dist/cli', f))
  let raisedIn = 0
  for (const file of ['dist/src/backend/level/methods.js', ...bundles].map((f) => path.join(dir, f))) {
    const source = readFileSync(file, 'utf8')
    const raised = source.replace(/(const|var) PROTOCOL_REVISION = (\d+);/, (_, keyword: string, n: string) => `${keyword} PROTOCOL_REVISION = ${Number(n) + 1};`)
    if (raised !== source) raisedIn++
    writeFileSync(file, raised)
  }
  expect(raisedIn).toBe(2)
  return { cli: path.join(dir, 'dist/cli/main.js'), writer: path.join(dir, 'dist/test/fixtures/writer.js') }
}

/** Milliseconds `run` takes. */
function timed<T>(run: () => T): { value: T; ms: number } {
  const start = performance.now()
  const value = run()
  return { value, ms: performance.now() - start }
}

describe('a leader that is busy or stopped', () => {
  it('answers `ckpt log` from another process within a second while the leader runs a long synchronous stage', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'seed', output: 0 })
    await store.close()
    const leader = runFixture(fixture('busy-stage.js'), [dir, String(SCALE.busyStageMs)])
    await leader.waitForLine((l) => l === 'started')
    // What starting the CLI costs on this machine right now, store aside: the answer may take a second more.
    const startup = timed(() => ckpt(dir, ['--version'], { timeoutMs: 10_000 })).ms
    const { value: log, ms } = timed(() => ckpt(dir, ['log', '--oneline'], { env: { CKPT_DIR: dir }, timeoutMs: 10_000 }))
    expect(log.code).toBe(0)
    expect(log.stdout).toContain('seed')
    expect(ms - startup).toBeLessThan(1000)
    expect(leader.lines).not.toContain('done')
    expect(await leader.exited).toBe(0)
    expect(leader.lines).toContain('done')
    const reader = await openStore(dir)
    onCleanup(() => reader.close())
    expect((await collect(reader.log())).map((c) => c.stage)).toEqual(['spin', 'seed'])
  }, SCALE.busyStageMs + 25_000)

  it('loses no follower commit and fails none while the leader hands its database to its worker thread', async () => {
    const { store, dir } = await tempStore()
    await store.commit({ stage: 'seed', output: 0 })
    const writer = runWriter([dir, 'commit', 'other', '150'])
    await writer.waitForLine(() => true)
    const result = await run({
      store,
      pipeline: { name: 'p', inputs: ['seed'], stages: [{ name: 'step', reads: ['seed'], writes: ['out'], version: '1', run: async () => ({ out: 1 }) }] },
      inputs: { seed: 1 },
    })
    expect(result.status).toBe('succeeded')
    expect(await writer.exited).toBe(0)
    const acknowledged = writer.lines.filter((l) => l.length > 0)
    expect(acknowledged).toHaveLength(150)
    const kept = (await collect(store.log('other'))).map((c) => c.id)
    expect(kept).toEqual(expect.arrayContaining(acknowledged))
    expect((await collect(store.log())).map((c) => c.stage)).toEqual(['step', 'seed'])
    await store.close()
  }, 60_000)

  it('fails a follower within the deadline with STORE_UNAVAILABLE naming the stopped leader, and recovers on SIGCONT', async () => {
    const { store: creator, dir } = await tempStore()
    const seed = await creator.commit({ stage: 'seed', output: 0 })
    await creator.close()
    const holder = runWriter([dir, 'hold'])
    await holder.waitForLine((l) => l === 'ready')
    const pid = holder.process.pid!
    holder.process.kill('SIGSTOP')
    onCleanup(() => void holder.process.kill('SIGCONT'))
    const env = { CKPT_DIR: dir, CKPT_LEADER_TIMEOUT_MS: '1500' }
    const { value: stalled, ms } = timed(() => ckpt(dir, ['log', '--oneline'], { env, timeoutMs: 10_000 }))
    expect(stalled.code).toBe(3)
    expect(stalled.stderr).toContain(`pid ${pid}`)
    expect(ms).toBeLessThan(6000)

    process.env.CKPT_LEADER_TIMEOUT_MS = '1500'
    onCleanup(() => void delete process.env.CKPT_LEADER_TIMEOUT_MS)
    const err = await failure(openStore(dir).then((s) => s.getCheckpoint('main').finally(() => s.close())))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.details.pid).toBe(pid)

    holder.process.kill('SIGCONT')
    const after = ckpt(dir, ['commit', '-s', 'after', '--json', '1'], { env })
    expect(after.code).toBe(0)
    const reader = await openStore(dir)
    onCleanup(() => reader.close())
    expect((await collect(reader.log())).map((c) => c.stage)).toEqual(['after', 'seed'])
    expect((await reader.getCheckpoint('main~1')).id).toBe(seed.id)
  }, 30_000)

  it('refuses, both ways, to talk to a process of another ckpt build holding the store, naming its pid and writing nothing', async () => {
    const { store, dir } = await tempStore()
    const seed = await store.commit({ stage: 'seed', output: 0 })
    await store.close()
    const other = otherBuild()
    const env = { CKPT_DIR: dir }

    const otherLeader = runFixture(other.writer, [dir, 'hold'])
    await otherLeader.waitForLine((l) => l === 'ready')
    for (const args of [['log', '--oneline'], ['commit', '-s', 'late', '--json', '1']]) {
      const refused = ckpt(dir, args, { env, timeoutMs: 20_000 })
      expect(refused.code).toBe(3)
      expect(refused.stderr).toContain(`pid ${otherLeader.process.pid}`)
      expect(refused.stderr).toContain('different ckpt build')
    }
    otherLeader.process.kill('SIGKILL')
    await otherLeader.exited

    const leader = runWriter([dir, 'hold'])
    await leader.waitForLine((l) => l === 'ready')
    const fromOther = spawnSync(process.execPath, [other.cli, 'commit', '-s', 'late', '--json', '1'], { env: { ...process.env, ...env, NO_COLOR: '1' }, timeout: 20_000 })
    expect(fromOther.status).toBe(3)
    expect(fromOther.stderr.toString()).toContain(`pid ${leader.process.pid}`)
    const sameBuild = ckpt(dir, ['log', '--json'], { env })
    expect(sameBuild.code).toBe(0)
    expect(jsonLines(sameBuild.stdout).map((c) => c.id)).toEqual([seed.id])
    leader.process.kill('SIGKILL')
    await leader.exited
  }, 60_000)
})
