/**
 * The PostgreSQL rows of `npm run bench` (issue 19): ckpt on a PostgreSQL store beside LangGraph's
 * PostgresSaver and beside `COPY`, on the same server in the same run. The server is a throwaway
 * cluster from .ci/postgres.sh (fsync off, as the tests run it), or CKPT_BENCH_POSTGRES_URL.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { createReadStream, openSync, readSync, closeSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres'
import { uuid6, type BaseCheckpointSaver, type Checkpoint } from '@langchain/langgraph-checkpoint'
import { initStore } from '../../src/index.js'
import { CkptSaver } from '../../src/langgraph/index.js'
import { initialStages, stageHistory } from './baselines.js'
import { putSteps } from './langgraph.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '../../..')
const SCRIPT = path.join(root, '.ci/postgres.sh')
const WRITER = path.join(here, 'pg-writer-child.js')
const run = promisify(execFile)

export interface PostgresServer {
  readonly url: string
  readonly version: string
  readonly settings: string
  readonly stop: () => void
}

/** CKPT_BENCH_POSTGRES_URL, or a throwaway cluster stopped by `stop`. */
export async function benchServer(): Promise<PostgresServer> {
  const given = process.env.CKPT_BENCH_POSTGRES_URL
  let url = given
  let stop = () => undefined as void
  if (!url) {
    const output = execFileSync(SCRIPT, ['start'], { encoding: 'utf8' })
    const value = (name: string) => output.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1]
    const dir = value('CKPT_TEST_POSTGRES_DIR')
    url = value('CKPT_TEST_POSTGRES_URL')
    if (!url || !dir) throw new Error(`.ci/postgres.sh start printed no URL:\n${output}`)
    stop = () => void execFileSync(SCRIPT, ['stop', dir])
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const setting = async (name: string) => (await client.query<{ v: string }>(`SELECT current_setting('${name}') AS v`)).rows[0]?.v
    const version = (await setting('server_version')) ?? '?'
    const settings = `fsync=${await setting('fsync')}, synchronous_commit=${await setting('synchronous_commit')}, full_page_writes=${await setting('full_page_writes')}, shared_buffers=${await setting('shared_buffers')}`
    return { url, version, settings, stop }
  } finally {
    await client.end()
  }
}

/** This run's schemas: their names end in the run's id, so that runs on one given server never meet. */
const RUN = Date.now().toString(36)
const schemasMade = new Set<string>()
const schemaOf = (name: string) => {
  const schema = `${name}_${RUN}`
  schemasMade.add(schema)
  return schema
}
const withSchema = (url: string, name: string) => {
  const parsed = new URL(url)
  parsed.searchParams.set('schema', schemaOf(name))
  return parsed.href
}

