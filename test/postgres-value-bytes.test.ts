import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { initStore, openPostgresBackend, openStore } from '../src/index.js'
import { freshSchemaUrl, postgresServer, sql } from './support/postgres.js'

// How a PostgreSQL store keeps object bytes (docs/format.md, "PostgreSQL"): small values compressed
// when that saves space, every value read back byte for byte, and stores of version 2 still read.
const schemaOf = (url: string) => new URL(url).searchParams.get('schema') as string
const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'postgres-schema-v2.sql')

/** What a checkpoint node holds: names and content ids, which pglz leaves as they are. */
const nodeLike = (i: number) => JSON.stringify({ parents: [`bafy${i}${randomBytes(30).toString('base64url')}`], stages: Object.fromEntries(Array.from({ length: 20 }, (_, s) => [`stage${s}`, { cid: `baguqehra${randomBytes(31).toString('hex').slice(0, 50)}` }])) })

const reflogIndexes = async (schema: string) =>
  (await sql(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'reflog' ORDER BY 1`, [schema])).rows.map((r: { indexname: string }) => r.indexname)

describe('object bytes in a PostgreSQL store', () => {
  it('reads every value back byte for byte, compressible or not, small or large, and reports its size as written', async () => {
    const backend = await openPostgresBackend(freshSchemaUrl(), { create: true })
    try {
      const values = [new Uint8Array(0), Uint8Array.of(7), new TextEncoder().encode(nodeLike(1)), new TextEncoder().encode('{"a":1}'.repeat(5000)), randomBytes(3000), randomBytes(300 * 1024), new Uint8Array(200 * 1024)]
      const entries = values.map((value, i) => ({ key: Uint8Array.of(0x70, i), value: new Uint8Array(value) }))
      await backend.objects.putMany(entries.slice(0, 4))
      await backend.refs.updateRefs([{ name: 'timelines/main', expected: null, value: 'v', log: { time: 1, reason: 'test' } }], entries.slice(4))
      for (const { key, value } of entries) expect(Buffer.from((await backend.objects.get(key)) as Uint8Array).equals(Buffer.from(value))).toBe(true)
      expect(await backend.objects.sizes(entries.map((e) => e.key))).toEqual(values.map((v) => v.length))
    } finally {
      await backend.close()
    }
  })

  it('stores checkpoint-sized JSON in at most 60% of its bytes, where pglz leaves content ids as they are', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url, { author: 'test' })
    try {
      for (let i = 0; i < 20; i++) await store.commit({ stage: `stage${i % 5}`, output: JSON.parse(nodeLike(i)) as unknown })
    } finally {
      await store.close()
    }
    const { rows } = await sql(`SELECT sum(pg_column_size(value))::bigint AS stored, sum(coalesce(raw_size, octet_length(value)))::bigint AS raw FROM "${schemaOf(url)}".objects`).catch(
      () => sql(`SELECT sum(pg_column_size(value))::bigint AS stored, sum(octet_length(value))::bigint AS raw FROM "${schemaOf(url)}".objects`),
    )
    const { stored, raw } = rows[0] as { stored: string; raw: string }
    expect(Number(stored) / Number(raw)).toBeLessThanOrEqual(0.6)
  })
})

describe('a compressed object changed on the server', () => {
  it('is reported corrupt by fsck, like a damaged object stored as given, not a crash', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url, { author: 'test' })
    await store.commit({ stage: 'detect', output: JSON.parse(nodeLike(1)) as unknown })
    await store.commit({ stage: 'detect', output: JSON.parse(nodeLike(2)) as unknown })
    await store.close()
    const node = await sql(`SELECT key FROM "${schemaOf(url)}".objects WHERE raw_size IS NOT NULL ORDER BY written_at DESC, key LIMIT 1`)
    expect(node.rowCount).toBe(1)
    // Every byte of the deflated node flipped: no longer a deflate stream of raw_size bytes.
    await sql(`UPDATE "${schemaOf(url)}".objects SET value = decode(translate(encode(value, 'hex'), '0123456789abcdef', 'fedcba9876543210'), 'hex') WHERE key = $1`, [(node.rows[0] as { key: Buffer }).key])
    const reopened = await openStore(url)
    try {
      const report = await reopened.fsck()
      expect(report.ok).toBe(false)
      expect(report.problems.map((p) => p.kind)).toContain('corrupt')
    } finally {
      await reopened.close()
    }
  })
})

describe('a PostgreSQL store of schema version 2', () => {
  it('reads its checkpoints, takes new commits and becomes version 3 when opened', async () => {
    const url = freshSchemaUrl()
    const schema = schemaOf(url)
    const dump = readFileSync(fixture, 'utf8').replaceAll('ckpt_v2_fixture', schema)
    execFileSync('psql', [postgresServer().url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { input: dump, stdio: ['pipe', 'ignore', 'pipe'] })
    const store = await openStore(url)
    try {
      const labels = Array.from({ length: 40 }, (_, i) => `label-${i}`)
      expect(await store.getOutput('baguqehralxokbdvruvmx4uuuj4zm3635coswjcxmrsncapuidvmrzjo6qoba:detect')).toEqual({ step: 1, labels })
      expect(await store.getOutput('baguqehraqhyuef6xsadtmyp52bsv5bkpl4rjsnpd4vcqbgmdmcmk6brbwcaq:caption')).toEqual({ text: 'a dog on a bus' })
      const next = await store.commit({ stage: 'caption', output: { text: 'a cat', labels } })
      expect(next.parents).toEqual(['baguqehraqhyuef6xsadtmyp52bsv5bkpl4rjsnpd4vcqbgmdmcmk6brbwcaq'])
      expect(await store.getOutput(`${next.id}:caption`)).toEqual({ text: 'a cat', labels })
      expect(await store.getOutput(`${next.id}:detect`)).toEqual({ step: 1, labels })
    } finally {
      await store.close()
    }
    expect((await sql(`SELECT value FROM "${schema}".ckpt_meta WHERE key = 'schema_version'`)).rows).toEqual([{ value: '3' }])
    expect(await reflogIndexes(schema)).toEqual(['reflog_name'])
    const store2 = await openStore(url)
    try {
      expect((await store2.reflog('main')).map((e) => e.reason)).toEqual(['commit: caption', 'commit: caption', 'commit (initial): detect'])
    } finally {
      await store2.close()
    }
  })
})

describe('the reflog of a PostgreSQL store', () => {
  it('keeps one index, by name, which every reflog query uses (docs/postgres-explain.md)', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url, { author: 'test' })
    await store.commit({ stage: 'a', output: 1 })
    await store.close()
    expect(await reflogIndexes(schemaOf(url))).toEqual(['reflog_name'])
  })
})
