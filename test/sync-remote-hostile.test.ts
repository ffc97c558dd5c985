import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { openLevelBackend } from '../src/index.js'
import { ckpt } from './support/cli.js'
import { deleteObject, plantCheckpoint, projectWithOneCheckpoint } from './support/plant.js'
import { tempDir } from './support/temp.js'

const mainOf = (store: string) => ckpt(tempDir(), ['--store', store, 'rev-parse', 'main']).stdout.trim()

/** An empty store with `origin` pointing at `remote`. */
function emptyWithOrigin(remote: string): string {
  const dir = tempDir()
  expect(ckpt(dir, ['init']).code).toBe(0)
  const store = path.join(dir, '.ckpt')
  expect(ckpt(tempDir(), ['--store', store, 'remote', 'add', 'origin', remote]).code).toBe(0)
  return store
}

/** No timeline and no remote-tracking ref was set, and what is there checks out. */
function expectNothingMoved(store: string): void {
  expect(ckpt(tempDir(), ['--store', store, 'rev-parse', 'main']).code).not.toBe(0)
  expect(ckpt(tempDir(), ['--store', store, 'rev-parse', 'origin/main']).code).not.toBe(0)
  const fsck = ckpt(tempDir(), ['--store', store, 'fsck'])
  expect(fsck.code, fsck.stdout + fsck.stderr).toBe(0)
}

describe('fetch, pull and push refuse checkpoints that break the rules, moving no ref', () => {
  it('control case: an ordinary new checkpoint on the remote is pulled', async () => {
    const remote = projectWithOneCheckpoint()
    const planted = await plantCheckpoint(remote.store, remote.head, 'fine')
    const local = emptyWithOrigin(remote.store)
    const pulled = ckpt(tempDir(), ['--store', local, 'pull', 'origin', 'main'])
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(mainOf(local)).toBe(planted.head)
  })

  for (const command of ['fetch', 'pull'] as const) {
    it(`${command} refuses a remote checkpoint whose stage name is a parent path (CORRUPT_OBJECT)`, async () => {
      const remote = projectWithOneCheckpoint()
      await plantCheckpoint(remote.store, remote.head, '../../x')
      const local = emptyWithOrigin(remote.store)
      const result = ckpt(tempDir(), ['--store', local, command, 'origin', 'main'])
      expect(result.code, result.stderr).toBe(8)
      expectNothingMoved(local)
    })

    it(`${command} refuses a remote checkpoint whose run id holds a NUL (CORRUPT_OBJECT)`, async () => {
      const remote = projectWithOneCheckpoint()
      await plantCheckpoint(remote.store, remote.head, 'fine', { run: 'a\u0000b' })
      const local = emptyWithOrigin(remote.store)
      const result = ckpt(tempDir(), ['--store', local, command, 'origin', 'main'])
      expect(result.code, result.stderr).toBe(8)
      expectNothingMoved(local)
    })

    it(`${command} refuses a remote timeline whose head has a missing output (NOT_FOUND or CORRUPT_OBJECT)`, async () => {
      const remote = projectWithOneCheckpoint()
      const planted = await plantCheckpoint(remote.store, remote.head, 'fine')
      await deleteObject(remote.store, planted.blob)
      const local = emptyWithOrigin(remote.store)
      const result = ckpt(tempDir(), ['--store', local, command, 'origin', 'main'])
      expect([4, 8], result.stderr).toContain(result.code)
      expectNothingMoved(local)
    })
  }

  it('push refuses to send a checkpoint whose stage name is absolute, and the remote keeps its head', async () => {
    const local = projectWithOneCheckpoint()
    await plantCheckpoint(local.store, local.head, '/abs')
    const remote = emptyWithOrigin(local.store)
    expect(ckpt(tempDir(), ['--store', local.store, 'remote', 'add', 'origin', remote]).code).toBe(0)
    const result = ckpt(tempDir(), ['--store', local.store, 'push', 'origin', 'main'])
    expect(result.code, result.stderr).toBe(8)
    expect(ckpt(tempDir(), ['--store', remote, 'rev-parse', 'main']).code).not.toBe(0)
    expect(ckpt(tempDir(), ['--store', remote, 'fsck']).code).toBe(0)
  })

  for (const name of ['bad..name', 'a\u0007b', 'x'.repeat(300)]) {
    it(`fetch refuses a remote timeline named ${JSON.stringify(name.slice(0, 12))} that a user could not type (INVALID_REF_NAME), moving no ref`, async () => {
      const remote = projectWithOneCheckpoint()
      // Planted past ckpt, straight through the remote's backend.
      const backend = await openLevelBackend(path.join(remote.store, 'db'))
      await backend.refs.updateRefs([{ name: `timelines/${name}`, expected: null, value: remote.head, log: { time: 0, reason: 'test' } }])
      await backend.close()
      const local = emptyWithOrigin(remote.store)
      const result = ckpt(tempDir(), ['--store', local, 'fetch', 'origin'])
      expect(result.code, result.stderr).toBe(2)
      expectNothingMoved(local)
      expect(ckpt(tempDir(), ['--store', local, 'timeline']).code).toBe(0)
    })
  }
})
