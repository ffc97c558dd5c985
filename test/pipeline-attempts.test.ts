import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  plan,
  readAudit,
  readLogs,
  run,
  type Pipeline,
  type PipelineEvent,
  type StageDefinition,
} from '../src/index.js'
import { CKPT, ckpt, jsonLines } from './support/cli.js'
import { memoryStore, onCleanup, tempDir } from './support/temp.js'

const quick = { initialMs: 5, factor: 2, maxMs: 20 }

function oneStage(stage: Partial<StageDefinition> & Pick<StageDefinition, 'run'>): Pipeline {
  return { name: 'one', stages: [{ name: 'work', writes: ['out'], version: '1', ...stage }] }
}

describe('retries, backoff and timeouts', () => {
  it('retries a failing stage with backoff, one audit entry and one event per failed attempt', async () => {
    const store = await memoryStore()
    const seen: number[] = []
    const events: PipelineEvent[] = []
    const pipeline = oneStage({
      retries: 3,
      backoff: quick,
      async run(_s, _c, ctx) {
        seen.push(ctx.attempt)
        if (ctx.attempt < 3) throw new Error(`flaky ${ctx.attempt}`)
        return { out: 'ok' }
      },
    })
    const result = await run({ store, pipeline, runId: 'r', onEvent: (e) => void events.push(e) })
    expect(result.status).toBe('succeeded')
    expect(seen).toEqual([1, 2, 3])
    const retrying = events.filter((e) => e.type === 'stage-retrying')
    expect(retrying.map((e) => (e.type === 'stage-retrying' ? [e.attempt, e.error] : []))).toEqual([[1, 'flaky 1'], [2, 'flaky 2']])
    for (const e of retrying) if (e.type === 'stage-retrying') expect(e.delayMs).toBeLessThanOrEqual(20)
    const audit = await readAudit(store, 'r')
    expect(audit.map((e) => `${e.attempt}:${e.status}`)).toEqual(['1:failed', '2:failed', '3:succeeded'])
    expect(audit[2]?.checkpoint).toBe(result.head)
  })

  it('times out an attempt that ignores its signal, aborts the signal, and retries it', async () => {
    const store = await memoryStore()
    const signals: AbortSignal[] = []
    const pipeline = oneStage({
      timeout: 50,
      retries: 1,
      backoff: quick,
      async run(_s, _c, ctx) {
        signals.push(ctx.signal)
        if (ctx.attempt === 1) await sleep(400) // ignores the signal
        return { out: ctx.attempt }
      },
    })
    const started = Date.now()
    const result = await run({ store, pipeline, runId: 't' })
    expect(Date.now() - started).toBeLessThan(350)
    expect(result.state.out).toBe(2)
    expect(signals[0]?.aborted).toBe(true)
    expect(signals[1]?.aborted).toBe(false)
    const audit = await readAudit(store, 't')
    expect(audit.map((e) => [e.attempt, e.status, e.timedOut ?? false])).toEqual([
      [1, 'failed', true],
      [2, 'succeeded', false],
    ])
    expect(audit[0]?.error?.message).toBe('stage "work" timed out after 50 ms')
  })

  it('retries only what retryOn accepts, and never an output the stage got wrong', async () => {
    const store = await memoryStore()
    let calls = 0
    const permanent = oneStage({
      retries: 5,
      backoff: quick,
      retryOn: (error) => !error.message.includes('permanent'),
      async run() {
        calls++
        throw new Error('permanent: bad credentials')
      },
    })
    expect((await run({ store, pipeline: permanent })).status).toBe('failed')
    expect(calls).toBe(1)
    calls = 0
    const wrongKeys = oneStage({
      retries: 5,
      backoff: quick,
      async run() {
        calls++
        return { out: 1, undeclared: 2 }
      },
    })
    expect((await run({ store, pipeline: wrongKeys })).status).toBe('failed')
    expect(calls).toBe(1)
  })

  it('shows each stage policy in the plan', async () => {
    const store = await memoryStore()
    const planned = await plan({ kind: 'run', store, pipeline: oneStage({ retries: 2, timeout: 1500, run: async () => ({ out: 1 }) }) })
    expect(planned[0]).toMatchObject({ action: 'run', policy: { retries: 2, timeoutMs: 1500 } })
  })
})

