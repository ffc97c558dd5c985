import { randomBytes } from 'node:crypto'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryBackend, initStore, type Backend, type Store } from '../src/index.js'
import { ckpt, jsonLines } from './support/cli.js'
import { freshSchemaUrl } from './support/postgres.js'
import { memoryStore, onCleanup, steppingClock, tempDir } from './support/temp.js'

interface Shown {
  id: string
  shortId: string
  parents: string[]
  stages: Record<string, string>
  message: string
  stage?: string
  run?: string
}

/** Runs the built binary in `dir`; a failure throws with its stderr. */
function runner(dir: string) {
  return (...args: string[]) => {
    const r = ckpt(dir, args)
    if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout.trim()
  }
}

/** The history every test starts from, made once: each test gets a copy of its folder. */
let template: { dir: string; ids: { a: string; b: string; c: string; d: string; e: string } } | undefined

function makeTemplate() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ckpt-history-'))
  const run = runner(dir)
  run('init')
  const a = run('commit', '-s', 'extract', '--json', '{"frames": 3}', '-m', 'extract frames', '--run', 'r1')
  const b = run('commit', '-s', 'detect', '--json', '{"n": 1}', '--run', 'r1')
  const c = run('commit', '-s', 'notes', '--json', '"first notes"', '--run', 'r1')
  run('timeline', 'exp', 'HEAD~1')
  const d = run('commit', '-t', 'exp', '-s', 'detect', '--json', '{"n": 2}', '--run', 'r2')
  const e = run('commit', '-t', 'exp', '-s', 'report', '--json', '{"ok": true}', '--run', 'r2', '-m', 'add a report')
  return { dir, ids: { a, b, c, d, e } }
}

afterAll(() => {
  if (template) rmSync(template.dir, { recursive: true, force: true })
})

/**
 * main: a (extract), b (detect), c (notes); exp forked at b: d (detect changed), e (report added).
 * Checks read the whole state in two calls (each call of the binary costs a process start).
 */
function history() {
  template ??= makeTemplate()
  const dir = tempDir()
  cpSync(template.dir, dir, { recursive: true })
  const run = runner(dir)
  /** Every checkpoint on a timeline or tag, by short id, and each timeline's head. */
  const state = () => {
    const all = new Map((jsonLines(run('log', '--all', '--json')) as unknown as Shown[]).map((c) => [c.shortId, c]))
    const tips = new Map(jsonLines(run('timeline', '--json')).map((t) => [t.name as string, t.head as string]))
    const get = (id: string) => (all.get(id) ?? [...all.values()].find((c) => c.id === id)) as Shown
    const tip = (timeline: string) => [...all.values()].find((c) => c.id === tips.get(timeline)) as Shown
    return { get, tip }
  }
  const reasons = (ref: string) => jsonLines(run('reflog', ref, '--json')).map((entry) => entry.reason)
  return { dir, run, ids: template.ids, state, reasons }
}

