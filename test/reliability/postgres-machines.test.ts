import { mkdirSync, readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { initStore, openPostgresBackend, openStore, readAudit, run, type Store } from '../../src/index.js'
import { countingPipeline, freshKnobs } from '../fixtures/counting-pipeline.js'
import { failure } from '../support/errors.js'
import { cutProxy, type Cut, type CutProxy } from '../support/pg-cut-proxy.js'
import { freshSchemaUrl, privatePostgresServer, restartImmediately, sql } from '../support/postgres.js'
import { fixture, runFixture, type Child } from '../support/processes.js'
import { collect, onCleanup, tempDir } from '../support/temp.js'
import { FULL, SCALE } from './scale.js'

const MACHINE = fixture('../reliability/fixtures/pg-machine.js')
const PIPELINE_WORKER = fixture('../reliability/fixtures/pg-pipeline-worker.js')
/** pg-machine.ts's exit status when the server did not answer as it opened the store. */
const UNAVAILABLE_AT_OPEN = 75

/**
 * A "machine": its own working directory, HOME and TMPDIR, so that the processes started on it
 * share nothing with the others but the store's URL.
 */
function machine(name: string, script = MACHINE) {
  const root = path.join(tempDir(`ckpt-${name}-`), name)
  const dirs = { cwd: path.join(root, 'work'), home: path.join(root, 'home'), tmp: path.join(root, 'tmp') }
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true })
  return {
    root,
    start: (args: string[]): Child => runFixture(script, args, { HOME: dirs.home, TMPDIR: dirs.tmp, CKPT_DIR: '' }, dirs.cwd),
  }
}

/** The "ID INDEX" lines a writer appended after each acknowledged commit. */
function acknowledged(file: string): Array<{ id: string; index: number }> {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [id = '', index = ''] = line.split(' ')
      return { id, index: Number(index) }
    })
}

const SIZE = FULL ? { writers: 8, commits: SCALE.commitsPerWriter, kills: 50 } : { writers: 4, commits: SCALE.commitsPerWriter, kills: 5 }

