import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { collect, tempDir, tempStore } from './support/temp.js'

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5)

describe('history cuts', () => {
  it('gc keeps every checkpoint log shows once a full-history CAR import fills in a git-imported cut', async () => {
    const { store: source } = await tempStore()
    for (let i = 0; i < 5; i++) await source.commit({ stage: 's', output: { i }, time: T0 + i * 1000 })
    const full = Buffer.concat(await collect(source.exportCar('main')))
    await source.retention.set('main', { keepLast: 2 })
    await source.gc({ prune: 'now' })
    const mirror = path.join(tempDir(), 'mirror')
    await source.exportGit(mirror)

    const { store: target } = await tempStore()
    await target.importGit(mirror, 'main')
    expect((await collect(target.log('main'))).at(-1)?.historyCut).toBe(true)
    await target.importCar((async function* () {
      yield full
    })())
    const shown = await collect(target.log('main'))
    expect(shown).toHaveLength(5)
    expect(shown.some((c) => c.historyCut === true)).toBe(false)

    await target.gc({ prune: 'now' })
    const after = await collect(target.log('main'))
    expect(after.map((c) => c.id)).toEqual(shown.map((c) => c.id))
    for (const checkpoint of after) await expect(target.getOutput(checkpoint.id)).resolves.toBeDefined()
    expect((await target.fsck()).problems).toEqual([])
  })

  it('a retention cut still lets gc drop the history it cut', async () => {
    const { store } = await tempStore()
    for (let i = 0; i < 5; i++) await store.commit({ stage: 's', output: { i }, time: T0 + i * 1000 })
    const ids = (await collect(store.log('main'))).map((c) => c.id)
    await store.retention.set('main', { keepLast: 2 })
    await store.gc({ prune: 'now' })
    expect((await collect(store.log('main'))).map((c) => c.id)).toEqual(ids.slice(0, 2))
    expect((await store.fsck()).problems).toEqual([])
  })
})
