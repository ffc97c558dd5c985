import { existsSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { cloneStore, initStore, openPostgresBackend, openStore } from '../src/index.js'
import { ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { freshSchemaUrl, postgresServer, privatePostgresServer, sql } from './support/postgres.js'
import { onCleanup, tempDir } from './support/temp.js'

/*
 * What a new user, or a hostile one, meets when pointing ckpt at PostgreSQL with an unusual URL,
 * a role short of rights or a server that is not what the URL promised: one error with a stable
 * code naming the offending part, nothing written, and never the password.
 */

const schemaOf = (url: string) => new URL(url).searchParams.get('schema') as string
const passwordOf = (url: string) => decodeURIComponent(new URL(url).password)

/** `url` with its password moved from `user:password@` into `?password=`. */
function passwordInQuery(url: string): string {
  const u = new URL(url)
  const password = decodeURIComponent(u.password)
  u.password = ''
  u.searchParams.set('password', password)
  return u.href
}

/** `url` with `name=value` added to its query. */
function withParameter(url: string, name: string, value: string): string {
  const u = new URL(url)
  u.searchParams.append(name, value)
  return u.href
}


async function tablesIn(schema: string): Promise<number> {
  const { rows } = await sql('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1', [schema])
  return (rows[0] as { n: number }).n
}

describe('a postgres URL with unusual parts', () => {
  it('never prints a password given as ?password=, and refuses to record such a URL as a remote', async () => {
    const url = passwordInQuery(freshSchemaUrl())
    const password = passwordOf(postgresServer().url)
    const cwd = tempDir('ckpt-cwd-')
    const init = ckpt(cwd, ['--store', url, 'init', '--json'])
    expect(init.code).toBe(0)
    const status = ckpt(cwd, ['--store', url, 'status', '--json'])
    expect(status.code).toBe(0)
    expect(jsonLines(status.stdout)[0]).toMatchObject({ store: expect.not.stringContaining('password') })
    const again = ckpt(cwd, ['--store', url, 'init'])
    expect(again.code).toBe(3)
    for (const r of [init, status, again]) expect(r.stdout + r.stderr).not.toContain(password)

    const level = await initStore(path.join(tempDir(), 'level'))
    onCleanup(() => level.close())
    const refused = await failure(level.remotes.add('pg', url))
    expect(refused.code).toBe('INVALID_ARGUMENT')
    expect(refused.message).not.toContain(password)
    expect(await level.remotes.list()).toEqual([])
  })

  it('never prints the password of a URL it cannot parse, even a password holding @ or /', async () => {
    for (const url of ['postgres://me:se@cret@host:99999/db', 'postgres://me:a/secret@host:5432/db', 'postgres://me:secret@host:5432:1/db']) {
      const err = await failure(openStore(url))
      expect(err.code).toBe('INVALID_ARGUMENT')
      expect(err.message).toContain('postgres://me')
      expect(err.message).not.toMatch(/cret/)
    }
  })

  it('refuses a query parameter that neither ckpt nor node-postgres reads, such as a misspelt schema, before connecting', async () => {
    const url = freshSchemaUrl()
    const misspelt = await failure(initStore(withParameter(url, 'shema', 'team_a')))
    expect(misspelt.code).toBe('INVALID_ARGUMENT')
    expect(misspelt.details).toMatchObject({ parameter: 'shema' })
    expect(misspelt.message).not.toContain(passwordOf(url))
    const twice = await failure(initStore(withParameter(url, 'schema', 'other')))
    expect(twice.code).toBe('INVALID_ARGUMENT')
    expect(twice.details).toMatchObject({ parameter: 'schema' })
    expect(await tablesIn(schemaOf(url))).toBe(0)
    expect(await tablesIn('other')).toBe(0)
  })

  it('takes a URL with a user and no host, connecting to the unix socket of ?host=/dir as libpq does', async () => {
    const socketDir = tempDir('ckpt-socket-')
    const url = `postgres://ckpt:not-this-one@/ckpt?host=${encodeURIComponent(socketDir)}&port=5999&schema=s`
    const err = await failure(openStore(url))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toContain(`${socketDir}:5999`)
    expect(err.message).not.toContain('not-this-one')
  })

  it('refuses a schema name PostgreSQL reserves (pg_…) as INVALID_ARGUMENT naming it', async () => {
    const url = new URL(freshSchemaUrl())
    url.searchParams.set('schema', 'pg_toast')
    const err = await failure(initStore(url.href))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain('pg_toast')
  })

  it('names the file when a certificate the URL names (sslrootcert) cannot be read, instead of calling the server unreachable', async () => {
    const missing = path.join(tempDir(), 'no-such-ca.pem')
    const err = await failure(openStore(withParameter(freshSchemaUrl(), 'sslrootcert', missing)))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.message).toContain(missing)
  })
})

describe('a server or a role that is not what the URL promised', () => {
  it('is STORE_UNAVAILABLE naming the user and PGPASSWORD when the server asks for a password the URL does not give', async () => {
    const u = new URL(freshSchemaUrl())
    u.password = ''
    const saved = { PGPASSWORD: process.env.PGPASSWORD, PGPASSFILE: process.env.PGPASSFILE }
    delete process.env.PGPASSWORD
    process.env.PGPASSFILE = path.join(tempDir(), 'no-pgpass')
    try {
      const err = await failure(openStore(u.href))
      expect(err.code).toBe('STORE_UNAVAILABLE')
      expect(err.message).toContain(`"${u.username}"`)
      expect(err.message).toContain('PGPASSWORD')
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name]
        else process.env[name] = value
      }
    }
  })

  it('is STORE_UNAVAILABLE naming sslmode when the URL asks for SSL and the server offers none', async () => {
    const url = withParameter(freshSchemaUrl(), 'ssl', 'true')
    const err = await failure(initStore(url))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toContain('SSL')
    expect(await tablesIn(schemaOf(url))).toBe(0)
  })

  it('inits a store in a schema an administrator made for a role that may not create schemas in the database', async () => {
    // A server of its own: taking CREATE on the database away would stop other files' tests.
    const server = privatePostgresServer()
    const url = freshSchemaUrl(server)
    const admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    onCleanup(() => admin.end())
    const role = decodeURIComponent(new URL(server.url).username)
    const database = new URL(server.url).pathname.slice(1)
    await admin.query(`CREATE SCHEMA "${schemaOf(url)}"`)
    await admin.query(`REVOKE CREATE ON DATABASE "${database}" FROM "${role}"`)
    const store = await initStore(url)
    onCleanup(() => store.close())
    const first = await store.commit({ stage: 'load', output: { rows: 1 } })
    expect((await store.head()).checkpoint).toBe(first.id)
    const elsewhere = await failure(initStore(freshSchemaUrl(server)))
    expect(elsewhere.code).toBe('STORE_UNAVAILABLE')
  }, 60_000)

  it("is STORE_UNAVAILABLE naming the role when the role may not write the store's tables, and the store is unchanged", async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url)
    const first = await store.commit({ stage: 'load', output: { rows: 1 } })
    await store.close()
    const role = decodeURIComponent(new URL(url).username)
    await sql(`REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "${schemaOf(url)}" FROM "${role}"`)
    const reader = await openStore(url)
    onCleanup(() => reader.close())
    const err = await failure(reader.commit({ stage: 'load', output: { rows: 2 } }))
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toContain(`"${role}"`)
    expect((await reader.head()).checkpoint).toBe(first.id)
  })

  it('is a retryable STORE_UNAVAILABLE naming statement_timeout when the server cancels a statement for taking too long', async () => {
    const url = freshSchemaUrl()
    const store = await initStore(url)
    await store.close()
    const locker = new pg.Client({ connectionString: postgresServer().url })
    await locker.connect()
    onCleanup(() => locker.end())
    await locker.query('BEGIN')
    await locker.query(`LOCK TABLE "${schemaOf(url)}".ckpt_meta IN ACCESS EXCLUSIVE MODE`)
    const err = await failure(openStore(withParameter(url, 'statement_timeout', '200')))
    await locker.query('ROLLBACK')
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.message).toContain('statement_timeout')
    expect(err.details).toMatchObject({ retryable: true })
  })
})

