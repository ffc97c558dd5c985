import { describe, expect, it } from 'vitest'
import { initStore, openPostgresBackend, openStore, type Store } from '../../src/index.js'
import { failure } from '../support/errors.js'
import { cutProxy, type Cut } from '../support/pg-cut-proxy.js'
import { freshSchemaUrl } from '../support/postgres.js'
import { collect, onCleanup } from '../support/temp.js'

async function objectCount(url: string): Promise<number> {
  const backend = await openPostgresBackend(url)
  try {
    return (await collect(backend.objects.keys())).length
  } finally {
    await backend.close()
  }
}

/** The checkpoints of `timeline` whose message is `message`. */
async function withMessage(store: Store, timeline: string, message: string): Promise<string[]> {
  return (await collect(store.log(timeline))).filter((c) => c.message === message).map((c) => c.id)
}

describe('the cut at COMMIT: a connection lost around a ref-moving transaction', () => {
  async function storeBehindProxy(reconnectWindowMs = 10_000) {
    const url = freshSchemaUrl()
    await (await initStore(url)).close()
    const proxy = await cutProxy(url)
    const store = await openStore(proxy.url, { postgres: { reconnectWindowMs } })
    onCleanup(() => store.close())
    await store.commit({ timeline: 'main', stage: 'seed', output: { seed: true } })
    return { url, proxy, store }
  }

  const cases: Array<[string, Cut]> = [
    ['committed, and the client cut off as the server answered', { kind: 'after-reply' }],
    ['cut off before the server had its COMMIT, which reaches it a moment later (the retry racing the late commit)', { kind: 'late', delayMs: 1500 }],
  ]
  for (const [what, cut] of cases) {
    it(`applies a commit ${what} exactly once and acknowledges it`, async () => {
      const { proxy, store } = await storeBehindProxy()
      const message = `cut ${cut.kind}`
      const applied = proxy.arm(cut)
      const checkpoint = await store.commit({ timeline: 'main', stage: 'work', output: { n: 1 }, message, retry: 5 })
      await applied
      expect(await withMessage(store, 'main', message)).toEqual([checkpoint.id])
      expect(await store.timelines.get('main')).toBe(checkpoint.id)
      expect((await store.fsck()).problems).toEqual([])
    }, 60_000)
  }

  it('fails a commit whose transaction did not commit with a retryable STORE_UNAVAILABLE, leaving nothing; run again, it applies once', async () => {
    const { url, proxy, store } = await storeBehindProxy(1000)
    const head = await store.timelines.get('main')
    const objects = await objectCount(url)
    const reflog = (await store.reflog('main')).length
    const applied = proxy.arm({ kind: 'drop' })
    const committing = store.commit({ timeline: 'main', stage: 'work', output: { n: 2 }, message: 'dropped', retry: 5 })
    await applied
    proxy.refuse = true
    const err = await failure(committing)
    proxy.refuse = false
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.details).toMatchObject({ retryable: true })
    expect(await store.timelines.get('main')).toBe(head)
    expect((await store.reflog('main')).length).toBe(reflog)
    expect(await objectCount(url)).toBe(objects)
    const again = await store.commit({ timeline: 'main', stage: 'work', output: { n: 2 }, message: 'dropped', retry: 5 })
    expect(await withMessage(store, 'main', 'dropped')).toEqual([again.id])
  }, 60_000)
})
