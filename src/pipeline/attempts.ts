import { setTimeout as sleep } from 'node:timers/promises'
import { isCkptError } from '../errors.js'
import type { CapturedLog, StageDefinition } from './types.js'

/** An attempt that ran past its stage's `timeout`. */
export class StageTimeoutError extends Error {
  constructor(
    readonly stage: string,
    readonly timeoutMs: number,
  ) {
    super(`stage "${stage}" timed out after ${timeoutMs} ms`)
    this.name = 'StageTimeoutError'
  }
}

/** One attempt of a stage, as its audit entry records it. */
export interface AttemptRecord {
  readonly attempt: number
  readonly start: Date
  readonly end: Date
  readonly error?: Error
  readonly timedOut?: boolean
  readonly log: CapturedLog
}

export interface AttemptHooks<T> {
  readonly stage: StageDefinition
  /** The number of the first attempt (earlier failed attempts of the run count). */
  readonly firstAttempt: number
  /** The run's signal: a cancelled run is not retried. */
  readonly signal: AbortSignal
  /** One attempt: the stage's work with its signal (the run's, plus the timeout). */
  readonly attempt: (attempt: number, signal: AbortSignal) => Promise<T>
  /** Ends an attempt's log, whichever way it ended. */
  readonly closeLog: (attempt: number) => Promise<CapturedLog>
  readonly onRetry: (attempt: number, delayMs: number, error: Error) => void
}

const DEFAULT_BACKOFF = { initialMs: 1000, factor: 2, maxMs: 30_000, jitter: true }

/**
 * Runs a stage's attempts under its policy: each attempt gets `timeout` (its signal aborts, and
 * the attempt counts as failed even if it ignores the signal), and a failed attempt is tried again
 * while `retries` remain and `retryOn` says the error is worth it, after a backoff with jitter.
 */
export async function runAttempts<T>(hooks: AttemptHooks<T>): Promise<{ value?: T; attempts: AttemptRecord[] }> {
  const { stage } = hooks
  const retries = Math.max(0, Math.floor(stage.retries ?? 0))
  const attempts: AttemptRecord[] = []
  for (let n = 0; ; n++) {
    const attempt = hooks.firstAttempt + n
    const start = new Date()
    try {
      const value = await withTimeout(stage, hooks.signal, (signal) => hooks.attempt(attempt, signal))
      attempts.push({ attempt, start, end: new Date(), log: await hooks.closeLog(attempt) })
      return { value, attempts }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err))
      const timedOut = error instanceof StageTimeoutError
      attempts.push({ attempt, start, end: new Date(), error, ...(timedOut && { timedOut }), log: await hooks.closeLog(attempt) })
      if (n >= retries || hooks.signal.aborted || !worthRetrying(stage, error, attempt)) return { attempts }
      const delayMs = backoffDelay(stage, n + 1)
      hooks.onRetry(attempt, delayMs, error)
      try {
        await sleep(delayMs, undefined, { signal: hooks.signal })
      } catch {
        return { attempts }
      }
    }
  }
}

/** By default every error is worth another attempt except an output the stage got wrong (INVALID_OUTPUT), which would fail again. */
function worthRetrying(stage: StageDefinition, error: Error, attempt: number): boolean {
  if (stage.retryOn) return stage.retryOn(error, attempt)
  return !isCkptError(error, 'INVALID_OUTPUT')
}

/** The wait before retry `n` (1 for the first): exponential, capped, with "equal jitter" (half fixed, half random). */
export function backoffDelay(stage: StageDefinition, n: number): number {
  const policy = { ...DEFAULT_BACKOFF, ...stage.backoff }
  const delay = Math.min(policy.maxMs, policy.initialMs * policy.factor ** (n - 1))
  return Math.round(policy.jitter ? delay / 2 + Math.random() * (delay / 2) : delay)
}

async function withTimeout<T>(stage: StageDefinition, runSignal: AbortSignal, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  if (stage.timeout === undefined) return work(runSignal)
  const deadline = new AbortController()
  const signal = AbortSignal.any([runSignal, deadline.signal])
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new StageTimeoutError(stage.name, stage.timeout as number)
      deadline.abort(error)
      reject(error)
    }, stage.timeout)
  })
  const running = work(signal)
  running.catch(() => undefined) // an attempt that lost the race may still fail later: nobody waits for it
  try {
    return await Promise.race([running, timedOut])
  } finally {
    clearTimeout(timer)
  }
}