describe('ckpt merge', () => {
  it('records a checkpoint with two parents whose stages are the union of both sides', () => {
    const h = history()
    expect(h.run('merge', 'exp')).toContain('Merged exp into main')
    const s = h.state()
    const merged = s.tip('main')
    expect(merged.parents).toEqual([s.get(h.ids.c).id, s.get(h.ids.e).id])
    expect(merged.stages).toEqual({ ...s.get(h.ids.c).stages, detect: s.get(h.ids.d).stages.detect, report: s.get(h.ids.e).stages.report })
    expect(merged.message).toBe('Merge exp into main')
    expect(h.reasons('main')[0]).toBe('merge exp: merged')
    expect(h.reasons('HEAD')[0]).toBe('merge exp: merged')
  })

  it('refuses stages changed on both sides, listing them, and writes nothing; --ours, --theirs and --stage resolve them', () => {
    const h = history()
    const x = h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const reflog = h.reasons('main')
    const refused = ckpt(h.dir, ['merge', 'exp'])
    expect(refused.code).toBe(6)
    expect(refused.stderr).toContain('detect')
    const listed = ckpt(h.dir, ['merge', 'exp', '--json'])
    expect(listed.code).toBe(6)
    const s = h.state()
    expect(JSON.parse(listed.stdout)).toEqual({
      merged: false,
      conflicts: [{ stage: 'detect', base: s.get(h.ids.b).stages.detect, ours: s.get(x).stages.detect, theirs: s.get(h.ids.d).stages.detect }],
    })
    expect(s.tip('main').shortId).toBe(x)
    expect(h.reasons('main')).toEqual(reflog)

    h.run('merge', 'exp', '--theirs')
    expect(h.state().tip('main').stages.detect).toBe(s.get(h.ids.d).stages.detect)
    h.run('reset', x)
    h.run('merge', 'exp', '--ours')
    expect(h.state().tip('main').stages).toEqual({ ...s.get(x).stages, report: s.get(h.ids.e).stages.report })
    h.run('reset', x)
    const resolved = JSON.parse(h.run('merge', 'exp', '--stage', `detect=${h.ids.b}`, '--json')) as { result: string; checkpoint: Shown; resolved: Array<{ stage: string; take: string }> }
    expect(resolved.result).toBe('merge')
    expect(resolved.resolved).toEqual([expect.objectContaining({ stage: 'detect', take: 'revision' })])
    expect(resolved.checkpoint.stages.detect).toBe(s.get(h.ids.b).stages.detect)
    expect(ckpt(h.dir, ['merge', 'exp', '--ours', '--theirs']).code).toBe(2)
    expect(ckpt(h.dir, ['merge', 'exp', '--stage', 'detect']).code).toBe(2)
  })

  it('fast-forwards a timeline that is behind, like git, unless --no-ff, and says when it is already up to date', () => {
    const h = history()
    h.run('timeline', 'behind', 'main~1')
    h.run('timeline', 'slow', 'main~1')
    expect(h.run('merge', 'main', '-t', 'behind')).toContain('Fast-forward')
    expect(h.reasons('behind')[0]).toBe('merge main: fast-forward')
    expect(h.run('merge', 'main~1')).toContain('Already up to date')
    h.run('merge', 'main', '-t', 'slow', '--no-ff')
    const s = h.state()
    expect(s.tip('behind').shortId).toBe(h.ids.c)
    expect(s.tip('main').shortId).toBe(h.ids.c)
    expect(s.tip('slow').parents).toEqual([s.get(h.ids.b).id, s.get(h.ids.c).id])
    expect(s.tip('slow').stages).toEqual(s.get(h.ids.c).stages)
  })
})

describe('ckpt cherry-pick and revert', () => {
  it("cherry-picks a checkpoint's stage changes onto the head, refusing a stage changed since unless --force", () => {
    const h = history()
    h.run('cherry-pick', h.ids.e)
    expect(h.run('cherry-pick', h.ids.e)).toContain('nothing to')
    const x = h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const refused = ckpt(h.dir, ['cherry-pick', h.ids.d])
    expect(refused.code).toBe(6)
    expect(refused.stderr).toContain('detect')
    const s = h.state()
    expect(s.tip('main').shortId).toBe(x)
    const picked = s.get(s.get(x).parents[0] as string)
    expect(picked.parents).toEqual([s.get(h.ids.c).id])
    expect(picked.stages).toEqual({ ...s.get(h.ids.c).stages, report: s.get(h.ids.e).stages.report })
    expect(picked.message).toBe(`add a report\n\n(cherry picked from checkpoint ${s.get(h.ids.e).id})`)
    expect(picked.run).toBe('r2')
    expect(h.reasons('main').slice(0, 2)).toEqual(['commit: detect', 'cherry-pick: add a report'])
    h.run('cherry-pick', h.ids.d, '--force')
    expect(h.state().tip('main').stages.detect).toBe(s.get(h.ids.d).stages.detect)
  })

  it('reverts a checkpoint: added stages go, changed ones get their parent output back, a stage changed since refuses', () => {
    const h = history()
    h.run('revert', h.ids.c)
    const s = h.state()
    const reverted = s.tip('main')
    expect(reverted.parents).toEqual([s.get(h.ids.c).id])
    expect(reverted.stages).toEqual(s.get(h.ids.b).stages)
    expect(reverted.message).toBe(`Revert "notes"\n\nThis reverts checkpoint ${s.get(h.ids.c).id}.`)
    expect(h.reasons('main')[0]).toBe('revert: Revert "notes"')

    const x = h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const y = h.run('commit', '-s', 'detect', '--json', '{"n": 4}')
    expect(ckpt(h.dir, ['revert', x]).code).toBe(6)
    const undone = JSON.parse(h.run('revert', y, '--json')) as { stages: string[]; checkpoint: Shown }
    expect(undone.stages).toEqual(['detect'])
    const t = h.state()
    expect(t.get(undone.checkpoint.shortId).parents).toEqual([t.get(y).id])
    expect(undone.checkpoint.stages.detect).toBe(t.get(x).stages.detect)
  })
})

