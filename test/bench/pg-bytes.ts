/**
 * The 20-stage bytes comparison alone, table by table: ckpt's schema beside PostgresSaver's,
 * same values, same server (docs/performance.md, "PostgreSQL"). Usage:
 *   CKPT_TEST_POSTGRES_URL=... node dist/test/bench/pg-bytes.js [steps=2000]
 */
import pg from 'pg'
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres'
import { uuid6, type BaseCheckpointSaver, type Checkpoint } from '@langchain/langgraph-checkpoint'
import { initStore } from '../../src/index.js'
import { initialStages, stageHistory } from './baselines.js'

const url = process.env.CKPT_TEST_POSTGRES_URL ?? process.env.CKPT_BENCH_POSTGRES_URL
if (!url) throw new Error('set CKPT_TEST_POSTGRES_URL')
const steps = Number(process.argv[2] ?? 2000)
const run = Date.now().toString(36)
const ckptSchema = `bytes_ckpt_${run}`
const saverSchema = `bytes_saver_${run}`

async function ckptWorkload(): Promise<void> {
  const u = new URL(url as string)
  u.searchParams.set('schema', ckptSchema)
  const store = await initStore(u.href, { author: 'bench' })
  await store.commit({ outputs: Object.fromEntries(initialStages().map((s) => [s.stage, JSON.parse(s.json) as unknown])) })
  for (const c of stageHistory(steps)) await store.commit({ stage: c.stage, output: JSON.parse(c.json) as unknown })
  await store.close()
}

async function saverWorkload(): Promise<void> {
  const saver: BaseCheckpointSaver & { setup(): Promise<void>; end(): Promise<void> } = PostgresSaver.fromConnString(url as string, { schema: saverSchema })
  await saver.setup()
  const values: Record<string, unknown> = {}
  const versions: Record<string, number> = {}
  for (const s of initialStages()) {
    values[s.stage] = JSON.parse(s.json) as unknown
    versions[s.stage] = 1
  }
  let config = { configurable: { thread_id: 'bench', checkpoint_ns: '' } } as Parameters<BaseCheckpointSaver['put']>[0]
  const put = async (step: number, changed: string[]) => {
    const checkpoint: Checkpoint = { v: 4, id: uuid6(step), ts: new Date().toISOString(), channel_values: { ...values }, channel_versions: { ...versions }, versions_seen: {} }
    config = await saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, Object.fromEntries(changed.map((c) => [c, versions[c] as number])))
  }
  await put(0, Object.keys(values))
  for (const [i, c] of stageHistory(steps).entries()) {
    values[c.stage] = JSON.parse(c.json) as unknown
    versions[c.stage] = (versions[c.stage] ?? 0) + 1
    await put(i + 1, [c.stage])
  }
  await saver.end()
}

const KiB = (n: number | string) => (Number(n) / 1024).toFixed(0).padStart(7)

async function breakdown(client: pg.Client, schema: string): Promise<number> {
  await client.query('CHECKPOINT').catch(() => undefined)
  const { rows } = await client.query<Record<string, string>>(
    `SELECT c.relname AS name, c.reltuples::bigint AS rows, pg_relation_size(c.oid) AS heap,
       coalesce(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0) AS toast, pg_indexes_size(c.oid) AS indexes,
       pg_total_relation_size(c.oid) AS total, coalesce(s.n_live_tup, 0) AS live, coalesce(s.n_dead_tup, 0) AS dead,
       (SELECT coalesce(string_agg(i.relname || '=' || pg_relation_size(i.oid) / 1024 || 'K', ' '), '') FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS each_index
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
     WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY c.relname`, [schema])
  console.log(`\n${schema}\n${'table'.padEnd(22)}   heap  toast  index  total KiB  live  dead  indexes`)
  let sum = 0
  for (const r of rows) {
    sum += Number(r.total)
    console.log(`${(r.name ?? '').padEnd(22)}${KiB(r.heap ?? 0)}${KiB(r.toast ?? 0)}${KiB(r.indexes ?? 0)}${KiB(r.total ?? 0)}  ${r.live} ${r.dead}  ${r.each_index}`)
  }
  console.log(`total ${(sum / 1048576).toFixed(2)} MiB`)
  return sum
}

const client = new pg.Client({ connectionString: url })
await client.connect()
try {
  await ckptWorkload()
  await saverWorkload()
  await new Promise((r) => setTimeout(r, 1000))
  const ckpt = await breakdown(client, ckptSchema)
  const saver = await breakdown(client, saverSchema)
  if (process.env.CKPT_BYTES_DETAIL) {
    const t = `"${ckptSchema}"`
    const q = async (sql: string) => console.log(sql, (await client.query(sql)).rows)
    await q(`SELECT count(*), avg(octet_length(value))::int AS avg_len, avg(pg_column_size(value))::int AS avg_stored, sum(pg_column_size(value)) AS stored, sum(octet_length(value)) AS raw, avg(octet_length(key))::int AS keylen FROM ${t}.objects`)
    await q(`SELECT get_byte(value, 0) AS first, count(*), avg(octet_length(value))::int AS avg_len, avg(pg_column_size(value))::int AS stored FROM ${t}.objects GROUP BY 1 ORDER BY 2 DESC LIMIT 5`)
    await q(`SELECT avg(pg_column_size(r.*))::int AS row_bytes, avg(octet_length(name))::int n, avg(octet_length(old))::int o, avg(octet_length(reason))::int AS reason FROM ${t}.reflog r`)
    await q(`SELECT * FROM ${t}.reflog ORDER BY id DESC LIMIT 2`)
    await q(`SELECT count(*) FROM ${t}.touches`)
  }
  if (!process.env.CKPT_BYTES_KEEP) for (const s of [ckptSchema, saverSchema]) await client.query(`DROP SCHEMA "${s}" CASCADE`)
  console.log(`\nckpt ${(ckpt / 1048576).toFixed(2)} MiB, PostgresSaver ${(saver / 1048576).toFixed(2)} MiB: ${(ckpt / saver).toFixed(2)}x`)
} finally {
  await client.end()
}
