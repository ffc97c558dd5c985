import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Directory } from '../src/index.js'
import { spawnSync } from 'node:child_process'
import { CKPT, ckpt } from './support/cli.js'
import { failure } from './support/errors.js'
import { tempDir, tempStore } from './support/temp.js'
import { deleteObject, replaceObject } from './support/plant.js'
import { RAW_CODE, cidOf } from '../src/model/cid.js'

const text = (s: string) => new TextEncoder().encode(s)
const MANIFEST = '.ckpt-checkout.json'

/** A file outside every checkout target, with bytes the test checks are left exactly as they were. */
function victim(name = 'victim.bin'): { file: string; bytes: Buffer; untouched: () => boolean } {
  const file = path.join(tempDir('ckpt-outside-'), name)
  const bytes = Buffer.from(`precious ${name} ${Math.random()}\n`)
  writeFileSync(file, bytes)
  return { file, bytes, untouched: () => existsSync(file) && Buffer.compare(readFileSync(file), bytes) === 0 }
}

describe('checkout --to removes only the files it wrote', () => {
  it('does not follow a folder replaced by a symlink when removing stale files', async () => {
    const { store } = await tempStore()
    const first = await store.commit({ stage: 'frames', output: new Directory({ 'sub/a.png': text('A'), 'top.png': text('T') }) })
    const second = await store.commit({ outputs: { other: 1 }, remove: ['frames'] })
    const target = tempDir()
    await store.restore(first.id, { to: target })
    const outside = victim('a.png')
    rmSync(path.join(target, 'frames', 'sub'), { recursive: true })
    symlinkSync(path.dirname(outside.file), path.join(target, 'frames', 'sub'))
    await store.restore(second.id, { to: target })
    expect(outside.untouched()).toBe(true)
    expect(existsSync(path.join(target, 'frames', 'top.png'))).toBe(false)
  })

  it('does not delete a file of another folder that a copied manifest names, through the CLI', () => {
    const work = tempDir()
    expect(ckpt(work, ['init']).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'frame', '-'], { input: 'F' }).code).toBe(0)
    expect(ckpt(work, ['restore', 'main', '--to', 'out']).code).toBe(0)
    // `frame` becomes a JSON stage: the bytes file `frame` is stale in the next checkout.
    expect(ckpt(work, ['commit', '-s', 'frame', '--json', '2']).code).toBe(0)
    const outside = victim('frame')
    // The user moves the checkout away and leaves a link to another folder in its place, with the manifest copied along.
    const moved = path.join(work, 'moved')
    mkdirSync(moved)
    copyFileSync(path.join(work, 'out', MANIFEST), path.join(moved, MANIFEST))
    rmSync(path.join(work, 'out'), { recursive: true })
    copyFileSync(path.join(moved, MANIFEST), path.join(path.dirname(outside.file), MANIFEST))
    symlinkSync(path.dirname(outside.file), path.join(work, 'out'))
    const run = ckpt(work, ['restore', 'main', '--to', 'out'])
    expect(run.code, run.stderr).toBe(0)
    expect(outside.untouched()).toBe(true)
  })

  it('never deletes a user file named by a planted manifest, old or new format', async () => {
    const { store } = await tempStore()
    const c = await store.commit({ stage: 'report', output: { ok: true } })
    // A new-format manifest copied from a real checkout of a checkpoint that held `notes.txt`.
    const real = tempDir()
    const withNotes = await store.commit({ outputs: { 'notes.txt': text('ckpt wrote this') } })
    await store.restore(withNotes.id, { to: real })
    for (const planted of [JSON.stringify({ checkpoint: c.id, files: ['notes.txt', 'data/x.bin'] }), readFileSync(path.join(real, MANIFEST), 'utf8')]) {
      const target = tempDir()
      writeFileSync(path.join(target, 'notes.txt'), 'mine')
      mkdirSync(path.join(target, 'data'))
      writeFileSync(path.join(target, 'data', 'x.bin'), 'mine too')
      writeFileSync(path.join(target, MANIFEST), planted)
      await store.restore(c.id, { to: target })
      expect(readFileSync(path.join(target, 'notes.txt'), 'utf8')).toBe('mine')
      expect(readFileSync(path.join(target, 'data', 'x.bin'), 'utf8')).toBe('mine too')
    }
  })

  it('treats a file it wrote and the user then replaced as the user\'s', async () => {
    const { store } = await tempStore()
    const first = await store.commit({ outputs: { frame: text('F'), note: 1 } })
    const second = await store.commit({ outputs: { note: 2 }, remove: ['frame'] })
    const target = tempDir()
    await store.restore(first.id, { to: target })
    writeFileSync(path.join(target, 'frame'), 'user edit')
    await store.restore(second.id, { to: target })
    expect(readFileSync(path.join(target, 'frame'), 'utf8')).toBe('user edit')
    expect((await failure(store.restore(first.id, { to: target }))).code).toBe('WOULD_OVERWRITE')
  })

  it('leaves a stale entry that became a folder, and records the new checkout', () => {
    const work = tempDir()
    expect(ckpt(work, ['init']).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'frame', '-'], { input: 'F' }).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'note', '--json', '1']).code).toBe(0)
    expect(ckpt(work, ['restore', 'main', '--to', 'out']).code).toBe(0)
    rmSync(path.join(work, 'out', 'frame'))
    mkdirSync(path.join(work, 'out', 'frame'))
    writeFileSync(path.join(work, 'out', 'frame', 'mine.txt'), 'mine')
    const removed = ckpt(work, ['commit', '-s', 'frame', '--json', '"gone"'])
    expect(removed.code).toBe(0)
    // frame is now a JSON stage (frame.json); the old bytes file `frame` is stale and is now the user's folder.
    const run = ckpt(work, ['restore', 'main', '--to', 'out', '--json'])
    expect(run.code, run.stderr).toBe(0)
    expect(readFileSync(path.join(work, 'out', 'frame', 'mine.txt'), 'utf8')).toBe('mine')
    const manifest = readFileSync(path.join(work, 'out', MANIFEST), 'utf8')
    expect(manifest).toContain('frame.json')
  })
})

