import { describe, expect, it } from 'vitest'
import { CkptError, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { collect, steppingClock, tempStore } from './support/temp.js'

const codeOf = async (promise: Promise<unknown>) => (await failure(promise)).code

async function threeOnMain(store: Store) {
  const a = await store.commit({ stage: 's1', output: { n: 1 }, message: 'one' })
  const b = await store.commit({ stage: 's2', output: { n: 2 }, message: 'two' })
  const c = await store.commit({ stage: 's3', output: { n: 3 }, message: 'three' })
  return { a, b, c }
}

describe('timelines and compare-and-swap', () => {
  it('creates the timeline on its first commit and moves it on each next one', async () => {
    const { store } = await tempStore()
    const { a, b, c } = await threeOnMain(store)
    expect(await store.timelines.get('main')).toBe(c.id)
    expect(c.parents).toEqual([b.id])
    expect(b.parents).toEqual([a.id])
    expect(a.parents).toEqual([])
    expect(c.stages).toEqual({ s1: a.stages.s1, s2: b.stages.s2, s3: c.stages.s3 })
  })

  it('refuses a commit whose expected head moved, and moves nothing', async () => {
    const { store } = await tempStore()
    const { a, c } = await threeOnMain(store)
    expect(await codeOf(store.commit({ stage: 's4', output: 4, expectedHead: a.id }))).toBe('REF_CONFLICT')
    expect(await codeOf(store.commit({ timeline: 'main', stage: 's4', output: 4, expectedHead: null }))).toBe('REF_CONFLICT')
    expect(await store.timelines.get('main')).toBe(c.id)
  })

  it('loses no commit when writers race on one timeline with retry', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 0 })
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.commit({ stage: `w${i}`, output: i, retry: 50 })))
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true)
    const history = await collect(store.log('main'))
    expect(history.length).toBe(21)
    expect(Object.keys(history[0]?.stages ?? {}).length).toBe(21)
  })

  it('reports REF_CONFLICT to racing writers that do not retry', async () => {
    const { store } = await tempStore()
    await store.commit({ stage: 'seed', output: 0 })
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => store.commit({ stage: `w${i}`, output: i })))
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    expect(failures.every((f) => (f.reason as CkptError).code === 'REF_CONFLICT')).toBe(true)
    const applied = results.length - failures.length
    expect((await collect(store.log('main'))).length).toBe(1 + applied)
  })

  it('creates, lists, renames, moves and deletes timelines', async () => {
    const { store } = await tempStore()
    const { a, b, c } = await threeOnMain(store)
    await store.timelines.create('exp', a.id)
    expect(await codeOf(store.timelines.create('exp', b.id))).toBe('REF_CONFLICT')
    await store.timelines.move('exp', c.id)
    expect(await store.timelines.get('exp')).toBe(c.id)
    expect(await codeOf(store.timelines.move('exp', a.id))).toBe('REF_CONFLICT')
    await store.timelines.move('exp', a.id, { force: true })
    await store.timelines.rename('exp', 'exp2')
    expect(await store.timelines.list()).toEqual([
      { name: 'exp2', head: a.id, current: false },
      { name: 'main', head: c.id, current: true },
    ])
    expect(await codeOf(store.timelines.delete('main'))).toBe('INVALID_ARGUMENT')
    await store.timelines.delete('exp2')
    expect(await codeOf(store.timelines.get('exp2'))).toBe('NOT_FOUND')
    // Reflogs outlive their refs: both names keep the history that happened under them.
    expect((await store.reflog('exp2')).map((e) => e.reason)).toEqual(['timeline: deleted', 'timeline: renamed exp to exp2'])
    expect((await store.reflog('exp')).map((e) => e.reason)).toEqual([
      'timeline: renamed exp to exp2',
      `timeline: moved to ${a.id} (forced)`,
      `timeline: moved to ${c.id}`,
      `timeline: created from ${a.id}`,
    ])
    expect(await store.resolve('exp2@{1}')).toBe(a.id)
    expect(await store.resolve('exp@{2}')).toBe(c.id)
  })

  it('restores a deleted timeline exactly as it was, from its reflog', async () => {
    const { store } = await tempStore()
    const { c } = await threeOnMain(store)
    await store.timelines.create('exp', c.id)
    const e = await store.commit({ timeline: 'exp', stage: 'x', output: 1 })
    const before = await collect(store.log('exp'))
    await store.timelines.delete('exp')
    expect(await codeOf(store.timelines.get('exp'))).toBe('NOT_FOUND')
    expect(await store.timelines.restore('exp')).toEqual({ name: 'exp', head: e.id, current: false })
    expect(await collect(store.log('exp'))).toEqual(before)
    expect(await codeOf(store.timelines.restore('exp'))).toBe('REF_CONFLICT')
    expect(await codeOf(store.timelines.restore('never'))).toBe('NOT_FOUND')
  })

  it('moves HEAD along when its timeline is renamed', async () => {
    const { store } = await tempStore()
    const { c } = await threeOnMain(store)
    await store.timelines.rename('main', 'trunk')
    expect(await store.head()).toEqual({ detached: false, timeline: 'trunk', checkpoint: c.id })
    await store.commit({ stage: 's4', output: 4 })
    expect((await store.getCheckpoint('trunk')).parents).toEqual([c.id])
  })

  it('forks a timeline from any checkpoint and commits on it independently', async () => {
    const { store } = await tempStore()
    const { b, c } = await threeOnMain(store)
    await store.timelines.create('fork', b.id)
    const f = await store.commit({ timeline: 'fork', stage: 's3', output: { n: 30 } })
    expect(f.parents).toEqual([b.id])
    expect(await store.timelines.get('main')).toBe(c.id)
  })

  it('records a merge with several parents', async () => {
    const { store } = await tempStore()
    const { b, c } = await threeOnMain(store)
    await store.timelines.create('side', b.id)
    const s = await store.commit({ timeline: 'side', stage: 'x', output: 1 })
    const m = await store.commit({ stage: 'merge', output: true, parents: [c.id, s.id] })
    expect(m.parents).toEqual([c.id, s.id])
    expect(m.stages.x).toBeUndefined()
    expect(m.stages.s3).toBe(c.stages.s3)
    expect((await collect(store.log('main'))).map((x) => x.id)).toContain(s.id)
    expect((await collect(store.log('main', { firstParent: true }))).map((x) => x.id)).not.toContain(s.id)
  })

  it('creates, lists and deletes tags', async () => {
    const { store } = await tempStore()
    const { a, b } = await threeOnMain(store)
    await store.tags.create('v1', a.id)
    expect(await codeOf(store.tags.create('v1', b.id))).toBe('REF_CONFLICT')
    expect(await store.tags.list()).toEqual([{ name: 'v1', target: a.id }])
    await store.tags.delete('v1')
    expect(await store.tags.list()).toEqual([])
    expect(await codeOf(store.tags.delete('v1'))).toBe('NOT_FOUND')
  })

  it.each([
    ['a..b', 'double-dot'],
    ['.hidden', 'leading-dot'],
    ['x.lock', 'lock-suffix'],
    ['has space', 'forbidden-char'],
    ['a@{1', 'at-brace'],
    ['end/', 'empty-component'],
  ])('rejects the timeline name %j with the rule it breaks (%s)', async (name, rule) => {
    const { store } = await tempStore()
    const err = await store.commit({ timeline: name, stage: 's', output: 1 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CkptError)
    expect((err as CkptError).code).toBe('INVALID_REF_NAME')
    expect((err as CkptError).details.rule).toBe(rule)
    expect(await store.timelines.list()).toEqual([])
  })
})