describe('ckpt reset', () => {
  it('moves a timeline to any revision, warns about checkpoints no ref reaches any more, and is undone through the reflog', () => {
    const h = history()
    const reset = ckpt(h.dir, ['reset', 'main~2'])
    expect(reset.code).toBe(0)
    expect(reset.stdout).toContain(`main is now at ${h.ids.a}`)
    expect(reset.stderr).toContain('1 checkpoint')
    expect(reset.stderr).toContain(h.ids.c)
    expect(h.reasons('main')[0]).toBe('reset: moving to main~2')
    expect(h.reasons('HEAD')[0]).toBe('reset: moving to main~2')
    expect((JSON.parse(h.run('show', 'HEAD@{1}', '--json')) as Shown).shortId).toBe(h.ids.c)
    // git's habit: --hard is taken, and said to change nothing more (there is no work tree).
    const undo = ckpt(h.dir, ['reset', '--hard', 'main@{1}'])
    expect(undo.code).toBe(0)
    expect(undo.stderr).toContain('no work tree')
    h.run('tag', 'keep')
    const kept = ckpt(h.dir, ['reset', 'exp', '--json'])
    expect(kept.code).toBe(0)
    expect(kept.stderr).toBe('')
    const s = h.state()
    expect(JSON.parse(kept.stdout)).toMatchObject({ timeline: 'main', from: s.get(h.ids.c).id, to: { id: s.get(h.ids.e).id }, unreachable: [] })
    expect(s.tip('main').shortId).toBe(h.ids.e)
    expect(ckpt(h.dir, ['reset', 'nosuch']).code).toBe(4)
    expect(ckpt(h.dir, ['reset', 'main', '-t', 'nosuch']).code).toBe(4)
  })
})

describe('ckpt commit --amend and --parent', () => {
  it('amends the head: same parents, new outputs merged into its stages, message kept unless -m', () => {
    const h = history()
    const old = JSON.parse(h.run('show', 'main', '--json')) as Shown
    const reworded = h.run('commit', '--amend', '-m', 'better notes')
    const grown = h.run('commit', '--amend', '-s', 'extra', '--json', '{"x": 1}')
    const s = h.state()
    expect(reworded).not.toBe(h.ids.c)
    // Amended away: neither the old head nor the first amendment is on a timeline any more.
    expect(s.get(reworded)).toBeUndefined()
    expect(s.tip('main')).toMatchObject({ shortId: grown, parents: old.parents, message: 'better notes', stage: 'extra', run: 'r1' })
    expect(Object.keys(s.tip('main').stages)).toEqual(['detect', 'extra', 'extract', 'notes'])
    expect(s.tip('main').stages.notes).toBe(old.stages.notes)
    expect(h.reasons('main').slice(0, 2)).toEqual(['commit (amend): better notes', 'commit (amend): better notes'])
    expect(ckpt(h.dir, ['commit', '--json', '1']).code).toBe(2)
  })

  it('records a checkpoint with the parents given by repeated --parent, the first one giving the base stages', () => {
    const h = history()
    const joined = h.run('commit', '-s', 'joined', '--json', '1', '--parent', 'main', '--parent', 'exp')
    const s = h.state()
    expect(s.tip('main').shortId).toBe(joined)
    expect(s.tip('main').parents).toEqual([s.get(h.ids.c).id, s.get(h.ids.e).id])
    expect(Object.keys(s.tip('main').stages)).toEqual(['detect', 'extract', 'joined', 'notes'])
  })
})

