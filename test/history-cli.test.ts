import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMemoryBackend, initStore, type Backend, type Store } from '../src/index.js'
import { ckpt, jsonLines } from './support/cli.js'
import { freshSchemaUrl } from './support/postgres.js'
import { memoryStore, onCleanup, steppingClock, tempDir } from './support/temp.js'

/** main: a (extract), b (detect), c (notes); exp forked at b: d (detect changed), e (report added). */
function history() {
  const dir = tempDir()
  const run = (...args: string[]) => {
    const r = ckpt(dir, args)
    if (r.code !== 0) throw new Error(`ckpt ${args.join(' ')} failed (${r.code}): ${r.stderr}`)
    return r.stdout.trim()
  }
  run('init')
  const a = run('commit', '-s', 'extract', '--json', '{"frames": 3}', '-m', 'extract frames', '--run', 'r1')
  const b = run('commit', '-s', 'detect', '--json', '{"n": 1}', '--run', 'r1')
  const c = run('commit', '-s', 'notes', '--json', '"first notes"', '--run', 'r1')
  run('timeline', 'exp', 'HEAD~1')
  const d = run('commit', '-t', 'exp', '-s', 'detect', '--json', '{"n": 2}', '--run', 'r2')
  const e = run('commit', '-t', 'exp', '-s', 'report', '--json', '{"ok": true}', '--run', 'r2', '-m', 'add a report')
  const id = (revision: string) => run('rev-parse', revision)
  const show = (revision: string) => JSON.parse(run('show', revision, '--json')) as { id: string; parents: string[]; stages: Record<string, string>; message: string; stage?: string; run?: string }
  const reasons = (ref: string) => jsonLines(run('reflog', ref, '--json')).map((entry) => entry.reason)
  return { dir, run, ids: { a, b, c, d, e }, id, show, reasons }
}

describe('ckpt merge', () => {
  it('records a checkpoint with two parents whose stages are the union of both sides', () => {
    const h = history()
    expect(h.run('merge', 'exp')).toContain('Merged exp into main')
    const merged = h.show('main')
    expect(merged.parents).toEqual([h.id(h.ids.c), h.id(h.ids.e)])
    expect(merged.stages).toEqual({
      detect: h.id('exp:detect'),
      extract: h.id(`${h.ids.a}:extract`),
      notes: h.id(`${h.ids.c}:notes`),
      report: h.id('exp:report'),
    })
    expect(merged.message).toBe('Merge exp into main')
    expect(h.reasons('main')[0]).toMatch(/^merge exp/)
  })

  it('refuses stages changed on both sides, listing them, and writes nothing; --ours, --theirs and --stage resolve them', () => {
    const h = history()
    h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const before = h.id('main')
    const reflog = h.reasons('main')
    const refused = ckpt(h.dir, ['merge', 'exp'])
    expect(refused.code).toBe(6)
    expect(refused.stderr).toContain('detect')
    const listed = ckpt(h.dir, ['merge', 'exp', '--json'])
    expect(listed.code).toBe(6)
    expect(JSON.parse(listed.stdout)).toEqual({
      merged: false,
      conflicts: [{ stage: 'detect', base: h.id(`${h.ids.b}:detect`), ours: h.id('main:detect'), theirs: h.id('exp:detect') }],
    })
    expect(h.id('main')).toBe(before)
    expect(h.reasons('main')).toEqual(reflog)

    h.run('merge', 'exp', '--theirs')
    expect(h.show('main').stages.detect).toBe(h.id('exp:detect'))
    h.run('reset', before)
    h.run('merge', 'exp', '--ours')
    expect(h.show('main').stages.detect).toBe(h.id(`${before}:detect`))
    expect(h.show('main').stages.report).toBe(h.id('exp:report'))
    h.run('reset', before)
    const resolved = JSON.parse(h.run('merge', 'exp', '--stage', `detect=${h.ids.b}`, '--json')) as { result: string; resolved: Array<{ stage: string; take: string }> }
    expect(resolved.result).toBe('merge')
    expect(resolved.resolved).toEqual([expect.objectContaining({ stage: 'detect', take: 'revision' })])
    expect(h.show('main').stages.detect).toBe(h.id(`${h.ids.b}:detect`))
    expect(ckpt(h.dir, ['merge', 'exp', '--ours', '--theirs']).code).toBe(2)
    expect(ckpt(h.dir, ['merge', 'exp', '--stage', 'detect']).code).toBe(2)
  })

  it('fast-forwards a timeline that is behind, like git, unless --no-ff, and says when it is already up to date', () => {
    const h = history()
    h.run('timeline', 'behind', 'main~1')
    expect(h.run('merge', 'main', '-t', 'behind')).toContain('Fast-forward')
    expect(h.id('behind')).toBe(h.id('main'))
    expect(h.reasons('behind')[0]).toBe('merge main: fast-forward')
    expect(h.run('merge', 'main~1')).toContain('Already up to date')
    expect(h.id('main')).toBe(h.id(h.ids.c))
    h.run('timeline', 'slow', 'main~1')
    h.run('merge', 'main', '-t', 'slow', '--no-ff')
    const merged = h.show('slow')
    expect(merged.parents).toEqual([h.id(h.ids.b), h.id(h.ids.c)])
    expect(merged.stages).toEqual(h.show('main').stages)
  })
})