describe('captured logs', () => {
  it('keeps the last lines of each attempt with its audit entry, flags the dropped ones, and stores the whole log when asked', async () => {
    const store = await memoryStore()
    const pipeline = oneStage({
      logLines: 3,
      keepFullLog: true,
      retries: 1,
      backoff: quick,
      async run(_s, _c, ctx) {
        for (let i = 1; i <= 10; i++) ctx.log('attempt %d line %d', ctx.attempt, i)
        if (ctx.attempt === 1) throw new Error('once')
        return { out: true }
      },
    })
    await run({ store, pipeline, runId: 'logged' })
    const audit = await readAudit(store, 'logged')
    expect(audit[0]?.log).toMatchObject({ truncated: true, total: 10 })
    expect(audit[0]?.log?.lines.map((l) => l.text)).toEqual(['attempt 1 line 8', 'attempt 1 line 9', 'attempt 1 line 10'])
    expect(audit[1]?.log?.lines.map((l) => [l.seq, l.source])).toEqual([[8, 'log'], [9, 'log'], [10, 'log']])
    const full = (await store.getOutput(audit[1]?.log?.full as string)) as unknown as { lines: Array<{ text: string }> }
    expect(full.lines.map((l) => l.text)).toHaveLength(10)
    const logs = await readLogs(store, 'logged', { attempt: 1 })
    expect(logs.map((v) => [v.stage, v.attempt, v.status, v.lines.length])).toEqual([['work', 1, 'failed', 3]])
  })

  it('captures what a stage writes to stdout and stderr when the run asks (console output through the CLI: below)', async () => {
    const store = await memoryStore()
    const pipeline = oneStage({
      async run() {
        process.stdout.write('from the stage\n')
        process.stderr.write('a warn')
        process.stderr.write('ing\n')
        return { out: 1 }
      },
    })
    await run({ store, pipeline, runId: 'console', captureOutput: true })
    const [log] = await readLogs(store, 'console')
    expect(log?.lines.map((l) => `${l.source}: ${l.text}`)).toEqual(['stdout: from the stage', 'stderr: a warning'])
  })
})

describe('ckpt logs and ckpt plan', () => {
  it('prints the logs of a stage retried after a timeout, and its policy in the plan', () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    const file = path.join(dir, 'p.mjs')
    writeFileSync(
      file,
      `import { setTimeout } from 'node:timers/promises'
export default { name: 'p', stages: [
  { name: 'fetch', writes: ['page'], version: '1', timeout: 100, retries: 2, backoff: { initialMs: 10 },
    async run(s, c, ctx) { console.log('fetching, attempt', ctx.attempt); if (ctx.attempt === 1) await setTimeout(1000); return { page: 'ok' } } },
] }
`,
    )
    expect(ckpt(dir, ['plan', file]).stdout).toMatch(/^fetch +run +no earlier execution +\(retries 2, timeout 100 ms\)\n$/)
    const result = ckpt(dir, ['run', file, '--run', 'r1', '--json'])
    expect(result.code).toBe(0)
    expect(jsonLines(result.stdout).filter((e) => e.type === 'stage-retrying')).toMatchObject([{ stage: 'fetch', attempt: 1 }])
    expect(ckpt(dir, ['logs', 'r1']).stdout).toBe('== fetch, attempt 1: timed out\nfetching, attempt 1\n== fetch, attempt 2: succeeded\nfetching, attempt 2\n')
    expect(jsonLines(ckpt(dir, ['logs', 'r1', 'fetch', '--attempt', '2', '--json']).stdout)).toMatchObject([{ stage: 'fetch', attempt: 2, seq: 1, source: 'stdout', text: 'fetching, attempt 2' }])
    expect(ckpt(dir, ['logs', 'nosuch']).code).toBe(4)
    expect(ckpt(dir, ['logs', 'r1', '--attempt', '0']).code).toBe(2)
  })

  it('follows a running stage from another process until the run ends', async () => {
    const dir = tempDir()
    ckpt(dir, ['init'])
    const file = path.join(dir, 'slow.mjs')
    writeFileSync(
      file,
      `import { setTimeout } from 'node:timers/promises'
export default { name: 'slow', stages: [
  { name: 'tick', writes: ['n'], version: '1', async run(s, c, ctx) { for (let i = 1; i <= 8; i++) { ctx.log('tick ' + i); await setTimeout(150) } return { n: 8 } } },
] }
`,
    )
    const runner = spawn(process.execPath, [CKPT, 'run', file, '--run', 'live'], { cwd: dir, stdio: 'ignore' })
    onCleanup(() => void runner.kill('SIGKILL'))
    // Wait until the run is recorded, then follow it from a second process.
    const deadline = Date.now() + 20_000
    while (Date.now() < deadline && !ckpt(dir, ['runs', '--json']).stdout.includes('"live"')) await sleep(50)
    const follower = spawn(process.execPath, [CKPT, 'logs', 'live', '--follow'], { cwd: dir, env: { ...process.env, NO_COLOR: '1' } })
    let printed = ''
    let firstLineAt = 0
    follower.stdout.on('data', (chunk: Buffer) => {
      printed += chunk.toString()
      if (firstLineAt === 0 && printed.includes('tick 1')) firstLineAt = Date.now()
    })
    const followerCode = await new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)))
    const runnerEnded = await new Promise<number>((resolve) => (runner.exitCode !== null ? resolve(runner.exitCode) : runner.once('exit', (code) => resolve(code ?? -1))))
    expect(runnerEnded).toBe(0)
    expect(followerCode).toBe(0)
    expect(printed).toBe(`== tick, attempt 1: running\n${Array.from({ length: 8 }, (_, i) => `tick ${i + 1}\n`).join('')}`)
    // It printed while the stage ran, not only at the end.
    expect(firstLineAt).toBeGreaterThan(0)
  })
})