describe('many machines on one PostgreSQL store, with faults', () => {
  it(`keeps every acknowledged checkpoint of ${SIZE.writers} writers × ${SIZE.commits} commits (half on one timeline with retry, half on their own) through ${SIZE.kills} SIGKILLs, a server restart and gc --prune=now looping beside them, none applied twice, fsck clean`, async () => {
    const server = privatePostgresServer()
    const url = freshSchemaUrl(server)
    const setup = await initStore(url)
    await setup.commit({ timeline: 'shared', stage: 'seed', output: { seed: true } })
    await setup.close()

    const writers = Array.from({ length: SIZE.writers }, (_, k) => {
      const onShared = k < SIZE.writers / 2
      const host = machine(`writer${k}`)
      const timeline = onShared ? 'shared' : `own-${k}`
      const acks = path.join(host.root, 'acknowledged')
      const args = ['commit', url, timeline, String(SIZE.commits), acks, `w${k}`, ...(onShared ? ['retry'] : [])]
      return { name: `w${k}`, onShared, timeline, acks, host, args, child: host.start(args), killedWhenDone: false }
    })
    const collector = machine('collector').start(['gc', url])
    const total = SIZE.writers * SIZE.commits
    const progress = () => writers.reduce((sum, w) => sum + acknowledged(w.acks).length, 0)

    // Kills spread over the run, one writer at a time at a random moment of its loop, which is
    // nearly all commit; the killed writer starts again and carries on from its acknowledgements.
    // The server restarts once, halfway.
    let kills = 0
    let restarted = false
    let turn = 0
    let unavailableAtOpen = 0
    const live = (w: (typeof writers)[number]) => w.child.process.exitCode === null && w.child.process.signalCode === null
    while (writers.some((w) => live(w) || w.child.process.exitCode === UNAVAILABLE_AT_OPEN)) {
      // A writer started while the server restarted cannot open the store (exit 75, by design):
      // its supervisor starts it again, as systemd or Kubernetes would.
      for (const writer of writers.filter((w) => w.child.process.exitCode === UNAVAILABLE_AT_OPEN)) {
        writer.child = writer.host.start(writer.args)
        unavailableAtOpen++
      }
      const done = progress()
      if (!restarted && done >= total / 2) {
        restartImmediately(server.dir)
        restarted = true
      }
      const running = writers.filter(live)
      if (kills < SIZE.kills && done >= ((kills + 1) * total) / (SIZE.kills + 2) && running.length > 0) {
        // A writer still starting (just restarted) would hold the kill back until it opens the
        // store, while the others may finish: one already committing is taken first.
        const committing = running.filter((w) => w.child.lines.length > 0)
        const candidates = committing.length > 0 ? committing : running
        const victim = candidates[turn++ % candidates.length]!
        const before = victim.child.lines.length
        await Promise.race([victim.child.waitForLine(() => victim.child.lines.length > before).catch(() => undefined), sleep(5000)])
        await sleep(Math.floor(Math.random() * 40))
        victim.child.process.kill('SIGKILL')
        // It may have ended by itself first: then that is its exit status, and it was no kill.
        if ((await victim.child.exited) !== 'SIGKILL') continue
        kills++
        // Killed after its last acknowledgement, it has nothing left to do.
        if (acknowledged(victim.acks).length < SIZE.commits) victim.child = victim.host.start(victim.args)
        else victim.killedWhenDone = true
        continue
      }
      await sleep(50)
    }
    expect(await Promise.all(writers.map((w) => w.child.exited))).toEqual(writers.map((w) => (w.killedWhenDone ? 'SIGKILL' : 0)))
    collector.process.kill('SIGKILL')
    await collector.exited
    expect(restarted).toBe(true)
    expect(kills).toBe(SIZE.kills)
    // Only processes started around the restart could not open the store.
    expect(unavailableAtOpen).toBeLessThanOrEqual(SIZE.writers)
    const sweeps = collector.lines.filter((l) => /^gc \d+ freed \d+$/.test(l))
    // The collector swept beside the writers and found their side timelines' garbage.
    const freed = sweeps.reduce((sum, l) => sum + Number(l.split(' ')[3]), 0)
    expect(freed).toBeGreaterThan(0)

    const store = await openStore(url)
    onCleanup(() => store.close())
    const labelled = (c: { message: string }) => /^w\d+ \d+ \d+$/.test(c.message)
    for (const writer of writers) {
      const acks = acknowledged(writer.acks)
      expect(acks.map((a) => a.index)).toEqual([...Array(SIZE.commits).keys()])
      const history = (await collect(store.log(writer.timeline))).reverse()
      const ids = history.map((c) => c.id)
      // Every acknowledged checkpoint is on the timeline its writer moved, in the order acknowledged.
      let at = -1
      for (const { id } of acks) {
        const next = ids.indexOf(id, at + 1)
        expect(next, `${writer.name}: acknowledged ${id} is not on ${writer.timeline} after the one before it`).toBeGreaterThan(at)
        at = next
      }
      for (const { id } of acks) await store.getCheckpoint(id)
      if (!writer.onShared) {
        // Only this writer's commits, each call at most once.
        const messages = history.filter(labelled).map((c) => c.message)
        expect(new Set(messages).size).toBe(messages.length)
      }
    }
    // The shared timeline: every call's checkpoint at most once, and nothing but the writers' calls and the seed.
    const shared = await collect(store.log('shared'))
    const messages = shared.filter(labelled).map((c) => c.message)
    expect(new Set(messages).size).toBe(messages.length)
    expect(messages.length).toBe(shared.length - 1)
    expect((await store.fsck()).problems).toEqual([])
    console.log(`many machines: ${total} acknowledged, ${kills} kills, ${unavailableAtOpen} restarted after the server was unreachable at open, ${sweeps.length} sweeps freeing ${freed} objects, shared history ${shared.length}`)
  }, SCALE.timeoutMs)
})

/**
 * Commits `message` through `proxy` with `cut` armed for its call, then makes the server look
 * unreachable until the commit has failed: that failure.
 */
async function commitCutOffForGood(proxy: CutProxy, store: Store, cut: Cut, message: string) {
  const applied = proxy.arm(cut)
  const committing = store.commit({ timeline: 'main', stage: 'work', output: { message }, message, retry: 5 })
  await applied
  proxy.refuse = true
  const err = await failure(committing)
  proxy.refuse = false
  return err
}

async function objectCount(url: string): Promise<number> {
  const backend = await openPostgresBackend(url)
  try {
    return (await collect(backend.objects.keys())).length
  } finally {
    await backend.close()
  }
}

/** The checkpoints of `timeline` whose message is `message`. */
async function withMessage(store: Store, timeline: string, message: string): Promise<string[]> {
  return (await collect(store.log(timeline))).filter((c) => c.message === message).map((c) => c.id)
}

