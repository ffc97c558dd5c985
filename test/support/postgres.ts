import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const SCRIPT = path.join(root, '.ci/postgres.sh')

interface Server {
  /** `postgres://ckpt:password@127.0.0.1:port/ckpt`, without a schema. */
  readonly url: string
  /** The cluster's folder when this file started it (then `restart` works), else undefined. */
  readonly dir?: string
}

let server: Server | undefined
let started: string | undefined

// Registered when a test file imports this module, so it runs after that file's tests.
afterAll(() => {
  if (started) execFileSync(SCRIPT, ['stop', started])
})

/**
 * The PostgreSQL server the tests use: CKPT_TEST_POSTGRES_URL (set by .ci/run), or else a
 * throwaway cluster this test file starts with .ci/postgres.sh and stops after its tests. Never
 * skipped: when neither works, the tests that need it fail.
 */
export function postgresServer(): Server {
  if (server) return server
  const given = process.env.CKPT_TEST_POSTGRES_URL
  if (given) {
    server = { url: given, dir: process.env.CKPT_TEST_POSTGRES_DIR }
    return server
  }
  const output = execFileSync(SCRIPT, ['start'], { encoding: 'utf8' })
  const value = (name: string) => output.match(new RegExp(`^${name}=(.*)$`, 'm'))?.[1]
  const url = value('CKPT_TEST_POSTGRES_URL')
  const dir = value('CKPT_TEST_POSTGRES_DIR')
  if (!url || !dir) throw new Error(`.ci/postgres.sh start printed no URL:\n${output}`)
  server = { url, dir }
  started = dir
  return server
}

/** A URL naming a schema no other test uses, so test files can run in parallel on one server. */
export function freshSchemaUrl(): string {
  return withSchema(postgresServer().url, `t_${randomBytes(6).toString('hex')}`)
}

export function withSchema(url: string, schema: string): string {
  const parsed = new URL(url)
  parsed.searchParams.set('schema', schema)
  return parsed.href
}

/** Restarts the server at once, as a crash would (`pg_ctl restart -m immediate`). */
export function restartServerImmediately(): void {
  const { dir } = postgresServer()
  if (!dir) throw new Error('restarting needs CKPT_TEST_POSTGRES_DIR, the folder of the cluster .ci/postgres.sh started')
  execFileSync(SCRIPT, ['restart', dir])
}