describe('ckpt blame', () => {
  it('names the checkpoint and run that first produced an output, and the later checkpoints that carried it unchanged', () => {
    const h = history()
    const blame = JSON.parse(h.run('blame', 'main:extract', '--json')) as { stage: string; output: string; origin: Shown; carriedBy: Shown[] }
    expect(blame.stage).toBe('extract')
    expect(blame.origin).toMatchObject({ shortId: h.ids.a, run: 'r1' })
    expect(blame.output).toBe(blame.origin.stages.extract)
    expect(blame.carriedBy.map((c) => c.shortId)).toEqual([h.ids.c, h.ids.b])
    const text = h.run('origin', 'exp:detect')
    expect(text).toMatch(new RegExp(`origin +${h.ids.d} #3 detect \\[run r2\\]`))
    expect(text).toMatch(new RegExp(`carried unchanged by 1 later checkpoint:\\n +${h.ids.e}`))
    expect(ckpt(h.dir, ['blame', 'main:nosuch']).code).toBe(4)
    expect(ckpt(h.dir, ['blame', 'main']).code).toBe(2)
  })
})

describe('history edits through the library', () => {
  /** A memory backend on which `race` runs another writer's ref move just before the next ref update. */
  function racingBackend() {
    const inner = createMemoryBackend()
    const armed: { race?: () => Promise<void> } = {}
    const refs = new Proxy(inner.refs, {
      get(target, property, receiver) {
        if (property !== 'updateRefs') {
          const value = Reflect.get(target, property, receiver) as unknown
          return typeof value === 'function' ? value.bind(target) : value
        }
        return async (...args: Parameters<typeof target.updateRefs>) => {
          const race = armed.race
          armed.race = undefined
          await race?.()
          return target.updateRefs(...args)
        }
      },
    })
    return { backend: { ...inner, refs } as Backend, inner, armed }
  }

  it('refuses every history edit with REF_CONFLICT when the timeline moved meanwhile, and leaves the other move in place', async () => {
    const edits: Array<[string, (store: Store) => Promise<unknown>]> = [
      ['merge', (store) => store.merge('exp')],
      ['fast-forward', (store) => store.merge('exp', { timeline: 'behind' })],
      ['cherry-pick', (store) => store.cherryPick('exp')],
      ['revert', (store) => store.revert('main')],
      ['reset', (store) => store.resetTimeline('main~1')],
      ['amend', (store) => store.amend({ message: 'reworded' })],
    ]
    for (const [name, edit] of edits) {
      const { backend, inner, armed } = racingBackend()
      const store = await memoryStore(backend)
      await store.commit({ timeline: 'main', stage: 'a', output: 1 })
      await store.commit({ stage: 'b', output: 2 })
      await store.timelines.create('exp', 'main~1')
      await store.timelines.create('behind', 'main~1')
      await store.commit({ timeline: 'exp', stage: 'c', output: 3 })
      const timeline = name === 'fast-forward' ? 'behind' : 'main'
      const other = await store.commit({ timeline: 'exp', stage: 'd', output: 4, parent: `${timeline}~0` , expectedHead: 'exp' })
      const before = await store.timelines.get(timeline)
      armed.race = async () => {
        const result = await inner.refs.updateRefs([{ name: `timelines/${timeline}`, expected: before, value: other.id, log: { time: 0, reason: 'another writer' } }])
        expect(result.ok).toBe(true)
      }
      const err = (await edit(store).catch((e: unknown) => e)) as { code?: string }
      expect([name, err.code]).toEqual([name, 'REF_CONFLICT'])
      expect(await store.timelines.get(timeline)).toBe(other.id)
    }
  })

  it('keeps the file names of the bytes outputs that merge, cherry-pick and amend copy (restore writes under them)', async () => {
    const store = await memoryStore()
    await store.commit({ timeline: 'main', stage: 'a', output: 1 })
    await store.timelines.create('exp')
    await store.timelines.create('pick')
    await store.commit({ timeline: 'exp', stage: 'report', output: new Uint8Array([1, 2, 3]), fileNames: { report: 'report.pdf' } })
    await store.commit({ stage: 'b', output: 2 })
    const merged = await store.merge('exp')
    expect(merged.kind).toBe('merge')
    expect(merged.checkpoint.files).toEqual({ report: 'report.pdf' })
    expect((await store.cherryPick('exp', { timeline: 'pick' })).checkpoint.files).toEqual({ report: 'report.pdf' })
    expect((await store.amend({ timeline: 'exp', message: 'reworded' })).files).toEqual({ report: 'report.pdf' })
  })

  it('finds the merge base of two histories, or none when they never meet', async () => {
    const store = await memoryStore()
    const a = await store.commit({ timeline: 'main', stage: 'a', output: 1 })
    const b = await store.commit({ stage: 'a', output: 2 })
    await store.timelines.create('exp', a.id)
    await store.commit({ timeline: 'exp', stage: 'a', output: 3 })
    const root = await store.commit({ timeline: 'other', stage: 'a', output: 4, parent: null, expectedHead: null })
    expect(await store.mergeBase('main', 'exp')).toBe(a.id)
    expect(await store.mergeBase('main', b.id)).toBe(b.id)
    expect(await store.mergeBase('main', root.id)).toBeUndefined()
  })
})