describe('the cut at COMMIT: a connection lost around a ref-moving call', () => {
  async function storeBehindProxy(reconnectWindowMs = 10_000, parameters: Record<string, string> = {}) {
    const url = freshSchemaUrl()
    await (await initStore(url)).close()
    const proxy = await cutProxy(url)
    const proxied = new URL(proxy.url)
    for (const [name, value] of Object.entries(parameters)) proxied.searchParams.set(name, value)
    const store = await openStore(proxied.href, { postgres: { reconnectWindowMs } })
    onCleanup(() => store.close())
    await store.commit({ timeline: 'main', stage: 'seed', output: { seed: true } })
    return { url, proxy, store }
  }

  const cases: Array<[string, Cut]> = [
    ['committed, and the client cut off as the server answered', { kind: 'after-reply' }],
    ['cut off before the server had its call, which reaches it a moment later (the retry racing the late call)', { kind: 'late', delayMs: 1500 }],
    ['cut off before the server had its call, which reaches it at once, before the retry looks', { kind: 'late', delayMs: 0 }],
  ]
  for (const [what, cut] of cases) {
    it(`applies a commit ${what} exactly once and acknowledges it`, async () => {
      const { proxy, store } = await storeBehindProxy()
      const message = `cut ${cut.kind}`
      const applied = proxy.arm(cut)
      const checkpoint = await store.commit({ timeline: 'main', stage: 'work', output: { n: 1 }, message, retry: 5 })
      await applied
      expect(await withMessage(store, 'main', message)).toEqual([checkpoint.id])
      expect(await store.timelines.get('main')).toBe(checkpoint.id)
      expect((await store.fsck()).problems).toEqual([])
    }, 60_000)
  }

  it('applies a commit once when its first attempt, held up on the server, commits while the retry waits behind it', async () => {
    const { url, proxy, store } = await storeBehindProxy()
    const schema = new URL(url).searchParams.get('schema')!
    // Another session holds the refs' rows, so that the cut-off attempt waits on the server and
    // the retry, which finds nothing applied yet, queues behind it for the same rows.
    const blocker = new (await import('pg')).default.Client({ connectionString: url })
    await blocker.connect()
    onCleanup(() => blocker.end())
    await blocker.query('BEGIN')
    await blocker.query(`SELECT name FROM "${schema}".refs FOR UPDATE`)
    const applied = proxy.arm({ kind: 'late', delayMs: 0 })
    const committing = store.commit({ timeline: 'main', stage: 'work', output: { n: 4 }, message: 'queued', retry: 5 })
    // Until both wait: the first attempt on the blocker, the retry on the first attempt.
    for (let waiting = 0; waiting < 2; await sleep(50)) {
      const { rows } = await blocker.query<{ n: string }>(`
        SELECT count(DISTINCT l.pid) AS n FROM pg_locks l
        WHERE NOT l.granted AND (pg_backend_pid() = ANY(pg_blocking_pids(l.pid)) OR EXISTS (
          SELECT 1 FROM pg_locks f WHERE NOT f.granted AND pg_backend_pid() = ANY(pg_blocking_pids(f.pid)) AND f.pid = ANY(pg_blocking_pids(l.pid))))`)
      waiting = Number(rows[0]?.n)
    }
    await blocker.query('COMMIT')
    const checkpoint = await committing
    await applied
    expect(await withMessage(store, 'main', 'queued')).toEqual([checkpoint.id])
    expect(await store.timelines.get('main')).toBe(checkpoint.id)
  }, 60_000)

  it('fails a commit as of unknown outcome when its retry times out behind its own first attempt, still running on the server, which then applies once', async () => {
    const { url, proxy, store } = await storeBehindProxy(10_000, { lock_timeout: '1000' })
    const schema = new URL(url).searchParams.get('schema')!
    // The first attempt holds the ref's row for 3 s before it commits; the retry waits for it
    // only 1 s (lock_timeout) and gives up while the first attempt is still running.
    await sql(`CREATE FUNCTION "${schema}".slow_reflog() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$`)
    await sql(`CREATE TRIGGER slow BEFORE INSERT ON "${schema}".reflog FOR EACH ROW EXECUTE FUNCTION "${schema}".slow_reflog()`)
    const applied = proxy.arm({ kind: 'late', delayMs: 0 })
    const err = await failure(store.commit({ timeline: 'main', stage: 'work', output: { n: 6 }, message: 'slow', retry: 5 }))
    await applied
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.details).toMatchObject({ retryable: false, outcomeUnknown: true })
    for (let tries = 0; (await withMessage(store, 'main', 'slow')).length === 0 && tries < 100; tries++) await sleep(100)
    expect(await withMessage(store, 'main', 'slow')).toHaveLength(1)
  }, 60_000)

  it('fails a commit whose call was answered as the server went out of reach for good with a STORE_UNAVAILABLE that is not retryable, as it may have applied (it did)', async () => {
    const { proxy, store } = await storeBehindProxy(1000)
    const err = await commitCutOffForGood(proxy, store, { kind: 'after-reply' }, 'unknown outcome')
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.details).toMatchObject({ retryable: false, outcomeUnknown: true })
    expect(await withMessage(store, 'main', 'unknown outcome')).toHaveLength(1)
  }, 60_000)

  it('fails a commit whose call was lost on its way, the server then out of reach, as not known to have applied (it did not); run again, it applies once', async () => {
    const { url, proxy, store } = await storeBehindProxy(1000)
    const head = await store.timelines.get('main')
    const objects = await objectCount(url)
    const reflog = (await store.reflog('main')).length
    const err = await commitCutOffForGood(proxy, store, { kind: 'drop' }, 'dropped')
    // A call lost on its way and one whose answer was lost look the same from the client.
    expect(err.code).toBe('STORE_UNAVAILABLE')
    expect(err.details).toMatchObject({ retryable: false, outcomeUnknown: true })
    expect(await store.timelines.get('main')).toBe(head)
    expect((await store.reflog('main')).length).toBe(reflog)
    expect(await objectCount(url)).toBe(objects)
    const again = await store.commit({ timeline: 'main', stage: 'work', output: { message: 'dropped' }, message: 'dropped', retry: 5 })
    expect(await withMessage(store, 'main', 'dropped')).toEqual([again.id])
  }, 60_000)
})

