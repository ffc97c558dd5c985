import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import { Directory, initStore, openStore, replay, resume, run, shortIdOf, type Store } from '../src/index.js'
import { EXIT_CODES } from '../cli/exit-codes.js'
import { countingPipeline, freshKnobs } from './fixtures/counting-pipeline.js'
import { ckpt, jsonLines } from './support/cli.js'
import { failure } from './support/errors.js'
import { git, gitFsck } from './support/git.js'
import { freshSchemaUrl, postgresServer, sql } from './support/postgres.js'
import { pseudoRandomBytes } from './support/random.js'
import { collect, onCleanup, steppingClock, tempDir } from './support/temp.js'

/*
 * Every feature of a LevelDB store, on a store in PostgreSQL: one compact test per feature,
 * through the library API or the built `ckpt` binary with CKPT_DIR set to the store's URL.
 */

const HOUR = 3_600_000
const VIDEO_PIPELINE = fileURLToPath(new URL('../dist/docs/examples/video-pipeline/pipeline.js', import.meta.url))
const schemaOf = (url: string) => new URL(url).searchParams.get('schema') as string
const passwordOf = (url: string) => decodeURIComponent(new URL(url).password)
const withoutPassword = (url: string) => {
  const u = new URL(url)
  u.password = ''
  return u.href
}

async function pgStore(url = freshSchemaUrl(), options: { clock?: () => number } = {}): Promise<Store> {
  const store = await initStore(url, { author: 't', ...options })
  onCleanup(() => store.close())
  return store
}

/** Opens the store again (as another process would) and closes it after the test. */
async function reopened(location: string): Promise<Store> {
  const store = await openStore(location)
  onCleanup(() => store.close())
  return store
}


/** The `objects` key of an object id (docs/format.md): the CID's bytes. */
const objectKey = (id: string) => Buffer.from(CID.parse(id).bytes)

async function ids(store: Store, revision: string): Promise<string[]> {
  return (await collect(store.log(revision))).map((c) => c.id)
}

async function objectIds(store: Store): Promise<string[]> {
  return (await collect(store.objects())).map((o) => o.id).sort()
}

/** The `ckpt` binary on the store at `url`, from a working directory and HOME of its own. */
function cli(url: string, env: Record<string, string> = {}) {
  const cwd = tempDir('ckpt-cwd-')
  const home = tempDir('ckpt-home-')
  return (...args: string[]) => ckpt(cwd, args, { env: { CKPT_DIR: url, HOME: home, ...env } })
}

describe('timelines and revisions on PostgreSQL', () => {
  it('branches, moves timelines by compare-and-swap, logs every move in the reflog, and resolves revisions', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    const a = await store.commit({ stage: 'load', output: { n: 1 } })
    const b = await store.commit({ stage: 'load', output: { n: 2 } })
    const c = await store.commit({ stage: 'load', output: { n: 3 } })
    await store.timelines.create('exp', a.id)
    const e = await store.commit({ timeline: 'exp', stage: 'tune', output: { lr: 0.1 }, expectedHead: a.id })
    // A writer holding a stale head loses the swap and nothing moves.
    expect((await failure(store.commit({ timeline: 'exp', stage: 'tune', output: { lr: 0.2 }, expectedHead: a.id }))).code).toBe('REF_CONFLICT')
    expect(await store.timelines.get('exp')).toBe(e.id)
    expect((await failure(store.timelines.move('main', e.id))).code).toBe('REF_CONFLICT')
    await store.timelines.move('main', e.id, { force: true })
    await store.timelines.move('main', c.id, { force: true })
    await store.tags.create('v1', b.id)

    const again = await reopened(url)
    expect((await again.reflog('main')).map((r) => [r.old, r.new])).toEqual([
      [e.id, c.id],
      [c.id, e.id],
      [b.id, c.id],
      [a.id, b.id],
      [null, a.id],
    ])
    expect((await again.reflog('exp')).map((r) => r.new)).toEqual([e.id, a.id])
    expect(await again.resolve('main~2')).toBe(a.id)
    expect(await again.resolve('main@{1}')).toBe(e.id)
    expect(await again.resolve('v1')).toBe(b.id)
    expect(await again.resolve(shortIdOf(b.id))).toBe(b.id)
    expect(await again.resolve('exp^')).toBe(a.id)
    expect(await again.getOutput('main~1:load')).toEqual({ n: 2 })
    expect((await again.timelines.list()).map((t) => t.name)).toEqual(['exp', 'main'])

    const run = cli(url)
    expect(run('rev-parse', 'main~2').stdout.trim()).toBe(a.id)
    expect(JSON.parse(run('rev-parse', 'exp', '--json').stdout)).toEqual({ rev: 'exp', id: e.id })
    expect(run('rev-parse', 'main~9').code).toBe(EXIT_CODES.NOT_FOUND)
  })
})

