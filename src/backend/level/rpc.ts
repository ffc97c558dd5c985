import net from 'node:net'
import v8 from 'node:v8'
import { CkptError, type ErrorCode } from '../../errors.js'
import { successor } from '../bytes.js'
import type { Backend, BackendSupports, KeyRange, ObjectStore, RefStore, ScratchStore, Sweep } from '../interface.js'
import { GROUPS, PROTOCOL, SWEEP_METHODS, methodOf, offered, type AnyMethod, type Group, type MethodRow, type Shape } from './methods.js'

/*
 * The wire between a follower process and the leader that holds the LevelDB open.
 * Frames are a 4-byte big-endian length and a v8-serialized message; both ends are
 * this same module, so the format needs no versioning beyond the store's own.
 */

interface Request {
  readonly id: number
  readonly op: Operation
  readonly args: unknown[]
}

/**
 * `objects.<method>` and `refs.<method>` for the rows of methods.ts, `sweep.<method>` for a
 * session's calls (the session's id first), `next` for a page of an open stream, `ping`, and
 * `hello` (the follower's {@link PROTOCOL}), which must come first.
 */
type Operation = string
type Call = (op: Operation, args: unknown[]) => Promise<unknown>

type Response =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { code: ErrorCode | undefined; message: string; details?: Record<string, unknown> } }

const KEYS_PAGE = 1000
/** Items per page of a server-side listing (write records). */
const STREAM_PAGE = 4096

/** What one follower connection has open on the leader: sweeps and listings, ended when it goes. */
interface Connection {
  readonly sweeps: Map<number, Sweep>
  readonly streams: Map<number, AsyncIterator<Uint8Array>>
  nextId: number
  /** Whether the follower said `hello` with this build's protocol. */
  greeted: boolean
}

/** Raised to the caller when the leader went away mid-call; the shared backend re-elects and retries. */
export class LeaderLostError extends Error {
  constructor() {
    super('the process holding the store went away')
  }
}

/** The leader speaks another protocol: it runs a different ckpt build (or this follower does). */
export class OtherBuildError extends Error {
  constructor(readonly leaderMessage: string) {
    super(`the process holding the store runs a different ckpt build: ${leaderMessage}`)
  }
}

function frame(message: unknown): Buffer {
  const body = v8.serialize(message)
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

/**
 * The largest frame either end accepts. Writers send at most a few 8 MiB batches per call; a
 * larger length is damage or hostility, and must not make the reader buffer gigabytes.
 */
const MAX_FRAME_BYTES = 512 * 1024 * 1024

/**
 * Calls `onMessage` for every complete frame arriving on `socket`. Pieces are kept in a list
 * and joined once per frame, so a large frame costs one copy, not one per piece. A frame that is
 * too long or does not deserialize ends the connection, never the process.
 */
function readFrames(socket: net.Socket, onMessage: (message: unknown) => void): void {
  let pieces: Buffer[] = []
  let buffered = 0
  let needed = 4
  let readingHeader = true
  socket.on('data', (chunk: Buffer) => {
    pieces.push(chunk)
    buffered += chunk.length
    while (buffered >= needed) {
      const joined = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces, buffered)
      const body = joined.subarray(0, needed)
      const rest = joined.subarray(needed)
      pieces = rest.length > 0 ? [rest] : []
      buffered = rest.length
      if (readingHeader) {
        needed = body.readUInt32BE(0)
        readingHeader = false
        if (needed > MAX_FRAME_BYTES) return void socket.destroy()
      } else {
        let message: unknown
        try {
          message = v8.deserialize(body)
        } catch {
          return void socket.destroy()
        }
        onMessage(message)
        needed = 4
        readingHeader = true
      }
    }
  })
}

/** A running leader endpoint. */
export interface LeaderEndpoint {
  /** Stops listening and drops every follower connection (they re-elect). */
  close(): Promise<void>
}

/** Serves `backend` to follower processes on `path`. Resolves once listening. */
export async function serveBackend(path: string, backend: Backend): Promise<LeaderEndpoint> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    const connection: Connection = { sweeps: new Map(), streams: new Map(), nextId: 0, greeted: false }
    socket.on('close', () => {
      sockets.delete(socket)
      // A follower that dies mid-sweep must not leave the store held.
      for (const sweep of connection.sweeps.values()) void sweep.end()
      for (const stream of connection.streams.values()) void stream.return?.()
    })
    socket.on('error', () => socket.destroy())
    readFrames(socket, (message) => {
      if (!isRequest(message)) return void socket.destroy()
      const request = message
      dispatch(backend, connection, request).then(
        (value) => writeIfOpen(socket, { id: request.id, ok: true, value }),
        (err: unknown) =>
          writeIfOpen(socket, {
            id: request.id,
            ok: false,
            error: {
              code: err instanceof CkptError ? err.code : undefined,
              message: err instanceof Error ? err.message : String(err),
              details: err instanceof CkptError ? serializableDetails(err.details) : undefined,
            },
          }),
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
      }),
  }
}

