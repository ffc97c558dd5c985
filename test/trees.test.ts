import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Directory, createMemoryBackend, initStoreOn, readDirectory } from '../src/index.js'
import { failure } from './support/errors.js'
import { collect, tempDir, tempStore } from './support/temp.js'

const text = (s: string) => new TextEncoder().encode(s)

function frames(count: number): Map<string, Uint8Array> {
  return new Map(Array.from({ length: count }, (_, i) => [`frames/${String(i).padStart(5, '0')}.png`, text(`frame ${i}`)]))
}

describe('directory outputs', () => {
  it('round-trips files in nested folders and reports the stage as a tree', async () => {
    const { store } = await tempStore()
    const files = new Map([
      ['a.txt', text('A')],
      ['sub/b.bin', Uint8Array.of(0, 255)],
      ['sub/deeper/c', new Uint8Array(0)],
    ])
    const c = await store.commit({ stage: 'out', output: new Directory(files) })
    expect(c.kinds).toEqual({ out: 'tree' })
    const back = await store.getOutput('HEAD:out')
    expect(back).toBeInstanceOf(Directory)
    expect((back as Directory).files).toEqual(files)
    expect(await store.getOutput('HEAD:out/sub/b.bin')).toEqual(Uint8Array.of(0, 255))
    expect(await store.outputInfo('HEAD:out')).toMatchObject({ kind: 'tree', files: 3, size: 3 })
    expect((await failure(store.getOutput('HEAD:out/nope'))).code).toBe('NOT_FOUND')
  })

  it('names equal directories equally, whatever order the files came in', async () => {
    const { store } = await tempStore()
    const forward = frames(300)
    const backward = new Map([...forward].reverse())
    await store.commit({ stage: 'a', output: new Directory(forward) })
    await store.commit({ stage: 'b', output: new Directory(backward) })
    expect(await store.resolve('HEAD:a')).toBe(await store.resolve('HEAD:b'))
  })

  it('writes O(log n) new nodes when one file of thousands changes, is added or removed', async () => {
    const store = await initStoreOn(createMemoryBackend())
    const files = frames(5000)
    await store.commit({ stage: 'frames', output: new Directory(files) })
    const count = async () => (await collect(store.objects())).length
    const edits: Array<(m: Map<string, Uint8Array>) => void> = [
      (m) => m.set('frames/02500.png', text('edited')),
      (m) => m.set('frames/02500b.png', text('inserted')),
      (m) => m.delete('frames/01000.png'),
    ]
    for (const edit of edits) {
      edit(files)
      const before = await count()
      await store.commit({ stage: 'frames', output: new Directory(files) })
      const written = (await count()) - before
      // At most: one new blob, a leaf or two, the nodes above them (3 levels for 5000 files), and the checkpoint.
      expect(written).toBeLessThanOrEqual(7)
    }
  })

  it('keeps a tree stage a tree across later commits, until it is replaced', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'frames', output: new Directory({ 'x.png': text('x') }) })
    expect((await store.commit({ stage: 'other', output: 1 })).kinds).toEqual({ frames: 'tree', other: 'json' })
    expect((await store.commit({ stage: 'frames', output: { replaced: true } })).kinds).toEqual({ frames: 'json', other: 'json' })
    const dropped = await store.commit({ remove: ['frames'] })
    expect(dropped.kinds).toEqual({ other: 'json' })
  })

  it.each([['../escape'], ['/abs'], ['a//b'], ['a/./b'], ['back\\slash'], ['nul\u0000'], ['']])('rejects the path %j, writing nothing', async (bad) => {
    const { store } = await tempStore()
    const err = await failure(Promise.resolve().then(() => store.commit({ stage: 'd', output: new Directory({ [bad]: text('x') }) })))
    expect(err.code).toBe('INVALID_OUTPUT')
    expect(await collect(store.objects())).toEqual([])
  })

  it('reads a folder from disk, refusing symbolic links', async () => {
    const dir = tempDir()
    mkdirSync(path.join(dir, 'sub'))
    writeFileSync(path.join(dir, 'one.txt'), '1')
    writeFileSync(path.join(dir, 'sub', 'two.txt'), '2')
    mkdirSync(path.join(dir, 'empty'))
    const read = await readDirectory(dir)
    expect([...read.files.keys()]).toEqual(['one.txt', 'sub/two.txt'])
    symlinkSync('/etc/passwd', path.join(dir, 'link'))
    expect((await failure(readDirectory(dir))).code).toBe('INVALID_OUTPUT')
    expect((await failure(readDirectory(path.join(dir, 'one.txt')))).code).toBe('INVALID_ARGUMENT')
  })

  it('diffs two directories file by file', async () => {
    const { store } = await tempStore()
    const a = await store.commit({ stage: 'd', output: new Directory({ keep: text('k'), edit: text('1'), gone: text('g') }) })
    const b = await store.commit({ stage: 'd', output: new Directory({ keep: text('k'), edit: text('2'), 'new/file': text('n') }) })
    const [stage] = (await store.diff(a.id, b.id)).stages
    expect(stage).toMatchObject({ stage: 'd', status: 'changed', kind: 'tree' })
    expect(stage?.changes?.map((c) => [c.op, c.path])).toEqual([
      ['replace', '/edit'],
      ['remove', '/gone'],
      ['add', '/new/file'],
    ])
  })

  it('checks a directory out as a folder, never through a planted symlink', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'frames', output: new Directory({ 'a.png': text('a'), 'sub/b.png': text('b') }) })
    const target = tempDir()
    await store.restore('HEAD', { to: target })
    expect(readFileSync(path.join(target, 'frames', 'sub', 'b.png'), 'utf8')).toBe('b')
    const victim = tempDir()
    const other = tempDir()
    mkdirSync(path.join(other, 'frames'))
    symlinkSync(victim, path.join(other, 'frames', 'sub'))
    expect((await failure(store.restore('HEAD', { to: other, force: true }))).code).toBe('WOULD_OVERWRITE')
    expect(() => readFileSync(path.join(victim, 'b.png'))).toThrow()
  })
})
