/**
 * Issue 20's `ckpt serve` figures: requests/s and p99 latency of a log page and a checkpoint page
 * from a real `ckpt serve` process, each beside a bare Fastify process serving a static JSON of
 * the same bytes in the same run; and the latency from a CLI commit in another process to its
 * SSE `checkpoint` event.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { initStore } from '../../src/index.js'
import { openEvents } from '../support/events.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const CKPT = path.resolve(here, '../../cli/main.js')

export interface Load {
  readonly requestsPerSecond: number
  readonly p99Ms: number
  readonly bytes: number
}

export interface ServerFigures {
  readonly checkpoints: number
  readonly seconds: number
  readonly connections: number
  readonly log: { readonly ckpt: Load; readonly baseline: Load }
  readonly checkpoint: { readonly ckpt: Load; readonly baseline: Load }
  readonly events: { readonly samples: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number; readonly commitWallMs: number }
}

interface Child {
  readonly url: string
  stop(): Promise<void>
}

/** Spawns `node ARGS…` in `cwd` (the store it serves, as CKPT_DIR) and waits for `pattern` (first group: the URL) on its stdout or stderr. */
async function startChild(args: string[], cwd: string, pattern: RegExp): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, args, { cwd, env: { ...process.env, NO_COLOR: '1', CKPT_DIR: cwd }, stdio: ['ignore', 'pipe', 'pipe'] })
  let printed = ''
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args.join(' ')} did not start within 20 s: ${printed}`)), 20_000)
    const seen = (text: string) => {
      printed += text
      const found = pattern.exec(printed)
      if (found?.[1]) {
        clearTimeout(timer)
        resolve(found[1])
      }
    }
    child.stdout?.setEncoding('utf8').on('data', seen)
    child.stderr?.setEncoding('utf8').on('data', seen)
    void exited.then(() => reject(new Error(`${args.join(' ')} exited before listening: ${printed}`)))
  })
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/** `connections` clients hammering `url` for `seconds`; every answer must be a 200. */
async function load(url: string, seconds: number, connections: number): Promise<Load> {
  const result = await autocannon({ url, connections, duration: seconds })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`)
  return { requestsPerSecond: result['2xx'] / result.duration, p99Ms: result.latency.p99, bytes: 0 }
}

/** A LevelDB store of `count` checkpoints over 10 stages of ~1 KB JSON, one stage changing per checkpoint. */
async function buildStore(dir: string, count: number): Promise<void> {
  const store = await initStore(dir, { author: 'bench' })
  const output = (stage: number, step: number) => ({ stage, step, boxes: Array.from({ length: 12 }, (_, j) => ({ j, x: (step * 31 + j) % 640, y: (step * 17 + j) % 480, score: ((step + j) % 97) / 97 })) })
  await store.commit({ outputs: Object.fromEntries(Array.from({ length: 10 }, (_, s) => [`stage${s}`, output(s, 0)])), message: 'initial' })
  for (let i = 1; i < count; i++) await store.commit({ stage: `stage${i % 10}`, output: output(i % 10, i), message: `step ${i}`, run: `run-${Math.floor(i / 50)}`, job: 'job-1' })
  await store.close()
}

/** The bytes `url` answers, which must be a 200. */
async function body(url: string): Promise<Buffer> {
  const response = await fetch(url)
  if (response.status !== 200) throw new Error(`${url}: ${response.status}`)
  return Buffer.from(await response.arrayBuffer())
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number

/** Runs `node ckpt ARGS…` on the store `cwd` without blocking this process's event loop; resolves with its wall time. */
function ckptChild(cwd: string, args: string[]): Promise<number> {
  const start = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CKPT, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', CKPT_DIR: cwd }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t))
    child.once('exit', (code) => (code === 0 ? resolve(performance.now() - start) : reject(new Error(`ckpt ${args.join(' ')} failed (${code}): ${stderr}`))))
  })
}