function writeIfOpen(socket: net.Socket, response: Response): void {
  if (!socket.destroyed) socket.write(frame(response))
}

/** The error's details if they cross the wire intact (plain data), else none. */
function serializableDetails(details: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  try {
    v8.serialize(details)
    return { ...details }
  } catch {
    return undefined
  }
}

function isRequest(message: unknown): message is Request {
  const m = message as Partial<Request> | null
  return typeof m === 'object' && m !== null && typeof m.id === 'number' && typeof m.op === 'string' && Array.isArray(m.args)
}

/** Answers one request from the table in methods.ts. */
async function dispatch(backend: Backend, connection: Connection, { op, args }: Request): Promise<unknown> {
  if (op === 'ping') return process.pid
  if (op === 'hello') return greet(connection, args[0])
  // A follower of an older build sends no hello: it gets this answer to its first call.
  if (!connection.greeted) throw otherBuild()
  if (op === 'next') return nextPage(connection, args[0] as number)
  const dot = op.indexOf('.')
  const group = op.slice(0, dot)
  const name = op.slice(dot + 1)
  if (group === 'sweep' && Object.hasOwn(SWEEP_METHODS, name)) return sweepCall(connection, name, args)
  const row = Object.hasOwn(GROUPS, group) && Object.hasOwn(GROUPS[group as Group], name) ? GROUPS[group as Group][name] : undefined
  const method = row && methodOf(backend[group as Group] ?? {}, name)
  if (!row || !method) throw new CkptError('INVALID_ARGUMENT', `the store offers no ${op}`)
  switch (row.shape) {
    case 'call':
      return method(...args)
    case 'keyPages': {
      const page: Uint8Array[] = []
      for await (const key of method(args[0]) as AsyncIterable<Uint8Array>) {
        page.push(key)
        if (page.length === KEYS_PAGE) break
      }
      return page
    }
    case 'stream': {
      const id = connection.nextId++
      connection.streams.set(id, (method(...args) as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]())
      return id
    }
    case 'session': {
      const id = connection.nextId++
      connection.sweeps.set(id, (await method()) as Sweep)
      return id
    }
    case 'local':
      throw new CkptError('INVALID_ARGUMENT', `${op} is answered only in the process holding the store`)
  }
}

function greet(connection: Connection, protocol: unknown): number {
  if (protocol !== PROTOCOL) throw otherBuild()
  connection.greeted = true
  return process.pid
}

function otherBuild(): CkptError {
  const hint = 'let that process finish (or end it), then run the command again'
  return new CkptError('STORE_UNAVAILABLE', `the store is held by process ${process.pid}, which runs a different ckpt build from this one; ${hint}`, {
    details: { pid: process.pid, hint },
  })
}

async function nextPage(connection: Connection, id: number): Promise<Uint8Array[]> {
  const stream = connection.streams.get(id)
  const page: Uint8Array[] = []
  while (stream && page.length < STREAM_PAGE) {
    const { done, value } = await stream.next()
    if (done) {
      connection.streams.delete(id)
      break
    }
    page.push(value)
  }
  return page
}

function sweepCall(connection: Connection, name: string, [id, ...args]: unknown[]): unknown {
  const sweep = connection.sweeps.get(id as number)
  if (!sweep) throw new CkptError('INVALID_ARGUMENT', 'no such sweep session')
  if (name === 'end') connection.sweeps.delete(id as number)
  return methodOf(sweep, name)!(...args)
}

/**
 * How a follower tells a leader that does not answer at all (stopped, or its event loop blocked)
 * from one whose request is slow: while a request is outstanding the follower pings; any frame
 * back counts as life. Silence for `deadlineMs` fails every outstanding request.
 */
export interface LeaderWatch {
  readonly deadlineMs: number
  /** Builds the error for a leader that went silent (naming its pid where known). */
  readonly silent: () => CkptError
}

/**
 * Connects to a leader on `path` and checks that it speaks this build's protocol. Rejects when
 * nobody listens there, and with {@link OtherBuildError} when the leader refuses the protocol or
 * does not know the greeting (a build older than it).
 */
export async function connectToLeader(path: string, description: string, supports: BackendSupports, watch?: LeaderWatch): Promise<RemoteBackend> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(path)
    s.once('connect', () => {
      s.off('error', reject)
      resolve(s)
    })
    s.once('error', reject)
  })
  const backend = new RemoteBackend(socket, description, supports, watch)
  try {
    await backend.greet()
  } catch (err) {
    // A refusal is an answer on a live connection; a leader that died or fell silent is not one.
    const refused = err instanceof CkptError && !backend.lost
    await backend.close()
    throw refused ? new OtherBuildError(err.message) : err
  }
  return backend
}

/** The backend as a follower sees it: every call is a request to the leader. */
export class RemoteBackend implements Backend {
  readonly objects: ObjectStore
  readonly refs: RefStore
  readonly scratch?: ScratchStore
  #nextId = 0
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
  #lost = false
  #lastHeard = 0
  #watchTimer: NodeJS.Timeout | undefined
  #silence: CkptError | undefined

