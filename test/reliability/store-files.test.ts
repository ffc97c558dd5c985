import { spawnSync } from 'node:child_process'
import { copyFileSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { initStore, openStore } from '../../src/index.js'
import { CKPT, ckpt } from '../support/cli.js'
import { failure } from '../support/errors.js'
import { runWriter } from '../support/processes.js'
import { pseudoRandomBytes } from '../support/random.js'
import { onCleanup, tempDir, tempStore } from '../support/temp.js'

/*
 * The files beside the database (journal, packs, marker, socket, LevelDB's own files) are opened
 * only as what ckpt made them. A link planted at one of their paths must never lead the store to
 * read, truncate or write the file it points at, and a folder or fifo there is a clear error.
 */

const PRECIOUS = 'precious bytes that are not the store\'s\n'

/** A store with a small and a 200 KiB output (in a pack), closed; and a file outside it. */
async function storeAndVictim(): Promise<{ dir: string; victim: string; pack: string }> {
  const { store, dir } = await tempStore()
  await store.commit({ stage: 'small', output: { n: 1 } })
  await store.commit({ stage: 'large', output: pseudoRandomBytes(200 * 1024, 5) })
  await store.close()
  const victim = path.join(tempDir('ckpt-outside-'), 'victim')
  writeFileSync(victim, PRECIOUS)
  const packs = readdirSync(path.join(dir, 'packs'))
  expect(packs).toHaveLength(1)
  return { dir, victim, pack: path.join(dir, 'packs', packs[0]!) }
}

function plantLink(at: string, target: string): void {
  rmSync(at, { force: true, recursive: true })
  symlinkSync(target, at)
}

/** Runs ckpt, killed after 15 s: an open that hangs (on a fifo, on a foreign socket) is a failure, not a stuck test. */
function ckptWithin(dir: string, args: string[], input = ''): number | null {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' }
  delete env.CKPT_DIR
  return spawnSync(process.execPath, [CKPT, '--store', dir, ...args], { cwd: dir, env, input, timeout: 15_000, killSignal: 'SIGKILL' }).status
}

const log = (dir: string) => ckpt(dir, ['--store', dir, 'log']).code
const commit = (dir: string) => ckpt(dir, ['--store', dir, 'commit', '-s', 'more', '--as', 'json', '-'], { input: '{"more": true}' }).code
const commitLarge = (dir: string) => ckpt(dir, ['--store', dir, 'commit', '-s', 'big', '-'], { input: pseudoRandomBytes(300 * 1024, 9) }).code

describe('files beside the database', () => {
  for (const name of ['ckpt-journal-2', 'ckpt-journal']) {
    it(`never truncates or writes the target of a link planted at the journal path db/${name}: log and commit fail with CORRUPT_OBJECT`, async () => {
      const { dir, victim } = await storeAndVictim()
      plantLink(path.join(dir, 'db', name), victim)
      expect(log(dir)).toBe(8)
      expect(commit(dir)).toBe(8)
      expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS)
      expect((await failure(openStore(dir))).details.path).toBe(path.join(dir, 'db', name))
    })
  }

  it('never creates a pack through a link planted at the packs folder: a large commit fails with CORRUPT_OBJECT', async () => {
    const { dir, victim } = await storeAndVictim()
    const outside = path.dirname(victim)
    for (const file of readdirSync(path.join(dir, 'packs'))) copyFileSync(path.join(dir, 'packs', file), path.join(outside, file))
    const before = readdirSync(outside).sort()
    plantLink(path.join(dir, 'packs'), outside)
    expect(commitLarge(dir)).toBe(8)
    expect(readdirSync(outside).sort()).toEqual(before)
    expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS)
  })

  it('never reads a pack through a link planted in its place: the read fails with CORRUPT_OBJECT naming the pack', async () => {
    const { dir, victim, pack } = await storeAndVictim()
    plantLink(pack, victim)
    expect(ckpt(dir, ['--store', dir, 'cat', 'main:large']).code).toBe(8)
    const store = await openStore(dir)
    onCleanup(() => store.close())
    const err = await failure(store.getBlob('main:large'))
    expect(err).toMatchObject({ code: 'CORRUPT_OBJECT', details: { pack: path.basename(pack), path: pack } })
    expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS)
  })

  it('reports a pack replaced by a folder as CORRUPT_OBJECT naming the pack, in reads and in fsck, not as an internal error', async () => {
    const { dir, pack } = await storeAndVictim()
    rmSync(pack)
    mkdirSync(pack)
    expect(ckpt(dir, ['--store', dir, 'cat', 'main:large']).code).toBe(8)
    const fsck = ckpt(dir, ['--store', dir, 'fsck', '--json'])
    expect(fsck.code).toBe(1)
    expect(fsck.stdout).toContain(path.basename(pack))
    const store = await openStore(dir)
    onCleanup(() => store.close())
    expect(await failure(store.getBlob('main:large'))).toMatchObject({ code: 'CORRUPT_OBJECT', details: { pack: path.basename(pack) } })
    // gc's reclaim leaves what is not a pack file ckpt wrote, for fsck to report.
    await store.close()
    expect(ckpt(dir, ['--store', dir, 'gc', '--prune=now']).code).toBe(0)
    expect(lstatSync(pack).isDirectory()).toBe(true)
  })

  it('reports a pack replaced by a fifo as CORRUPT_OBJECT at once, rather than hang opening it', async () => {
    const { dir, pack } = await storeAndVictim()
    rmSync(pack)
    expect(spawnSync('mkfifo', [pack]).status).toBe(0)
    expect(ckptWithin(dir, ['cat', 'main:large'])).toBe(8)
    expect(ckptWithin(dir, ['fsck'])).toBe(1)
  })

  it('never reads the marker through a link planted in its place: log fails with CORRUPT_OBJECT', async () => {
    const { dir, victim } = await storeAndVictim()
    writeFileSync(victim, readFileSync(path.join(dir, 'ckpt-store.json')))
    const before = readFileSync(victim)
    plantLink(path.join(dir, 'ckpt-store.json'), victim)
    expect(log(dir)).toBe(8)
    expect(commit(dir)).toBe(8)
    expect(readFileSync(victim)).toEqual(before)
  })

  it('never writes the marker through a link planted at a temporary name during init', async () => {
    const dir = path.join(tempDir(), 'store')
    const victim = path.join(tempDir('ckpt-outside-'), 'victim')
    writeFileSync(victim, PRECIOUS)
    mkdirSync(dir)
    symlinkSync(victim, path.join(dir, 'ckpt-store.json.tmp'))
    const store = await initStore(dir)
    await store.close()
    expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS)
    expect(lstatSync(path.join(dir, 'ckpt-store.json')).isFile()).toBe(true)
    expect(readdirSync(dir).filter((name) => name.startsWith('ckpt-store.json.tmp'))).toEqual(['ckpt-store.json.tmp'])
  })

  for (const name of ['LOCK', 'LOG']) {
    it(`refuses a link planted among LevelDB's files (db/${name}) with CORRUPT_OBJECT, leaving its target as it was`, async () => {
      const { dir, victim } = await storeAndVictim()
      plantLink(path.join(dir, 'db', name), victim)
      expect(log(dir)).toBe(8)
      expect(commit(dir)).toBe(8)
      expect(readFileSync(victim, 'utf8')).toBe(PRECIOUS)
    })
  }

  it('never talks to a socket a link planted at the leader socket path points at: STORE_UNAVAILABLE naming the path', async () => {
    const { dir } = await storeAndVictim()
    const holder = runWriter([dir, 'hold'])
    await holder.waitForLine((line) => line === 'ready')
    // A foreign server: a follower that followed the link would connect to it.
    const foreign = path.join(tempDir('ckpt-outside-'), 'foreign.sock')
    let connections = 0
    const server = net.createServer((socket) => {
      connections++
      socket.destroy()
    })
    await new Promise<void>((resolve) => server.listen(foreign, resolve))
    onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())))
    const socketPath = path.join(dir, 'leader.sock')
    expect(lstatSync(socketPath).isSocket()).toBe(true)
    renameSync(socketPath, `${socketPath}.real`)
    symlinkSync(foreign, socketPath)
    expect(ckptWithin(dir, ['log'])).toBe(3)
    expect(connections).toBe(0)
  })
})