/**
 * Opens the server's event stream, then `samples` times: the built CLI commits in a process of
 * its own, and the time from the checkpoint's own `time` (taken by the CLI as it commits) to its
 * SSE `checkpoint` event arriving here is one sample. A random pause between commits keeps them
 * out of step with the server's polling.
 */
async function eventLatency(dir: string, serverUrl: string, samples: number): Promise<ServerFigures['events']> {
  const waiting = new Map<string, () => void>()
  const arrived = new Map<string, number>()
  const stream = await openEvents(serverUrl, ({ event, data, at }) => {
    if (event !== 'checkpoint' || typeof data.message !== 'string' || typeof data.time !== 'string') return
    arrived.set(data.message, at - Date.parse(data.time))
    waiting.get(data.message)?.()
  })
  await new Promise((resolve) => setTimeout(resolve, 500))
  const latencies: number[] = []
  const walls: number[] = []
  for (let i = 0; i < samples; i++) {
    const message = `sse sample ${i}`
    const seen = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no checkpoint event for "${message}" within 10 s`)), 10_000)
      waiting.set(message, () => {
        clearTimeout(timer)
        resolve()
      })
    })
    const [wall] = await Promise.all([ckptChild(dir, ['commit', '-s', 'live', '--json', JSON.stringify({ i }), '-m', message]), seen])
    walls.push(wall)
    latencies.push(arrived.get(message) as number)
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 150))
  }
  await stream.close()
  const sorted = [...latencies].sort((a, b) => a - b)
  const sortedWalls = [...walls].sort((a, b) => a - b)
  return { samples, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1] as number, commitWallMs: percentile(sortedWalls, 50) }
}

export async function serverBench(work: string, sizes: { checkpoints: number; seconds: number; connections: number; samples: number }): Promise<ServerFigures> {
  const dir = path.join(work, 'serve-store')
  await buildStore(dir, sizes.checkpoints)
  // CKPT_BENCH_SERVE_NODE_ARGS: Node flags for the server process only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
  const nodeArgs = (process.env.CKPT_BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const server = await startChild([...nodeArgs, CKPT, 'serve', '--port', '0'], dir, /ckpt serve: (http:\/\/\S+?) /)
  let baseline: Child | undefined
  try {
    const logUrl = `${server.url}/api/log?limit=50`
    const logBytes = await body(logUrl)
    const middle = (JSON.parse(logBytes.toString('utf8')) as { checkpoints: Array<{ id: string }> }).checkpoints[25]?.id
    if (!middle) throw new Error('the log page has fewer than 26 checkpoints')
    const checkpointUrl = `${server.url}/api/checkpoints/${middle}`
    const checkpointBytes = await body(checkpointUrl)
    const logFile = path.join(work, 'log.json')
    const checkpointFile = path.join(work, 'checkpoint.json')
    writeFileSync(logFile, logBytes)
    writeFileSync(checkpointFile, checkpointBytes)
    baseline = await startChild([path.join(here, 'static-json-child.js'), logFile, checkpointFile], work, /^(http:\/\/\S+)$/m)
    if (!(await body(`${baseline.url}/log.json`)).equals(logBytes)) throw new Error('the baseline does not serve the same log bytes')
    // A short warm-up of each, so that neither is measured while V8 still compiles its hot paths.
    for (const url of [logUrl, checkpointUrl, `${baseline.url}/log.json`, `${baseline.url}/checkpoint.json`]) await load(url, 1, sizes.connections)
    const measure = async (url: string, bytes: number) => ({ ...(await load(url, sizes.seconds, sizes.connections)), bytes })
    const log = { ckpt: await measure(logUrl, logBytes.length), baseline: await measure(`${baseline.url}/log.json`, logBytes.length) }
    const checkpoint = { ckpt: await measure(checkpointUrl, checkpointBytes.length), baseline: await measure(`${baseline.url}/checkpoint.json`, checkpointBytes.length) }
    const events = await eventLatency(dir, server.url, sizes.samples)
    return { checkpoints: sizes.checkpoints, seconds: sizes.seconds, connections: sizes.connections, log, checkpoint, events }
  } finally {
    await baseline?.stop()
    await server.stop()
  }
}