  constructor(
    private readonly socket: net.Socket,
    readonly description: string,
    readonly supports: BackendSupports,
    private readonly watch?: LeaderWatch,
  ) {
    socket.setNoDelay(true)
    readFrames(socket, (message) => {
      this.#lastHeard = Date.now()
      this.#settle(message as Response)
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      this.#lost = true
      this.#stopWatching()
      const failure = this.#silence ?? new LeaderLostError()
      for (const { reject } of this.#pending.values()) reject(failure)
      this.#pending.clear()
    })
    const call: Call = this.#call.bind(this)
    this.objects = proxyOf('objects', call, supports) as unknown as ObjectStore
    this.refs = proxyOf('refs', call, supports) as unknown as RefStore
    if (supports.scratch) this.scratch = proxyOf('scratch', call, supports) as unknown as ScratchStore
  }

  get lost(): boolean {
    return this.#lost
  }

  /** Says `hello` with this build's protocol; an answer other than the leader's pid is a refusal. */
  async greet(): Promise<void> {
    await this.#call('hello', [PROTOCOL])
  }

  #call(op: Operation, args: unknown[]): Promise<unknown> {
    if (this.#lost) return Promise.reject(new LeaderLostError())
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) this.#startWatching()
      this.#pending.set(id, { resolve, reject })
      this.socket.write(frame({ id, op, args } satisfies Request))
    })
  }

  #settle(response: Response): void {
    const waiter = this.#pending.get(response.id)
    if (!waiter) return
    this.#pending.delete(response.id)
    if (this.#pending.size === 0) this.#stopWatching()
    if (response.ok) waiter.resolve(response.value)
    else waiter.reject(new CkptError(response.error.code ?? 'IO_ERROR', response.error.message, { details: response.error.details }))
  }

  /** While requests are outstanding: ping when the leader has been quiet, give up when it stays silent. */
  #startWatching(): void {
    const watch = this.watch
    if (!watch || this.#watchTimer) return
    this.#lastHeard = Date.now()
    const tick = Math.max(10, Math.floor(watch.deadlineMs / 4))
    this.#watchTimer = setInterval(() => {
      const quiet = Date.now() - this.#lastHeard
      if (quiet >= watch.deadlineMs) {
        this.#silence = watch.silent()
        this.socket.destroy()
      } else if (quiet >= tick) {
        this.socket.write(frame({ id: -1, op: 'ping', args: [] } satisfies Request))
      }
    }, tick)
    this.#watchTimer.unref()
  }

  #stopWatching(): void {
    clearInterval(this.#watchTimer)
    this.#watchTimer = undefined
  }

  async close(): Promise<void> {
    this.#lost = true
    this.#stopWatching()
    this.socket.destroy()
  }
}

/** The follower's side of a group of the table: one function per method the backend offers. */
function proxyOf(group: Group, call: Call, supports: BackendSupports): Record<string, AnyMethod> {
  const proxy: Record<string, AnyMethod> = {}
  for (const [name, row] of Object.entries(GROUPS[group]) as Array<[string, MethodRow]>) {
    if (offered(row, supports) && row.shape !== 'local') proxy[name] = clientOf(row.shape, `${group}.${name}`, call)
  }
  return proxy
}

function clientOf(shape: Exclude<Shape, 'local'>, op: Operation, call: Call): AnyMethod {
  switch (shape) {
    case 'call':
      return (...args) => call(op, args)
    case 'keyPages':
      return (range) => pagedKeys(call, op, (range ?? {}) as KeyRange)
    case 'stream':
      return (...args) => pagedStream(call, call(op, args) as Promise<number>)
    case 'session':
      return async () => remoteSweep(call, (await call(op, [])) as number)
  }
}

async function* pagedKeys(call: Call, op: Operation, range: KeyRange): AsyncIterable<Uint8Array> {
  let gte = range.gte
  for (;;) {
    const page = (await call(op, [{ ...range, gte }])) as Uint8Array[]
    yield* page
    if (page.length < KEYS_PAGE) return
    gte = successor(page[page.length - 1]!)
  }
}

async function* pagedStream(call: Call, opened: Promise<number>): AsyncIterable<Uint8Array> {
  const id = await opened
  for (;;) {
    const page = (await call('next', [id])) as Uint8Array[]
    yield* page
    if (page.length < STREAM_PAGE) return
  }
}

/** A session's calls, each naming the session; ending it twice sends one request. */
function remoteSweep(call: Call, id: number): Sweep {
  const sweep: Record<string, AnyMethod> = {}
  for (const name of Object.keys(SWEEP_METHODS)) sweep[name] = (...args) => call(`sweep.${name}`, [id, ...args])
  let ended: unknown
  const end = sweep.end!
  sweep.end = () => (ended ??= end())
  return sweep as unknown as Sweep
}