describe('two pipeline workers on one PostgreSQL store', () => {
  it("resume each other's failed runs, executing only the failed stage and what follows, ending with the outputs of an uninterrupted run", async () => {
    const url = freshSchemaUrl()
    await (await initStore(url)).close()
    const workers = { A: machine('worker-a', PIPELINE_WORKER), B: machine('worker-b', PIPELINE_WORKER) }
    const step = async (worker: keyof typeof workers, args: string[]) => {
      const child = workers[worker].start([url, ...args])
      expect(await child.exited).toBe(0)
      return {
        executed: child.lines.filter((l) => l.startsWith('executed ')).map((l) => l.slice('executed '.length)),
        status: child.lines.at(-1),
      }
    }
    // A fails at b (c, independent of it, still runs), B resumes; then B fails at d, A resumes.
    const rounds = [
      { runId: 'run-1', timeline: 'job-1', first: 'A', then: 'B', fail: 'b', firstRan: ['a', 'b', 'c'], resumed: ['b', 'd', 'e'] },
      { runId: 'run-2', timeline: 'job-2', first: 'B', then: 'A', fail: 'd', firstRan: ['a', 'b', 'c', 'd'], resumed: ['d', 'e'] },
    ] as const
    for (const round of rounds) {
      const failed = await step(round.first, ['run', round.runId, round.timeline, round.fail])
      expect(failed).toEqual({ executed: round.firstRan, status: 'status failed' })
      const resumed = await step(round.then, ['resume', round.runId])
      expect(resumed).toEqual({ executed: round.resumed, status: 'status succeeded' })
    }

    const store = await openStore(url)
    onCleanup(() => store.close())
    expect((await readAudit(store, 'run-1')).map((e) => `${e.stage}:${e.status}`)).toEqual(['a:succeeded', 'b:failed', 'c:succeeded', 'b:succeeded', 'd:succeeded', 'e:succeeded'])
    expect((await readAudit(store, 'run-2')).map((e) => `${e.stage}:${e.status}`)).toEqual(['a:succeeded', 'b:succeeded', 'c:succeeded', 'd:failed', 'd:succeeded', 'e:succeeded'])
    const clean = await run({ store, pipeline: countingPipeline(freshKnobs()), inputs: { seed: 5 }, runId: 'clean', timeline: 'clean', reuse: false })
    expect(clean.status).toBe('succeeded')
    const cleanStages = (await store.getCheckpoint('clean')).stages
    for (const { timeline } of rounds) expect((await store.getCheckpoint(timeline)).stages).toEqual(cleanStages)
    expect((await store.fsck()).problems).toEqual([])
  }, 120_000)
})