describe('init on PostgreSQL', () => {
  it('lets exactly one of several racing inits on one schema create the store; the others are STORE_EXISTS', async () => {
    for (let round = 0; round < 3; round++) {
      const url = freshSchemaUrl()
      // Tables without a store, as a crashed init leaves them: the inits below all reach the
      // format ref at once instead of queueing behind the one that creates the tables.
      await (await openPostgresBackend(url, { create: true })).close()
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => initStore(url)))
      const made = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      for (const store of made) onCleanup(() => store.close())
      expect(made).toHaveLength(1)
      for (const r of results) if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('STORE_EXISTS')
    }
  })
})

describe('ckpt init and clone with a postgres URL', () => {
  it('inits the store at a postgres URL given as init\'s argument, as with --store', async () => {
    const url = freshSchemaUrl()
    const r = ckpt(tempDir('ckpt-cwd-'), ['init', url, '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const store = await openStore(url)
    onCleanup(() => store.close())
    expect((await store.head()).timeline).toBe('main')
  })

  it('creates nothing where a clone was to go when its source holds no store or cannot be reached', async () => {
    const into = path.join(tempDir(), 'clone')
    const none = new URL(freshSchemaUrl())
    none.password = ''
    const err = await failure(cloneStore(none.href, into))
    expect(err.code).not.toBe('INVALID_ARGUMENT')
    expect(existsSync(into)).toBe(false)
    const target = freshSchemaUrl()
    const fromNowhere = await failure(cloneStore(path.join(tempDir(), 'no-store'), target))
    expect(fromNowhere.code).toBe('NOT_A_STORE')
    expect(await tablesIn(schemaOf(target))).toBe(0)
  })
})

describe('remotes of a PostgreSQL store', () => {
  it('lists a remote recorded with a password (by an older ckpt, or by SQL) without it, in text, with -v and in --json', async () => {
    const url = freshSchemaUrl()
    await (await initStore(url)).close()
    await sql(`INSERT INTO "${schemaOf(url)}".refs (name, value) VALUES ('remote/old', 'postgres://me:hunter2-secret@db.example:5432/x?schema=s&password=hunter2-secret')`)
    const cwd = tempDir('ckpt-cwd-')
    const text = ckpt(cwd, ['--store', url, 'remote', '-v'])
    expect(text.code).toBe(0)
    expect(text.stdout).toContain('old  postgres://me@db.example:5432/x?schema=s')
    const json = ckpt(cwd, ['--store', url, 'remote', '--json'])
    expect(json.code).toBe(0)
    expect(jsonLines(json.stdout)).toEqual([{ name: 'old', location: 'postgres://me@db.example:5432/x?schema=s' }])
    for (const r of [text, json]) expect(r.stdout + r.stderr).not.toContain('hunter2')
  })
})

describe('options of a PostgreSQL store', () => {
  it('refuses a pool of one connection, with which gc could not run (its sweep holds one while it reads with another), writing nothing', async () => {
    const url = freshSchemaUrl()
    const err = await failure(initStore(url, { postgres: { poolSize: 1 } }))
    expect(err.code).toBe('INVALID_ARGUMENT')
    expect(err.details).toMatchObject({ option: 'postgres.poolSize' })
    const direct = await failure(openPostgresBackend(url, { create: true, poolSize: 1 }))
    expect(direct.code).toBe('INVALID_ARGUMENT')
    expect(await tablesIn(schemaOf(url))).toBe(0)
    const store = await initStore(url, { postgres: { poolSize: 2 } })
    onCleanup(() => store.close())
    await store.commit({ stage: 's', output: { rows: 1 } })
    expect((await store.gc({ prune: 0 })).kept).toBeGreaterThan(0)
  })
})