describe('ckpt du', () => {
  it('reports objects, restored and stored bytes and the dedupe ratio, in total, per timeline and per stage', () => {
    const dir = tempDir()
    const run = (...args: string[]) => {
      const r = ckpt(dir, args)
      if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} failed: ${r.stderr}`)
      return r.stdout.trim()
    }
    const size = 3 * 1024 * 1024
    const big = randomBytes(size)
    writeFileSync(path.join(dir, 'big.bin'), big)
    run('init')
    run('commit', '-s', 'frames', '--file', 'big.bin')
    run('commit', '-s', 'copy', '--file', 'big.bin')
    run('timeline', 'exp')
    big.fill(7, size / 2, size / 2 + 100)
    writeFileSync(path.join(dir, 'big.bin'), big)
    run('commit', '-t', 'exp', '-s', 'frames', '--file', 'big.bin')
    type Usage = { checkpoints: number; restoreSize: number; rawSize: number; objects: number; dedupeRatio: number }
    const stats = JSON.parse(run('du', '--json')) as Usage & { storedObjects: number; timelines: Array<Usage & { name: string }>; stages: Array<Usage & { stage: string; versions: number }> }
    expect(stats.checkpoints).toBe(3)
    expect(stats.restoreSize).toBe(5 * size)
    expect(stats.rawSize).toBeGreaterThan(size)
    expect(stats.rawSize).toBeLessThan(1.5 * size)
    expect(stats.dedupeRatio).toBeCloseTo(stats.restoreSize / stats.rawSize, 10)
    expect(stats.dedupeRatio).toBeGreaterThan(3)
    expect(stats.storedObjects).toBeGreaterThanOrEqual(stats.objects - 2)
    expect(stats.timelines.map((t) => [t.name, t.checkpoints, t.restoreSize])).toEqual([
      ['exp', 3, 5 * size],
      ['main', 2, 3 * size],
    ])
    expect(stats.timelines[1]!.rawSize).toBeLessThan(size + 64 * 1024)
    const [copy, frames] = stats.stages
    expect(copy).toMatchObject({ stage: 'copy', versions: 1, checkpoints: 2, restoreSize: 2 * size })
    expect(copy!.rawSize).toBeGreaterThan(size)
    expect(copy!.rawSize).toBeLessThan(size + 4096)
    expect(frames).toMatchObject({ stage: 'frames', versions: 2, checkpoints: 3, restoreSize: 3 * size })
    const text = run('stats')
    expect(text).toContain('dedupe')
    expect(text).toMatch(/exp +3 /)
  })

  it('gives the same figures on every backend: memory, LevelDB and PostgreSQL', async () => {
    const fill = async (store: Store) => {
      await store.commit({ timeline: 'main', stage: 'a', output: { n: 1, blob: new Uint8Array(2000).fill(1) } })
      await store.commit({ stage: 'b', output: new Uint8Array(5000).fill(2) })
      await store.timelines.create('exp')
      await store.commit({ timeline: 'exp', stage: 'a', output: { n: 2, blob: new Uint8Array(2000).fill(1) } })
      await store.tags.create('v1', 'main~1')
      return store.stats()
    }
    const options = { clock: steppingClock(), author: 't' }
    const memory = await fill(await memoryStore(createMemoryBackend() as Backend))
    const level = await initStore(path.join(tempDir(), 'store'), { clock: steppingClock(), author: 't' })
    onCleanup(() => level.close())
    const pg = await initStore(freshSchemaUrl(), options)
    onCleanup(() => pg.close())
    const expected = await fill(level)
    expect(memory).toEqual(expected)
    expect(await fill(pg)).toEqual(expected)
    expect(expected.checkpoints).toBe(3)
    expect(expected.stages.map((s) => [s.stage, s.versions, s.checkpoints])).toEqual([
      ['a', 2, 3],
      ['b', 1, 2],
    ])
  })
})
