import type { PipelineModule, Store } from '../src/index.js'
import type { EventHub, StoreWatcher } from './events.js'
import type { ResponseCache } from './response-cache.js'

/** How `ckpt serve` (or an embedding program) asks for a server. */
export interface ServeOptions {
  /** The open store to serve; the caller opens it and closes it after the server. */
  readonly store: Store
  /** The store as its users name it (passwords left out), for `GET /api/status`. */
  readonly location: string
  /** Pipelines the replay, resume and task endpoints may run, by `pipeline.name`. */
  readonly pipelines?: readonly PipelineModule[]
  /** Address to listen on; loopback by default. Any other needs `token`. */
  readonly host?: string
  /** 0 picks a free port. Default 7433. */
  readonly port?: number
  /** When set, every write needs `Authorization: Bearer <token>`. */
  readonly token?: string
  /** No write endpoints at all. */
  readonly readOnly?: boolean
  /** The one origin allowed to call the API from a browser page it serves (CORS); none by default. */
  readonly cors?: string
  /** How often other processes' changes are looked for, in ms (default 100). */
  readonly pollMs?: number
  /** Largest request body in bytes (default 1 MiB for JSON, `uploadLimit` for multipart files). */
  readonly bodyLimit?: number
  /** Largest file part of a multipart commit, in bytes (default 256 MiB). */
  readonly uploadLimit?: number
  /** Fastify's request log (pino) on stderr. */
  readonly log?: boolean
  /** Where the built browser view lives (default: dist/web beside this module). */
  readonly webRoot?: string
}

/** What every route module gets. */
export interface ServerContext {
  readonly store: Store
  readonly location: string
  readonly pipelines: ReadonlyMap<string, PipelineModule>
  readonly readOnly: boolean
  readonly events: EventHub
  readonly watcher: StoreWatcher
  /** Reports and log pages of immutable history, kept for a few seconds. */
  readonly cache: ResponseCache
}