describe('text in refs on PostgreSQL', () => {
  it('keeps any string a LevelDB store keeps in a reflog reason or an index value, NUL characters included', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    const odd = 'a\u0000b \uffff c \uffff0 d \\0'
    const c = await store.commit({ stage: 'load', output: { n: 1 }, message: odd })
    await store.index.swap('odd', null, odd)
    await store.index.swap('odd', odd, `${odd}!`)
    expect((await failure(store.index.swap('odd', odd, 'x'))).code).toBe('REF_CONFLICT')

    const again = await reopened(url)
    expect((await again.getCheckpoint(c.id)).message).toBe(odd)
    expect((await again.reflog('main'))[0]?.reason).toBe(`commit (initial): load: ${odd}`)
    expect(await again.index.get('odd')).toBe(`${odd}!`)
    expect(await again.index.list('od')).toEqual([{ name: 'odd', value: `${odd}!` }])
    await again.index.swap('odd', `${odd}!`, null)
    expect(await again.index.get('odd')).toBeUndefined()
  })
})

describe('a PostgreSQL store that cannot be written', () => {
  it('reads through a read-only connection (as on a hot standby) and refuses each write as STORE_UNAVAILABLE, as a read-only LevelDB store does', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    const first = await store.commit({ stage: 'load', output: { n: 1 } })
    const readOnly = new URL(url)
    readOnly.searchParams.set('options', '-c default_transaction_read_only=on')

    const run = cli(readOnly.href)
    expect(run('rev-parse', 'main').stdout.trim()).toBe(first.id)
    const refused = run('commit', '-s', 'load', '--json', '2')
    expect({ code: refused.code, stderr: refused.stderr }).toEqual({ code: EXIT_CODES.STORE_UNAVAILABLE, stderr: expect.stringContaining('read-only') })
    expect(run('tag', 'v1').code).toBe(EXIT_CODES.STORE_UNAVAILABLE)
    expect(await ids(store, 'main')).toEqual([first.id])
    expect(await store.tags.list()).toEqual([])
  })
})

describe('diff and checkout on PostgreSQL', () => {
  it('diffs stages, JSON paths and text lines', async () => {
    const store = await pgStore()
    const from = await store.commit({
      outputs: { detect: { objects: [{ label: 'cat', score: 0.9 }], n: 1 }, notes: Buffer.from('one\ntwo\nthree\n'), gone: { x: 1 } },
    })
    const to = await store.commit({
      outputs: { detect: { objects: [{ label: 'dog', score: 0.9 }], n: 1, extra: true }, notes: Buffer.from('one\n2\nthree\n'), added: [1] },
      remove: ['gone'],
    })
    const diff = await store.diff(from.id, to.id, { paths: true })
    expect(diff.summary).toEqual({ added: 1, removed: 1, changed: 2, unchanged: 0 })
    const byStage = Object.fromEntries(diff.stages.map((s) => [s.stage, s]))
    expect(byStage.detect?.changes).toEqual([
      { op: 'add', path: '/extra', value: true },
      { op: 'replace', path: '/objects/0/label', oldValue: 'cat', value: 'dog' },
    ])
    expect(byStage.notes?.hunks?.flatMap((h) => h.lines)).toEqual(expect.arrayContaining(['-two', '+2']))
    expect([byStage.added?.status, byStage.gone?.status]).toEqual(['added', 'removed'])
  })

  it('checks out a checkpoint into a folder and moves HEAD onto a checkpoint and back', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    const big = pseudoRandomBytes(600_000, 3)
    const first = await store.commit({
      outputs: { frames: new Directory({ 'a.png': Uint8Array.of(1), 'sub/b.png': Uint8Array.of(2) }), video: big, detect: { n: 1, thumb: Uint8Array.of(9) } },
    })
    await store.commit({ stage: 'detect', output: { n: 2 } })
    await store.close()

    const run = cli(url)
    const dir = path.join(tempDir(), 'out')
    expect(run('restore', first.id, '--to', dir).code).toBe(0)
    expect(run('checkout', first.id).code).toBe(0)
    expect(readFileSync(path.join(dir, 'frames/sub/b.png'))).toEqual(Buffer.of(2))
    expect(readFileSync(path.join(dir, 'video')).equals(Buffer.from(big))).toBe(true)
    expect(JSON.parse(readFileSync(path.join(dir, 'detect.json'), 'utf8')).n).toBe(1)
    expect(existsSync(path.join(dir, '.ckpt-checkout.json'))).toBe(true)

    const again = await reopened(url)
    expect(await again.head()).toMatchObject({ detached: true, checkpoint: first.id })
    const restored = await again.restore('main')
    expect(restored.outputs.detect).toEqual({ n: 2 })
    expect((await again.restore(first.id)).outputs.video).toEqual(big)
    await again.setHead('main')
    expect(await again.head()).toMatchObject({ timeline: 'main' })
  })
})