describe('ckpt cherry-pick and revert', () => {
  it("cherry-picks a checkpoint's stage changes onto the head, refusing a stage changed since unless --force", () => {
    const h = history()
    h.run('cherry-pick', h.ids.e)
    const picked = h.show('main')
    expect(picked.parents).toEqual([h.id(h.ids.c)])
    expect(picked.stages).toEqual({ ...h.show(h.ids.c).stages, report: h.id('exp:report') })
    expect(picked.message).toBe(`add a report\n\n(cherry picked from checkpoint ${h.id(h.ids.e)})`)
    expect(picked.run).toBe('r2')
    expect(h.reasons('main')[0]).toBe('cherry-pick: add a report')
    expect(h.run('cherry-pick', h.ids.e)).toContain('nothing to')
    expect(h.id('main')).toBe(picked.id)

    h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const before = h.id('main')
    const refused = ckpt(h.dir, ['cherry-pick', h.ids.d])
    expect(refused.code).toBe(6)
    expect(refused.stderr).toContain('detect')
    expect(h.id('main')).toBe(before)
    h.run('cherry-pick', h.ids.d, '--force')
    expect(h.show('main').stages.detect).toBe(h.id('exp:detect'))
  })

  it('reverts a checkpoint: added stages go, changed ones get their parent output back, a stage changed since refuses', () => {
    const h = history()
    h.run('revert', h.ids.c)
    const reverted = h.show('main')
    expect(reverted.parents).toEqual([h.id(h.ids.c)])
    expect(reverted.stages).toEqual(h.show(h.ids.b).stages)
    expect(reverted.message).toBe(`Revert "notes"\n\nThis reverts checkpoint ${h.id(h.ids.c)}.`)
    expect(h.reasons('main')[0]).toBe('revert: Revert "notes"')

    const x = h.run('commit', '-s', 'detect', '--json', '{"n": 3}')
    const y = h.run('commit', '-s', 'detect', '--json', '{"n": 4}')
    expect(ckpt(h.dir, ['revert', x]).code).toBe(6)
    expect(h.id('main')).toBe(h.id(y))
    h.run('revert', y)
    expect(h.show('main').stages.detect).toBe(h.id(`${x}:detect`))
    const json = JSON.parse(h.run('revert', 'HEAD', '--json')) as { stages: string[]; checkpoint: { parents: string[] } }
    expect(json.stages).toEqual(['detect'])
    expect(h.show('main').stages.detect).toBe(h.id(`${y}:detect`))
  })
})

