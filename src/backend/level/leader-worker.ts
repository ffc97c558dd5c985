import { rmSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import type { Backend } from '../interface.js'
import { openLocalLevel, type Durability } from './local.js'
import { serveBackend, type LeaderEndpoint } from './rpc.js'

/*
 * The leader's database, served from a worker thread once the process is about to run work that
 * may block its main thread (a pipeline's stages). The thread opens the LevelDB and answers every
 * process on the socket, the leader's own main thread included (docs/backends.md).
 */

export interface LeaderWorkerData {
  readonly location: string
  readonly socketPath: string
  readonly durability: Durability
  readonly packDir: string
}

export type LeaderWorkerMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'locked' }
  /** Anything else: the main thread leads in its own thread instead, which reports the error properly. */
  | { readonly kind: 'failed'; readonly message: string }

function isLocked(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } }
  return e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED'
}

async function main(port: NonNullable<typeof parentPort>, data: LeaderWorkerData): Promise<void> {
  let local: Backend | undefined
  let endpoint: LeaderEndpoint | undefined
  let closing: Promise<void> | undefined
  // Drop the followers (they fail over as when a leader exits), release the database, end the thread.
  const shutDown = () =>
    (closing ??= (async () => {
      await endpoint?.close().catch(() => undefined)
      await local?.close().catch(() => undefined)
      process.exit(0)
    })())
  try {
    // A database that failed a write is given up: the followers elect again and reopen it.
    local = await openLocalLevel(data.location, { durability: data.durability, createIfMissing: false, packDir: data.packDir, onWedged: () => void shutDown() })
  } catch (err) {
    port.postMessage((isLocked(err) ? { kind: 'locked' } : { kind: 'failed', message: (err as Error).message }) satisfies LeaderWorkerMessage)
    return
  }
  try {
    // We hold the database lock, so any socket file left here belongs to a leader that let it go.
    if (!data.socketPath.startsWith('\\\\')) rmSync(data.socketPath, { force: true })
    endpoint = await serveBackend(data.socketPath, local)
  } catch (err) {
    await local.close().catch(() => undefined)
    port.postMessage({ kind: 'failed', message: (err as Error).message } satisfies LeaderWorkerMessage)
    return
  }
  port.once('message', () => void shutDown())
  port.postMessage({ kind: 'ready' } satisfies LeaderWorkerMessage)
}

if (parentPort) await main(parentPort, workerData as LeaderWorkerData)