describe('pipelines on PostgreSQL', () => {
  const counts = (m: Map<string, number>) => Object.fromEntries([...m].sort())

  it('runs, resumes a failed run from another connection, and replays from a stage with new config', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url, { clock: steppingClock() })
    const knobs = freshKnobs()
    knobs.failNext.add('d')
    const failed = await run({ store, pipeline: countingPipeline(knobs), inputs: { seed: 5 }, runId: 'crashy' })
    expect(failed.status).toBe('failed')
    await store.close()

    // Another process (here: another pool) finishes the run.
    const worker = await reopened(url)
    const resumedKnobs = freshKnobs()
    const resumed = await resume({ store: worker, pipeline: countingPipeline(resumedKnobs), runId: 'crashy' })
    expect(resumed.status).toBe('succeeded')
    expect(counts(resumedKnobs.executions)).toEqual({ d: 1, e: 1 })

    const replayKnobs = freshKnobs()
    const mainHead = await worker.timelines.get('main')
    await replay({ store: worker, pipeline: countingPipeline(replayKnobs), runId: 'crashy', startStage: 'b', config: { b: { factor: 4 } }, timeline: 'factor4' })
    expect(counts(replayKnobs.executions)).toEqual({ b: 1, d: 1, e: 1 })
    expect(await worker.timelines.get('main')).toBe(mainHead)
    const diff = await worker.diff('main', 'factor4')
    expect(diff.stages.filter((s) => s.status === 'changed').map((s) => s.stage)).toEqual(['b', 'd', 'e'])
    expect((await worker.fsck()).problems).toEqual([])
  })

  it('runs the example pipeline with the ckpt binary and another machine resumes the failed run', () => {
    const url = freshSchemaUrl()
    expect(cli(url)('init').code).toBe(0)
    const first = cli(url)('run', VIDEO_PIPELINE, '--json')
    expect(first.code).toBe(EXIT_CODES.RUN_FAILED)
    const { runId } = jsonLines(first.stdout).find((l) => l.type === 'result') as { runId: string }
    const resumed = cli(url)('resume', VIDEO_PIPELINE, '--run', runId, '--json')
    expect(resumed.code, resumed.stderr).toBe(0)
    expect(jsonLines(resumed.stdout).filter((e) => e.type === 'stage-started').map((e) => e.stage)).toEqual(['escalate_vlm', 'report'])
    const audit = jsonLines(cli(url)('audit', runId, '--json').stdout)
    expect(audit.map((e) => `${e.stage}:${e.status}`).slice(-3)).toEqual(['escalate_vlm:failed', 'escalate_vlm:succeeded', 'report:succeeded'])
  })
})

describe('retention and pins on PostgreSQL', () => {
  it('keeps the last N, tagged and pinned checkpoints with their history, and gc drops the rest', async () => {
    const store = await pgStore()
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push((await store.commit({ stage: `s${i % 2}`, output: { i }, time: Date.UTC(2026, 0, 1) + i * HOUR })).id)
    await store.tags.create('baseline', ids[1]!)
    await store.pins.add(ids[3]!)
    expect(await store.pins.list()).toEqual([ids[3]])
    await store.retention.set('main', { keepLast: 2 })
    const result = await store.gc({ prune: 'now' })
    expect(result.retention).toEqual([{ timeline: 'main', kept: 6, dropped: 2, cuts: [ids[6]] }])
    for (const [i, id] of ids.entries()) {
      const present = await store.getCheckpoint(id).then(() => true, (err: { code?: string }) => (err.code === 'NOT_FOUND' ? false : Promise.reject(err)))
      expect(present).toBe(i !== 4 && i !== 5)
    }
    expect((await collect(store.log('main'))).map((c) => c.historyCut ?? false)).toEqual([false, true])
    expect((await store.fsck()).problems).toEqual([])
    await store.pins.remove(ids[3]!)
    expect((await failure(store.pins.remove(ids[3]!))).code).toBe('NOT_FOUND')
  })
})

