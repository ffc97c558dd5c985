import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { createMemoryBackend, initStoreOn, type Checkpoint, type Store } from '../src/index.js'
import { failure } from './support/errors.js'
import { steppingClock, tempStore } from './support/temp.js'

const digestHex = (id: string) => Buffer.from(CID.parse(id).multihash.digest).toString('hex')

/** main: a - b - c - m(merge of c and s); side: b - s; tag v1 on a. */
async function history(store: Store) {
  const a = await store.commit({ stage: 'extract', output: { n: 1 } })
  const b = await store.commit({ stage: 'detect', output: { n: 2 } })
  const c = await store.commit({ stage: 'ocr', output: { n: 3 } })
  await store.timelines.create('side', b.id)
  const s = await store.commit({ timeline: 'side', stage: 'ocr', output: { n: 30 } })
  const m = await store.commit({ stage: 'report', output: 'done', parents: [c.id, s.id] })
  await store.tags.create('v1', a.id)
  return { a, b, c, s, m }
}

describe('revisions', () => {
  it('resolves every revision form to the checkpoint it names', async () => {
    const { store } = await tempStore({ clock: steppingClock() })
    const { a, b, c, s, m } = await history(store)
    const cases: Array<[string, Checkpoint]> = [
      [m.id, m],
      [digestHex(c.id).slice(0, 7), c],
      [digestHex(c.id).slice(0, 4), c],
      [c.shortId.toUpperCase(), c],
      ['main', m],
      ['timelines/side', s],
      ['v1', a],
      ['tags/v1', a],
      ['HEAD', m],
      ['@', m],
      ['HEAD^', c],
      ['main^1', c],
      ['main^2', s],
      ['main^2~1', b],
      ['main~2', b],
      ['main~3', a],
      ['main^^^', a],
      ['main~0', m],
      ['main^0', m],
      ['main@{0}', m],
      ['main@{1}', c],
      ['main@{3}', a],
      ['side@{1}', b],
      [`${m.id}~1`, c],
    ]
    for (const [revision, expected] of cases) {
      expect([revision, await store.resolve(revision)]).toEqual([revision, expected.id])
    }
  })

  it('resolves rev:stage to the stage output id', async () => {
    const { store } = await tempStore()
    const { a, m } = await history(store)
    expect(await store.resolve('main:report')).toBe(m.stages.report)
    expect(await store.resolve('main~3:extract')).toBe(a.stages.extract)
    expect(await store.getOutput('main:report')).toBe('done')
    const err = await failure(store.resolve('main:nope'))
    expect(err.code).toBe('NOT_FOUND')
    expect(err.details.stages).toEqual(['detect', 'extract', 'ocr', 'report'])
  })

  it.each([
    ['nosuch'],
    ['deadbeef'],
    ['main~9'],
    ['main^3'],
    ['main@{99}'],
    ['baguqehraqz4p3cvssehc7wjyk5bgh5f24vfr3ag7nrljmdffnh4pbb7yotja'],
  ])('reports NOT_FOUND for %j', async (revision) => {
    const { store } = await tempStore()
    await history(store)
    const err = await failure(store.resolve(revision))
    expect(err.code).toBe('NOT_FOUND')
  })

  it('does not take an output id for a checkpoint', async () => {
    const { store } = await tempStore()
    const { m } = await history(store)
    expect((await failure(store.getCheckpoint(m.stages.report!))).code).toBe('NOT_FOUND')
  })

  it.each([[''], ['main~x'], ['main:'], ['~1'], ['main^^x']])('reports INVALID_REVISION for %j', async (revision) => {
    const { store } = await tempStore()
    await history(store)
    expect((await failure(store.resolve(revision))).code).toBe('INVALID_REVISION')
  })

  it('reports AMBIGUOUS_REF for a name that is both a timeline and a tag', async () => {
    const { store } = await tempStore()
    const { a, m } = await history(store)
    await store.tags.create('main', a.id)
    const err = await failure(store.resolve('main'))
    expect(err.code).toBe('AMBIGUOUS_REF')
    expect(err.details.candidates).toEqual(['timelines/main', 'tags/main'])
    expect(await store.resolve('timelines/main')).toBe(m.id)
    expect(await store.resolve('tags/main')).toBe(a.id)
  })

  it('reports AMBIGUOUS_REF with every candidate for a short id shared by two checkpoints', async () => {
    const store = await initStoreOn(createMemoryBackend(), { clock: steppingClock(), author: 'test' })
    const byPrefix = new Map<string, string>()
    let pair: [string, string] | undefined
    for (let i = 0; i < 3000 && !pair; i++) {
      const { id } = await store.commit({ stage: 'tick', output: i })
      const prefix = digestHex(id).slice(0, 4)
      const other = byPrefix.get(prefix)
      if (other) pair = [other, id]
      byPrefix.set(prefix, id)
    }
    expect(pair).toBeDefined()
    const [first, second] = pair as [string, string]
    const err = await failure(store.resolve(digestHex(first).slice(0, 4)))
    expect(err.code).toBe('AMBIGUOUS_REF')
    expect([...(err.details.candidates as string[])].sort()).toEqual([first, second].sort())
    // One more digit than they share tells them apart.
    let shared = 4
    while (digestHex(first)[shared] === digestHex(second)[shared]) shared++
    expect(await store.resolve(digestHex(first).slice(0, shared + 1))).toBe(first)
  })

  it('resolves HEAD on a timeline without checkpoints to NOT_FOUND with a reason', async () => {
    const { store } = await tempStore()
    const err = await failure(store.resolve('HEAD'))
    expect(err.code).toBe('NOT_FOUND')
    expect(err.message).toContain('main')
  })
})
