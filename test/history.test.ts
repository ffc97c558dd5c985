import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CkptError, createMemoryBackend, initStoreOn, openStoreOn } from '../src/index.js'
import { collect, steppingClock, tempDir, tempStore } from './support/temp.js'

describe('log', () => {
  it('lists history newest first with every field', async () => {
    const { store } = await tempStore({ clock: steppingClock(), author: 'ada' })
    await store.commit({ stage: 'a', output: 1, run: 'r1', job: 'j1', config: { lr: 0.1 }, message: 'first', meta: { host: 'x' } })
    await store.commit({ stage: 'b', output: 2, run: 'r1' })
    const [newest, oldest] = await collect(store.log())
    expect(newest?.stage).toBe('b')
    expect(oldest).toMatchObject({ stage: 'a', run: 'r1', job: 'j1', config: { lr: 0.1 }, message: 'first', author: 'ada', meta: { host: 'x' } })
    // The clock ticked once for init's reflog entry, then once for this checkpoint.
    expect(oldest?.time).toEqual(new Date(Date.UTC(2026, 0, 1) + 2000))
    expect(newest?.shortId).toMatch(/^[0-9a-f]{10}$/)
  })

  it('reads only as much history as the caller consumes', async () => {
    const backend = createMemoryBackend()
    const store = await initStoreOn(backend, { clock: steppingClock() })
    for (let i = 0; i < 300; i++) await store.commit({ stage: 's', output: i })
    // A fresh store object on the same backend has no cached checkpoints.
    const reader = await openStoreOn(backend)
    let reads = 0
    const get = backend.objects.get.bind(backend.objects)
    backend.objects.get = (key) => {
      reads++
      return get(key)
    }
    const firstFive = await collect(reader.log('main', { limit: 5 }))
    expect(firstFive.map((c) => c.stage)).toEqual(['s', 's', 's', 's', 's'])
    expect(reads).toBe(5)
    reads = 0
    for await (const checkpoint of reader.log('main~100')) {
      expect(checkpoint.parents.length).toBe(1)
      break
    }
    // Resolving main~100 walks 100 parents (the newest 5 are cached from the walk above);
    // iterating one entry reads nothing more.
    expect(reads).toBe(96)
    expect((await collect(reader.log())).length).toBe(300)
  })

  it('shows each checkpoint once across merges and several starts, newest first', async () => {
    const { store } = await tempStore({ clock: steppingClock() })
    const a = await store.commit({ stage: 'a', output: 1 })
    await store.timelines.create('side', a.id)
    const s = await store.commit({ timeline: 'side', stage: 's', output: 1 })
    const b = await store.commit({ stage: 'b', output: 1 })
    const m = await store.commit({ stage: 'm', output: 1, parents: [b.id, s.id] })
    expect((await collect(store.log('main'))).map((c) => c.id)).toEqual([m.id, b.id, s.id, a.id])
    expect((await collect(store.log(['side', 'main']))).map((c) => c.id)).toEqual([m.id, b.id, s.id, a.id])
    expect((await collect(store.log('main', { firstParent: true }))).map((c) => c.id)).toEqual([m.id, b.id, a.id])
  })

  it('shows a checkpoint once when a skewed clock shows it before a descendant that is then walked alone', async () => {
    const { store } = await tempStore()
    const T = Date.parse('2026-01-01T00:00:00Z')
    const root = await store.commit({ stage: 'r', output: 0, time: T + 50_000 })
    const late = await store.commit({ stage: 'c', output: 1, time: T + 100_000 })
    const early = await store.commit({ stage: 'c', output: 2, time: T + 2_000 })
    await store.timelines.create('side', late.id)
    const side = await store.commit({ timeline: 'side', stage: 's', output: 1, time: T + 3_000 })
    const merge = await store.commit({ stage: 'm', output: 1, parents: [early.id, side.id], time: T + 200_000 })
    // Newest first: `late` and `root` are shown before `early`, whose only parent is `late`;
    // `early` is then the whole frontier, and `late` must not be shown again.
    const expected = [merge.id, side.id, late.id, root.id, early.id]
    expect((await collect(store.log('main'))).map((c) => c.id)).toEqual(expected)
    expect((await collect(store.history('main'))).map((c) => c.id)).toEqual(expected)
  })
})

