import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SCRIPT = path.join(root, '.ci/postgres.sh')

interface Server {
  /** `postgres://ckpt:password@127.0.0.1:port/ckpt`, without a schema. */
  readonly url: string
}

let shared: Server | undefined
/** Clusters this test file started; stopped after its tests. */
const started: string[] = []

// Registered when a test file imports this module, so it runs after that file's tests.
afterAll(() => {
  for (const dir of started.splice(0)) execFileSync(SCRIPT, ['stop', dir])
})

/**
 * The PostgreSQL server the tests use: CKPT_TEST_POSTGRES_URL (set by .ci/run), or else a
 * throwaway cluster this test file starts with .ci/postgres.sh and stops after its tests. Never
 * skipped: when neither works, the tests that need it fail.
 */
export function postgresServer(): Server {
  const given = process.env.CKPT_TEST_POSTGRES_URL
  shared ??= given ? { url: given } : privatePostgresServer()
  return shared
}

/**
 * A cluster of this test file's own, stopped after its tests: for tests that restart the server,
 * which would disturb other files sharing one.
 */
export function privatePostgresServer(): { url: string; dir: string } {
  const output = execFileSync(SCRIPT, ['start'], { encoding: 'utf8' })
  const value = (name: string) => output.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1]
  const url = value('CKPT_TEST_POSTGRES_URL')
  const dir = value('CKPT_TEST_POSTGRES_DIR')
  if (!url || !dir) throw new Error(`.ci/postgres.sh start printed no URL:\n${output}`)
  started.push(dir)
  return { url, dir }
}

/** Restarts the server in `dir` at once, as a crash would (`pg_ctl restart -m immediate`). */
export function restartImmediately(dir: string): void {
  execFileSync(SCRIPT, ['restart', dir])
}

/** Stops the server in `dir` as a crash would, until {@link restartImmediately}. */
export function haltServer(dir: string): void {
  execFileSync(SCRIPT, ['halt', dir])
}

/** Runs SQL as the test role on the shared server, outside ckpt. */
export async function sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: postgresServer().url })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

/** A URL naming a schema no other test uses, so test files can run in parallel on one server. */
export function freshSchemaUrl(server: Server = postgresServer()): string {
  return withSchema(server.url, `t_${randomBytes(6).toString('hex')}`)
}

export function withSchema(url: string, schema: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('schema', schema)
  return parsed.href
}

/** A loopback port nothing listens on (it was free a moment ago): for an unreachable server. */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}
