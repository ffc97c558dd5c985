import { describe, expect, it } from 'vitest'
import { openPostgresBackend } from '../src/index.js'
import { backendConformance } from './support/backend-conformance.js'
import { freshSchemaUrl } from './support/postgres.js'

await backendConformance('postgres (a real PostgreSQL server, a fresh schema per test)', () => openPostgresBackend(freshSchemaUrl(), { create: true }))

describe('the PostgreSQL backend', () => {
  it('overwrites a rewritten key whose value differs, as LevelDB does, and keeps an equal one', async () => {
    const backend = await openPostgresBackend(freshSchemaUrl(), { create: true })
    try {
      const key = Uint8Array.of(2, 0x2f)
      await backend.objects.putMany([{ key, value: Uint8Array.of(1) }])
      await backend.objects.putMany([{ key, value: Uint8Array.of(2, 2) }])
      expect([...((await backend.objects.get(key)) ?? [])]).toEqual([2, 2])
      await backend.objects.putMany([{ key, value: Uint8Array.of(2, 2) }])
      expect(await backend.objects.sizes([key])).toEqual([2])
    } finally {
      await backend.close()
    }
  })
})