describe('gc on PostgreSQL', () => {
  it('collects garbage from the ckpt binary, keeping what is reachable, with nothing on stderr', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    await store.commit({ outputs: { frames: new Directory({ 'a.png': Uint8Array.of(1), 'b.png': Uint8Array.of(2) }), video: pseudoRandomBytes(1_500_000, 4), detect: { thumb: Uint8Array.of(9) } } })
    await store.timelines.create('tmp', 'main')
    const garbage = await store.commit({ timeline: 'tmp', stage: 'junk', output: pseudoRandomBytes(5000, 8) })
    await store.timelines.delete('tmp')
    await store.expireReflogs({ refs: ['tmp'], before: Date.now() + 1000 })
    const before = await objectIds(store)

    // The sweep reads many objects at once on its one connection: node-postgres warned about that.
    const gc = cli(url)('gc', '--prune=now')
    expect({ code: gc.code, stderr: gc.stderr }).toEqual({ code: 0, stderr: '' })
    const after = await objectIds(store)
    expect(before.filter((id) => !after.includes(id))).toEqual(expect.arrayContaining([garbage.id, garbage.stages.junk]))
    expect((await store.fsck()).problems).toEqual([])
  })
})

describe('fsck and repair on PostgreSQL', () => {
  it('finds a missing and a corrupt object put there by SQL, and `fsck --repair` moves the timeline back to its newest intact checkpoint', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    const a = await store.commit({ stage: 'detect', output: { n: 1, thumb: Uint8Array.of(9, 9) } })
    const b = await store.commit({ stage: 'detect', output: { n: 2 } })
    await store.timelines.create('side', a.id)
    const s = await store.commit({ timeline: 'side', stage: 'video', output: pseudoRandomBytes(4096, 7) })
    const objects = `"${schemaOf(url)}".objects`
    const flipped = await sql(`UPDATE ${objects} SET value = set_byte(value, 0, get_byte(value, 0) # 1) WHERE key = $1`, [objectKey(b.id)])
    expect(flipped.rowCount).toBe(1)
    const { rowCount } = await sql(`DELETE FROM ${objects} WHERE key = $1`, [objectKey(s.stages.video!)])
    expect(rowCount).toBe(1)

    const run = cli(url)
    const checked = run('fsck', '--json')
    expect(checked.code).toBe(1)
    const report = JSON.parse(checked.stdout) as { ok: boolean; problems: { id: string; kind: string }[] }
    expect(report.ok).toBe(false)
    expect(report.problems.map((p) => [p.kind, p.id]).sort()).toEqual([['corrupt', b.id], ['missing', s.stages.video]].sort())
    // There is no journal to cut on PostgreSQL: refused before anything moves.
    expect(run('fsck', '--repair', '--cut-journal').code).toBe(EXIT_CODES.INVALID_ARGUMENT)
    expect(await store.timelines.get('main')).toBe(b.id)

    const repaired = run('fsck', '--repair', '--json')
    const result = JSON.parse(repaired.stdout) as { repaired: { restored: unknown[]; unrecoverable: string[] } }
    expect(result.repaired.restored).toEqual(expect.arrayContaining([
      { ref: 'timelines/main', from: b.id, to: a.id },
      { ref: 'timelines/side', from: s.id, to: a.id },
    ]))
    const after = await reopened(url)
    expect(await after.timelines.get('main')).toBe(a.id)
    expect(await after.timelines.get('side')).toBe(a.id)
    expect((await after.reflog('main'))[0]?.reason).toBe('fsck --repair: restored from reflog')
    // Only the reflogs still reach the damage.
    expect((await after.fsck()).problems.map((p) => p.ref).sort()).toEqual(['timelines/main (reflog)', 'timelines/side (reflog)'])
  })
})

