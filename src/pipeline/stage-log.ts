import { AsyncLocalStorage } from 'node:async_hooks'
import { format } from 'node:util'
import type { CheckpointStore } from '../core/checkpoint-store.js'
import { outputIdOf } from '../core/commit.js'
import { shortIdOf } from '../model/cid.js'
import type { CapturedLog, LogLine, LogSource } from './types.js'

/** Lines an attempt keeps with its audit entry unless its stage says otherwise. */
export const DEFAULT_LOG_LINES = 200
/** How often a running attempt's newest lines are written for `ckpt logs --follow`. */
const LIVE_FLUSH_MS = 250

/**
 * The log of one attempt of a stage: what it wrote through `ctx.log`, and (when the run captures
 * output) what it wrote to stdout and stderr. Keeps the last `keep` lines, and every line when
 * the whole log is wanted as a blob.
 */
export class AttemptLog {
  #lines: LogLine[] = []
  readonly #all: LogLine[] | undefined
  #total = 0
  #partial: Partial<Record<LogSource, string>> = {}
  #timer: NodeJS.Timeout | undefined
  #flushed = 0
  #flushing: Promise<void> = Promise.resolve()

  constructor(
    private readonly keep: number,
    keepAll: boolean,
    private readonly live?: { readonly store: CheckpointStore; readonly pointer: string; readonly header: Record<string, unknown> },
  ) {
    this.#all = keepAll ? [] : undefined
    if (live) {
      this.#timer = setInterval(() => void this.#flush(), LIVE_FLUSH_MS)
      this.#timer.unref()
    }
  }

  /** `ctx.log`: its arguments formatted as console.log formats them, one or more lines. */
  log(...args: unknown[]): void {
    this.write('log', `${format(...args)}\n`)
  }

  /** Text from `source`; a line is kept once its newline arrives (or the attempt ends). */
  write(source: LogSource, text: string): void {
    const pending = (this.#partial[source] ?? '') + text
    const parts = pending.split('\n')
    this.#partial[source] = parts.pop() ?? ''
    for (const part of parts) this.#push(source, part)
  }

  #push(source: LogSource, text: string): void {
    const line: LogLine = { seq: ++this.#total, time: Date.now(), source, text: text.replace(/\r$/, '') }
    this.#lines.push(line)
    if (this.#lines.length > this.keep) this.#lines.shift()
    this.#all?.push(line)
  }

  /** Ends the attempt's log: unfinished lines are kept, the whole log stored when wanted. */
  async close(store: CheckpointStore | undefined): Promise<CapturedLog> {
    clearInterval(this.#timer)
    for (const source of Object.keys(this.#partial) as LogSource[]) {
      if (this.#partial[source]) this.#push(source, this.#partial[source] as string)
    }
    this.#partial = {}
    await this.#flush()
    const full = this.#all && store ? await store.putOutput({ type: 'ckpt-log', lines: this.#all }) : undefined
    return { lines: [...this.#lines], truncated: this.#total > this.#lines.length, total: this.#total, ...(full && { full }) }
  }

  /** Writes the newest lines for followers in other processes; a failed write only delays them. */
  #flush(): Promise<void> {
    const live = this.live
    if (!live || this.#flushed === this.#total) return this.#flushing
    this.#flushing = this.#flushing
      .then(async () => {
        const total = this.#total
        const node = await live.store.putOutput({ type: 'ckpt-live-log', ...live.header, lines: this.#lines, total })
        const previous = (await live.store.index.get(live.pointer)) ?? null
        await live.store.index.swap(live.pointer, previous, node, 'log')
        this.#flushed = total
      })
      .catch(() => undefined)
    return this.#flushing
  }
}

/** The pointer a running attempt's newest lines live under until its audit entry is written. */
export function liveLogPointer(runId: string, stage: string, attempt: number): string {
  return `${liveLogPrefix(runId)}${shortIdOf(outputIdOf(stage), 32)}-${attempt}`
}

export const liveLogPrefix = (runId: string) => `live-logs/${runId}/`

const currentLog = new AsyncLocalStorage<AttemptLog>()

/** Runs `work` with `log` as the log its stdout and stderr writes go to (when output is captured). */
export function withAttemptLog<T>(log: AttemptLog, work: () => Promise<T>): Promise<T> {
  return currentLog.run(log, work)
}

let captures = 0
let restore: (() => void) | undefined

/**
 * While runs that capture output are going: a write to stdout or stderr made inside a stage goes
 * to that attempt's log, and to stderr (stdout stays for the runner's own output, e.g. JSON
 * lines). Writes outside stages pass through untouched. Returns the function that ends it.
 */
export function captureStageOutput(): () => void {
  if (captures++ === 0) {
    const stdoutWrite = process.stdout.write.bind(process.stdout)
    const stderrWrite = process.stderr.write.bind(process.stderr)
    const route = (source: LogSource, original: typeof stdoutWrite) =>
      ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        const log = currentLog.getStore()
        if (!log) return (original as (...a: unknown[]) => boolean)(chunk, ...rest)
        log.write(source, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'))
        return (stderrWrite as (...a: unknown[]) => boolean)(chunk, ...rest)
      }) as typeof stdoutWrite
    process.stdout.write = route('stdout', stdoutWrite)
    process.stderr.write = route('stderr', stderrWrite)
    restore = () => {
      process.stdout.write = stdoutWrite
      process.stderr.write = stderrWrite
    }
  }
  let ended = false
  return () => {
    if (ended) return
    ended = true
    if (--captures === 0) restore?.()
  }
}