describe('checkout --to names every output apart', () => {
  it('gives colliding outputs ~2 names and reports them, in output and --json', () => {
    const work = tempDir()
    expect(ckpt(work, ['init']).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'x', '--json', '{"a": 1}']).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'x.json', '-'], { input: 'raw bytes' }).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', '.ckpt-checkout', '--json', '"like the manifest"']).code).toBe(0)
    const run = ckpt(work, ['restore', 'main', '--to', 'out', '--json'])
    expect(run.code, run.stderr).toBe(0)
    const result = JSON.parse(run.stdout) as { written: string[]; renamed: Array<{ stage: string; wanted: string; written: string }> }
    expect(JSON.parse(readFileSync(path.join(work, 'out', 'x.json'), 'utf8'))).toEqual({ a: 1 })
    expect(readFileSync(path.join(work, 'out', 'x.json~2'), 'utf8')).toBe('raw bytes')
    expect(JSON.parse(readFileSync(path.join(work, 'out', '.ckpt-checkout.json~2'), 'utf8'))).toBe('like the manifest')
    expect(JSON.parse(readFileSync(path.join(work, 'out', MANIFEST), 'utf8'))).toMatchObject({ version: 2 })
    expect([...result.renamed].sort((a, b) => a.stage.localeCompare(b.stage))).toEqual([
      { stage: '.ckpt-checkout', wanted: '.ckpt-checkout.json', written: '.ckpt-checkout.json~2' },
      { stage: 'x.json', wanted: 'x.json', written: 'x.json~2' },
    ])
    const plain = ckpt(work, ['restore', 'main', '--to', 'out'])
    expect(plain.code, plain.stderr).toBe(0)
    expect(plain.stdout).toContain('x.json~2')
  })

  it('refuses a name longer than the file system allows before writing anything', async () => {
    const { store } = await tempStore()
    const long = 'n'.repeat(300)
    const c = await store.commit({ outputs: { first: text('1'), frames: new Directory({ [`sub/${long}`]: text('x'), 'a.png': text('a') }) } })
    const target = tempDir()
    const err = await failure(store.restore(c.id, { to: target }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(readdirSync(target)).toEqual([])
    const wide = await store.commit({ stage: 'é'.repeat(150), output: text('300 bytes of name') })
    const other = tempDir()
    expect((await failure(store.restore(wide.id, { to: other }))).code).toBe('INVALID_ARGUMENT')
    expect(readdirSync(other)).toEqual([])
  })
})

