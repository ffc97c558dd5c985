import { existsSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { cloneStore, initStore, openStore, type StoreOptions } from '../src/index.js'
import { EXIT_CODES } from '../cli/exit-codes.js'
import { ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { closedPort, freshSchemaUrl, postgresServer } from './support/postgres.js'
import { collect, onCleanup, tempDir } from './support/temp.js'

/*
 * A store on PostgreSQL chosen by its URL: `openStore('postgres://…')`, `ckpt --store URL`,
 * `CKPT_DIR=URL`, with the password of the URL never printed nor recorded.
 */

const passwordOf = (url: string) => decodeURIComponent(new URL(url).password)
const withoutPassword = (url: string) => {
  const u = new URL(url)
  u.password = ''
  return u.href
}
/** The text holds no `user:password@` of the test server's URL. */
const noPassword = (text: string, url: string) => expect(text).not.toContain(`:${passwordOf(url)}@`)

async function tablesIn(schema: string): Promise<number> {
  const client = new pg.Client({ connectionString: postgresServer().url })
  await client.connect()
  try {
    const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [schema])
    return (rows[0] as { n: number }).n
  } finally {
    await client.end()
  }
}

/** Runs `use` with PGPASSWORD set to the test server's password, as a user whose URLs hold none. */
async function withPgPassword<T>(use: () => Promise<T>): Promise<T> {
  const before = process.env.PGPASSWORD
  process.env.PGPASSWORD = passwordOf(postgresServer().url)
  try {
    return await use()
  } finally {
    if (before === undefined) delete process.env.PGPASSWORD
    else process.env.PGPASSWORD = before
  }
}

describe('openStore and initStore on a postgres URL', () => {
  it('creates a store with initStore(postgres://…) and opens it with openStore(postgresql://…)', async () => {
    const url = freshSchemaUrl()
    const created = await initStore(url)
    const first = await created.commit({ stage: 'load', output: { rows: 1 } })
    await created.close()
    const opened = await openStore(url.replace(/^postgres:/, 'postgresql:'))
    onCleanup(() => opened.close())
    expect((await collect(opened.log('main'))).map((c) => c.id)).toEqual([first.id])
    expect((await failure(initStore(url))).code).toBe('STORE_EXISTS')
  })

  it('refuses openStore on a schema that holds no store, creating nothing', async () => {
    const url = freshSchemaUrl()
    expect((await failure(openStore(url))).code).toBe('NOT_A_STORE')
    expect(await tablesIn(new URL(url).searchParams.get('schema') as string)).toBe(0)
  })

  it('takes { postgres: { poolSize } } and refuses LevelDB options or a bad pool size on a postgres URL, writing nothing', async () => {
    const url = freshSchemaUrl()
    const schema = new URL(url).searchParams.get('schema') as string
    const misplaced = await failure(initStore(url, { level: { durability: 'fsync' } }))
    expect(misplaced.code).toBe('INVALID_ARGUMENT')
    expect(misplaced.details).toMatchObject({ option: 'level', backend: 'postgres' })
    noPassword(misplaced.message, url)
    const badPool = await failure(initStore(url, { postgres: { poolSize: 0 } }))
    expect(badPool.details).toMatchObject({ option: 'postgres.poolSize' })
    const unknown = await failure(initStore(url, { postgres: { durability: 'fsync' } } as unknown as StoreOptions))
    expect(unknown.details).toMatchObject({ option: 'postgres.durability' })
    expect(await tablesIn(schema)).toBe(0)
    const store = await initStore(url, { postgres: { poolSize: 2, reconnectWindowMs: 1000 } })
    onCleanup(() => store.close())
    await store.commit({ stage: 's', output: 1 })
    const again = await openStore(url, { postgres: { poolSize: 2 } })
    onCleanup(() => again.close())
    expect((await again.head()).checkpoint).toBeDefined()
  })

  it('refuses to record a remote whose URL holds a password, naming it without the password', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(path.join(tempDir(), 'store'))
    onCleanup(() => store.close())
    const err = await failure(store.remotes.add('pg', url))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toEqual({ location: withoutPassword(url) })
    noPassword(err.message, url)
    expect(await store.remotes.list()).toEqual([])
    const into = path.join(tempDir(), 'clone')
    const clone = await failure(cloneStore(url, into))
    expect(clone.details).toEqual({ location: withoutPassword(url) })
    expect(existsSync(into)).toBe(false)
  })

  it('pushes and pulls between a LevelDB store and a PostgreSQL store in both directions, with the same ids', async () => {
    const bare = withoutPassword(freshSchemaUrl())
    const levelDir = path.join(tempDir(), 'level')
    await withPgPassword(async () => {
      const level = await initStore(levelDir)
      const a = await level.commit({ stage: 'load', output: { rows: 1 } })
      const b = await level.commit({ stage: 'big', output: { blob: 'x'.repeat(300_000) } })
      const postgres = await initStore(bare)
      onCleanup(() => postgres.close())
      await level.remotes.add('pg', bare)
      await level.remotes.push('pg', 'main')
      expect((await collect(postgres.log('main'))).map((c) => c.id)).toEqual([b.id, a.id])
      expect(await postgres.getOutput(`${b.id}:big`)).toEqual({ blob: 'x'.repeat(300_000) })
      const c = await postgres.commit({ stage: 'load', output: { rows: 2 } })
      await level.remotes.pull('pg', 'main')
      expect((await collect(level.log('main'))).map((x) => x.id)).toEqual([c.id, b.id, a.id])
      await level.close()

      await postgres.remotes.add('disk', levelDir)
      const d = await postgres.commit({ stage: 'load', output: { rows: 3 } })
      await postgres.remotes.push('disk', 'main')
      const reopened = await openStore(levelDir)
      onCleanup(() => reopened.close())
      expect((await collect(reopened.log('main'))).map((x) => x.id)).toEqual([d.id, c.id, b.id, a.id])
      expect(await postgres.remotes.list()).toEqual([{ name: 'disk', location: path.resolve(levelDir) }])
      expect(await reopened.remotes.list()).toEqual([{ name: 'pg', location: bare }])
    })
  })
})