describe('diff', () => {
  it('classifies stages and lists changed JSON paths with old and new values', async () => {
    const { store } = await tempStore()
    const from = await store.commit({
      outputs: { keep: { x: 1 }, drop: 'gone', detect: { detections: [{ label: 'cat', score: 0.71 }, { label: 'dog', score: 0.5 }] }, blob: new Uint8Array([1, 2]) },
      stage: 'detect',
    })
    const to = await store.commit({
      outputs: { detect: { detections: [{ label: 'cat', score: 0.83 }, { label: 'dog', score: 0.5 }, { label: 'car', score: 0.9 }] }, blob: new Uint8Array([1, 2, 3]), added: [1] },
      remove: ['drop'],
      stage: 'detect',
    })
    const result = await store.diff(from.id, to.id)
    expect(result.summary).toEqual({ added: 1, removed: 1, changed: 2, unchanged: 1 })
    expect(result.stages.map((s) => [s.stage, s.status])).toEqual([
      ['added', 'added'],
      ['blob', 'changed'],
      ['detect', 'changed'],
      ['drop', 'removed'],
      ['keep', 'unchanged'],
    ])
    expect(result.stages.find((s) => s.stage === 'detect')?.changes).toEqual([
      { op: 'replace', path: '/detections/0/score', oldValue: 0.71, value: 0.83 },
      { op: 'add', path: '/detections/2', value: { label: 'car', score: 0.9 } },
    ])
    expect(result.stages.find((s) => s.stage === 'blob')).toMatchObject({ kind: 'bytes', size: { from: 2, to: 3 } })
  })

  it('compares without reading unchanged outputs', async () => {
    const backend = createMemoryBackend()
    const store = await initStoreOn(backend)
    const outputs: Record<string, unknown> = {}
    for (let i = 0; i < 200; i++) outputs[`stage${i}`] = { i }
    const a = await store.commit({ outputs })
    const b = await store.commit({ stage: 'stage7', output: { i: 'seven' } })
    let reads = 0
    const get = backend.objects.get.bind(backend.objects)
    backend.objects.get = (key) => {
      reads++
      return get(key)
    }
    const result = await store.diff(a.id, b.id)
    expect(result.summary).toEqual({ added: 0, removed: 0, changed: 1, unchanged: 199 })
    // Two checkpoint nodes and the two versions of the changed output.
    expect(reads).toBeLessThanOrEqual(4)
  })

  it('filters to named stages and can skip path detail', async () => {
    const { store } = await tempStore()
    const a = await store.commit({ outputs: { x: 1, y: { v: 1 } } })
    const b = await store.commit({ outputs: { x: 2, y: { v: 2 } } })
    const result = await store.diff(a.id, b.id, { stages: ['y'], paths: false })
    expect(result.stages).toEqual([{ stage: 'y', status: 'changed', from: a.stages.y, to: b.stages.y, kind: 'json' }])
  })
})