describe('checkout --to and commit --file report file-system problems as errors, not bugs', () => {
  const store = () => {
    const work = tempDir()
    expect(ckpt(work, ['init']).code).toBe(0)
    expect(ckpt(work, ['commit', '-s', 'note', '--json', '1']).code).toBe(0)
    return work
  }

  it('commit --file of a missing file is NOT_FOUND naming the file', () => {
    const work = store()
    const run = ckpt(work, ['commit', '-s', 'x', '--file', 'missing.bin'])
    expect(run.code).toBe(4)
    expect(run.stderr).toContain('missing.bin')
    expect(ckpt(work, ['commit', '-s', 'x', '--file', 'missing.json']).code).toBe(4)
    expect(ckpt(work, ['commit', '-s', 'x', '--dir', 'missing']).code).toBe(2)
  })

  it('checkout --to onto an existing file is WOULD_OVERWRITE and leaves the file', () => {
    const work = store()
    writeFileSync(path.join(work, 'taken'), 'mine')
    const run = ckpt(work, ['restore', 'main', '--to', 'taken'])
    expect(run.code).toBe(7)
    expect(run.stderr).toContain('taken')
    expect(readFileSync(path.join(work, 'taken'), 'utf8')).toBe('mine')
  })

  it('checkout --to under a file is INVALID_ARGUMENT naming the path', () => {
    const work = store()
    const run = ckpt(work, ['restore', 'main', '--to', '/dev/null/out'])
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('/dev/null/out')
  })

  it('checkout --to and init where no folder can be made fail at once instead of looping', () => {
    const work = store()
    for (const args of [['restore', 'main', '--to', '/proc/nope/out'], ['init', '/proc/nope']]) {
      const started = Date.now()
      const run = ckpt(work, args, { timeoutMs: 20_000 })
      expect(Date.now() - started).toBeLessThan(15_000)
      expect([4, 9]).toContain(run.code)
      expect(run.stderr).toContain('/proc/nope')
    }
  })

  it('export and import of a CAR name the missing or unwritable path', () => {
    const work = store()
    expect(ckpt(work, ['export', 'main', '-o', 'no/such/folder/x.car']).code).toBe(4)
    expect(ckpt(work, ['export', 'main', '-o', '/dev/null/x.car']).code).toBe(2)
    const missing = ckpt(work, ['import', 'missing.car'])
    expect(missing.code).toBe(4)
    expect(missing.stderr).toContain('missing.car')
    mkdirSync(path.join(work, 'folder.car'))
    expect(ckpt(work, ['import', 'folder.car']).code).toBe(2)
  })
})

describe('checkout --to a new or empty folder that fails part-way', () => {
  it('leaves nothing behind: no new folder, and an empty folder empty', async () => {
    const { store, dir } = await tempStore()
    const files = new Map<string, Uint8Array>()
    for (let i = 0; i < 1_000; i++) files.set(`d${Math.floor(i / 100)}/f${i}.txt`, text(`file ${i}\n`))
    await store.commit({ stage: 'frames', output: new Directory(files) })
    await store.close()
    // A blob late in the walk, after hundreds of files are written.
    await deleteObject(dir, cidOf(RAW_CODE, text('file 900\n')).toString())
    const parent = tempDir()
    const empty = tempDir()
    for (const target of [path.join(parent, 'new', 'out'), empty]) {
      const run = ckpt(parent, ['--store', dir, 'restore', 'main', '--to', target])
      expect(run.code).toBe(4)
    }
    expect(readdirSync(parent)).toEqual([])
    expect(readdirSync(empty)).toEqual([])
  })
})

