import { rmSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { CkptError } from '../../errors.js'
import type { Backend } from '../interface.js'
import { openLocalLevel, type Durability } from './local.js'
import { serveBackend, type LeaderEndpoint } from './rpc.js'

/*
 * The leader's database, served from a worker thread: the thread opens the LevelDB and answers
 * every process on the socket, the leader's own main thread included. A pipeline stage that
 * blocks the main thread for minutes then blocks nobody else (docs/backends.md).
 */

export interface LeaderWorkerData {
  readonly location: string
  readonly socketPath: string
  readonly durability: Durability
  readonly createIfMissing: boolean
  readonly packDir: string
}

/** An error as it crosses to the main thread: enough to rebuild a CkptError or classify an open failure. */
export interface WorkerFailure {
  readonly message: string
  readonly code?: string
  readonly ckpt?: { readonly code: CkptError['code']; readonly details: Record<string, unknown> }
  readonly cause?: { readonly code?: string; readonly message?: string }
}

export type LeaderWorkerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'locked' }
  | { readonly kind: 'open-failed'; readonly failure: WorkerFailure }
  | { readonly kind: 'listen-failed'; readonly failure: WorkerFailure }

export function describeFailure(err: unknown): WorkerFailure {
  const e = err as { message?: unknown; code?: unknown; cause?: { code?: unknown; message?: unknown } }
  const cause = e.cause && typeof e.cause === 'object' ? e.cause : undefined
  return {
    message: typeof e.message === 'string' ? e.message : String(err),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(err instanceof CkptError ? { ckpt: { code: err.code, details: { ...err.details } } } : {}),
    ...(cause
      ? { cause: { code: typeof cause.code === 'string' ? cause.code : undefined, message: typeof cause.message === 'string' ? cause.message : undefined } }
      : {}),
  }
}

async function main(port: NonNullable<typeof parentPort>, data: LeaderWorkerData): Promise<void> {
  let local: Backend
  try {
    local = await openLocalLevel(data.location, { durability: data.durability, createIfMissing: data.createIfMissing, packDir: data.packDir })
  } catch (err) {
    const failure = describeFailure(err)
    const locked = failure.code === 'LEVEL_LOCKED' || failure.cause?.code === 'LEVEL_LOCKED'
    port.postMessage((locked ? { kind: 'locked' } : { kind: 'open-failed', failure }) satisfies LeaderWorkerMessage)
    return
  }
  let endpoint: LeaderEndpoint
  try {
    // We hold the database lock, so any socket file left here belongs to a dead leader.
    if (!data.socketPath.startsWith('\\\\')) rmSync(data.socketPath, { force: true })
    endpoint = await serveBackend(data.socketPath, local)
  } catch (err) {
    await local.close()
    port.postMessage({ kind: 'listen-failed', failure: describeFailure(err) } satisfies LeaderWorkerMessage)
    return
  }
  port.once('message', () => {
    // Asked to close: drop the followers, then release the database; process.exit ends only this thread.
    void endpoint
      .close()
      .then(() => local.close())
      .finally(() => process.exit(0))
  })
  port.postMessage({ kind: 'ready' } satisfies LeaderWorkerMessage)
}

if (parentPort) await main(parentPort, workerData as LeaderWorkerData)