/** Drops the schemas this run made (on a given server; a throwaway cluster goes whole). */
export async function dropBenchSchemas(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    for (const schema of schemasMade) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

/** pg_total_relation_size of every table in `schema` (indexes and TOAST included). */
async function schemaBytes(url: string, schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('CHECKPOINT').catch(() => undefined)
    const { rows } = await client.query<{ bytes: string | null }>(
      `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [schema],
    )
    return Number(rows[0]?.bytes ?? 0)
  } finally {
    await client.end()
  }
}

export interface SaverRun {
  readonly putsPerSecond: number
  readonly getTupleMs: number
  readonly listAllPerSecond: number
}

/** Puts, 500 getTuple by id and one list of everything, on one thread. */
async function saverRun(saver: BaseCheckpointSaver, steps: number): Promise<SaverRun> {
  const { ids, seconds } = await putSteps(saver, 'bench', steps)
  const sample = Array.from({ length: 500 }, (_, i) => ids[(i * 7919) % ids.length] as string)
  let start = performance.now()
  for (const id of sample) await saver.getTuple({ configurable: { thread_id: 'bench', checkpoint_ns: '', checkpoint_id: id } })
  const getTupleMs = (performance.now() - start) / sample.length
  start = performance.now()
  let listed = 0
  for await (const _ of saver.list({ configurable: { thread_id: 'bench' } })) listed++
  if (listed !== steps) throw new Error(`listed ${listed} of ${steps}`)
  return { putsPerSecond: steps / seconds, getTupleMs, listAllPerSecond: steps / ((performance.now() - start) / 1000) }
}

export interface PostgresFigures {
  readonly stages: { steps: number; commitsPerSecond: number; ckptBytes: number; saverPutsPerSecond: number; saverBytes: number }
  readonly saver: { steps: number; ckpt: SaverRun; postgresSaver: SaverRun }
  readonly writers: { writers: number; commits: number; onePerSecond: number; allPerSecond: number }
  readonly large: { bytes: number; ckptSeconds: number; copySeconds: number }
}

/**
 * The 20-stage workload through a LangGraph saver: one channel per stage holding the same JSON
 * values ckpt commits, the first put with all 20, then one changed channel per put.
 */
async function putStages(saver: BaseCheckpointSaver, steps: number): Promise<number> {
  const values: Record<string, unknown> = {}
  const versions: Record<string, number> = {}
  for (const s of initialStages()) {
    values[s.stage] = JSON.parse(s.json) as unknown
    versions[s.stage] = 1
  }
  const changes = stageHistory(steps).map((c) => ({ stage: c.stage, output: JSON.parse(c.json) as unknown }))
  let config = { configurable: { thread_id: 'bench', checkpoint_ns: '' } } as Parameters<BaseCheckpointSaver['put']>[0]
  const put = async (step: number, changed: string[]) => {
    const checkpoint: Checkpoint = { v: 4, id: uuid6(step), ts: new Date().toISOString(), channel_values: { ...values }, channel_versions: { ...versions }, versions_seen: {} }
    config = await saver.put(config, checkpoint, { source: 'loop', step, parents: {} }, Object.fromEntries(changed.map((c) => [c, versions[c] as number])))
  }
  await put(0, Object.keys(values))
  const start = performance.now()
  for (const [i, change] of changes.entries()) {
    values[change.stage] = change.output
    versions[change.stage] = (versions[change.stage] ?? 0) + 1
    await put(i + 1, [change.stage])
  }
  return steps / ((performance.now() - start) / 1000)
}

/** The 20-stage workload as commits, and PostgresSaver's puts of the same values. */
async function stageWorkload(url: string, steps: number): Promise<PostgresFigures['stages']> {
  const store = await initStore(withSchema(url, 'bench_stages'), { author: 'bench' })
  await store.commit({ outputs: Object.fromEntries(initialStages().map((s) => [s.stage, JSON.parse(s.json) as unknown])) })
  const changes = stageHistory(steps).map((c) => ({ stage: c.stage, output: JSON.parse(c.json) as unknown }))
  const start = performance.now()
  for (const change of changes) await store.commit(change)
  const commitsPerSecond = steps / ((performance.now() - start) / 1000)
  await store.close()
  const saver = PostgresSaver.fromConnString(url, { schema: schemaOf('bench_saver_stages') })
  await saver.setup()
  const saverPutsPerSecond = await putStages(saver, steps)
  await saver.end()
  return { steps, commitsPerSecond, ckptBytes: await schemaBytes(url, schemaOf('bench_stages')), saverPutsPerSecond, saverBytes: await schemaBytes(url, schemaOf('bench_saver_stages')) }
}

async function saverWorkload(url: string, steps: number): Promise<PostgresFigures['saver']> {
  const store = await initStore(withSchema(url, 'bench_lg'), { author: 'bench' })
  const ckpt = await saverRun(new CkptSaver(store), steps)
  await store.close()
  const saver = PostgresSaver.fromConnString(url, { schema: schemaOf('bench_saver_lg') })
  await saver.setup()
  const postgresSaver = await saverRun(saver, steps)
  await saver.end()
  return { steps, ckpt, postgresSaver }
}

/** `writers` processes sharing only the URL, each committing `commits` onto its own timeline at once. */
async function writerProcesses(url: string, writers: number, commits: number): Promise<number> {
  const startAt = Date.now() + 1500
  const runs = await Promise.all(
    Array.from({ length: writers }, (_, i) => run(process.execPath, [WRITER, url, `writer-${writers}-${i}`, String(commits), String(startAt)], { maxBuffer: 1 << 20 })),
  )
  const times = runs.map((r) => JSON.parse(r.stdout) as { start: number; end: number })
  const seconds = (Math.max(...times.map((t) => t.end)) - Math.min(...times.map((t) => t.start))) / 1000
  return (writers * commits) / seconds
}

async function writerWorkload(url: string, writers: number, commits: number): Promise<PostgresFigures['writers']> {
  const storeUrl = withSchema(url, 'bench_writers')
  const store = await initStore(storeUrl, { author: 'bench' })
  await store.close()
  const onePerSecond = await writerProcesses(storeUrl, 1, commits)
  const allPerSecond = await writerProcesses(storeUrl, writers, commits)
  return { writers, commits, onePerSecond, allPerSecond }
}

/**
 * Fails at once, before the other rows' minutes, when the PostgreSQL rows could not run: no
 * PostgreSQL installed (`.ci/postgres.sh install`; psql is needed even with CKPT_BENCH_POSTGRES_URL).
 */
export function checkPostgresAvailable(): void {
  postgresBin()
}

/** The directory of PostgreSQL's programs, as .ci/postgres.sh finds them. */
function postgresBin(): string {
  try {
    return execFileSync('bash', ['-c', `source '${SCRIPT}'; ckpt_pg_bin`], { encoding: 'utf8' }).trim()
  } catch {
    throw new Error('the PostgreSQL rows need PostgreSQL\'s programs (the server, and psql for the COPY baseline): run .ci/postgres.sh install')
  }
}

const COPY_ROW = 256 * 1024

/** The file's bytes into a bytea table by `COPY … FROM STDIN (FORMAT binary)` through psql, rows of 256 KiB. */
async function copyFile(url: string, file: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const table = `"${schemaOf('bench_copy')}".copied`
  await client.query(`CREATE SCHEMA IF NOT EXISTS "${schemaOf('bench_copy')}"`)
  await client.query(`CREATE TABLE ${table} (v bytea NOT NULL)`)
  await client.end()
  const start = performance.now()
  const psql = spawn(path.join(postgresBin(), 'psql'), [url, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `COPY ${table} (v) FROM STDIN (FORMAT binary)`], { stdio: ['pipe', 'ignore', 'inherit'] })
  const done = new Promise<void>((resolve, reject) => psql.on('error', reject).on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`psql COPY exited ${code}`)))))
  const write = (bytes: Uint8Array) => (psql.stdin.write(bytes) ? Promise.resolve() : new Promise<void>((resolve) => psql.stdin.once('drain', () => resolve())))
  await write(Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]))
  const fd = openSync(file, 'r')
  try {
    for (;;) {
      const row = Buffer.allocUnsafe(6 + COPY_ROW)
      const n = readSync(fd, row, 6, COPY_ROW, null)
      if (n === 0) break
      row.writeInt16BE(1, 0)
      row.writeInt32BE(n, 2)
      await write(row.subarray(0, 6 + n))
    }
  } finally {
    closeSync(fd)
  }
  psql.stdin.end(Buffer.from([0xff, 0xff]))
  await done
  return (performance.now() - start) / 1000
}

async function largeOutput(url: string, file: string, bytes: number): Promise<PostgresFigures['large']> {
  const store = await initStore(withSchema(url, 'bench_large'), { author: 'bench' })
  const start = performance.now()
  await store.commit({ stage: 'large', output: createReadStream(file, { highWaterMark: 1024 * 1024 }) })
  const ckptSeconds = (performance.now() - start) / 1000
  await store.close()
  return { bytes, ckptSeconds, copySeconds: await copyFile(url, file) }
}

export interface PostgresBenchSizes {
  readonly steps: number
  readonly saverSteps: number
  readonly writers: number
  readonly writerCommits: number
  readonly largeBytes: number
  /** A file of `largeBytes` random bytes, made by the caller. */
  readonly largeFile: string
}

export async function postgresBench(server: PostgresServer, sizes: PostgresBenchSizes): Promise<PostgresFigures> {
  try {
    const stages = await stageWorkload(server.url, sizes.steps)
    const saver = await saverWorkload(server.url, sizes.saverSteps)
    const writers = await writerWorkload(server.url, sizes.writers, sizes.writerCommits)
    const large = await largeOutput(server.url, sizes.largeFile, sizes.largeBytes)
    return { stages, saver, writers, large }
  } finally {
    await dropBenchSchemas(server.url)
  }
}