describe('moving checkpoints between LevelDB and PostgreSQL', () => {
  /** main: JSON, bytes inside JSON, a blob stored as chunks, a folder and a tag. */
  async function fill(store: Store): Promise<void> {
    await store.commit({ stage: 'detect', output: { n: 1, thumb: Uint8Array.of(1, 2, 3) }, time: Date.UTC(2026, 0, 1) })
    await store.tags.create('v1')
    await store.commit({ stage: 'video', output: pseudoRandomBytes(1_300_000, 5), time: Date.UTC(2026, 0, 2) })
    await store.commit({ stage: 'site', output: new Directory({ 'index.html': Buffer.from('<h1>hi</h1>\n'), 'a/b.txt': Buffer.from('b\n') }), time: Date.UTC(2026, 0, 3) })
  }

  it('exports a CAR from PostgreSQL into LevelDB and back, with identical ids', async () => {
    const postgres = await pgStore()
    await fill(postgres)
    const level = await initStore(path.join(tempDir(), 'level'))
    onCleanup(() => level.close())
    const car = Buffer.concat(await collect(postgres.exportCar(['main', 'v1'])))
    expect((await level.importCar(Readable.from([car]))).refs).toEqual([
      { ref: 'tags/v1', action: 'created' },
      { ref: 'timelines/main', action: 'created' },
    ])
    expect(await objectIds(level)).toEqual(await objectIds(postgres))
    expect(await collect(level.log('main'))).toEqual(await collect(postgres.log('main')))
    const more = await level.commit({ stage: 'detect', output: { n: 2 } })

    const back = await pgStore()
    await back.importCar(Readable.from(level.exportCar('main')))
    expect(await ids(back, 'main')).toEqual(await ids(level, 'main'))
    expect(await back.timelines.get('main')).toBe(more.id)
    expect(Buffer.compare(Buffer.from(await back.getBlob('main:video')), Buffer.from(await level.getBlob('main:video')))).toBe(0)
    expect((await back.fsck()).problems).toEqual([])
  })

  it('clones a LevelDB store into PostgreSQL and a PostgreSQL store into LevelDB, with identical ids', async () => {
    const levelDir = path.join(tempDir(), 'level')
    const level = await initStore(levelDir)
    await fill(level)
    const history = await ids(level, 'main')
    await level.close()

    // A URL recorded as a remote holds no password; the password comes from PGPASSWORD.
    const env = { PGPASSWORD: passwordOf(postgresServer().url) }
    const intoPostgres = withoutPassword(freshSchemaUrl())
    const cloned = ckpt(tempDir(), ['clone', levelDir, intoPostgres], { env })
    expect(cloned.code, cloned.stderr).toBe(0)
    const backToLevel = path.join(tempDir(), 'again')
    const clonedBack = ckpt(tempDir(), ['clone', intoPostgres, backToLevel], { env })
    expect(clonedBack.code, clonedBack.stderr).toBe(0)

    const inPostgres = await reopened(withServerPassword(intoPostgres))
    expect(await ids(inPostgres, 'main')).toEqual(history)
    expect(await ids(inPostgres, 'origin/main')).toEqual(history)
    expect(await inPostgres.remotes.list()).toEqual([{ name: 'origin', location: path.resolve(levelDir) }])
    const inLevel = await reopened(backToLevel)
    expect(await ids(inLevel, 'main')).toEqual(history)
    expect(await inLevel.remotes.list()).toEqual([{ name: 'origin', location: intoPostgres }])
    expect(await objectIds(inLevel)).toEqual(await objectIds(inPostgres))
  })

  it('mirrors a PostgreSQL store into git, which real git accepts, and imports it back with identical ids', async () => {
    const url = freshSchemaUrl()
    const store = await pgStore(url)
    await fill(store)
    await store.timelines.create('exp', 'main~1')
    await store.commit({ timeline: 'exp', stage: 'detect', output: { n: 9 }, time: Date.UTC(2026, 0, 4) })
    const mainIds = await ids(store, 'main')
    const expIds = await ids(store, 'exp')

    const mirror = path.join(tempDir(), 'mirror.git')
    const exported = cli(url)('export', '--git', mirror, '--json')
    expect(exported.code, exported.stderr).toBe(0)
    expect(gitFsck(mirror)).toEqual({ code: 0, output: '' })
    expect(git(mirror, ['rev-list', '--count', 'main']).trim()).toBe(String(mainIds.length))
    expect(git(mirror, ['show', 'v1:detect.json'])).toContain('"n": 1')
    expect(git(mirror, ['show', 'main:site/a/b.txt'])).toBe('b\n')

    // Back into a new PostgreSQL store and into LevelDB: the same checkpoints.
    const target = freshSchemaUrl()
    await (await initStore(target)).close()
    const imported = cli(target)('import', '--git', mirror, 'exp', '--json')
    expect(imported.code, imported.stderr).toBe(0)
    const intoLevel = await initStore(path.join(tempDir(), 'level'))
    onCleanup(() => intoLevel.close())
    await intoLevel.importGit(mirror, 'main')
    const back = await reopened(target)
    expect(await ids(back, 'exp')).toEqual(expIds)
    expect(await ids(intoLevel, 'main')).toEqual(mainIds)
    expect(Buffer.compare(Buffer.from(await back.getBlob('exp:video')), Buffer.from(await store.getBlob('main:video')))).toBe(0)
    expect((await back.fsck()).problems).toEqual([])
  })
})

/** `url` (whose password was taken out) with the test server's password put back. */
function withServerPassword(url: string): string {
  const u = new URL(url)
  u.password = encodeURIComponent(passwordOf(postgresServer().url))
  return u.href
}