describe('checkout --to a new folder of a file whose stored bytes do not match its id', () => {
  // File 5 is written on the main thread, file 900 on the writer thread, each checked before it is made.
  for (const damaged of [5, 900]) {
    it(`fails with CORRUPT_OBJECT naming the object (exit 8), and leaves no folder behind (file ${damaged} of 1,000)`, async () => {
      const { store, dir } = await tempStore()
      const files = new Map<string, Uint8Array>()
      for (let i = 0; i < 1_000; i++) files.set(`d${Math.floor(i / 100)}/f${i}.txt`, text(`file ${i}\n`))
      await store.commit({ stage: 'frames', output: new Directory(files) })
      await store.close()
      const id = cidOf(RAW_CODE, text(`file ${damaged}\n`)).toString()
      await replaceObject(dir, id, text(`file ${damaged}?\n`))
      const parent = tempDir()
      const run = ckpt(parent, ['--store', dir, 'restore', 'main', '--to', path.join(parent, 'out'), '--json'])
      expect(run.code).toBe(8)
      expect(run.stderr).toContain(id)
      expect(readdirSync(parent)).toEqual([])
    })
  }
})

describe('checkout --to progress', () => {
  it('counts up to the number of files written, into a new folder and into one already used', async () => {
    const { store } = await tempStore()
    const files = new Map<string, Uint8Array>()
    for (let i = 0; i < 600; i++) files.set(`d${i % 7}/f${i}.txt`, text(`file ${i}\n`))
    await store.commit({ outputs: { frames: new Directory(files), report: { video: text('bytes inside JSON') }, raw: text('raw') } })
    const target = path.join(tempDir(), 'out')
    for (let round = 0; round < 2; round++) {
      const seen: Array<[number, number]> = []
      const { written } = await store.restore('main', { to: target, onProgress: (done, total) => seen.push([done, total]) })
      expect(written.length).toBe(603)
      expect(seen.at(-1)).toEqual([603, 603])
      expect(seen.every(([done, total], i) => done === i + 1 && total === 603)).toBe(true)
    }
  })
})

describe('checkout --to of a large folder output', () => {
  it('streams 20,000 small files in a 64 MB heap', async () => {
    const count = 20_000
    const { store, dir } = await tempStore()
    const files = new Map<string, Uint8Array>()
    for (let i = 0; i < count; i++) files.set(`d${Math.floor(i / 1000)}/f${i}.txt`, text(`file ${i}\n`))
    await store.commit({ stage: 'frames', output: new Directory(files) })
    await store.close()
    const target = path.join(tempDir(), 'out')
    const child = spawnSync(process.execPath, ['--max-old-space-size=64', CKPT, '--store', dir, 'restore', 'main', '--to', target], { encoding: 'utf8' })
    expect(child.status, child.stderr.slice(-500)).toBe(0)
    const folders = readdirSync(path.join(target, 'frames'))
    expect(folders.reduce((n, folder) => n + readdirSync(path.join(target, 'frames', folder)).length, 0)).toBe(count)
    expect(readFileSync(path.join(target, 'frames', 'd7', 'f7123.txt'), 'utf8')).toBe('file 7123\n')
  }, 180_000)
})

describe('checkout --to a new folder, beside someone writing into it', () => {
  it('never replaces a file that appeared at an output\'s name during the checkout, and leaves no output of its own behind', async () => {
    const { store } = await tempStore()
    const files = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`f${i}.txt`, text(`frame ${i}`)]))
    const checkpoint = await store.commit({ outputs: { a: { v: 1 }, frames: new Directory(files), z: text('ours') } })
    const target = path.join(tempDir(), 'out')
    const theirs = Buffer.from('a file the user made meanwhile')
    let planted = false
    const err = await failure(
      store.restore(checkpoint.id, {
        to: target,
        onProgress: () => {
          if (planted) return
          planted = true
          writeFileSync(path.join(target, 'z'), theirs)
        },
      }),
    )
    expect(planted).toBe(true)
    expect(err.code).toBe('WOULD_OVERWRITE')
    expect(readFileSync(path.join(target, 'z'))).toEqual(theirs)
    expect(readdirSync(target)).toEqual(['z'])
    await store.close()
  })
})