describe('checkout', () => {
  it('returns every stage output of any checkpoint, bytes restored', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'frames', output: new Uint8Array([9, 8]) })
    await store.commit({ stage: 'meta', output: { fps: 30, thumb: new Uint8Array([1]) } })
    await store.commit({ stage: 'meta', output: { fps: 25 } })
    const { outputs, checkpoint, written } = await store.restore('main~1')
    expect(outputs).toEqual({ frames: new Uint8Array([9, 8]), meta: { fps: 30, thumb: new Uint8Array([1]) } })
    expect(checkpoint.stage).toBe('meta')
    expect(written).toEqual([])
    expect((await store.head()).timeline).toBe('main')
  })

  it('writes outputs into a directory and replaces only its own files', async () => {
    const { store } = await tempStore()
    const first = await store.commit({ outputs: { frames: new Uint8Array([9, 8]), meta: { fps: 30, thumb: new Uint8Array([1]) } } })
    const second = await store.commit({ outputs: { meta: { fps: 25 } }, remove: ['frames'] })
    const dir = tempDir()
    const { written } = await store.restore(first.id, { to: dir })
    expect([...written].sort()).toEqual(['frames', 'meta.blobs/' + (await store.putBlob(new Uint8Array([1]))), 'meta.json'].sort())
    expect([...readFileSync(path.join(dir, 'frames'))]).toEqual([9, 8])
    expect(JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'))).toEqual({ fps: 30, thumb: { '/': await store.putBlob(new Uint8Array([1])) } })
    await store.restore(second.id, { to: dir })
    expect(existsSync(path.join(dir, 'frames'))).toBe(false)
    expect(JSON.parse(readFileSync(path.join(dir, 'meta.json'), 'utf8'))).toEqual({ fps: 25 })
    expect(readdirSync(dir).some((f) => f.includes('ckpt-tmp'))).toBe(false)
  })

  it('refuses to overwrite a file it did not write, unless forced', async () => {
    const { store } = await tempStore()
    const c = await store.commit({ stage: 'report', output: { ok: true } })
    const dir = tempDir()
    writeFileSync(path.join(dir, 'report.json'), 'mine')
    const err = await store.restore(c.id, { to: dir }).catch((e: unknown) => e)
    expect((err as CkptError).code).toBe('WOULD_OVERWRITE')
    expect(readFileSync(path.join(dir, 'report.json'), 'utf8')).toBe('mine')
    await store.restore(c.id, { to: dir, force: true })
    expect(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'))).toEqual({ ok: true })
  })

  it('replaces a planted symlink instead of writing through it', async () => {
    const { store } = await tempStore()
    const c = await store.commit({ stage: 'report', output: { ok: true } })
    const dir = tempDir()
    const outside = path.join(tempDir(), 'victim.txt')
    writeFileSync(outside, 'untouched')
    mkdirSync(path.join(dir, 'sub'))
    symlinkSync(outside, path.join(dir, 'report.json'))
    await store.restore(c.id, { to: dir, force: true })
    expect(readFileSync(outside, 'utf8')).toBe('untouched')
    expect(JSON.parse(readFileSync(path.join(dir, 'report.json'), 'utf8'))).toEqual({ ok: true })
  })
})

describe('closing', () => {
  it('refuses every call after close with STORE_CLOSED', async () => {
    const store = await initStoreOn(createMemoryBackend())
    await store.commit({ stage: 's', output: 1 })
    await store.close()
    await store.close()
    for (const call of [() => store.getCheckpoint('main'), () => store.timelines.list(), () => store.tags.create('t'), () => store.putBlob(new Uint8Array(1))]) {
      const err = await call().catch((e: unknown) => e)
      expect((err as CkptError).code).toBe('STORE_CLOSED')
    }
  })
})

describe('reading inside outputs', () => {
  it('selects a value with a JSON pointer and reports a missing step', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'detect', output: { 'a/b': { '~x': [10, 20] }, frames: [new Uint8Array([7])] } })
    expect(await store.getOutput('HEAD:detect/a~1b/~0x/1')).toBe(20)
    expect(await store.getOutput('HEAD:detect/frames/0')).toEqual(new Uint8Array([7]))
    const missing = await store.getOutput('HEAD:detect/a~1b/nope').catch((e: unknown) => e)
    expect((missing as CkptError).code).toBe('NOT_FOUND')
    expect((missing as CkptError).details.missing).toBe('/a~1b/nope')
    expect(((await store.resolve('HEAD:detect/a').catch((e: unknown) => e)) as CkptError).code).toBe('INVALID_REVISION')
  })

  it('tells an output kind and stored size without decoding it', async () => {
    const { store } = await tempStore()
    await store.commit({ outputs: { bin: new Uint8Array(1000), doc: { a: 1 } } })
    expect(await store.outputInfo('HEAD:bin')).toMatchObject({ kind: 'bytes', size: 1000 })
    expect(await store.outputInfo('HEAD:doc')).toMatchObject({ kind: 'json', size: 7 })
  })
})