describe('ckpt --store and CKPT_DIR with a postgres URL', () => {
  /** A working directory and HOME of their own, as a process on another machine has. */
  const machine = () => {
    const home = tempDir('ckpt-home-')
    return { cwd: tempDir('ckpt-cwd-'), env: { HOME: home } }
  }

  it('inits with --store URL, then commits, logs and shows status with CKPT_DIR=URL from elsewhere, never printing the password', async () => {
    const url = freshSchemaUrl()
    const first = machine()
    const init = ckpt(first.cwd, ['--store', url, 'init', '--json'])
    expect(init.stderr).toBe('')
    expect(init.code).toBe(0)
    expect(jsonLines(init.stdout)).toEqual([{ path: withoutPassword(url) }])
    const text = ckpt(first.cwd, ['--store', url, 'status'])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain(`Store: ${withoutPassword(url)}`)
    noPassword(text.stdout + text.stderr, url)

    const second = machine()
    const env = { ...second.env, CKPT_DIR: url }
    const commit = ckpt(second.cwd, ['commit', '-s', 'load', '--json', '{"rows":1}'], { env })
    expect(commit.stderr).toBe('')
    expect(commit.code).toBe(0)
    const third = machine()
    const log = ckpt(third.cwd, ['log', '--json'], { env: { ...third.env, CKPT_DIR: url } })
    expect(log.code).toBe(0)
    const entries = jsonLines(log.stdout)
    expect(entries).toHaveLength(1)
    expect(entries[0]).toMatchObject({ stage: 'load' })
    const status = ckpt(third.cwd, ['status', '--json'], { env: { ...third.env, CKPT_DIR: url } })
    expect(status.code).toBe(0)
    const shown = jsonLines(status.stdout)[0] as { store: string; head: { timeline: string; checkpoint: string } }
    expect(shown.store).toBe(withoutPassword(url))
    expect(shown.head).toMatchObject({ timeline: 'main', checkpoint: entries[0]!.id })
    for (const r of [init, commit, log, status]) noPassword(r.stdout + r.stderr, url)

    const again = ckpt(first.cwd, ['init'], { env: { ...first.env, CKPT_DIR: url } })
    expect(again.code).not.toBe(0)
    noPassword(again.stdout + again.stderr, url)
  })

  it('exits with STORE_UNAVAILABLE naming host:port, without the password, when the server cannot be reached', async () => {
    const port = await closedPort()
    const url = `postgres://ckpt:s3cret-word@127.0.0.1:${port}/ckpt?schema=nowhere`
    const { cwd, env } = machine()
    for (const args of [['status'], ['init'], ['log', '--json']]) {
      const r = ckpt(cwd, ['--store', url, ...args], { env })
      expect(r.code).toBe(EXIT_CODES.STORE_UNAVAILABLE)
      expect(r.stderr).toContain(`127.0.0.1:${port}`)
      expect(r.stdout + r.stderr).not.toContain('s3cret-word')
    }
  })

  it('names an unknown scheme in --store as such, and still takes a plain relative path as a folder', async () => {
    const { cwd, env } = machine()
    const unknown = ckpt(cwd, ['--store', 'nosuch://x/y', 'status'], { env })
    expect(unknown.code).toBe(EXIT_CODES.INVALID_ARGUMENT)
    expect(unknown.stderr).toContain('nosuch:')
    const init = ckpt(cwd, ['--store', 'rel/store', 'init', '--json'], { env })
    expect(init.code).toBe(0)
    expect(jsonLines(init.stdout)).toEqual([{ path: path.join(cwd, 'rel/store') }])
  })
})