describe('reflog', () => {
  it('records every move of a timeline with old, new, time and reason', async () => {
    const { store } = await tempStore({ clock: steppingClock() })
    const { a, b, c } = await threeOnMain(store)
    await store.timelines.move('main', a.id, { force: true })
    const log = await store.reflog('main')
    expect(log.map((e) => [e.index, e.old, e.new, e.reason])).toEqual([
      [0, c.id, a.id, `timeline: moved to ${a.id} (forced)`],
      [1, b.id, c.id, 'commit: s3: three'],
      [2, a.id, b.id, 'commit: s2: two'],
      [3, null, a.id, 'commit (initial): s1: one'],
    ])
    expect(log.every((e) => e.time instanceof Date)).toBe(true)
    expect(log[0]!.time.getTime()).toBeGreaterThan(log[3]!.time.getTime())
  })

  it('records HEAD moves', async () => {
    const { store } = await tempStore()
    const { a } = await threeOnMain(store)
    await store.setHead(a.id)
    expect(await store.head()).toEqual({ detached: true, checkpoint: a.id })
    await store.setHead('main')
    const log = await store.reflog('HEAD')
    const reasons = log.map((e) => e.reason)
    // git's HEAD reflog: the three commits made on main through HEAD are there too.
    expect(reasons.slice(0, 2)).toEqual(['checkout: moving to main', `checkout: moving to ${a.id}`])
    expect(reasons.slice(2, 5).every((r) => r.startsWith('commit'))).toBe(true)
    expect(reasons.slice(5)).toEqual(['init'])
    expect(log[2]?.checkpoint).toBe(await store.resolve('main'))
  })

  it('moves a detached HEAD on commit, as git does', async () => {
    const { store } = await tempStore()
    const { a, c } = await threeOnMain(store)
    await store.setHead(a.id)
    const d = await store.commit({ stage: 'x', output: 1 })
    expect(d.parents).toEqual([a.id])
    expect(await store.head()).toEqual({ detached: true, checkpoint: d.id })
    expect(await store.timelines.get('main')).toBe(c.id)
  })
})

describe('index pointers', () => {
  it('move by compare-and-swap, alone or atomically with a commit', async () => {
    const { store } = await tempStore()
    await store.index.swap('runs/r1', null, 'value-1')
    expect(await store.index.get('runs/r1')).toBe('value-1')
    expect(await codeOf(store.index.swap('runs/r1', null, 'other'))).toBe('REF_CONFLICT')
    const c = await store.commit({ stage: 's', output: 1, index: [{ name: 'by-stage/s', expected: null }, { name: 'runs/r1', expected: 'value-1', value: 'value-2' }] })
    expect(await store.index.list()).toEqual([
      { name: 'by-stage/s', value: c.id },
      { name: 'runs/r1', value: 'value-2' },
    ])
    // A stale expectation fails the whole commit: the timeline does not move either.
    expect(await codeOf(store.commit({ stage: 's', output: 2, index: [{ name: 'runs/r1', expected: 'value-1', value: 'x' }] }))).toBe('REF_CONFLICT')
    expect(await store.timelines.get('main')).toBe(c.id)
    expect(await codeOf(store.index.get('bad..name'))).toBe('INVALID_REF_NAME')
  })
})