describe('log filters', () => {
  it('keeps only the stage, run and time window asked for', async () => {
    const { store } = await tempStore({ clock: steppingClock() })
    for (let i = 0; i < 6; i++) await store.commit({ stage: i % 2 ? 'odd' : 'even', output: i, run: i < 3 ? 'r1' : 'r2' })
    const pick = async (options: Parameters<typeof store.log>[1]) => (await collect(store.log('main', options))).map((c) => `${c.stage}:${c.run}`)
    expect(await pick({ stage: 'odd' })).toEqual(['odd:r2', 'odd:r2', 'odd:r1'])
    expect(await pick({ run: 'r1', stage: 'even' })).toEqual(['even:r1', 'even:r1'])
    expect(await pick({ stage: 'odd', limit: 1 })).toEqual(['odd:r2'])
    const times = (await collect(store.log())).map((c) => c.time.getTime())
    expect(await pick({ since: times[2], until: times[1] })).toEqual(['even:r2', 'odd:r2'])
  })
})

describe('text diffs', () => {
  it('gives unified hunks for changed text outputs, sizes only for binary ones', async () => {
    const { store } = await tempStore()
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`)
    const a = await store.commit({ outputs: { log: new TextEncoder().encode(lines.join('\n') + '\n'), bin: Uint8Array.of(0, 1) } })
    const edited = [...lines.slice(0, 10), 'inserted', ...lines.slice(10, 18), 'changed 18', lines[19]]
    const b = await store.commit({ outputs: { log: new TextEncoder().encode(edited.join('\n') + '\n'), bin: Uint8Array.of(0, 2) } })
    const result = await store.diff(a.id, b.id)
    const log = result.stages.find((s) => s.stage === 'log')
    expect(log?.hunks).toEqual([
      { fromStart: 8, fromLines: 6, toStart: 8, toLines: 7, lines: [' line 7', ' line 8', ' line 9', '+inserted', ' line 10', ' line 11', ' line 12'] },
      { fromStart: 16, fromLines: 5, toStart: 17, toLines: 5, lines: [' line 15', ' line 16', ' line 17', '-line 18', '+changed 18', ' line 19'] },
    ])
    expect(result.stages.find((s) => s.stage === 'bin')).toMatchObject({ size: { from: 2, to: 2 } })
    expect(result.stages.find((s) => s.stage === 'bin')?.hunks).toBeUndefined()
  })
})

describe('checkpoints handed out', () => {
  it('are the caller’s own: changing one changes nothing the store reports later', async () => {
    const { store } = await tempStore()
    const written = await store.commit({ stage: 'a', output: 1, config: { lr: 0.1, layers: [64, 32] }, meta: { host: { name: 'x' } } })
    const handedOut = [written, await store.getCheckpoint(written.id), ...(await collect(store.log())), (await store.restore(written.id)).checkpoint]
    for (const checkpoint of handedOut) {
      ;(checkpoint.config as { lr: number; layers: number[] }).lr = 9
      ;(checkpoint.config as { lr: number; layers: number[] }).layers.push(1)
      ;(checkpoint.meta.host as { name: string }).name = 'changed'
      ;(checkpoint.stages as Record<string, string>).a = 'changed'
    }
    const again = await store.getCheckpoint(written.id)
    expect(again).toMatchObject({ config: { lr: 0.1, layers: [64, 32] }, meta: { host: { name: 'x' } }, stages: { a: await store.resolve(`${written.id}:a`) } })
    const next = await store.commit({ stage: 'b', output: 2 })
    expect((await store.getCheckpoint(next.id)).stages.a).toBe(again.stages.a)
  })
})