describe('ckpt reset', () => {
  it('moves a timeline to any revision, warns about checkpoints no ref reaches any more, and is undone through the reflog', () => {
    const h = history()
    const reset = ckpt(h.dir, ['reset', 'main~2'])
    expect(reset.code).toBe(0)
    expect(h.id('main')).toBe(h.id(h.ids.a))
    expect(reset.stdout).toContain(`main is now at ${h.ids.a}`)
    expect(reset.stderr).toContain('1 checkpoint')
    expect(reset.stderr).toContain(h.ids.c)
    expect(h.reasons('main')[0]).toBe('reset: moving to main~2')
    h.run('reset', 'main@{1}')
    expect(h.id('main')).toBe(h.id(h.ids.c))
    h.run('tag', 'keep')
    const kept = ckpt(h.dir, ['reset', 'exp', '--json'])
    expect(kept.code).toBe(0)
    expect(kept.stderr).toBe('')
    expect(JSON.parse(kept.stdout)).toMatchObject({ timeline: 'main', from: h.id(h.ids.c), to: { id: h.id(h.ids.e) }, unreachable: [] })
    expect(ckpt(h.dir, ['reset', 'nosuch']).code).toBe(4)
    expect(ckpt(h.dir, ['reset', 'main', '-t', 'nosuch']).code).toBe(4)
  })
})

describe('ckpt commit --amend and --parent', () => {
  it('amends the head: same parents, new outputs merged into its stages, message kept unless -m', () => {
    const h = history()
    const old = h.show('main')
    h.run('commit', '--amend', '-m', 'better notes')
    const renamed = h.show('main')
    expect(renamed.id).not.toBe(old.id)
    expect(renamed).toMatchObject({ parents: old.parents, stages: old.stages, message: 'better notes', stage: 'notes', run: 'r1' })
    h.run('commit', '--amend', '-s', 'extra', '--json', '{"x": 1}')
    const grown = h.show('main')
    expect(grown.parents).toEqual(old.parents)
    expect(grown.message).toBe('better notes')
    expect(grown.stages).toEqual({ ...old.stages, extra: h.id('main:extra') })
    expect(h.reasons('main').slice(0, 2)).toEqual(['commit (amend): better notes', 'commit (amend): better notes'])
    expect(ckpt(h.dir, ['commit', '--json', '1']).code).toBe(2)
  })

  it('records a checkpoint with the parents given by repeated --parent, the first one giving the base stages', () => {
    const h = history()
    const [c, e] = [h.id(h.ids.c), h.id(h.ids.e)]
    const joined = h.run('commit', '-s', 'joined', '--json', '1', '--parent', 'main', '--parent', 'exp')
    const checkpoint = h.show(joined)
    expect(checkpoint.parents).toEqual([c, e])
    expect(checkpoint.stages).toEqual({ ...h.show(c).stages, joined: h.id(`${joined}:joined`) })
    expect(h.id('main')).toBe(checkpoint.id)
  })
})

describe('ckpt blame', () => {
  it('names the checkpoint and run that first produced an output, and the later checkpoints that carried it unchanged', () => {
    const h = history()
    const blame = JSON.parse(h.run('blame', 'main:extract', '--json')) as { stage: string; output: string; origin: { id: string; run: string }; carriedBy: Array<{ id: string }> }
    expect(blame.stage).toBe('extract')
    expect(blame.output).toBe(h.id('main:extract'))
    expect(blame.origin).toMatchObject({ id: h.id(h.ids.a), run: 'r1' })
    expect(blame.carriedBy.map((c) => c.id)).toEqual([h.id(h.ids.c), h.id(h.ids.b)])
    const text = h.run('origin', 'exp:detect')
    expect(text).toContain(h.ids.d)
    expect(text).toContain('r2')
    expect(JSON.parse(h.run('blame', 'exp:detect', '--json')).carriedBy.map((c: { id: string }) => c.id)).toEqual([h.id(h.ids.e)])
    expect(ckpt(h.dir, ['blame', 'main:nosuch']).code).toBe(4)
    expect(ckpt(h.dir, ['blame', 'main']).code).toBe(2)
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
